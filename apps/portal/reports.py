"""The dashboards: which reporting figure each page shows, its chart, its plan gate, and CSV export.

The numbers come from reporting's catalogue (``apps.reporting.figures``: one selector per figure, the
same for pages, API and CSV); this module only adds what a page needs: a chart shaped from the table,
a description, and the plan feature the page requires.
Charts are drawn by Chart.js in the browser from a JSON configuration embedded with ``json_script``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from apps.reporting import selectors as figures
from apps.reporting.figures import figure_get, figure_table
from apps.reporting.tables import Table
from apps.tenants.branding import Brand
from apps.tenants.choices import Feature

FAILURE_RED = "#C0392B"
NEUTRALS = ("#6B7A90", "#9FB3C8", "#3C8D5A", "#B8860B", "#7A4E9C")


@dataclass(frozen=True)
class Report:
    """One dashboard page: a reporting figure, how to chart it, and the plan feature it needs (if any)."""

    slug: str  # the figure's name in ``apps.reporting.figures``
    title: str
    description: str
    chart: Callable[[Table, Brand], dict | None] | None = None
    feature: str | None = None
    empty: str = ""  # what an empty page means and what to do about it


# Why each figure can be empty and what to do, shown in place of an empty table (and chart).
EMPTY = {
    "unposted-time": "No approved hours are waiting to be posted: everything approved reached the ERP, or no time "
                     "has been read yet. If you expected some, check Sync status for a paused or failing flow.",
    "blocked-invoices": "No invoice is held back by an open exception. Invoices show here while an exception on "
                        "them, or on time or expenses they bill, is open; resolve or replay it to release them.",
    "exceptions": "No open integration exceptions in this period: every failed record has been fixed or replayed.",
    "posting-latency": "No approved time was posted in this period, so there is no latency to measure. Widen the "
                       "dates, or check that an outbound flow is enabled and running.",
    "run-health": "No runs in this period. Widen the dates, or start a flow (Flows, Run now in the admin).",
    "assignment-mismatches": "No week where booked and planned hours differ by more than the tolerance. Planned "
                             "hours come from assignments with start and end dates: if there are none, the resource "
                             "tool's assignments have not been read yet.",
    "utilization": "No billable hours in this period. Widen the dates, or check that time entries are being read.",
    "project-margin": "No revenue or cost in this period: margin needs time with rates, or invoices, in the hub.",
    "reconciliation": "Nothing to compare in this period: reconciliation needs approved time and what the target "
                      "holds for it. Widen the dates, or run the outbound flow first.",
    "roi": "No figures yet: set the go-live date in the reporting settings, and let invoices reach the hub.",
    "resource-plan": "No active people to plan: people come from the HR or resource tool (a people CSV or a "
                     "connection); bookings are their assignments with start and end dates.",
}


def palette(brand: Brand) -> list[str]:
    return [brand.primary_colour, brand.accent_colour, *NEUTRALS]


def number(value: Any) -> float | None:
    """Chart values are floats; exact figures stay in the table and the CSV."""
    if value is None:
        return None
    return float(value) if isinstance(value, Decimal | int | float) else None


def label(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()[:10]
    return str(value)


def chart_config(kind: str, labels: list[str], datasets: list[dict], *, stacked: bool = False,
                 horizontal: bool = False, y_title: str = "") -> dict:
    """A Chart.js configuration; ``animation`` is off so charts print and screenshot as drawn."""
    scales = {"x": {"stacked": stacked}, "y": {"stacked": stacked, "beginAtZero": True,
                                                 "title": {"display": bool(y_title), "text": y_title}}}
    options = {"animation": False, "responsive": True, "maintainAspectRatio": False, "scales": scales,
               "plugins": {"legend": {"display": len(datasets) > 1}}}
    if horizontal:
        options["indexAxis"] = "y"
    return {"type": kind, "data": {"labels": labels, "datasets": datasets}, "options": options}


def series(table: Table, x: str, keys: list[tuple[str, str]], brand: Brand, *, kind: str = "bar",
           stacked: bool = False, colours: list[str] | None = None, y_title: str = "") -> dict | None:
    """One dataset per (column key, legend label), over the rows' ``x`` values."""
    if not table.rows:
        return None
    colours = colours or palette(brand)
    datasets = [{"label": name, "data": [number(row.get(key)) for row in table.rows],
                 "backgroundColor": colours[i % len(colours)], "borderColor": colours[i % len(colours)]}
                for i, (key, name) in enumerate(keys)]
    return chart_config(kind, [label(row.get(x)) for row in table.rows], datasets, stacked=stacked, y_title=y_title)


