"""Approved → posted latency: how long approved time waits before it reaches the target (p50/p95)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from apps.common.objects import ObjectType
from apps.reporting.errors import ReportFilterError
from apps.reporting.filters import ReportFilters
from apps.reporting.selectors.common import CENT
from apps.reporting.sql import T, fetch, scope, where
from apps.reporting.tables import Column, Table

PERIODS = ("day", "week", "month")
LATENCY_COLUMNS = (
    Column("period", "Period from", "date"), Column("items", "Items posted", "int"),
    Column("p50_ms", "p50 (ms)", "ms"), Column("p95_ms", "p95 (ms)", "ms"),
    Column("p50_hours", "p50 (hours)", "hours"), Column("p95_hours", "p95 (hours)", "hours"),
)


def posting_latency(*, filters: ReportFilters, period: str = "week",
                    object_type: str = ObjectType.TIME_ENTRY) -> Table:
    """p50/p95 of approved-at-the-source → posted-to-the-target, per day, week or month of posting.

    From the ledger: created/updated items of outbound flows that carry a latency (the record had an
    approval time). Percentiles are PostgreSQL ``percentile_cont`` (see ``percentile``); the summary
    holds the same over the whole window.
    """
    if period not in PERIODS:
        raise ReportFilterError(f"period must be one of: {', '.join(PERIODS)}.")
    start, end = filters.window(default_days=90)
    clauses, params = ["ri.created_at >= %s", "ri.created_at < %s", "ri.object_type = %s"], [
        start, end + timedelta(days=1), object_type]
    if filters.flow:
        clauses.append("f.slug = %s")
        params.append(filters.flow)
    record_clauses, record_params = scope(filters, "te", people=object_type != ObjectType.INVOICE)
    if record_clauses and object_type in (ObjectType.TIME_ENTRY, ObjectType.EXPENSE):
        table = T["time"] if object_type == ObjectType.TIME_ENTRY else T["expense"]
        clauses.append(f"ri.canonical_id IN (SELECT te.id FROM {table} te WHERE {where(record_clauses)})")
        params += record_params
    rows = fetch(f"""
        SELECT date_trunc(%s, ri.created_at AT TIME ZONE 'UTC')::date AS period, count(*) AS items,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY ri.latency_ms) AS p50,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY ri.latency_ms) AS p95
        FROM {T['item']} ri JOIN {T['run']} r ON r.id = ri.run_id JOIN {T['flow']} f ON f.id = r.flow_id
        WHERE f.direction = 'outbound' AND ri.outcome IN ('created', 'updated') AND ri.latency_ms IS NOT NULL
          AND {where(clauses)}
        GROUP BY GROUPING SETS ((1), ()) ORDER BY 1 NULLS LAST
    """, [period, *params])
    overall = next((r for r in rows if r["period"] is None), None)
    table_rows = [_latency_row(r) for r in rows if r["period"] is not None]
    summary = _latency_row(overall) if overall else {"items": 0, "p50_ms": None, "p95_ms": None,
                                                     "p50_hours": None, "p95_hours": None}
    summary.pop("period", None)
    return Table(LATENCY_COLUMNS, table_rows, summary,
                 [f"Posted {start.isoformat()} to {end.isoformat()}, by {period}; percentiles interpolate "
                  "linearly between ranks (PostgreSQL percentile_cont)."])


def _latency_row(row: dict) -> dict:
    def hours(ms):
        return None if ms is None else (Decimal(str(ms)) / 3_600_000).quantize(CENT)
    return {"period": row["period"], "items": row["items"], "p50_ms": _ms(row["p50"]), "p95_ms": _ms(row["p95"]),
            "p50_hours": hours(row["p50"]), "p95_hours": hours(row["p95"])}


def _ms(value: float | None) -> int | None:
    return None if value is None else int(Decimal(str(value)).quantize(Decimal("1")))
