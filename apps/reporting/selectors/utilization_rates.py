"""Utilization: billable hours against capacity, per person or practice."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import apps.reporting.selectors.common as common
from apps.canonical.models import Person
from apps.reporting.errors import ReportFilterError
from apps.reporting.filters import ReportFilters
from apps.reporting.selectors.common import CENT, ZERO, _month_window, _months, _stored_note, ratio
from apps.reporting.sql import fetch, next_month, workdays
from apps.reporting.store import time_rows
from apps.reporting.tables import Column, Table

UTILIZATION_BY = ("person", "practice")
UTILIZATION_COLUMNS = {
    "person": (Column("person", "Person"), Column("person_name", "Name"), Column("practice", "Practice"),
               Column("month", "Month", "date"), Column("capacity_hours", "Capacity", "hours"),
               Column("billable_hours", "Billable hours", "hours"), Column("hours", "All hours", "hours"),
               Column("utilization", "Utilization", "ratio")),
    "practice": (Column("practice", "Practice"), Column("month", "Month", "date"), Column("people", "People", "int"),
                 Column("capacity_hours", "Capacity", "hours"), Column("billable_hours", "Billable hours", "hours"),
                 Column("hours", "All hours", "hours"), Column("utilization", "Utilization", "ratio")),
}
NO_PRACTICE = "(no practice)"


def utilization(*, filters: ReportFilters, by: str = "person", time: str | None = None) -> Table:
    """Billable hours / capacity per person (or practice) and month.

    Capacity = capacity hours per week × Monday–Friday days of the month inside the window ÷ 5 (no
    holidays). Hours are live time entries by work date: approved ones only, or approved and submitted
    (``time``: ``approved`` or ``all``; default the customer's reporting setting, itself approved by
    default); rejected never. People count if they are active or booked time in the window; with a
    project or customer filter, only people who booked time on it count (with their whole capacity).
    """
    if by not in UTILIZATION_BY:
        raise ReportFilterError(f"by must be one of: {', '.join(UTILIZATION_BY)}.")
    basis, basis_note = common.time_basis(time)
    start, end = _month_window(filters, months=3)
    snapshot = common.stored_snapshot()
    time_sql, params = time_rows(filters, start, end, ("person_id", "month"), stored=snapshot is not None,
                                 approved_only=basis == "approved")
    hours = fetch(f"""
        SELECT s.person_id, s.month, coalesce(sum(s.billable_hours), 0) AS billable_hours, sum(s.hours) AS hours
        FROM ({time_sql}) s GROUP BY 1, 2
    """, params)
    booked = {(r["person_id"], r["month"]): r for r in hours}
    people = _people_for_utilization(filters, {r["person_id"] for r in hours})
    months = {m: Decimal(workdays(max(m, start), min(next_month(m) - timedelta(days=1), end))) / 5
              for m in _months(start, end)}  # weeks of capacity in each month's part of the window
    rows = []
    for person in people:
        practice = person["practice"] or NO_PRACTICE
        for month, weeks in months.items():
            got = booked.get((person["id"], month), {})
            rows.append({"person": person["code"], "person_name": person["name"], "practice": practice,
                         "month": month, "capacity_hours": (person["capacity_hours_per_week"] * weeks).quantize(CENT),
                         "billable_hours": got.get("billable_hours", ZERO), "hours": got.get("hours", ZERO)})
    if by == "practice":
        rows = _by_practice(rows)
    for row in rows:
        row["utilization"] = ratio(row["billable_hours"], row["capacity_hours"])
    capacity, billable = sum((r["capacity_hours"] for r in rows), ZERO), sum((r["billable_hours"] for r in rows), ZERO)
    notes = [f"Months {start.isoformat()} to {end.isoformat()}; capacity counts Monday–Friday days.", basis_note]
    return Table(UTILIZATION_COLUMNS[by], rows, {"capacity_hours": capacity, "billable_hours": billable,
                                                 "utilization": ratio(billable, capacity), "start": start, "end": end,
                                                 "time": basis},
                 notes + _stored_note(snapshot))


def _people_for_utilization(filters: ReportFilters, booked: set[int]) -> list[dict]:
    people = Person.objects.filter(deleted_at__isnull=True)
    if filters.person:
        people = people.filter(code=filters.person)
    if filters.practice:
        people = people.filter(practice=filters.practice)
    if filters.project or filters.customer:
        people = people.filter(pk__in=booked)
    else:
        people = people.filter(is_active=True) | people.filter(pk__in=booked)
    return list(people.order_by("code").values("id", "code", "name", "practice", "capacity_hours_per_week"))


def _by_practice(rows: list[dict]) -> list[dict]:
    groups: dict[tuple, dict] = {}
    for row in rows:
        group = groups.setdefault((row["practice"], row["month"]), {
            "practice": row["practice"], "month": row["month"], "people": 0, "capacity_hours": ZERO,
            "billable_hours": ZERO, "hours": ZERO})
        group["people"] += 1
        for key in ("capacity_hours", "billable_hours", "hours"):
            group[key] += row[key]
    return [groups[k] for k in sorted(groups)]