def summed(table: Table, x: str, key: str) -> tuple[list[str], list[float]]:
    """Sum ``key`` over rows grouped by ``x`` (in first-seen order)."""
    totals: dict[str, float] = {}
    for row in table.rows:
        totals[label(row.get(x))] = totals.get(label(row.get(x)), 0.0) + (number(row.get(key)) or 0.0)
    return list(totals), list(totals.values())


def _unposted_chart(table: Table, brand: Brand) -> dict | None:
    by_age = table.summary.get("hours_by_age") or {}
    if not table.rows:
        return None
    dataset = {"label": "Hours", "data": [number(v) for v in by_age.values()], "backgroundColor": brand.accent_colour}
    return chart_config("bar", list(by_age), [dataset], y_title="Approved hours not yet posted")


def _grouped_chart(x: str, key: str, title: str, *, horizontal: bool = False):
    def build(table: Table, brand: Brand) -> dict | None:
        if not table.rows:
            return None
        labels, values = summed(table, x, key)
        dataset = {"label": title, "data": values, "backgroundColor": brand.primary_colour}
        return chart_config("bar", labels, [dataset], horizontal=horizontal, y_title="" if horizontal else title)

    return build


def _latency_chart(table: Table, brand: Brand) -> dict | None:
    return series(table, "period", [("p50_hours", "p50"), ("p95_hours", "p95")], brand, kind="line",
                  y_title="Hours from approval to posting")


def _run_health_chart(table: Table, brand: Brand) -> dict | None:
    keys = [("created", "Created"), ("updated", "Updated"), ("unchanged", "Unchanged"), ("failed", "Failed"),
            ("conflict", "Conflict")]
    colours = [brand.primary_colour, brand.accent_colour, NEUTRALS[1], FAILURE_RED, NEUTRALS[3]]
    return series(table, "flow", keys, brand, stacked=True, colours=colours, y_title="Items")


def _utilization_chart(table: Table, brand: Brand) -> dict | None:
    x = "person_name" if table.rows and "person_name" in table.rows[0] else "practice"
    return _grouped_chart(x, "billable_hours", "Billable hours")(table, brand)


def _resource_plan_chart(table: Table, brand: Brand) -> dict | None:
    """Booked against capacity per week, everyone (or the filtered people) together."""
    if not table.rows:
        return None
    booked, capacity = summed(table, "week", "booked_hours"), summed(table, "week", "capacity_hours")
    datasets = [{"label": "Booked", "data": booked[1], "backgroundColor": brand.primary_colour},
                {"label": "Capacity", "data": capacity[1], "type": "line", "borderColor": brand.accent_colour,
                 "backgroundColor": brand.accent_colour}]
    return chart_config("bar", booked[0], datasets, y_title="Hours per week")


def _page(name: str, description: str, chart=None, feature: str | None = None) -> Report:
    return Report(name, figure_get(name).title, description, chart, feature, EMPTY[name])


REPORTS: dict[str, Report] = {r.slug: r for r in [
    _page("unposted-time", "Approved hours that have not reached the ERP yet, by project and age, with their value.",
          _unposted_chart),
    _page("blocked-invoices", "Invoices held back by open integration exceptions."),
    _page("exceptions", "Open integration exceptions by kind and age, and what they put at risk.",
          _grouped_chart("kind", "exceptions", "Exceptions")),
    _page("posting-latency", "How long approved time takes to reach the ERP (p50 and p95).", _latency_chart),
    _page("run-health", "Runs and items per flow, and how many failed.", _run_health_chart),
    _page("assignment-mismatches", "Weeks where booked hours and planned hours differ."),
    _page("utilization", "Billable hours against capacity, per person or practice.", _utilization_chart),
    _page("project-margin", "Revenue minus cost per project and month.",
          _grouped_chart("project", "margin", "Margin", horizontal=True)),
    _page("reconciliation", "Hours and amounts in the hub against what each target holds, per project and week.",
          feature=Feature.RECONCILIATION),
    _page("roi", "Time and invoice-cycle days saved since go-live, with every assumption shown."),
    _page("resource-plan", "Hours booked against capacity for the weeks ahead, per person or practice; over- and "
                           "under-booked people flagged.", _resource_plan_chart),
]}


def report_table(report: Report, params) -> Table:
    """The figure for the query parameters (filters and the figure's options), from reporting's catalogue."""
    return figure_table(report.slug, params)


def report_options(report: Report) -> list[tuple[str, tuple[str, ...]]]:
    """The figure's own options that take one of a few values (for the filter form)."""
    known = {"period": figures.PERIODS, "by": figures.UTILIZATION_BY, "basis": figures.BASES,
             "time": figures.TIME_BASES}
    return [(name, known[name]) for name in figure_get(report.slug).option_names if name in known]
