"""Plumbing only: the engine's ``run_finished`` signal hands the run to ingestion, which must never hurt the engine."""

from __future__ import annotations

import logging

from django.db import transaction

from apps.exceptions.ingest import exceptions_from_run

logger = logging.getLogger(__name__)


def on_run_finished(sender, run, **kwargs) -> None:
    try:
        with transaction.atomic():  # a savepoint: a failure here leaves the engine's transaction intact
            exceptions_from_run(run=run)
    except Exception:  # the run stays un-ingested; the tick's sweep takes it later
        logger.exception("exceptions from run %s failed; the sweep will try again", run.pk)
