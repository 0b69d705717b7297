"""Resource plan: hours booked (assignments spread over their working days) against capacity, per person or
practice and week, for the weeks ahead; over- and under-booked people flagged."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from apps.canonical.models import Person
from apps.reporting.errors import ReportFilterError
from apps.reporting.filters import ReportFilters
from apps.reporting.selectors.common import CENT, ZERO, ratio
from apps.reporting.selectors.mismatches import assignments_overlapping, is_spreadable, planned_by_week
from apps.reporting.selectors.utilization_rates import NO_PRACTICE
from apps.reporting.sql import monday
from apps.reporting.tables import Column, Table

PLAN_BY = ("person", "practice")
DEFAULT_WEEKS, MAX_WEEKS = 8, 26
UNDER_BOOKED = Decimal("0.5")  # booked below half of capacity in a week: under-booked
RESOURCE_PLAN_COLUMNS = {
    "person": (Column("person", "Person"), Column("person_name", "Name"), Column("practice", "Practice"),
               Column("week", "Week of", "date"), Column("capacity_hours", "Capacity", "hours"),
               Column("booked_hours", "Booked", "hours"), Column("load", "Booked / capacity", "ratio"),
               Column("status", "Status")),
    "practice": (Column("practice", "Practice"), Column("week", "Week of", "date"), Column("people", "People", "int"),
                 Column("capacity_hours", "Capacity", "hours"), Column("booked_hours", "Booked", "hours"),
                 Column("load", "Booked / capacity", "ratio"), Column("over_booked", "Over-booked people", "int"),
                 Column("under_booked", "Under-booked people", "int")),
}


def booking_status(booked: Decimal, capacity: Decimal) -> str:
    """``over`` past capacity, ``under`` below half of it, else ``ok`` (no capacity: over if anything is booked)."""
    if booked > capacity:
        return "over"
    if capacity and booked < capacity * UNDER_BOOKED:
        return "under"
    return "ok"


def resource_plan(*, filters: ReportFilters, weeks: int = DEFAULT_WEEKS, by: str = "person") -> Table:
    """Booked hours against capacity per person (or practice) and week, from the week of ``start`` (default: this
    week) for ``weeks`` weeks.

    Booked = each live assignment's planned hours spread evenly over its Monday–Friday days (as assignment vs
    actual spreads them), summed over the person's projects. Capacity = the person's weekly capacity, whole
    weeks (no holidays or leave). Active people count, with a person or practice filter only those.
    """
    if by not in PLAN_BY:
        raise ReportFilterError(f"by must be one of: {', '.join(PLAN_BY)}.")
    if not 1 <= weeks <= MAX_WEEKS:
        raise ReportFilterError(f"weeks must be between 1 and {MAX_WEEKS}.")
    start = monday(filters.start or filters.today())
    end = start + timedelta(weeks=weeks, days=-1)
    assignments = assignments_overlapping(filters, start, end)
    booked: dict[tuple, Decimal] = {}
    for (person_id, _project, week), hours in planned_by_week(assignments, start, end).items():
        booked[(person_id, week)] = booked.get((person_id, week), ZERO) + hours
    rows = []
    for person in _people(filters):
        capacity = Decimal(person["capacity_hours_per_week"] or 0).quantize(CENT)
        for n in range(weeks):
            week = start + timedelta(weeks=n)
            hours = booked.get((person["id"], week), ZERO).quantize(CENT)
            rows.append({"person": person["code"], "person_name": person["name"],
                         "practice": person["practice"] or NO_PRACTICE, "week": week, "capacity_hours": capacity,
                         "booked_hours": hours, "load": ratio(hours, capacity),
                         "status": booking_status(hours, capacity)})
    over = sorted({r["person"] for r in rows if r["status"] == "over"})
    under = sorted({r["person"] for r in rows if r["status"] == "under"})
    if by == "practice":
        rows = _by_practice(rows)
    notes = [f"Weeks of {start.isoformat()} to {(end - timedelta(days=6)).isoformat()}; over-booked: more than "
             f"capacity in a week; under-booked: less than {UNDER_BOOKED:.0%} of it."]
    unplannable = sum(1 for a in assignments if not is_spreadable(a))
    if unplannable:
        notes.append(f"{unplannable} assignment(s) without start, end or planned hours were left out.")
    return Table(RESOURCE_PLAN_COLUMNS[by], rows, {"start": start, "end": end, "weeks": weeks,
                                                   "over_booked": over, "under_booked": under}, notes)


def _people(filters: ReportFilters) -> list[dict]:
    people = Person.objects.filter(deleted_at__isnull=True, is_active=True)
    if filters.person:
        people = people.filter(code=filters.person)
    if filters.practice:
        people = people.filter(practice=filters.practice)
    return list(people.order_by("code").values("id", "code", "name", "practice", "capacity_hours_per_week"))


def _by_practice(rows: list[dict]) -> list[dict]:
    groups: dict[tuple, dict] = {}
    for row in rows:
        group = groups.setdefault((row["practice"], row["week"]), {
            "practice": row["practice"], "week": row["week"], "people": 0, "capacity_hours": ZERO,
            "booked_hours": ZERO, "over_booked": 0, "under_booked": 0})
        group["people"] += 1
        group["capacity_hours"] += row["capacity_hours"]
        group["booked_hours"] += row["booked_hours"]
        group["over_booked"] += row["status"] == "over"
        group["under_booked"] += row["status"] == "under"
    for group in groups.values():
        group["load"] = ratio(group["booked_hours"], group["capacity_hours"])
    return sorted(groups.values(), key=lambda g: (g["practice"], g["week"]))
