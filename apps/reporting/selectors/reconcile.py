"""Reconciliation: approved time in the hub (the source) against what each target has, per project and week."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import apps.reporting.selectors.common as common
from apps.common.objects import ObjectType
from apps.reporting.filters import ReportFilters
from apps.reporting.selectors.common import CENT, ZERO, _as_of, _projects, outbound_flows
from apps.reporting.sql import monday
from apps.reporting.store import reconciliation_totals
from apps.reporting.tables import Column, Table
from apps.runs.models import Flow

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
    snapshot = None if live else common.stored_snapshot()
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
