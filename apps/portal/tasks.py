"""Thin tasks: queued per schema with apps.tenants.tasks.tenant_task_enqueue."""

from __future__ import annotations

from django.db import connection
from django.utils import timezone

from apps.portal import dashboards
from apps.tenants.branding import brand_for_partner
from apps.tenants.models import Customer


def review_prepare() -> None:
    """Last month's review rendered and stored (``dashboards.monthly_review`` does both), after the refresh that
    follows a run: the run moved the data fingerprint, so without this the first read after it would compute.
    Lazy: when the current render is already stored (nothing moved the fingerprint), no figure is computed."""
    customer = Customer.objects.select_related("partner", "plan").get(schema_name=connection.schema_name)
    dashboards.monthly_review(customer=customer, brand=brand_for_partner(customer.partner),
                              month=dashboards.previous_month(timezone.localdate()), lazy=True)
