"""The catalogue of figures: one name per selector, with the options its query parameters may set.

Pages, the API (``/api/v1/reports/<name>/``) and CSV exports all go through ``figure_table``, so each
figure is computed by exactly one selector whatever asks for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from apps.common.objects import ObjectType
from apps.reporting import selectors
from apps.reporting.errors import UnknownReportError
from apps.reporting.filters import choice_param, decimal_param, filters_from_params
from apps.reporting.tables import Table


@dataclass(frozen=True)
class Figure:
    name: str
    title: str
    selector: Callable[..., Table]
    options: Callable[[dict], dict] = lambda params: {}
    option_names: tuple[str, ...] = ()


def _mismatch_options(params) -> dict:
    return {"tolerance": decimal_param(params, "tolerance", selectors.DEFAULT_TOLERANCE),
            "everything": choice_param(params, "all", ("0", "1"), "0") == "1"}


def _latency_options(params) -> dict:
    return {"period": choice_param(params, "period", selectors.PERIODS, "week"),
            "object_type": choice_param(params, "object", (ObjectType.TIME_ENTRY, ObjectType.EXPENSE),
                                        ObjectType.TIME_ENTRY)}


def _roi_options(params) -> dict:
    overrides = {name: decimal_param(params, name, Decimal(0)) for name in selectors.ASSUMPTIONS
                 if params.get(name) not in (None, "")}
    return {"assumptions": overrides}


def _time_option(params) -> dict:
    """``time=approved|all`` when given; left out, the figure follows the customer's reporting setting."""
    if params.get("time") in (None, ""):
        return {}
    return {"time": choice_param(params, "time", selectors.TIME_BASES, "approved")}


FIGURES: dict[str, Figure] = {f.name: f for f in (
    Figure("unposted-time", "Unposted approved time", selectors.unposted_time),
    Figure("blocked-invoices", "Invoices blocked by integration errors", selectors.blocked_invoices),
    Figure("assignment-mismatches", "Assignment vs actual hours", selectors.assignment_mismatches,
           _mismatch_options, ("tolerance", "all")),
    Figure("posting-latency", "Approved → posted latency", selectors.posting_latency, _latency_options,
           ("period", "object")),
    Figure("run-health", "Run health", selectors.run_health),
    Figure("exceptions", "Exceptions by kind and age", selectors.exceptions_by_kind_age),
    Figure("utilization", "Utilization", selectors.utilization,
           lambda p: {"by": choice_param(p, "by", selectors.UTILIZATION_BY, "person"), **_time_option(p)},
           ("by", "time")),
    Figure("project-margin", "Project margin", selectors.project_margin,
           lambda p: {"basis": choice_param(p, "basis", selectors.BASES, "billable"), **_time_option(p)},
           ("basis", "time")),
    Figure("reconciliation", "Reconciliation: hub vs targets", selectors.reconciliation),
    Figure("roi", "Return on investment", selectors.roi, _roi_options, selectors.ASSUMPTIONS),
    Figure("resource-plan", "Resource plan: booked vs capacity", selectors.resource_plan,
           lambda p: {"by": choice_param(p, "by", selectors.PLAN_BY, "person"),
                      "weeks": int(choice_param(p, "weeks", tuple(str(n) for n in range(1, 27)), "8"))},
           ("by", "weeks")),
)}


def figure_get(name: str) -> Figure:
    try:
        return FIGURES[name]
    except KeyError:
        raise UnknownReportError(f"No report named '{name}'.")


def figure_table(name: str, params) -> Table:
    """The figure ``name`` for query parameters ``params`` (a QueryDict or dict): filters, then its options."""
    figure = figure_get(name)
    return figure.selector(filters=filters_from_params(params), **figure.options(params))
