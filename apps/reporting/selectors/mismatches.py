"""Assignment vs actual hours: planned hours per person, project and week against the time booked."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from itertools import repeat

from django.db import connection

import apps.reporting.selectors.common as common
from apps.reporting.filters import ReportFilters
from apps.reporting.selectors.common import CENT, _as_of
from apps.reporting.sql import T, fetch, monday, scope, where, workdays
from apps.reporting.store import week_sources
from apps.reporting.tables import Column, Table

MISMATCH_COLUMNS = (
    Column("person", "Person"), Column("person_name", "Name"), Column("project", "Project"),
    Column("week", "Week of", "date"), Column("planned_hours", "Planned", "hours"),
    Column("actual_hours", "Actual", "hours"), Column("difference", "Actual − planned", "hours"),
    Column("assigned", "Assigned", "flag"),
)
DEFAULT_TOLERANCE = Decimal("4")


def assignment_mismatches(*, filters: ReportFilters, tolerance: Decimal = DEFAULT_TOLERANCE,
                          everything: bool = False) -> Table:
    """Planned (assignment) vs actual (time) hours per person, project and ISO week; differences past ``tolerance``.

    An assignment's planned hours are spread evenly over its Monday–Friday days between its start and
    end; assignments without dates or planned hours cannot be spread and are counted in the notes.
    Actual hours are live, not rejected time entries. Time on a project with no assignment is planned 0.
    The window is widened to whole weeks. ``everything`` returns matching rows too. Once refreshed, both
    sides are read from the weekly sums the refresh stores (``PlanWeek``, ``ActualWeek``).
    """
    start, end = filters.window(default_days=8 * 7)
    start, end = monday(start), monday(end) + timedelta(days=6)
    assignments = assignments_overlapping(filters, start, end)
    snapshot = common.stored_snapshot()
    planned = None if snapshot is not None else planned_by_week(assignments, start, end)
    sources = week_sources(filters, start, end, planned)
    rows, compared = _mismatch_rows(*sources, None if everything else tolerance)
    flagged = sum(1 for r in rows if abs(r["difference"]) > tolerance)
    notes = [f"Weeks {start.isoformat()} to {end.isoformat()}; flagged when |actual − planned| > {tolerance} h."]
    unplannable = sum(1 for a in assignments if not is_spreadable(a))
    if unplannable:
        notes.append(f"{unplannable} assignment(s) without start, end or planned hours were left out.")
    if snapshot is not None:
        notes.append(_as_of(snapshot))
    return Table(MISMATCH_COLUMNS, rows, {"compared": compared, "flagged": flagged, "tolerance_hours": tolerance,
                                          "start": start, "end": end}, notes)


def assignments_overlapping(filters, start: date, end: date) -> list[dict]:
    """Live assignments in the filters' scope that overlap start..end (or have no dates)."""
    clauses, params = scope(filters, "a")
    return fetch(f"""
        SELECT a.person_id, a.project_id, a.start_date, a.end_date, a.planned_hours
        FROM {T['assignment']} a
        WHERE a.deleted_at IS NULL AND (a.start_date IS NULL OR a.start_date <= %s)
          AND (a.end_date IS NULL OR a.end_date >= %s) AND {where(clauses)}
    """, [end, start, *params])


def assignments_all() -> list[dict]:
    """Every live assignment (what ``PlanWeek`` is spread from)."""
    return assignments_overlapping(ReportFilters(), date.min, date.max)


def is_spreadable(a: dict) -> bool:
    """An assignment whose planned hours can be spread over its workdays (hours, start and end all known)."""
    return bool(a["planned_hours"] is not None and a["start_date"] and a["end_date"]
                and workdays(a["start_date"], a["end_date"]))


def planned_by_week(assignments: list[dict], start: date, end: date) -> dict[tuple, Decimal]:
    """{(person id, project id, week): planned hours to the cent} in the weeks from start to end (Mondays)."""
    planned: dict[tuple, Decimal] = defaultdict(Decimal)
    for a in filter(is_spreadable, assignments):
        total_days = workdays(a["start_date"], a["end_date"])
        week, first, last = max(monday(a["start_date"]), start), a["start_date"], a["end_date"]
        while week <= min(last, end):
            inside = first <= week and week + timedelta(days=6) <= last
            days = 5 if inside else workdays(max(week, first), min(week + timedelta(days=6), last))
            if days:
                planned[(a["person_id"], a["project_id"], week)] += a["planned_hours"] * days / total_days
            week += timedelta(days=7)
    return {key: hours.quantize(CENT) for key, hours in planned.items()}


def _mismatch_rows(planned: str, actual: str, params: list, tolerance: Decimal | None) -> tuple[list[dict], int]:
    """Planned against actual per (person, project, week), joined, compared and ordered in PostgreSQL (tens of
    thousands of pairs on a large customer); rows past ``tolerance`` (None: all) and how many pairs there were."""
    with connection.cursor() as cursor:
        cursor.execute(f"""
        WITH pairs AS (
            SELECT coalesce(pl.person_id, a.person_id) AS person_id,
                   coalesce(pl.project_id, a.project_id) AS project_id, coalesce(pl.week, a.week) AS week,
                   coalesce(pl.hours, 0.00) AS planned_hours, coalesce(a.hours, 0) AS actual_hours,
                   pl.person_id IS NOT NULL AS assigned
            FROM ({planned}) pl FULL JOIN ({actual}) a
              ON a.person_id = pl.person_id AND a.project_id = pl.project_id AND a.week = pl.week
        ), people AS (  -- ordered by code as Python orders strings, then sorted by that rank (cheaper than text)
            SELECT id, code, name, row_number() OVER (ORDER BY code COLLATE "C") AS rank FROM {T['person']}
            WHERE id IN (SELECT person_id FROM pairs)
        )
        SELECT NULL AS person, NULL AS person_name, NULL AS project, NULL::date AS week,
               NULL::numeric AS planned_hours, NULL::numeric AS actual_hours, NULL::numeric AS difference,
               NULL::boolean AS assigned, 0 AS rank, NULL::bigint AS project_id, count(*) AS compared
        FROM pairs
        UNION ALL
        SELECT pe.code, pe.name, pr.code, x.week, x.planned_hours, x.actual_hours, x.actual_hours - x.planned_hours,
               x.assigned, pe.rank, x.project_id, NULL
        FROM pairs x JOIN people pe ON pe.id = x.person_id JOIN {T['project']} pr ON pr.id = x.project_id
        WHERE %s::numeric IS NULL OR abs(x.actual_hours - x.planned_hours) > %s::numeric
        ORDER BY rank, project_id, week
        """, [*params, tolerance, tolerance])
        found = cursor.fetchall()
    # The figure's columns come first, in order; zip stops there (rank, project id and count are for sorting).
    keys = [c.key for c in MISMATCH_COLUMNS]
    return list(map(dict, map(zip, repeat(keys), found[1:]))), found[0][-1]
