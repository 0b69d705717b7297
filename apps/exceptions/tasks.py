"""Thin tasks, queued per tenant through ``apps.tenants.tasks`` (the schedules fan them out to every tenant)."""

from __future__ import annotations

import logging

from django.utils import timezone

from apps.exceptions import escalation, ingest, notify, webhooks
from apps.exceptions.ingest import exceptions_from_run
from apps.exceptions.monitors import monitors_check
from apps.runs.models import Run

logger = logging.getLogger(__name__)


def exceptions_tick() -> None:
    """Every minute: take runs and webhook events the signal missed, escalate, send what is due.

    Each step stands alone: one failing (a bad policy, a database hiccup) does not stop the others."""

    now = timezone.now()
    for step in (lambda: ingest.runs_sweep(now=now), lambda: ingest.exceptions_from_events(now=now),
                 lambda: escalation.escalation_tick(now=now), lambda: notify.notifications_deliver(now=now),
                 lambda: webhooks.deliveries_due(now=now)):
        try:
            step()
        except Exception:  # logged with the schema; the next tick tries again
            logger.exception("exceptions tick: a step failed")


def monitors_tick() -> None:
    """Every few minutes: missed runs, failing connections, backlogs, API quotas."""

    monitors_check(now=timezone.now())


def run_ingest(run_id: int) -> None:
    run = Run.objects.filter(pk=run_id).first()
    if run is not None:
        exceptions_from_run(run=run)


def webhook_deliver(delivery_id: int) -> None:
    """One attempt of an outbound webhook delivery (queued after the event, then on its retry schedule)."""
    webhooks.delivery_attempt(delivery_id=delivery_id)
