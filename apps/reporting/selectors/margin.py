"""Project margin: revenue (billable or billed) against cost per project."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import apps.reporting.selectors.common as common
from apps.reporting.errors import ReportFilterError
from apps.reporting.filters import ReportFilters
from apps.reporting.selectors.common import CENT, ZERO, _month_window, _projects, _stored_note, ratio
from apps.reporting.sql import T, fetch, scope, where
from apps.reporting.store import time_rows
from apps.reporting.tables import Column, Table

BASES = ("billable", "billed")
MARGIN_COLUMNS = (
    Column("project", "Project"), Column("project_name", "Project name"), Column("customer", "Customer"),
    Column("month", "Month", "date"), Column("currency", "Currency"), Column("hours", "Hours", "hours"),
    Column("billable_value", "Billable value", "money"), Column("billed_value", "Billed (net)", "money"),
    Column("cost", "Cost", "money"), Column("revenue", "Revenue", "money"), Column("margin", "Margin", "money"),
    Column("margin_ratio", "Margin %", "ratio"), Column("uncosted_hours", "Hours without a cost rate", "hours"),
)


def project_margin(*, filters: ReportFilters, basis: str = "billable", time: str | None = None) -> Table:
    """Revenue − cost per project and month; revenue is billable value (``basis=billable``) or billed (``billed``).

    Billable value = billable hours × (entry bill rate, else project default rate) + billable expenses.
    Billed = net amounts of live, not void invoices of the project, by issue month.
    Cost = every hour × (entry cost rate, else the person's dated cost rate in force that day, else the
    person's cost rate) + every expense. Live, not rejected entries and expenses only; hours with no
    cost rate at all cost 0 and are shown as "hours without a cost rate". Amounts are taken to be in
    the project's currency. Time counted: approved entries only, or approved and submitted (``time``:
    ``approved`` or ``all``; default the customer's reporting setting, itself approved by default).
    """
    if basis not in BASES:
        raise ReportFilterError(f"basis must be one of: {', '.join(BASES)}.")
    time_basis, basis_note = common.time_basis(time)
    start, end = _month_window(filters, months=3)
    cells: dict[tuple, dict] = defaultdict(lambda: {"hours": ZERO, "billable_value": ZERO, "billed_value": ZERO,
                                                    "cost": ZERO, "uncosted_hours": ZERO})
    snapshot = common.stored_snapshot()
    approved_only = time_basis == "approved"
    for source in (_margin_time(filters, start, end, stored=snapshot is not None, approved_only=approved_only),
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
    return Table(MARGIN_COLUMNS, rows, {**_margin_summary(rows), "time": time_basis},
                 [f"Months {start.isoformat()} to {end.isoformat()}; revenue is {basis} value.", basis_note,
                  *_stored_note(snapshot)])


def _margin_time(filters, start: date, end: date, *, stored: bool, approved_only: bool) -> list[dict]:
    time, params = time_rows(filters, start, end, ("project_id", "month"), stored=stored, approved_only=approved_only)
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


def _margin_summary(rows: list[dict]) -> dict:
    by_currency: dict[str, dict] = {}
    for row in rows:
        total = by_currency.setdefault(row["currency"], {"revenue": ZERO, "cost": ZERO, "margin": ZERO})
        for key in total:
            total[key] += row[key]
    for total in by_currency.values():
        total["margin_ratio"] = ratio(total["margin"], total["revenue"])
    return {"by_currency": by_currency}
