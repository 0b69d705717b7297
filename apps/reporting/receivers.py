"""Plumbing only, on the engine's ``run_finished`` signal (connected in ``ReportingConfig.ready``); neither may break
a run, so failures are logged, not raised."""

from __future__ import annotations

import logging

from django.db import connection, transaction
from django.utils import timezone

from apps.reporting.health import run_finished_record
from apps.reporting.services import reporting_refresh_request
from apps.tenants.tasks import tenant_task_enqueue

logger = logging.getLogger(__name__)


def on_run_finished_meter(sender, run, **kwargs) -> None:
    """Meter the run into the month's usage and queue a refresh of the customer's health summary."""
    schema_name = connection.schema_name
    try:
        with transaction.atomic():  # a savepoint: a failure here must not spoil the engine's transaction
            run_finished_record(run=run, schema_name=schema_name)
    except Exception:  # metering and the summary are secondary: the run itself has finished
        logger.exception("usage/health bookkeeping failed for run %s in %s", run.pk, schema_name)


def on_run_finished(sender, run, **kwargs) -> None:
    """Queue a refresh of the stored figures (never inside the engine)."""
    if reporting_refresh_request():
        finished = (run.finished_at or timezone.now()).isoformat()
        tenant_task_enqueue(connection.schema_name, "apps.reporting.tasks.reporting_refresh", finished)
