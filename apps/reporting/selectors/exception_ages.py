"""Exceptions by kind and age."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from typing import Any

from apps.exceptions.choices import Kind, Severity
from apps.exceptions.models import IntegrationException
from apps.reporting.filters import ReportFilters
from apps.reporting.sql import T, fetch, where
from apps.reporting.tables import Column, Table

EXCEPTION_AGES: tuple[tuple[int | None, str], ...] = ((0, "under 1 day"), (7, "1–7 days"), (30, "8–30 days"),
                                                      (None, "31+ days"))
EXCEPTION_COLUMNS = (
    Column("kind", "Kind"), Column("age", "Open for"), Column("exceptions", "Exceptions", "int"),
    Column("open_records", "Records failing", "int"), Column("hours_at_risk", "Hours at risk", "hours"),
    Column("amount_at_risk", "Money at risk", "money"), Column("currency", "Currency"),
    Column("worst_severity", "Worst severity"), Column("oldest", "Open since", "datetime"),
)


def _exception_scope(filters: ReportFilters, alias: str = "x") -> tuple[list[str], list[Any]]:
    """Exceptions carry their records' labels (project and customer codes, person names) as JSON lists."""
    clauses, params = [f"{alias}.status IN ('open', 'acknowledged')"], []
    if filters.flow:
        clauses.append(f"{alias}.flow_id IN (SELECT id FROM {T['flow']} WHERE slug = %s)")
        params.append(filters.flow)
    for label, value in (("projects", filters.project), ("customers", filters.customer)):
        if value:
            clauses.append(f"{alias}.{label} @> jsonb_build_array(%s::text)")
            params.append(value)
    if filters.person:
        clauses.append(f"{alias}.people @> jsonb_build_array((SELECT name FROM {T['person']} WHERE code = %s))")
        params.append(filters.person)
    return clauses, params


def exceptions_by_kind_age(*, filters: ReportFilters) -> Table:
    """Open and acknowledged exceptions by kind and by how long they have been open (this cycle).

    Money at risk is each exception's open amount in its main currency (apps.exceptions keeps it).
    Age is counted to now, or to the end of ``as_of``.
    """

    table = IntegrationException._meta.db_table
    clauses, params = _exception_scope(filters)
    age = "floor(extract(epoch FROM (d.now - x.opened_at)) / 86400)"
    rows = _exception_rows(filters, table, clauses, params, age)
    kinds, severities = dict(Kind.choices), dict(Severity.choices)
    for row in rows:
        row["age"] = EXCEPTION_AGES[row.pop("bucket")][1]
        row["kind"] = kinds.get(row["kind"], row["kind"])
        row["worst_severity"] = severities.get(row["worst_severity"], row["worst_severity"])
    money: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        if row["amount_at_risk"]:
            money[row["currency"] or ""] += row["amount_at_risk"]
    return Table(EXCEPTION_COLUMNS, rows, {"exceptions": sum(r["exceptions"] for r in rows),
                                           "open_records": sum(r["open_records"] for r in rows),
                                           "amount_at_risk": dict(money)},
                 ["Open and acknowledged exceptions; age is time since the current cycle opened."])


def _exception_rows(filters, table: str, clauses: list[str], params: list, age: str) -> list[dict]:
    arms = " ".join(f"WHEN {age} <= {limit} THEN {n}" for n, (limit, _) in enumerate(EXCEPTION_AGES)
                    if limit is not None)
    return fetch(f"""
        WITH d AS (SELECT %s::timestamptz AS now)
        SELECT x.kind, CASE {arms} ELSE {len(EXCEPTION_AGES) - 1} END AS bucket, x.currency,
               count(*) AS exceptions, sum(x.open_records) AS open_records, sum(x.hours_at_risk) AS hours_at_risk,
               sum(x.amount_at_risk) AS amount_at_risk, max(x.severity) AS worst_severity,
               min(x.opened_at) AS oldest
        FROM d, {table} x WHERE {where(clauses)}
        GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    """, [_reference_time(filters), *params])


def _reference_time(filters: ReportFilters):
    from datetime import datetime, time

    from django.utils import timezone

    if filters.as_of is None or filters.as_of >= timezone.localdate():
        return timezone.now()
    return timezone.make_aware(datetime.combine(filters.as_of + timedelta(days=1), time.min))
