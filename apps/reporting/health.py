"""Customer health and usage metering of runs: the one owner of both.

A customer's health in a few numbers is computed inside its schema (``customer_health_compute``, plus each
flow's sync status) and stored in a small public-schema table through the tenants service that owns it
(``apps.tenants.health_summary``), so the partner overview reads one table instead of switching through every
customer's schema. It is refreshed right after the stored figures a finished run queues (one refresh per burst,
``tasks.reporting_refresh``), so it equals the drill-in, and by the ``platform:customer-health`` schedule. A
finished run is metered here too: one run, and the records it synced (``Run.records_synced``, the one
definition of "synced") into the month's usage (``apps.tenants.usage``, which owns the counters and their export).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Max, Q, Sum
from django.utils import timezone

from apps.connectors.models import ApiCallWindow
from apps.exceptions.choices import ACTIVE_STATUSES
from apps.exceptions.models import IntegrationException
from apps.exceptions.selectors import oldest_open_exception_at
from apps.reporting.filters import ReportFilters
from apps.reporting.selectors import money_at_risk, unposted_time
from apps.runs.models import SYNCED_OUTCOMES, WORK_OUTCOMES, Flow, Run, RunItem, RunStatus
from apps.runs.selectors import failed_runs_since, flows_with_status
from apps.tenants.health_summary import HealthFigures, health_claim, health_mark_stale, health_store
from apps.tenants.models import Customer, CustomerHealth
from apps.tenants.usage import usage_record

DAY = 86400


def customer_health_compute(*, now: datetime | None = None) -> dict[str, Any]:
    """Health of the customer whose schema is active (call inside ``schema_context``). Plain Python values:

    ``open_exceptions`` (int, open + acknowledged); ``money_at_risk`` (Decimal, in ``money_at_risk_currency``,
    the largest currency) and ``money_at_risk_by_currency``; ``unposted_hours``, ``unposted_value`` (in
    ``unposted_currency``) and ``unposted_value_by_currency``; ``last_good_sync_at`` (latest succeeded run,
    or None) and ``last_good_sync_by_flow`` (flow slug → datetime); ``usage_month`` (first day of the
    month), ``records_synced`` (ledger items created, updated or deleted this month), ``runs`` and
    ``api_calls`` this month; ``computed_at``. Seven queries whatever the data size.
    """
    now = now or timezone.now()
    month = timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    exceptions = _exceptions()
    unposted = unposted_time(filters=ReportFilters(as_of=timezone.localdate(now))).summary
    unposted_value = {k: v for k, v in unposted["value"].items() if v}
    value_currency, value = _largest(unposted_value)
    syncs = dict(Run.objects.filter(status=RunStatus.SUCCEEDED, flow__isnull=False).values("flow__slug")
                 .annotate(last=Max("finished_at")).values_list("flow__slug", "last"))
    return {
        "computed_at": now,
        **exceptions,
        "unposted_hours": unposted["hours"], "unposted_value": value, "unposted_currency": value_currency,
        "unposted_value_by_currency": unposted_value,
        "last_good_sync_at": max((t for t in syncs.values() if t), default=None),
        "last_good_sync_by_flow": syncs,
        "usage_month": month.date(),
        "records_synced": RunItem.objects.filter(created_at__gte=month, outcome__in=SYNCED_OUTCOMES).count(),
        "runs": Run.objects.filter(Q(*[(f"counts__{o}__gt", 0) for o in WORK_OUTCOMES], _connector=Q.OR),
                                   created_at__gte=month).count(),  # runs that did work, as billed
        "api_calls": ApiCallWindow.objects.filter(window_seconds=DAY, window_start__gte=month)
        .aggregate(n=Sum("calls"))["n"] or 0,
    }


def _exceptions() -> dict[str, Any]:
    risk = money_at_risk(filters=ReportFilters())  # the one figure: each source record once
    currency, amount = risk.largest()
    return {"open_exceptions": IntegrationException.objects.filter(status__in=ACTIVE_STATUSES).count(),
            "money_at_risk": amount, "money_at_risk_currency": currency, "money_at_risk_by_currency": risk.amounts}


def _largest(amounts: dict[str, Decimal]) -> tuple[str, Decimal]:
    return max(amounts.items(), key=lambda kv: kv[1], default=("", Decimal("0")))


def health_figures() -> HealthFigures:
    """The current schema's health, from ``customer_health_compute`` plus each flow's sync status."""
    data = customer_health_compute()
    return HealthFigures(
        open_exceptions=data["open_exceptions"], oldest_open_exception_at=oldest_open_exception_at(),
        money_at_risk=data["money_at_risk"], money_at_risk_currency=data["money_at_risk_currency"],
        unposted_hours=data["unposted_hours"], unposted_value=data["unposted_value"],
        unposted_currency=data["unposted_currency"], failed_runs_24h=failed_runs_since(hours=24),
        money_at_risk_by_currency=data["money_at_risk_by_currency"],
        unposted_value_by_currency=data["unposted_value_by_currency"],
        flows=[flow_status_json(flow) for flow in flows_with_status()],
    )


def customer_health_refresh() -> CustomerHealth:
    """Recompute the current schema's customer's summary row (claim first, so later changes re-queue)."""
    customer = Customer.objects.get(schema_name=connection.schema_name)
    health_claim(customer_id=customer.pk)
    return health_store(customer=customer, figures=health_figures())


def run_finished_record(*, run: Run, schema_name: str) -> None:
    """A run finished: meter it (one run if it did work, ``Run.is_billable``; the records it synced) and mark the
    health summary stale. The summary is
    recomputed by the refresh of the stored figures this run queues (``tasks.reporting_refresh``), after it
    stores them: computed before, it would show the figures of the run before (the overview a run behind the
    drill-in)."""
    usage_record(schema_name=schema_name, runs=int(run.is_billable()), records_synced=run.records_synced())
    customer_id = Customer.objects.filter(schema_name=schema_name).values_list("pk", flat=True).first()
    if customer_id is not None:
        health_mark_stale(customer_id=customer_id)


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


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
