"""Operational intelligence: one selector per figure, shared by the portal pages, the API and CSV exports.

Every selector takes keyword-only ``filters`` (``ReportFilters``) plus its own options and returns a
``Table``. They aggregate in PostgreSQL with a fixed number of queries whatever the data size; none
writes. How each figure is computed, with its edge cases, is in docs/reporting.md.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from itertools import repeat
from typing import Any

from django.db import connection

from apps.canonical import models as hub_models
from apps.canonical.models import Person
from apps.common.objects import ObjectType
from apps.reporting.errors import ReportFilterError
from apps.reporting.filters import ReportFilters
from apps.reporting.sql import T, fetch, monday, month_start, next_month, scope, where, workdays
from apps.reporting.store import reconciliation_totals, time_rows, unposted_entries_sql, week_sources
from apps.reporting.tables import Column, Table
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


def stored_snapshot():
    """The stored figures' ``Snapshot`` (None before the first refresh: figures are then computed live)."""
    from apps.reporting.models import Snapshot

    return Snapshot.objects.filter(name=SNAPSHOT).first()


def _as_of(snapshot) -> str:
    return f"As of {snapshot.refreshed_at:%Y-%m-%d %H:%M} UTC (refreshed after every finished run)."


def _stored_note(snapshot) -> list[str]:
    """Time figures read stored weekly sums, and the days at a window's edges that are not whole weeks live."""
    if snapshot is None:
        return []
    return [f"Whole weeks as of {snapshot.refreshed_at:%Y-%m-%d %H:%M} UTC (refreshed after every finished run); "
            "days at the edges of the window live."]


# --- unposted approved time ------------------------------------------------------------------------
AGE_BUCKETS: tuple[tuple[int | None, str], ...] = ((7, "0–7 days"), (14, "8–14 days"), (30, "15–30 days"),
                                                    (None, "31+ days"))
UNPOSTED_COLUMNS = (
    Column("project", "Project"), Column("project_name", "Project name"), Column("customer", "Customer"),
    Column("age", "Age since approval"), Column("entries", "Entries", "int"), Column("hours", "Hours", "hours"),
    Column("billable_hours", "Billable hours", "hours"), Column("value", "Value", "money"),
    Column("currency", "Currency"), Column("unrated_hours", "Billable hours without a rate", "hours"),
    Column("oldest_approved", "Oldest approval", "date"),
)


def _age_case(expr: str) -> str:
    arms = " ".join(f"WHEN {expr} <= {limit} THEN {n}" for n, (limit, _) in enumerate(AGE_BUCKETS) if limit is not None)
    return f"CASE {arms} ELSE {len(AGE_BUCKETS) - 1} END"


def unposted_time(*, filters: ReportFilters) -> Table:
    """Approved, live time entries some enabled outbound time flow has not posted (as they stand).

    Grouped by project and age (days from approval, or from the work date if no approval time, to
    ``as_of``). Value = billable hours × (entry bill rate, else the project's default rate).
    ``start``/``end`` filter on the work date; without them all unposted time counts. Read from the
    snapshot ``services.reporting_refresh`` stores after each finished run when there is one (the notes
    say as of when), else computed live.
    """
    from apps.reporting.models import UnpostedEntry

    flows = outbound_flows(filters, ObjectType.TIME_ENTRY)
    if not flows:
        return Table(UNPOSTED_COLUMNS, [], _unposted_summary([]),
                     ["No enabled outbound time-entry flow: nothing is waiting to be posted."])
    snapshot = stored_snapshot()
    if snapshot is not None and not {f.pk for f in flows} <= set(snapshot.flow_ids):
        snapshot = None  # a flow the refresh does not store (disabled, say): live
    if snapshot is not None:
        source, source_params = UnpostedEntry._meta.db_table, []
    else:
        live, source_params = unposted_entries_sql(flows)
        source = f"({live})"
    clauses, scope_params = scope(filters, "u")
    for name, op in (("start", ">="), ("end", "<=")):
        if getattr(filters, name):
            clauses.append(f"u.work_date {op} %s")
            scope_params.append(getattr(filters, name))
    sql = f"""
        WITH d AS (SELECT %s::date AS today)
        SELECT p.code AS project, p.name AS project_name, c.name AS customer, g.bucket, g.currency,
               g.entries, g.hours, g.billable_hours, round(g.value, 2) AS value, g.unrated_hours, g.oldest_approved
        FROM (
            SELECT u.project_id, {_age_case("(d.today - u.approved_day)")} AS bucket, u.currency,
                   count(*) AS entries, sum(u.hours) AS hours, sum(u.billable_hours) AS billable_hours,
                   sum(u.value) AS value, sum(u.unrated_hours) AS unrated_hours, min(u.approved_day) AS oldest_approved
            FROM d, (SELECT DISTINCT ON (s.time_entry_id) s.* FROM {source} s WHERE s.flow_id = ANY(%s)) u
            WHERE {where(clauses)}
            GROUP BY 1, 2, 3
        ) g
        JOIN {T['project']} p ON p.id = g.project_id JOIN {T['customer']} c ON c.id = p.customer_id
        ORDER BY p.code, g.bucket, g.currency
    """
    rows = fetch(sql, [filters.today(), *source_params, [f.pk for f in flows], *scope_params])
    for row in rows:
        row["age"] = AGE_BUCKETS[row.pop("bucket")][1]
    notes = [f"Unposted for: {', '.join(f.name for f in flows)}. Age counted to {filters.today().isoformat()}."]
    if snapshot is not None:
        notes.append(_as_of(snapshot))
    return Table(UNPOSTED_COLUMNS, rows, _unposted_summary(rows), notes)


