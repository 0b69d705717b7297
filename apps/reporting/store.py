"""Stored figures: the SQL that both fills the stored tables and answers a figure live, and how figures read it.

Adding up a million time entries per request cannot answer in 300 ms, so the refresh after every run
(``services.reporting_refresh``) stores sums per person, project and week (``TimeWeek``,
``ReconciliationWeek``) and the unposted entries (``UnpostedEntry``). The SQL here fills them *and* answers
the figure live — before the first refresh, for the days at the edges of a window that are not whole
weeks, for a flow that is not stored — and the figures add stored and live rows up with the same outer
query, so a stored figure is the live one as of its refresh, to the cent and to the printed scale.

Every stored row comes from the time entries of one id range (``part`` = id // ``PART``), whatever their
date: a refresh recomputes just the ranges whose entries or postings changed, and an entry moved to
another week is recomputed with its range, old week and new.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from django.db import connection

from apps.common.objects import ObjectType
from apps.reporting.filters import ReportFilters
from apps.reporting.models import ActualWeek, PlanWeek, ReconciliationWeek, TimeWeek
from apps.reporting.sql import T, fetch, scope, where
from apps.runs.models import SYNCED_OUTCOMES

PART = 65_536  # time entries per id range: a refresh after a typical run recomputes one or two ranges
VERSION = "2"  # change when the stored SQL changes meaning: the next refresh is then a full one


def week_of(expr: str) -> str:
    return f"date_trunc('week', {expr}::timestamp)::date"


def bill_rate(alias: str = "te") -> str:
    """SQL: an entry's bill rate, else its project's default (``p``); NULL when neither is set. The one rate rule."""
    return f"coalesce({alias}.bill_rate, p.default_bill_rate)"


SYNCED_SQL = ", ".join(f"'{outcome}'" for outcome in SYNCED_OUTCOMES)  # runs.models.SYNCED_OUTCOMES, for IN (...)


def parts_clause(parts: list[int] | None, column: str) -> tuple[str, list[int]]:
    """SQL: ``column`` (a time entry id) lies in one of ``parts`` (None: any), as id ranges an index serves."""
    if parts is None:
        return "TRUE", []
    ranges: list[list[int]] = []
    for part in sorted(set(parts)):
        if ranges and ranges[-1][1] == part:
            ranges[-1][1] = part + 1
        else:
            ranges.append([part, part + 1])
    if not ranges:
        return "FALSE", []
    sql = " OR ".join(f"({column} >= %s AND {column} < %s)" for _ in ranges)
    return f"({sql})", [bound * PART for pair in ranges for bound in pair]


# --- time: live, not rejected entries per person, project and week-within-a-month ---------------------------
TIME_COLUMNS = ("part", "person_id", "project_id", "day", "week", "month", "approved", "hours", "billable_hours",
                "billable_value", "cost", "uncosted_hours")


def time_segments_sql(clauses: list[str]) -> str:
    """``TimeWeek`` rows, live, for the entries matching ``clauses`` (on ``te``): hours, billable hours and value
    (entry bill rate, else the project's default), cost (entry cost rate, else the person's dated rate in force
    that day, else the person's rate) and hours without any cost rate. NULL: no entry qualified."""
    cost = "coalesce(te.cost_rate, cr.amount, pe.cost_rate)"
    return f"""
        SELECT te.id / {PART} AS part, te.person_id, te.project_id,
               greatest(date_trunc('week', te.date::timestamp), date_trunc('month', te.date::timestamp))::date AS day,
               {week_of('te.date')} AS week, date_trunc('month', te.date::timestamp)::date AS month,
               te.approval_status = 'approved' AS approved, sum(te.hours) AS hours,
               sum(te.hours) FILTER (WHERE te.billable) AS billable_hours,
               sum(te.hours * coalesce({bill_rate('te')}, 0)) FILTER (WHERE te.billable)
                   AS billable_value,
               sum(te.hours * coalesce({cost}, 0)) AS cost,
               sum(te.hours) FILTER (WHERE {cost} IS NULL) AS uncosted_hours
        FROM {T['time']} te JOIN {T['project']} p ON p.id = te.project_id JOIN {T['person']} pe ON pe.id = te.person_id
        LEFT JOIN (SELECT person_id, effective_from, amount,
                          lead(effective_from) OVER (PARTITION BY person_id ORDER BY effective_from) AS until
                   FROM {T['cost_rate']}) cr
          ON cr.person_id = te.person_id AND te.date >= cr.effective_from AND (cr.until IS NULL OR te.date < cr.until)
        WHERE te.deleted_at IS NULL AND te.approval_status <> 'rejected' AND {where(clauses)}
        GROUP BY 1, 2, 3, 4, 5, 6, 7"""


def whole_pieces(start: date, end: date) -> tuple[date, date]:
    """First and last day of the stored pieces (a week, cut at month ends) that lie wholly within start..end."""
    first, last = start, end
    while first.weekday() != 0 and first.day != 1:
        first += timedelta(days=1)
    while last.weekday() != 6 and (last + timedelta(days=1)).day != 1:
        last -= timedelta(days=1)
    return first, last


SUMS = ("hours", "billable_hours", "billable_value", "cost", "uncosted_hours")


def _summed(source: str, group: tuple[str, ...]) -> str:
    sums = ", ".join(f"sum(t.{c}) AS {c}" for c in SUMS)  # NULL where only NULLs: as the live sums
    return f"SELECT {', '.join(f't.{c}' for c in group)}, {sums} FROM {source} GROUP BY {', '.join(group)}"


def time_rows(filters: ReportFilters, start: date, end: date, group: tuple[str, ...], *,
              stored: bool, approved_only: bool = False) -> tuple[str, list[Any]]:
    """Live, not rejected time (only approved with ``approved_only``) for work dates start..end in the filters'
    scope, summed per ``group`` (columns of ``TIME_COLUMNS``), as a subquery: the stored whole pieces plus the
    days at the window's edges live, or all of it live when nothing is stored. Callers add the rows up again per
    their group (sums of sums)."""

    te_clauses, te_params = scope(filters, "te")
    s_clauses, s_params = scope(filters, "t")
    if approved_only:
        te_clauses.append("te.approval_status = 'approved'")
        s_clauses.append("t.approved")
    first, last = whole_pieces(start, end)
    if not stored or first > last:
        live = time_segments_sql(["te.date BETWEEN %s AND %s", *te_clauses])
        return _summed(f"({live}) t", group), [start, end, *te_params]
    sql = _summed(f"{TimeWeek._meta.db_table} t WHERE t.day BETWEEN %s AND %s AND {where(s_clauses)}", group)
    params: list[Any] = [first, last, *s_params]
    edges = [(a, b) for a, b in ((start, first - timedelta(days=1)), (last + timedelta(days=1), end)) if a <= b]
    if edges:
        dates = "(" + " OR ".join("te.date BETWEEN %s AND %s" for _ in edges) + ")"
        sql += f" UNION ALL {_summed(f'({time_segments_sql([dates, *te_clauses])}) t', group)}"
        params += [day for edge in edges for day in edge] + te_params
    return sql, params


# --- assignment vs actual: planned and actual hours per person, project and ISO week -----------------------
def planned_json(planned: dict) -> str:
    """Planned hours as one JSON parameter for ``PLANNED_SQL`` (thousands of array elements would each be adapted
    in Python)."""
    return json.dumps([[person, project, week.isoformat(), format(hours, "f")]
                       for (person, project, week), hours in planned.items()])


PLANNED_SQL = """
    SELECT (x->>0)::bigint AS person_id, (x->>1)::bigint AS project_id, (x->>2)::date AS week,
           (x->>3)::numeric AS hours
    FROM jsonb_array_elements(%s::jsonb) x"""


def actual_weeks_sql(time: str) -> str:
    """Hours per person, project and ISO week from ``TIME_COLUMNS`` rows: what ``ActualWeek`` stores."""
    return f"SELECT t.person_id, t.project_id, t.week, sum(t.hours) AS hours FROM ({time}) t GROUP BY 1, 2, 3"


def week_sources(filters: ReportFilters, start: date, end: date, planned: dict | None) -> tuple[str, str, list[Any]]:
    """Subqueries of planned and actual hours per (person, project, week) in whole weeks start..end, and their
    parameters: ``planned`` (from ``selectors.planned_by_week``) and live time, or when ``planned`` is None
    the stored ``PlanWeek`` and ``ActualWeek``."""

    if planned is not None:
        time, params = time_rows(filters, start, end, ("person_id", "project_id", "week"), stored=False)
        return PLANNED_SQL, actual_weeks_sql(time), [planned_json(planned), *params]
    clauses, params = scope(filters, "s")
    stored = [f"SELECT s.person_id, s.project_id, s.week, s.hours FROM {model._meta.db_table} s "
              f"WHERE s.week BETWEEN %s AND %s AND {where(clauses)}" for model in (PlanWeek, ActualWeek)]
    return stored[0], stored[1], [start, end, *params, start, end, *params]


# --- unposted approved time: one row per (flow, entry) still to post ---------------------------------------
UNPOSTED_COLUMNS = ("flow_id", "time_entry_id", "project_id", "person_id", "work_date", "approved_day", "hours",
                    "billable_hours", "value", "unrated_hours", "currency")


def pending_sql(flows, alias: str = "te") -> tuple[str, list[Any]]:
    """True where some flow still has to send the (live) entry: not sent, or sent with other content. The SQL form
    of ``apps.runs.selectors.pending_records`` for live entries; tests/reporting/test_rules_agree.py holds the two
    to the same answer on the same rows."""
    parts, params = [], []
    for flow in flows:
        parts.append(
            f"({alias}.source_connection_id IS DISTINCT FROM %s AND NOT EXISTS (SELECT 1 FROM {T['ref']} r "
            f"WHERE r.connection_id = %s AND r.object_type = %s AND r.canonical_id = {alias}.id "
            f"AND r.last_synced_hash = {alias}.content_hash))"
        )
        params += [flow.connection_id, flow.connection_id, ObjectType.TIME_ENTRY]
    return "(" + " OR ".join(parts) + ")", params


def unposted_entries_sql(flows, clauses: tuple[str, ...] = (), params: tuple = ()) -> tuple[str, list[Any]]:
    """One row per (flow, entry) the flow still has to post, for entries matching ``clauses``: what ``UnpostedEntry``
    stores."""
    parts, all_params = [], []
    rate = bill_rate("te")
    for flow in flows:
        pending, pending_params = pending_sql([flow])
        parts.append(f"""
            SELECT %s::bigint AS flow_id, te.id AS time_entry_id, te.project_id, te.person_id, te.date AS work_date,
                   coalesce((te.approved_at AT TIME ZONE 'UTC')::date, te.date) AS approved_day, te.hours,
                   CASE WHEN te.billable THEN te.hours ELSE 0 END AS billable_hours,
                   CASE WHEN te.billable THEN te.hours * coalesce({rate}, 0) ELSE 0 END AS value,
                   CASE WHEN te.billable AND {rate} IS NULL THEN te.hours ELSE 0 END AS unrated_hours,
                   coalesce(nullif(te.currency, ''), p.currency) AS currency
            FROM {T['time']} te JOIN {T['project']} p ON p.id = te.project_id
            WHERE te.approval_status = 'approved' AND te.deleted_at IS NULL AND {pending} AND {where(list(clauses))}""")
        all_params += [flow.pk, *pending_params, *params]
    return " UNION ALL ".join(parts), all_params


# --- reconciliation: approved time in the hub against what each target has ---------------------------------
RECONCILIATION_COLUMNS = ("flow_id", "part", "person_id", "project_id", "week", "report_project_id", "report_week",
                          "source_hours", "source_amount", "target_hours", "target_amount")


def _amount(alias: str) -> str:
    return f"CASE WHEN {alias}.billable THEN {alias}.hours * coalesce({bill_rate(alias)}, 0) ELSE 0 END"


def reconciliation_rows_sql(flow, clauses: list[str], params: list[Any]) -> tuple[str, list[Any]]:
    """``ReconciliationWeek`` rows of ``flow``, live, for the entries matching ``clauses`` (on ``te``).

    Source: approved, live entries the flow should send (not those that came from its target). Target:
    entries with a cross-reference to the flow's connection — with the hub's values where the target holds
    the content we hold now (fresh), otherwise the content last posted (the ledger's latest created/updated
    item), reported under the project and week they were posted with. One pass over the entries: a fresh
    entry adds to both sides of its own row; a stale one's target side is a row of its own.
    """
    view = "v.view"
    approved = "te.approval_status = 'approved' AND te.deleted_at IS NULL"
    fresh = "r.last_synced_hash = te.content_hash"
    sql = f"""
        WITH entry AS (
            SELECT te.id, te.person_id, te.project_id, te.date, te.hours, te.billable, te.bill_rate,
                   {approved} AS approved, r.canonical_id IS NOT NULL AND {fresh} AS fresh,
                   r.canonical_id IS NOT NULL AND NOT {fresh} AS stale
            FROM {T['time']} te LEFT JOIN {T['ref']} r
              ON r.canonical_id = te.id AND r.connection_id = %s AND r.object_type = 'time_entry'
            WHERE te.source_connection_id IS DISTINCT FROM %s AND {where(clauses)}
        ), sides AS (
            SELECT te.id, te.person_id, te.project_id, te.date, te.project_id AS report_project_id,
                   te.date AS report_date,
                   CASE WHEN te.approved THEN te.hours END AS source_hours,
                   CASE WHEN te.approved THEN {_amount('te')} END AS source_amount,
                   CASE WHEN te.fresh THEN te.hours END AS target_hours,
                   CASE WHEN te.fresh THEN {_amount('te')} END AS target_amount
            FROM entry te JOIN {T['project']} p ON p.id = te.project_id
            WHERE te.approved OR te.fresh
            UNION ALL
            SELECT t.id, t.person_id, t.hub_project_id, t.hub_date, t.project_id, t.date, NULL, NULL, t.hours,
                   {_amount('t')}
            FROM (
                SELECT s.id, s.person_id, s.project_id AS hub_project_id, s.date AS hub_date,
                       coalesce(({view}->'project'->>'id')::bigint, s.project_id) AS project_id,
                       coalesce(({view}->>'date')::date, s.date) AS date,
                       coalesce(({view}->>'hours')::numeric, s.hours) AS hours,
                       coalesce(({view}->>'billable')::boolean, s.billable) AS billable,
                       CASE WHEN {view} IS NULL THEN s.bill_rate ELSE nullif({view}->>'bill_rate', '')::numeric END
                           AS bill_rate
                FROM entry s LEFT JOIN LATERAL (
                    SELECT ri.payload_before AS view FROM {T['item']} ri JOIN {T['run']} ru ON ru.id = ri.run_id
                    WHERE ri.object_type = 'time_entry' AND ri.canonical_id = s.id AND ru.connection_id = %s
                      AND ri.outcome IN ('created', 'updated')
                    ORDER BY ri.id DESC LIMIT 1
                ) v ON TRUE
                WHERE s.stale
            ) t JOIN {T['project']} p ON p.id = t.project_id
        )
        SELECT %s::bigint AS flow_id, id / {PART} AS part, person_id, project_id, {week_of('date')} AS week,
               report_project_id, {week_of('report_date')} AS report_week, sum(source_hours) AS source_hours,
               sum(source_amount) AS source_amount, sum(target_hours) AS target_hours,
               sum(target_amount) AS target_amount
        FROM sides GROUP BY 2, 3, 4, 5, 6, 7"""
    connection_id = flow.connection_id
    return sql, [connection_id, connection_id, *params, connection_id, flow.pk]


def reconciliation_totals(filters: ReportFilters, flows, start: date, end: date,
                          stored_ids: set[int]) -> list[dict]:
    """Per flow, project and week (as the target reports it) in whole weeks start..end: the source and target
    sums, NULL where that side has nothing. Stored flows read ``ReconciliationWeek``; the others are live."""

    parts, params = [], []
    stored = [f.pk for f in flows if f.pk in stored_ids]
    if stored:
        parts.append(f"SELECT {', '.join(RECONCILIATION_COLUMNS)} FROM {ReconciliationWeek._meta.db_table} "
                     f"WHERE flow_id = ANY(%s)")
        params.append(stored)
    te_clauses, te_params = scope(filters, "te")
    for flow in flows:
        if flow.pk not in stored_ids:
            sql, flow_params = reconciliation_rows_sql(flow, ["te.date BETWEEN %s AND %s", *te_clauses],
                                                       [start, end, *te_params])
            parts.append(f"SELECT {', '.join(RECONCILIATION_COLUMNS)} FROM ({sql}) live")
            params += flow_params
    clauses, scope_params = scope(filters, "s")
    return fetch(f"""
        SELECT s.flow_id, s.report_project_id AS project_id, s.report_week AS week,
               sum(s.source_hours) AS source_hours, sum(s.source_amount) AS source_amount,
               sum(s.target_hours) AS target_hours, sum(s.target_amount) AS target_amount
        FROM ({' UNION ALL '.join(parts)}) s
        WHERE s.week BETWEEN %s AND %s AND s.report_week BETWEEN %s AND %s AND {where(clauses)}
        GROUP BY 1, 2, 3
    """, [*params, start, end, start, end, *scope_params]) if parts else []


# --- what a refresh recomputes ------------------------------------------------------------------------------
def touched_parts(since) -> list[int]:
    """Id ranges of time entries changed since ``since`` (``updated_at``), or posted, read or deleted by a run
    since then (the ledger), so their postings may have changed."""
    rows = fetch(f"""
        SELECT DISTINCT id / {PART} AS part FROM {T['time']} WHERE updated_at >= %s
        UNION
        SELECT DISTINCT canonical_id / {PART} FROM {T['item']}
        WHERE outcome IN ({SYNCED_SQL}) AND created_at >= %s AND object_type = 'time_entry'
          AND canonical_id IS NOT NULL
    """, [since, since])
    return sorted(r["part"] for r in rows)


def touched_invoices(since, parts: list[int]) -> list[int]:
    """Invoices changed since ``since`` (the invoice or a line), or billing time entries in ``parts``."""
    clause, params = parts_clause(parts, "lt.timeentry_id")
    rows = fetch(f"""
        SELECT id FROM {T['invoice']} WHERE updated_at >= %s
        UNION SELECT invoice_id FROM {T['line']} WHERE updated_at >= %s
        UNION SELECT l.invoice_id FROM {T['line_time']} lt JOIN {T['line']} l ON l.id = lt.invoiceline_id WHERE {clause}
    """, [since, since, *params])
    return [r["id"] for r in rows]


def plan_hash() -> str:
    """Fingerprint of the assignments: ``PlanWeek`` is recomputed (all of it, a few thousand rows) when it changes."""
    return fetch(f"""
        SELECT md5(coalesce(string_agg(concat_ws('|', id, person_id, project_id, start_date, end_date, planned_hours,
                                                 deleted_at IS NULL), ',' ORDER BY id), '')) AS hash
        FROM {T['assignment']}
    """)[0]["hash"]


def config_hash(flows) -> str:
    """Fingerprint of what stored amounts depend on besides the entries: project rates and currencies, people's
    cost rates, the stored flows and their connections (and ``VERSION``). Small tables: a few milliseconds."""
    stored_flows = ",".join(f"{f.pk}:{f.connection_id}" for f in flows)
    return fetch(f"""
        SELECT md5(concat_ws('#', %s::text,
            (SELECT string_agg(concat_ws('|', id, default_bill_rate, currency), ',' ORDER BY id) FROM {T['project']}),
            (SELECT string_agg(concat_ws('|', id, cost_rate), ',' ORDER BY id) FROM {T['person']}),
            (SELECT string_agg(concat_ws('|', person_id, effective_from, amount), ',' ORDER BY person_id,
                               effective_from) FROM {T['cost_rate']}))) AS hash
    """, [f"{VERSION}:{PART}:{stored_flows}"])[0]["hash"]


def weeks_of(model, parts: list[int] | None) -> set[date]:
    """The weeks ``model``'s rows in ``parts`` fall in (empty for None: the caller recomputes everything)."""
    if parts is None:
        return set()
    return {r["week"] for r in fetch(f"SELECT DISTINCT week FROM {model._meta.db_table} WHERE part = ANY(%s)",
                                     [list(parts)])}


def store_replace(model, columns: tuple[str, ...], select_sql: str, params: list, *, parts: list[int] | None,
                  id_column: str = "part") -> None:
    """Replace the rows of ``model`` in ``parts`` (None: all) by those ``select_sql`` computes for them.

    ``id_column``: ``part``, or a time entry id column whose ranges make the parts."""
    table = model._meta.db_table
    if id_column == "part":
        clause, clause_params = ("TRUE", []) if parts is None else ("part = ANY(%s)", [list(parts)])
    else:
        clause, clause_params = parts_clause(parts, id_column)
    names = ", ".join(columns)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE {clause}", clause_params)
        if select_sql:
            cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM ({select_sql}) s", params)
