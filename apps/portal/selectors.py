"""Reads the portal pages share: sync status per flow (current schema) and the partner overview (public)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.db.models import F, FilteredRelation, Min, OuterRef, Q, Subquery
from django.utils import timezone

from apps.runs.models import Flow, Run, RunStatus
from apps.tenants.models import Customer, Domain, Partner
from apps.tenants.usage import month_start

# A run that finished moving data counts, even if some records failed (those are exceptions, counted apart).
GOOD_STATUSES = (RunStatus.SUCCEEDED, RunStatus.PARTIAL)


def flows_with_status() -> list[Flow]:
    """Every flow with ``last_run`` (the latest run) and ``last_success_at`` (latest good finish): 2 queries."""
    runs = Run.objects.filter(flow=OuterRef("pk"))
    latest = runs.order_by("-created_at").values("pk")[:1]
    last_good = runs.filter(status__in=GOOD_STATUSES).order_by("-finished_at").values("finished_at")[:1]
    flows = list(
        Flow.objects.select_related("connection")
        .annotate(last_run_id=Subquery(latest), last_success_at=Subquery(last_good))
        .order_by("direction", "name")
    )
    last_runs = Run.objects.in_bulk([f.last_run_id for f in flows if f.last_run_id])
    for flow in flows:
        flow.last_run = last_runs.get(flow.last_run_id)
    return flows


def flow_status_json(flow: Flow) -> dict:
    """One flow's line in the public health summary (JSON-safe)."""
    run = flow.last_run
    return {
        "slug": flow.slug, "name": flow.name, "direction": flow.direction, "enabled": flow.is_enabled,
        "scheduled": flow.on_schedule, "every_minutes": None if flow.schedule_cron else flow.schedule_minutes,
        "created_at": _iso(flow.created_at), "last_status": run.status if run else "",
        "last_run_at": _iso(run.finished_at or run.created_at) if run else None,
        "last_success_at": _iso(flow.last_success_at),
    }


def failed_runs_since(*, hours: int) -> int:
    """Runs that failed outright in the last ``hours`` (partial runs show up as exceptions instead)."""
    since = timezone.now() - timedelta(hours=hours)
    return Run.objects.filter(status=RunStatus.FAILED, finished_at__gte=since).count()


def oldest_open_exception_at() -> datetime | None:
    """When the longest-open exception (open, not acknowledged) opened: acknowledged ones have an owner."""
    from apps.exceptions.choices import Status
    from apps.exceptions.models import IntegrationException

    return IntegrationException.objects.filter(status=Status.OPEN).aggregate(oldest=Min("opened_at"))["oldest"]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


OVERVIEW_FIELDS = {
    "slug": "slug", "name": "name", "is_active": "is_active", "plan_name": "plan__name",
    "sla_status": "health__sla_status", "sla_reason": "health__sla_reason", "computed_at": "health__computed_at",
    "open_exceptions": "health__open_exceptions", "money_at_risk": "health__money_at_risk",
    "money_at_risk_currency": "health__money_at_risk_currency", "unposted_hours": "health__unposted_hours",
    "unposted_value": "health__unposted_value", "unposted_currency": "health__unposted_currency",
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