def _unposted_summary(rows: list[dict]) -> dict:
    value: dict[str, Decimal] = defaultdict(Decimal)
    by_age: dict[str, Decimal] = {label: ZERO for _, label in AGE_BUCKETS}
    for row in rows:
        value[row["currency"]] += row["value"]
        by_age[row["age"]] += row["hours"]
    return {"entries": sum(r["entries"] for r in rows), "hours": sum((r["hours"] for r in rows), ZERO),
            "billable_hours": sum((r["billable_hours"] for r in rows), ZERO), "value": dict(value),
            "hours_by_age": by_age}


# --- assignment vs actual hours ---------------------------------------------------------------------
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
    assignments = _assignments(filters, start, end)
    snapshot = stored_snapshot()
    planned = None if snapshot is not None else planned_by_week(assignments, start, end)
    sources = week_sources(filters, start, end, planned)
    rows, compared = _mismatch_rows(*sources, None if everything else tolerance)
    flagged = sum(1 for r in rows if abs(r["difference"]) > tolerance)
    notes = [f"Weeks {start.isoformat()} to {end.isoformat()}; flagged when |actual − planned| > {tolerance} h."]
    unplannable = sum(1 for a in assignments if not _spreadable(a))
    if unplannable:
        notes.append(f"{unplannable} assignment(s) without start, end or planned hours were left out.")
    if snapshot is not None:
        notes.append(_as_of(snapshot))
    return Table(MISMATCH_COLUMNS, rows, {"compared": compared, "flagged": flagged, "tolerance_hours": tolerance,
                                          "start": start, "end": end}, notes)


def _assignments(filters, start: date, end: date) -> list[dict]:
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
    return _assignments(ReportFilters(), date.min, date.max)


def _spreadable(a: dict) -> bool:
    return bool(a["planned_hours"] is not None and a["start_date"] and a["end_date"]
                and workdays(a["start_date"], a["end_date"]))


def planned_by_week(assignments: list[dict], start: date, end: date) -> dict[tuple, Decimal]:
    """{(person id, project id, week): planned hours to the cent} in the weeks from start to end (Mondays)."""
    planned: dict[tuple, Decimal] = defaultdict(Decimal)
    for a in filter(_spreadable, assignments):
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


# --- approved → posted latency ----------------------------------------------------------------------
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


# --- run health -------------------------------------------------------------------------------------
OUTCOMES = ("created", "updated", "unchanged", "skipped", "deleted", "conflict", "failed")
RUN_HEALTH_COLUMNS = (
    Column("flow", "Flow"), Column("direction", "Direction"), Column("runs", "Runs", "int"),
    Column("failed_runs", "Failed runs", "int"), Column("items", "Items", "int"),
    *(Column(o, o.capitalize(), "int") for o in OUTCOMES),
    Column("failure_rate", "Failure rate", "ratio"), Column("last_success", "Last good run", "datetime"),
)


