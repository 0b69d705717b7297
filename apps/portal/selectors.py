"""Reads the portal pages share: sync status per flow (current schema) and the partner overview (public)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Min, OuterRef, Prefetch, Subquery
from django.utils import timezone

from apps.runs.models import Flow, Run, RunStatus
from apps.tenants.models import Customer, Partner, UsageMonth
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


@dataclass
class OverviewRow:
    """One customer on the partner overview: the public-schema summary and this month's usage."""

    customer: Customer
    domain: str | None
    usage: UsageMonth | None

    @property
    def health(self):
        return getattr(self.customer, "health", None)


def partner_overview(partner: Partner, *, month: date | None = None) -> list[OverviewRow]:
    """Every customer of ``partner`` with health, plan, domain and usage: a fixed number of public-schema
    queries whatever the number of customers, and no tenant schema is touched."""
    month = month_start(month or timezone.now().date())
    customers = (
        Customer.objects.firms().filter(partner=partner)
        .select_related("plan", "health")
        .prefetch_related(Prefetch("usage_months", queryset=UsageMonth.objects.filter(month=month), to_attr="_usage"))
        .prefetch_related("domains")
        .order_by("name")
    )
    rows = []
    for customer in customers:
        domains = sorted(customer.domains.all(), key=lambda d: not d.is_primary)
        rows.append(OverviewRow(customer=customer, domain=domains[0].domain if domains else None,
                                usage=customer._usage[0] if customer._usage else None))
    return rows
