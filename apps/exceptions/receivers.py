"""Plumbing only: the engine's ``run_finished`` signal hands the run to ingestion, which must never hurt the engine."""

from __future__ import annotations

import logging

from django.db import transaction

from apps.exceptions import webhooks
from apps.exceptions.ingest import exceptions_from_run

logger = logging.getLogger(__name__)


def on_run_finished(sender, run, **kwargs) -> None:
    try:
        with transaction.atomic():  # a savepoint: a failure here leaves the engine's transaction intact
            exceptions_from_run(run=run)
    except Exception:  # the run stays un-ingested; the tick's sweep takes it later
        logger.exception("exceptions from run %s failed; the sweep will try again", run.pk)


def on_run_finished_announce(sender, run, **kwargs) -> None:
    """``run.finished`` (and ``run.failed``) to subscribed endpoints; never raises into the engine."""
    try:
        with transaction.atomic():
            for event_type in ("run.finished", "run.failed") if run.status == "failed" else ("run.finished",):
                webhooks.event_publish(event_type=event_type, data=webhooks.run_event(run))
    except Exception:
        logger.exception("run %s: its webhook events could not be stored", run.pk)