def run_health(*, filters: ReportFilters) -> Table:
    """Per flow (and per connection object for pulls without a flow): runs, items by outcome, failure rate.

    Failure rate = (failed + conflict) / items that were attempted (everything but skipped and
    unchanged). "Last good run" is the latest run that succeeded, whenever it was.
    """
    start, end = filters.window(default_days=30)
    window = [start, end + timedelta(days=1)]
    flow_clause, flow_params = ("AND f.slug = %s", [filters.flow]) if filters.flow else ("", [])
    counts = ", ".join(f"count(*) FILTER (WHERE ri.outcome = '{o}') AS {o}" for o in OUTCOMES)
    items = fetch(f"""
        SELECT r.flow_id, r.connection_id, r.object_name, count(*) AS items, {counts}
        FROM {T['item']} ri JOIN {T['run']} r ON r.id = ri.run_id LEFT JOIN {T['flow']} f ON f.id = r.flow_id
        WHERE ri.created_at >= %s AND ri.created_at < %s {flow_clause}
        GROUP BY 1, 2, 3
    """, [*window, *flow_params])
    runs = fetch(f"""
        SELECT r.flow_id, r.connection_id, r.object_name, min(f.name) AS flow_name, min(f.direction) AS direction,
               min(c.name) AS connection_name,
               count(*) FILTER (WHERE r.created_at >= %s AND r.created_at < %s) AS runs,
               count(*) FILTER (WHERE r.created_at >= %s AND r.created_at < %s AND r.status = 'failed') AS failed_runs,
               max(r.finished_at) FILTER (WHERE r.status = 'succeeded') AS last_success
        FROM {T['run']} r LEFT JOIN {T['flow']} f ON f.id = r.flow_id
        JOIN connectors_connection c ON c.id = r.connection_id
        WHERE TRUE {flow_clause}
        GROUP BY 1, 2, 3
    """, [*window, *window, *flow_params])
    by_key = {(i["flow_id"], i["connection_id"], i["object_name"]): i for i in items}
    rows = []
    for run in runs:
        item = by_key.get((run["flow_id"], run["connection_id"], run["object_name"]), {})
        if not run["runs"] and not item:
            continue
        row = {"flow": run["flow_name"] or f"{run['connection_name']} · {run['object_name']} (read)",
               "direction": run["direction"] or FlowDirection.INBOUND, "runs": run["runs"],
               "failed_runs": run["failed_runs"], "items": item.get("items", 0),
               **{o: item.get(o, 0) for o in OUTCOMES}, "last_success": run["last_success"]}
        attempted = row["items"] - row["skipped"] - row["unchanged"]
        row["failure_rate"] = ratio(row["failed"] + row["conflict"], attempted)
        rows.append(row)
    rows.sort(key=lambda r: r["flow"])
    return Table(RUN_HEALTH_COLUMNS, rows, _run_health_summary(rows),
                 [f"Runs and items recorded {start.isoformat()} to {end.isoformat()}."])


def _run_health_summary(rows: list[dict]) -> dict:
    totals = {key: sum(r[key] for r in rows) for key in ("runs", "failed_runs", "items", *OUTCOMES)}
    attempted = totals["items"] - totals["skipped"] - totals["unchanged"]
    return {**totals, "failure_rate": ratio(totals["failed"] + totals["conflict"], attempted)}


# --- utilization ------------------------------------------------------------------------------------
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


