"""Plumbing only: after every finished run, queue a refresh of the stored figures (never inside the engine)."""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from apps.reporting.services import reporting_refresh_request
from apps.tenants.tasks import tenant_task_enqueue


def on_run_finished(sender, run, **kwargs) -> None:
    if reporting_refresh_request():
        finished = (run.finished_at or timezone.now()).isoformat()
        tenant_task_enqueue(connection.schema_name, "apps.reporting.tasks.reporting_refresh", finished)
