"""ROI: what the integration saves (manual reconciliation avoided, faster invoicing)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from apps.exceptions.models import ExceptionRecord
from apps.reporting.filters import ReportFilters
from apps.reporting.models import InvoiceCycle, ReportingSettings, Snapshot
from apps.reporting.selectors.common import CENT, SNAPSHOT, ZERO
from apps.reporting.sql import T, fetch, monday, where
from apps.reporting.tables import Column, Table

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
