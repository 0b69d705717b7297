"""Thin tasks: ids in, call a service (queued per schema with apps.tenants.tasks.tenant_task_enqueue)."""

from __future__ import annotations

from django.utils.dateparse import parse_datetime

from apps.reporting import health, services
from apps.reporting.filters import ReportFilters
from apps.reporting.signals import figures_refreshed


def reporting_refresh(requested_at: str | None = None) -> None:
    """The stored figures after a run, then the customer's health summary from them (never before them)."""
    services.reporting_refresh_claim()  # committed before the refresh reads: later runs queue another one
    services.reporting_refresh(requested_at=parse_datetime(requested_at) if requested_at else None)
    health.customer_health_refresh()
    figures_refreshed.send(sender=reporting_refresh)


def reconciliation_check() -> None:
    """The last 8 settled weeks, every enabled outbound time flow (schedule it daily per tenant); against what the
    target itself holds where its kind can say (Tryton), else against what Weft posted."""
    services.reconciliation_check(filters=ReportFilters(), read_back=True)


def customer_health_refresh() -> None:
    """Recompute the current schema's customer health into the public summary table."""
    health.customer_health_refresh()
