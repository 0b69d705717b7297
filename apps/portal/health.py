"""Glue between reporting's health figures (computed in a customer's schema) and the public summary table."""

from __future__ import annotations

from django.db import connection

from apps.portal.selectors import failed_runs_since, flow_status_json, flows_with_status, oldest_open_exception_at
from apps.tenants.health import HealthFigures, health_claim, health_store
from apps.tenants.models import Customer, CustomerHealth


def health_figures() -> HealthFigures:
    """The current schema's health, from ``apps.reporting.health`` plus each flow's sync status."""
    from apps.reporting.health import customer_health_compute

    data = customer_health_compute()
    return HealthFigures(
        open_exceptions=data["open_exceptions"], oldest_open_exception_at=oldest_open_exception_at(),
        money_at_risk=data["money_at_risk"], money_at_risk_currency=data["money_at_risk_currency"],
        unposted_hours=data["unposted_hours"], unposted_value=data["unposted_value"],
        unposted_currency=data["unposted_currency"], failed_runs_24h=failed_runs_since(hours=24),
        flows=[flow_status_json(flow) for flow in flows_with_status()],
    )


def customer_health_refresh() -> CustomerHealth:
    """Recompute the current schema's customer's summary row (claim first, so later changes re-queue)."""
    customer = Customer.objects.get(schema_name=connection.schema_name)
    health_claim(customer_id=customer.pk)
    return health_store(customer=customer, figures=health_figures())
