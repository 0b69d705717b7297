"""Thin tasks: run inside a customer's schema (queued through ``apps.tenants.tasks``) and call a service."""

from apps.portal import health


def customer_health_refresh() -> None:
    """Recompute the current schema's customer health into the public summary table."""
    health.customer_health_refresh()
