"""Helpers every figure shares: ratios, percentiles, the outbound flows a figure is about, the stored snapshot."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from apps.reporting.errors import ReportFilterError
from apps.reporting.filters import ReportFilters
from apps.reporting.models import ReportingSettings, Snapshot, TimeBasis
from apps.reporting.sql import T, fetch, month_start, next_month
from apps.runs.models import Flow, FlowDirection

SNAPSHOT = "figures"  # the name of the stored figures' Snapshot row
ZERO = Decimal("0")
CENT = Decimal("0.01")
RATIO = Decimal("0.0001")


def ratio(part: Decimal | int | None, whole: Decimal | int | None) -> Decimal | None:
    """part / whole to four places, or None when there is no whole to divide by."""
    if not whole:
        return None
    return (Decimal(part or 0) / Decimal(whole)).quantize(RATIO)


def percentile(values: list[float], fraction: float) -> float | None:
    """The percentile method every latency figure uses (PostgreSQL ``percentile_cont``, numpy "linear").

    Sort the n values; the rank is ``fraction × (n − 1)`` counted from 0; a fractional rank interpolates
    linearly between the two values around it. p50 of [10, 20, 30, 40] is 25; p95 is 38.5.
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


def outbound_flows(filters: ReportFilters, object_type: str) -> list[Flow]:
    """Enabled outbound flows of ``object_type`` (only ``filters.flow`` if given): the targets that should have it."""
    flows = Flow.objects.filter(direction=FlowDirection.OUTBOUND, object_type=object_type).order_by("name")
    if filters.flow:
        flows = flows.filter(slug=filters.flow)
        found = list(flows)
        if not found:
            raise ReportFilterError(f"No outbound {object_type.replace('_', ' ')} flow '{filters.flow}'.")
        return found
    return list(flows.filter(is_enabled=True))


TIME_BASES = tuple(TimeBasis.values)


def time_basis(chosen: str | None) -> tuple[str, str]:
    """Which time utilization and margin count, and the note that says so on the page: ``chosen`` (the ``time``
    option), else the customer's reporting setting (approved time only unless changed)."""
    if chosen is not None and chosen not in TIME_BASES:
        raise ReportFilterError(f"time must be one of: {', '.join(TIME_BASES)}.")
    setting = ReportingSettings.current().time_basis
    basis = chosen or setting
    where = "the customer's reporting setting" if basis == setting else "asked for with time=" + basis
    if basis == TimeBasis.APPROVED:
        return basis, f"Approved time only ({where}; time=all adds submitted time)."
    return basis, f"Approved and submitted time ({where}; time=approved counts approved time only)."


def stored_snapshot():
    """The stored figures' ``Snapshot`` (None before the first refresh: figures are then computed live)."""

    return Snapshot.objects.filter(name=SNAPSHOT).first()


def _as_of(snapshot) -> str:
    return f"As of {snapshot.refreshed_at:%Y-%m-%d %H:%M} UTC (refreshed after every finished run)."


def _stored_note(snapshot) -> list[str]:
    """Time figures read stored weekly sums, and the days at a window's edges that are not whole weeks live."""
    if snapshot is None:
        return []
    return [f"Whole weeks as of {snapshot.refreshed_at:%Y-%m-%d %H:%M} UTC (refreshed after every finished run); "
            "days at the edges of the window live."]


def _month_window(filters: ReportFilters, *, months: int) -> tuple[date, date]:
    end = filters.end or filters.today()
    start = filters.start
    if start is None:
        start = month_start(end)
        for _ in range(months - 1):
            start = month_start(start - timedelta(days=1))
    return start, end


def _months(start: date, end: date) -> list[date]:
    months, month = [], month_start(start)
    while month <= end:
        months.append(month)
        month = next_month(month)
    return months


def _projects(ids: set[int]) -> dict[int, dict]:
    rows = fetch(f"""
        SELECT p.id, p.code AS project, p.name AS project_name, c.name AS customer,
               coalesce(nullif(p.currency, ''), c.currency) AS currency
        FROM {T['project']} p JOIN {T['customer']} c ON c.id = p.customer_id WHERE p.id = ANY(%s)
    """, [list(ids)]) if ids else []
    return {r.pop("id"): r for r in rows}
