"""Unposted approved time: what some outbound flow still has to post, by project and age."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

import apps.reporting.selectors.common as common
from apps.common.objects import ObjectType
from apps.reporting.filters import ReportFilters
from apps.reporting.models import UnpostedEntry
from apps.reporting.selectors.common import ZERO, _as_of, outbound_flows
from apps.reporting.sql import T, fetch, scope, where
from apps.reporting.store import unposted_entries_sql
from apps.reporting.tables import Column, Table

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

    flows = outbound_flows(filters, ObjectType.TIME_ENTRY)
    if not flows:
        return Table(UNPOSTED_COLUMNS, [], _unposted_summary([]),
                     ["No enabled outbound time-entry flow: nothing is waiting to be posted."])
    snapshot = common.stored_snapshot()
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
