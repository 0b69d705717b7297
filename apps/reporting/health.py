"""One customer's health in a few numbers, computed inside its schema for the partner overview.

The portal stores the result in a small public-schema table from the engine and a periodic task, so
the partner overview reads one table instead of switching through every customer's schema.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Count, Max, Q, Sum
from django.utils import timezone

from apps.connectors.models import ApiCallWindow
from apps.reporting.filters import ReportFilters
from apps.reporting.selectors import unposted_time
from apps.runs.models import ItemOutcome, Run, RunItem, RunStatus

SYNCED = (ItemOutcome.CREATED, ItemOutcome.UPDATED, ItemOutcome.DELETED)
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
        "records_synced": RunItem.objects.filter(created_at__gte=month, outcome__in=SYNCED).count(),
        "runs": Run.objects.filter(created_at__gte=month).count(),
        "api_calls": ApiCallWindow.objects.filter(window_seconds=DAY, window_start__gte=month)
        .aggregate(n=Sum("calls"))["n"] or 0,
    }


def _exceptions() -> dict[str, Any]:
    from apps.exceptions.choices import ACTIVE_STATUSES
    from apps.exceptions.models import IntegrationException

    rows = (IntegrationException.objects.filter(status__in=ACTIVE_STATUSES).values("currency")
            .annotate(n=Count("pk"), amount=Sum("amount_at_risk", filter=Q(amount_at_risk__gt=0))))
    by_currency = {r["currency"]: r["amount"] for r in rows if r["amount"]}
    currency, amount = _largest(by_currency)
    return {"open_exceptions": sum(r["n"] for r in rows), "money_at_risk": amount,
            "money_at_risk_currency": currency, "money_at_risk_by_currency": by_currency}


def _largest(amounts: dict[str, Decimal]) -> tuple[str, Decimal]:
    return max(amounts.items(), key=lambda kv: kv[1], default=("", Decimal("0")))
