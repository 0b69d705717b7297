"""Run health: runs and their items' outcomes per flow and period."""

from __future__ import annotations

from datetime import timedelta

from apps.reporting.filters import ReportFilters
from apps.reporting.selectors.common import ratio
from apps.reporting.sql import T, fetch
from apps.reporting.tables import Column, Table
from apps.runs.models import FlowDirection

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
