"""Small helpers for the figures' SQL: table names, scope clauses from filters, fetching rows as dicts.

The figures aggregate in PostgreSQL (one query per part, never per row). Filters by code become
semi-joins (``project_id IN (SELECT id ... WHERE code = %s)``), so the planner can use the
(project, date) and (person, date) indexes of the hub.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db import connection

from apps.canonical import models as hub
from apps.reporting.filters import ReportFilters
from apps.runs import models as ledger

T = {
    "customer": hub.Customer._meta.db_table,
    "project": hub.Project._meta.db_table,
    "person": hub.Person._meta.db_table,
    "cost_rate": hub.PersonCostRate._meta.db_table,
    "assignment": hub.Assignment._meta.db_table,
    "time": hub.TimeEntry._meta.db_table,
    "expense": hub.Expense._meta.db_table,
    "invoice": hub.Invoice._meta.db_table,
    "line": hub.InvoiceLine._meta.db_table,
    "line_time": hub.InvoiceLine.time_entries.through._meta.db_table,
    "ref": hub.ExternalRef._meta.db_table,
    "flow": ledger.Flow._meta.db_table,
    "run": ledger.Run._meta.db_table,
    "item": ledger.RunItem._meta.db_table,
}


def fetch(sql: str, params: list[Any] | tuple = ()) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [c.name for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def scope(filters: ReportFilters, alias: str, *, people: bool = True) -> tuple[list[str], list[Any]]:
    """WHERE clauses for a table with ``project_id`` (and ``person_id`` when ``people``) columns."""
    clauses: list[str] = []
    params: list[Any] = []
    if filters.project:
        clauses.append(f"{alias}.project_id IN (SELECT id FROM {T['project']} WHERE code = %s)")
        params.append(filters.project)
    if filters.customer:
        clauses.append(f"{alias}.project_id IN (SELECT p.id FROM {T['project']} p JOIN {T['customer']} c "
                       f"ON c.id = p.customer_id WHERE c.code = %s)")
        params.append(filters.customer)
    if people and filters.person:
        clauses.append(f"{alias}.person_id IN (SELECT id FROM {T['person']} WHERE code = %s)")
        params.append(filters.person)
    if people and filters.practice:
        clauses.append(f"{alias}.person_id IN (SELECT id FROM {T['person']} WHERE practice = %s)")
        params.append(filters.practice)
    return clauses, params


def where(clauses: list[str]) -> str:
    return " AND ".join(clauses) if clauses else "TRUE"


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def workdays(start: date, end: date) -> int:
    """Monday-to-Friday days from ``start`` to ``end`` inclusive (no public holidays)."""
    if end < start:
        return 0
    days = (end - start).days + 1
    weeks, rest = divmod(days, 7)
    extra = sum(1 for n in range(rest) if (start.weekday() + n) % 7 < 5)
    return weeks * 5 + extra