def utilization(*, filters: ReportFilters, by: str = "person") -> Table:
    """Billable hours / capacity per person (or practice) and month.

    Capacity = capacity hours per week × Monday–Friday days of the month inside the window ÷ 5 (no
    holidays). Hours are live time entries that were not rejected, by work date. People count if they
    are active or booked time in the window; with a project or customer filter, only people who
    booked time on it count (with their whole capacity).
    """
    if by not in UTILIZATION_BY:
        raise ReportFilterError(f"by must be one of: {', '.join(UTILIZATION_BY)}.")
    start, end = _month_window(filters, months=3)
    snapshot = stored_snapshot()
    time, params = time_rows(filters, start, end, ("person_id", "month"), stored=snapshot is not None)
    hours = fetch(f"""
        SELECT s.person_id, s.month, coalesce(sum(s.billable_hours), 0) AS billable_hours, sum(s.hours) AS hours
        FROM ({time}) s GROUP BY 1, 2
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
    notes = [f"Months {start.isoformat()} to {end.isoformat()}; capacity counts Monday–Friday days."]
    return Table(UTILIZATION_COLUMNS[by], rows, {"capacity_hours": capacity, "billable_hours": billable,
                                                 "utilization": ratio(billable, capacity), "start": start, "end": end},
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


# --- project margin ---------------------------------------------------------------------------------
BASES = ("billable", "billed")
MARGIN_COLUMNS = (
    Column("project", "Project"), Column("project_name", "Project name"), Column("customer", "Customer"),
    Column("month", "Month", "date"), Column("currency", "Currency"), Column("hours", "Hours", "hours"),
    Column("billable_value", "Billable value", "money"), Column("billed_value", "Billed (net)", "money"),
    Column("cost", "Cost", "money"), Column("revenue", "Revenue", "money"), Column("margin", "Margin", "money"),
    Column("margin_ratio", "Margin %", "ratio"), Column("uncosted_hours", "Hours without a cost rate", "hours"),
)


def project_margin(*, filters: ReportFilters, basis: str = "billable") -> Table:
    """Revenue − cost per project and month; revenue is billable value (``basis=billable``) or billed (``billed``).

    Billable value = billable hours × (entry bill rate, else project default rate) + billable expenses.
    Billed = net amounts of live, not void invoices of the project, by issue month.
    Cost = every hour × (entry cost rate, else the person's dated cost rate in force that day, else the
    person's cost rate) + every expense. Live, not rejected entries and expenses only; hours with no
    cost rate at all cost 0 and are shown as "hours without a cost rate". Amounts are taken to be in
    the project's currency.
    """
    if basis not in BASES:
        raise ReportFilterError(f"basis must be one of: {', '.join(BASES)}.")
    start, end = _month_window(filters, months=3)
    cells: dict[tuple, dict] = defaultdict(lambda: {"hours": ZERO, "billable_value": ZERO, "billed_value": ZERO,
                                                    "cost": ZERO, "uncosted_hours": ZERO})
    snapshot = stored_snapshot()
    for source in (_margin_time(filters, start, end, stored=snapshot is not None),
                   _margin_expenses(filters, start, end), _margin_invoices(filters, start, end)):
        for row in source:
            cell = cells[(row.pop("project_id"), row.pop("month"))]
            for key, value in row.items():
                cell[key] += value or ZERO
    projects = _projects({key[0] for key in cells})
    rows = []
    for (project_id, month), cell in cells.items():
        revenue = cell["billable_value"] if basis == "billable" else cell["billed_value"]
        margin = revenue - cell["cost"]
        rows.append({**projects[project_id], "month": month, **{k: v.quantize(CENT) for k, v in cell.items()},
                     "revenue": revenue.quantize(CENT), "margin": margin.quantize(CENT),
                     "margin_ratio": ratio(margin, revenue)})
    rows.sort(key=lambda r: (r["project"], r["month"]))
    return Table(MARGIN_COLUMNS, rows, _margin_summary(rows),
                 [f"Months {start.isoformat()} to {end.isoformat()}; revenue is {basis} value.",
                  *_stored_note(snapshot)])


def _margin_time(filters, start: date, end: date, *, stored: bool) -> list[dict]:
    time, params = time_rows(filters, start, end, ("project_id", "month"), stored=stored)
    return fetch(f"""
        SELECT s.project_id, s.month, sum(s.hours) AS hours, coalesce(sum(s.billable_value), 0) AS billable_value,
               sum(s.cost) AS cost, coalesce(sum(s.uncosted_hours), 0) AS uncosted_hours
        FROM ({time}) s GROUP BY 1, 2
    """, params)


def _margin_expenses(filters, start: date, end: date) -> list[dict]:
    clauses, params = scope(filters, "e")
    return fetch(f"""
        SELECT e.project_id, date_trunc('month', e.date::timestamp)::date AS month,
               coalesce(sum(e.amount) FILTER (WHERE e.billable), 0) AS billable_value, sum(e.amount) AS cost
        FROM {T['expense']} e
        WHERE e.date BETWEEN %s AND %s AND e.deleted_at IS NULL AND e.approval_status <> 'rejected'
          AND {where(clauses)}
        GROUP BY 1, 2
    """, [start, end, *params])


def _margin_invoices(filters, start: date, end: date) -> list[dict]:
    if filters.person or filters.practice:
        return []  # an invoice is not one person's: billed value is left out when filtering by people
    clauses, params = scope(filters, "i", people=False)
    return fetch(f"""
        SELECT i.project_id, date_trunc('month', i.issue_date::timestamp)::date AS month,
               sum(i.amount_net) AS billed_value
        FROM {T['invoice']} i
        WHERE i.project_id IS NOT NULL AND i.issue_date BETWEEN %s AND %s AND i.deleted_at IS NULL
          AND i.status <> 'void' AND {where(clauses)}
        GROUP BY 1, 2
    """, [start, end, *params])


def _projects(ids: set[int]) -> dict[int, dict]:
    rows = fetch(f"""
        SELECT p.id, p.code AS project, p.name AS project_name, c.name AS customer,
               coalesce(nullif(p.currency, ''), c.currency) AS currency
        FROM {T['project']} p JOIN {T['customer']} c ON c.id = p.customer_id WHERE p.id = ANY(%s)
    """, [list(ids)]) if ids else []
    return {r.pop("id"): r for r in rows}


def _margin_summary(rows: list[dict]) -> dict:
    by_currency: dict[str, dict] = {}
    for row in rows:
        total = by_currency.setdefault(row["currency"], {"revenue": ZERO, "cost": ZERO, "margin": ZERO})
        for key in total:
            total[key] += row[key]
    for total in by_currency.values():
        total["margin_ratio"] = ratio(total["margin"], total["revenue"])
    return {"by_currency": by_currency}


# --- exceptions by kind and age ---------------------------------------------------------------------
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
    from apps.exceptions.choices import Kind, Severity
    from apps.exceptions.models import IntegrationException

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


# --- invoices blocked by integration errors -----------------------------------------------------------
BLOCKED_COLUMNS = (
    Column("number", "Invoice"), Column("kind", "Kind"), Column("customer", "Customer"), Column("project", "Project"),
    Column("issue_date", "Issued", "date"), Column("status", "Status"), Column("amount", "Amount", "money"),
    Column("currency", "Currency"), Column("blocked_by", "Blocked by"), Column("failing_records", "Failing records",
                                                                               "int"),
    Column("exception_kinds", "Exception kinds"), Column("blocked_since", "Blocked since", "datetime"),
)


def blocked_invoices(*, filters: ReportFilters) -> Table:
    """Live, not void invoices and billing events with an open exception on the invoice itself, or on a time
    entry or expense one of its lines bills (the invoice cannot be completed or posted as it stands).

    Amount is the invoice total; ``start``/``end`` filter on the issue date (undated invoices always show).
    """
    from apps.exceptions.models import ExceptionRecord, IntegrationException

    records, exceptions = ExceptionRecord._meta.db_table, IntegrationException._meta.db_table
    line_expense = hub_models.InvoiceLine.expenses.through._meta.db_table
    exception_filter, exception_params = "x.status IN ('open', 'acknowledged')", []
    if filters.flow:
        exception_filter += f" AND x.flow_id IN (SELECT id FROM {T['flow']} WHERE slug = %s)"
        exception_params.append(filters.flow)
    invoice_clauses, invoice_params = _invoice_scope(filters)
    rows = fetch(f"""
        WITH open_records AS (
            SELECT er.object_type, er.canonical_id, x.kind, x.opened_at
            FROM {records} er JOIN {exceptions} x ON x.id = er.exception_id
            WHERE er.is_open AND er.canonical_id IS NOT NULL AND er.object_type IN ('invoice', 'time_entry', 'expense')
              AND {exception_filter}
        ), blocked AS (
            SELECT canonical_id AS invoice_id, 'invoice' AS via, canonical_id AS record_id, kind, opened_at
            FROM open_records WHERE object_type = 'invoice'
            UNION ALL
            SELECT l.invoice_id, 'time entries', o.canonical_id, o.kind, o.opened_at
            FROM open_records o CROSS JOIN LATERAL (  -- an index lookup per failing record, not a scan of every
                SELECT lt.invoiceline_id FROM {T['line_time']} lt  -- billed entry (OFFSET 0 keeps it a lookup)
                WHERE lt.timeentry_id = o.canonical_id OFFSET 0) lt
            JOIN {T['line']} l ON l.id = lt.invoiceline_id WHERE o.object_type = 'time_entry'
            UNION ALL
            SELECT l.invoice_id, 'expenses', o.canonical_id, o.kind, o.opened_at
            FROM open_records o CROSS JOIN LATERAL (
                SELECT le.invoiceline_id FROM {line_expense} le WHERE le.expense_id = o.canonical_id OFFSET 0) le
            JOIN {T['line']} l ON l.id = le.invoiceline_id WHERE o.object_type = 'expense'
        )
        SELECT i.number, i.kind, c.name AS customer, p.code AS project, i.issue_date, i.status,
               i.amount_total AS amount, i.currency, string_agg(DISTINCT b.via, ', ') AS blocked_by,
               count(DISTINCT (b.via, b.record_id)) AS failing_records,
               string_agg(DISTINCT b.kind, ', ') AS exception_kinds, min(b.opened_at) AS blocked_since
        FROM blocked b JOIN {T['invoice']} i ON i.id = b.invoice_id JOIN {T['customer']} c ON c.id = i.customer_id
        LEFT JOIN {T['project']} p ON p.id = i.project_id
        WHERE i.deleted_at IS NULL AND i.status <> 'void' AND {where(invoice_clauses)}
        GROUP BY i.id, c.name, p.code
        ORDER BY i.amount_total DESC, i.id
    """, [*exception_params, *invoice_params])
    money: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        money[row["currency"]] += row["amount"]
    return Table(BLOCKED_COLUMNS, rows, {"invoices": len(rows), "amount": dict(money)},
                 ["An invoice is blocked while an exception on it, or on time or expenses it bills, is open."])


def _invoice_scope(filters: ReportFilters) -> tuple[list[str], list[Any]]:
    clauses, params = [], []
    if filters.project:
        clauses.append(f"i.project_id IN (SELECT id FROM {T['project']} WHERE code = %s)")
        params.append(filters.project)
    if filters.customer:
        clauses.append(f"i.customer_id IN (SELECT id FROM {T['customer']} WHERE code = %s)")
        params.append(filters.customer)
    for name, op in (("start", ">="), ("end", "<=")):
        if getattr(filters, name):
            clauses.append(f"(i.issue_date IS NULL OR i.issue_date {op} %s)")
            params.append(getattr(filters, name))
    return clauses, params


# --- reconciliation: hub source vs what each target has ----------------------------------------------
RECONCILIATION_COLUMNS = (
    Column("flow", "Target flow"), Column("project", "Project"), Column("project_name", "Project name"),
    Column("week", "Week of", "date"), Column("source_hours", "Hours in the hub", "hours"),
    Column("target_hours", "Hours in the target", "hours"), Column("hours_difference", "Hours difference", "hours"),
    Column("source_amount", "Amount in the hub", "money"), Column("target_amount", "Amount in the target", "money"),
    Column("amount_difference", "Amount difference", "money"), Column("status", "Status"),
    Column("flagged", "Flagged", "flag"),
)
TOLERANCE = Decimal("0.005")  # below a cent or a hundredth of an hour is rounding, not a difference


def reconciliation(*, filters: ReportFilters, read_back: dict | None = None, live: bool = False) -> Table:
    """Approved time per project and ISO week: the hub (source) against what each outbound time flow's target has.

    Source: approved, live entries the flow should send (not those that came from the target itself).
    Target: entries the target has per the cross-reference; where it holds the content we hold now, the
    hub's values, otherwise the content last posted (the ledger's latest created/updated item), so an
    entry changed, unapproved or deleted since posting counts as the target has it. Amount = billable
    hours × (bill rate, else project default rate). ``read_back`` (from ``reconciliation_read_back``)
    replaces the target side with totals the target system reported itself. Window: whole weeks,
    default the last 8. Read from the stored weekly sums once refreshed, unless ``live``.
    """
    start, end = filters.window(default_days=8 * 7)
    start, end = monday(start), monday(end) + timedelta(days=6)
    flows = outbound_flows(filters, ObjectType.TIME_ENTRY)
    snapshot = None if live else stored_snapshot()
    stored_ids = set(snapshot.flow_ids) if snapshot is not None else set()
    totals = reconciliation_totals(filters, flows, start, end, stored_ids)
    rows, read_from_target = [], []
    for flow in flows:
        mine = [t for t in totals if t["flow_id"] == flow.pk]
        source = _keyed(mine, "source")
        target = (read_back or {}).get(flow.pk)
        if target is None:
            target, hours_only = _keyed(mine, "target"), False
        else:
            read_from_target.append(flow.name)
            hours_only = any(v["amount"] is None for v in target.values())
        rows += _reconcile_rows(flow, source, target, hours_only_target=hours_only)
    names = _projects({r["project_id"] for r in rows})
    for row in rows:
        project = names.get(row.pop("project_id"), {})
        row["project"], row["project_name"] = project.get("project", "?"), project.get("project_name", "")
    rows.sort(key=lambda r: (r["flow"], r["project"], r["week"]))
    flagged = [r for r in rows if r["flagged"]]
    notes = [f"Weeks {start.isoformat()} to {end.isoformat()}; flagged when hours or amount differ by 0.01 or more."]
    if any(f.pk in stored_ids for f in flows):
        notes.append(_as_of(snapshot))
    if read_from_target:
        notes.append(f"Target side read from the target system itself for {', '.join(read_from_target)}; where it "
                     "reports hours only, amounts are not compared.")
    return Table(RECONCILIATION_COLUMNS, rows, {
        "compared": len(rows), "flagged": len(flagged), "start": start, "end": end,
        "hours_difference": sum((r["hours_difference"] for r in flagged), ZERO),
        "amount_difference": sum((r["amount_difference"] for r in flagged), ZERO)}, notes)


def _keyed(rows: list[dict], side: str) -> dict[tuple, dict]:
    """{(project id, week): {hours, amount}} of one side; a side with nothing in a project-week has NULL sums."""
    return {(r["project_id"], r["week"]): {"hours": r[f"{side}_hours"], "amount": r[f"{side}_amount"]}
            for r in rows if r[f"{side}_hours"] is not None}


def _reconcile_rows(flow: Flow, source: dict, target: dict, *, hours_only_target: bool = False) -> list[dict]:
    """One row per project and week either side has. ``hours_only_target``: the target reports hours, not amounts
    (a read-back from an ERP whose timesheet lines carry no bill amount); amounts are then not compared."""
    rows = []
    for key in set(source) | set(target):
        got, sent = source.get(key, {}), target.get(key, {})
        hours_only = hours_only_target and key in target  # the target reported hours but no amount
        row = {"flow": flow.name, "project_id": key[0], "week": key[1],
               "source_hours": got.get("hours") or ZERO, "target_hours": sent.get("hours") or ZERO,
               "source_amount": (got.get("amount") or ZERO).quantize(CENT),
               "target_amount": None if hours_only else (sent.get("amount") or ZERO).quantize(CENT)}
        row["hours_difference"] = row["source_hours"] - row["target_hours"]
        row["amount_difference"] = ZERO if hours_only else row["source_amount"] - row["target_amount"]
        row["flagged"] = abs(row["hours_difference"]) >= TOLERANCE * 2 or abs(row["amount_difference"]) >= TOLERANCE * 2
        row["status"] = _reconcile_status(row, key in source, key in target)
        rows.append(row)
    return rows


def _reconcile_status(row: dict, in_source: bool, in_target: bool) -> str:
    if not row["flagged"]:
        return "match"
    if not in_target or (row["target_hours"] == 0 and row["target_amount"] in (0, None)):
        return "missing in target"
    if not in_source or (row["source_hours"] == 0 and row["source_amount"] == 0):
        return "only in target"
    return "differs"


# --- ROI ----------------------------------------------------------------------------------------------
ROI_COLUMNS = (Column("metric", "Metric"), Column("value", "Value"), Column("unit", "Unit"),
               Column("basis", "How it is known"))


def roi(*, filters: ReportFilters, assumptions: dict | None = None) -> Table:
    """The pre-sales case, measured where Weft can and estimated where it cannot (with the assumptions shown).

    Invoice-cycle days: per live, not void invoice with issue date and billed time, the days from the
    last approval of the time it bills to its issue date (never below 0); mean and median for invoices
    issued before the go-live date and on or after it. Reconciliation hours saved = manual hours per
    week before × whole weeks since go-live in the window − project-week differences reconciliation
    raised as exceptions in those weeks × minutes each ÷ 60 (never below 0); value = hours × hourly cost.
    ``assumptions`` override the stored ``ReportingSettings`` for a what-if.
    """
    from apps.reporting.models import ReportingSettings

    settings = ReportingSettings.current()
    values = _roi_assumptions(settings, assumptions or {})
    go_live, go_live_basis = _go_live(settings)
    start, end = filters.window(default_days=365)
    rows: list[dict] = [{"metric": "Go-live date", "value": go_live, "unit": "date", "basis": go_live_basis}]
    cycles = _invoice_cycles(filters, start, end, go_live)
    before, after = cycles.get(False, {}), cycles.get(True, {})
    rows += [
        _roi_row("Invoices before go-live", before.get("invoices", 0), "invoices", "measured"),
        _roi_row("Invoice-cycle days before (mean)", before.get("mean"), "days", "measured"),
        _roi_row("Invoice-cycle days before (median)", before.get("median"), "days", "measured"),
        _roi_row("Invoices after go-live", after.get("invoices", 0), "invoices", "measured"),
        _roi_row("Invoice-cycle days after (mean)", after.get("mean"), "days", "measured"),
        _roi_row("Invoice-cycle days after (median)", after.get("median"), "days", "measured"),
    ]
    reduction = (before["mean"] - after["mean"]) if before.get("mean") is not None and after.get("mean") is not None \
        else None
    rows.append(_roi_row("Invoice cycle shortened by (mean)", reduction, "days", "measured"))
    rows += _reconciliation_savings(filters, values, go_live, start, end)
    return Table(ROI_COLUMNS, rows, {"cycle_days_reduction": reduction, "assumptions": values, "go_live": go_live,
                                     "start": start, "end": end},
                 [f"Invoices issued {start.isoformat()} to {end.isoformat()}. Hours saved are an estimate from "
                  "the assumptions listed; change them in the reporting settings."])


def _roi_row(metric: str, value, unit: str, basis: str) -> dict:
    if isinstance(value, float):
        value = Decimal(str(value)).quantize(Decimal("0.1"))
    if isinstance(value, Decimal):
        value = value.quantize(Decimal("0.1") if unit == "days" else CENT)
    return {"metric": metric, "value": value, "unit": unit, "basis": basis}


ASSUMPTIONS = ("manual_reconciliation_hours_per_week", "minutes_per_flagged_difference", "hourly_cost")


def _roi_assumptions(settings, overrides: dict) -> dict:
    values = {name: Decimal(overrides.get(name, getattr(settings, name))) for name in ASSUMPTIONS}
    values["currency"] = overrides.get("currency") or settings.currency
    return values


def _go_live(settings) -> tuple[date | None, str]:
    if settings.go_live_date:
        return settings.go_live_date, "setting"
    first = fetch(f"""
        SELECT min(r.finished_at) AS first FROM {T['run']} r JOIN {T['flow']} f ON f.id = r.flow_id
        WHERE f.direction = 'outbound' AND r.status = 'succeeded'
    """)[0]["first"]
    if first is None:
        return None, "not set, and no outbound run has succeeded yet"
    return first.date(), "first successful outbound run (no go-live date set)"


def invoice_cycles_sql(invoices: str = "TRUE") -> str:
    """Per live, not void invoice with an issue date and billed approved time: days since its last approval.

    ``invoices``: a condition on ``i`` (the refresh recomputes the invoices whose time or lines changed)."""
    return f"""
        SELECT i.id AS invoice_id, i.project_id, i.customer_id, i.issue_date,
               greatest(0, i.issue_date - max((te.approved_at AT TIME ZONE 'UTC')::date)) AS days
        FROM {T['invoice']} i JOIN {T['line']} l ON l.invoice_id = i.id
        JOIN {T['line_time']} lt ON lt.invoiceline_id = l.id JOIN {T['time']} te ON te.id = lt.timeentry_id
        WHERE i.deleted_at IS NULL AND i.status <> 'void' AND i.issue_date IS NOT NULL AND te.approved_at IS NOT NULL
          AND {invoices}
        GROUP BY i.id"""


def _invoice_cycles(filters: ReportFilters, start: date, end: date, go_live: date | None) -> dict[bool, dict]:
    from apps.reporting.models import InvoiceCycle, Snapshot

    stored = Snapshot.objects.filter(name=SNAPSHOT).exists()
    source = InvoiceCycle._meta.db_table if stored else f"({invoice_cycles_sql()})"
    clauses, params = ["c.issue_date BETWEEN %s AND %s"], [start, end]
    if filters.project:
        clauses.append(f"c.project_id IN (SELECT id FROM {T['project']} WHERE code = %s)")
        params.append(filters.project)
    if filters.customer:
        clauses.append(f"c.customer_id IN (SELECT id FROM {T['customer']} WHERE code = %s)")
        params.append(filters.customer)
    rows = fetch(f"""
        SELECT coalesce(c.issue_date >= %s, FALSE) AS after, count(*) AS invoices, avg(c.days) AS mean,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY c.days) AS median
        FROM {source} c WHERE {where(clauses)} GROUP BY 1
    """, [go_live, *params])
    return {r["after"]: r for r in rows}


def _flagged_weeks(filters: ReportFilters, first: date, last: date) -> int:
    """Project-weeks reconciliation raised as exceptions (open or since cleared) in the weeks from first to last."""
    from apps.exceptions.models import ExceptionRecord

    records = ExceptionRecord.objects.filter(exception__kind="reconciliation", context__week__gte=first.isoformat(),
                                             context__week__lte=last.isoformat())
    if filters.project:
        records = records.filter(context__project=filters.project)
    if filters.flow:
        records = records.filter(exception__flow__slug=filters.flow)
    return records.count()


def _reconciliation_savings(filters, values: dict, go_live: date | None, start: date, end: date) -> list[dict]:
    weeks, flagged = 0, 0
    if go_live:
        first = monday(max(go_live, start) + timedelta(days=6))  # the first whole week on or after both
        last = end if end.weekday() == 6 else monday(end) - timedelta(days=1)  # the last Sunday up to end
        weeks = max(0, ((last - first).days + 1) // 7)
        if weeks:
            flagged = _flagged_weeks(filters, first, last)
    before = values["manual_reconciliation_hours_per_week"]
    follow_up = Decimal(flagged) * values["minutes_per_flagged_difference"] / 60
    saved = max(ZERO, before * weeks - follow_up)
    return [
        _roi_row("Manual reconciliation before (assumed)", before, "hours per week", "assumption"),
        _roi_row("Minutes per flagged difference (assumed)", values["minutes_per_flagged_difference"], "minutes",
                 "assumption"),
        _roi_row("Hourly cost (assumed)", values["hourly_cost"], values["currency"], "assumption"),
        _roi_row("Full weeks since go-live in the window", weeks, "weeks", "measured"),
        _roi_row("Project-week differences raised by reconciliation in those weeks", flagged, "differences",
                 "measured"),
        _roi_row("Reconciliation hours saved", saved, "hours", "estimate"),
        _roi_row("Reconciliation hours saved per week", saved / weeks if weeks else None, "hours per week",
                 "estimate"),
        _roi_row("Value of hours saved", saved * values["hourly_cost"], values["currency"], "estimate"),
    ]
