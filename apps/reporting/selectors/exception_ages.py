"""Exceptions by kind and age."""

from __future__ import annotations

from datetime import timedelta

from apps.exceptions.choices import Kind, Severity
from apps.exceptions.models import IntegrationException
from apps.reporting.filters import ReportFilters
from apps.reporting.selectors.money_at_risk import exception_scope, money_at_risk
from apps.reporting.sql import fetch, where
from apps.reporting.tables import Column, Table

EXCEPTION_AGES: tuple[tuple[int | None, str], ...] = ((0, "under 1 day"), (7, "1–7 days"), (30, "8–30 days"),
                                                      (None, "31+ days"))
EXCEPTION_COLUMNS = (
    Column("kind", "Kind"), Column("age", "Open for"), Column("exceptions", "Exceptions", "int"),
    Column("open_records", "Records failing", "int"), Column("hours_at_risk", "Hours at risk", "hours"),
    Column("amount_at_risk", "Money at risk", "money"), Column("currency", "Currency"),
    Column("worst_severity", "Worst severity"), Column("oldest", "Open since", "datetime"),
)


def exceptions_by_kind_age(*, filters: ReportFilters) -> Table:
    """Open and acknowledged exceptions by kind and by how long they have been open (this cycle).

    A row's money at risk is its exceptions' own open amounts; the summary's is the one figure of
    ``money_at_risk`` (each source record once, however many exceptions name it), in every currency.
    Age is counted to now, or to the end of ``as_of``.
    """

    table = IntegrationException._meta.db_table
    clauses, params = exception_scope(filters)
    age = "floor(extract(epoch FROM (d.now - x.opened_at)) / 86400)"
    rows = _exception_rows(filters, table, clauses, params, age)
    kinds, severities = dict(Kind.choices), dict(Severity.choices)
    for row in rows:
        row["age"] = EXCEPTION_AGES[row.pop("bucket")][1]
        row["kind"] = kinds.get(row["kind"], row["kind"])
        row["worst_severity"] = severities.get(row["worst_severity"], row["worst_severity"])
    risk = money_at_risk(filters=filters)
    return Table(EXCEPTION_COLUMNS, rows, {"exceptions": sum(r["exceptions"] for r in rows),
                                           "open_records": sum(r["open_records"] for r in rows),
                                           "hours_at_risk": risk.hours, "amount_at_risk": risk.amounts},
                 ["Open and acknowledged exceptions; age is time since the current cycle opened.",
                  "Totals count each record once, however many exceptions name it (docs/data-quality.md)."])


def _exception_rows(filters, table: str, clauses: list[str], params: list, age: str) -> list[dict]:
    """One row per kind, age and currency: an exception counts (exceptions, records, hours) in its main
    currency's row and adds its money in each currency it has, so no currency is dropped."""
    arms = " ".join(f"WHEN {age} <= {limit} THEN {n}" for n, (limit, _) in enumerate(EXCEPTION_AGES)
                    if limit is not None)
    return fetch(f"""
        WITH d AS (SELECT %s::timestamptz AS now)
        SELECT x.kind, CASE {arms} ELSE {len(EXCEPTION_AGES) - 1} END AS bucket, m.currency,
               count(*) FILTER (WHERE m.main) AS exceptions,
               coalesce(sum(x.open_records) FILTER (WHERE m.main), 0) AS open_records,
               coalesce(sum(x.hours_at_risk) FILTER (WHERE m.main), 0) AS hours_at_risk,
               sum(m.amount) AS amount_at_risk, max(x.severity) AS worst_severity, min(x.opened_at) AS oldest
        FROM d, {table} x CROSS JOIN LATERAL (
            SELECT a.key AS currency, a.value::numeric AS amount, a.key = x.currency AS main
            FROM jsonb_each_text(x.amounts) a WHERE a.value::numeric <> 0 OR a.key = x.currency
            UNION ALL
            SELECT x.currency, CASE WHEN x.amounts = '{{}}'::jsonb THEN x.amount_at_risk ELSE 0 END, TRUE
            WHERE NOT x.amounts ? x.currency
        ) m
        WHERE {where(clauses)}
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    """, [_reference_time(filters), *params])


def _reference_time(filters: ReportFilters):
    from datetime import datetime, time

    from django.utils import timezone

    if filters.as_of is None or filters.as_of >= timezone.localdate():
        return timezone.now()
    return timezone.make_aware(datetime.combine(filters.as_of + timedelta(days=1), time.min))
