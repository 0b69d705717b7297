"""The partner overview (public schema): one row per customer from the health summary and this month's usage."""

from __future__ import annotations

from datetime import date

from django.db.models import F, FilteredRelation, OuterRef, Q, Subquery
from django.utils import timezone

from apps.tenants.models import Customer, Domain, Partner
from apps.tenants.usage import month_start

OVERVIEW_FIELDS = {
    "slug": "slug", "name": "name", "is_active": "is_active", "plan_name": "plan__name",
    "sla_status": "health__sla_status", "sla_reason": "health__sla_reason", "computed_at": "health__computed_at",
    "open_exceptions": "health__open_exceptions", "money_at_risk": "health__money_at_risk",
    "money_at_risk_currency": "health__money_at_risk_currency", "unposted_hours": "health__unposted_hours",
    "unposted_value": "health__unposted_value", "unposted_currency": "health__unposted_currency",
    "money_at_risk_amounts": "health__money_at_risk_amounts", "unposted_values": "health__unposted_values",
    "last_good_sync_at": "health__last_good_sync_at", "flows": "health__flows",
    "records_synced": "this_month__records_synced", "runs": "this_month__runs", "api_calls": "this_month__api_calls",
}


def partner_overview(partner: Partner, *, month: date | None = None) -> list[dict]:
    """Every customer of ``partner`` as one plain row: health summary, plan, primary domain and this month's
    usage (None where not measured yet). One query on public tables whatever the number of customers; no
    customer schema is touched, and no model instances are built (the page lists hundreds)."""
    month = month_start(month or timezone.now().date())
    primary = Domain.objects.filter(tenant=OuterRef("pk")).order_by("-is_primary", "pk").values("domain")[:1]
    rows = (
        Customer.objects.firms().filter(partner=partner)
        .annotate(this_month=FilteredRelation("usage_months", condition=Q(usage_months__month=month)),
                  domain=Subquery(primary))
        .values("domain", *[key for key, path in OVERVIEW_FIELDS.items() if key == path],
                **{key: F(path) for key, path in OVERVIEW_FIELDS.items() if key != path})
        .order_by("name")
    )
    return list(rows)
