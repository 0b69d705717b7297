"""Operational intelligence: one selector per figure, shared by the portal pages, the API and CSV exports.

Every selector takes keyword-only ``filters`` (``ReportFilters``) plus its own options and returns a
``Table``. They aggregate in PostgreSQL with a fixed number of queries whatever the data size; none
writes. How each figure is computed, with its edge cases, is in docs/reporting.md. One module per figure:

``common`` what they share;
``unposted`` unposted approved time;
``mismatches`` assignment vs actual hours;
``latency`` approved → posted latency;
``runs`` run health;
``utilization_rates`` utilization;
``margin`` project margin;
``exception_ages`` exceptions by kind and age;
``money_at_risk`` money at risk in open exceptions, each source record once;
``blocked`` invoices blocked by integration errors;
``reconcile`` reconciliation;
``savings`` ROI;
``resource_plan`` booked hours against capacity for the weeks ahead.
"""

from apps.reporting.filters import ReportFilters  # every selector's keyword argument, here for callers
from apps.reporting.selectors.blocked import BLOCKED_COLUMNS, blocked_invoices
from apps.reporting.selectors.common import (
    CENT,
    RATIO,
    SNAPSHOT,
    TIME_BASES,
    ZERO,
    outbound_flows,
    percentile,
    ratio,
    stored_snapshot,
)
from apps.reporting.selectors.exception_ages import EXCEPTION_AGES, EXCEPTION_COLUMNS, exceptions_by_kind_age
from apps.reporting.selectors.latency import LATENCY_COLUMNS, PERIODS, posting_latency
from apps.reporting.selectors.margin import BASES, MARGIN_COLUMNS, project_margin
from apps.reporting.selectors.mismatches import (
    DEFAULT_TOLERANCE,
    MISMATCH_COLUMNS,
    assignment_mismatches,
    assignments_all,
    planned_by_week,
)
from apps.reporting.selectors.money_at_risk import AtRisk, exception_scope, money_at_risk
from apps.reporting.selectors.reconcile import RECONCILIATION_COLUMNS, TOLERANCE, reconciliation
from apps.reporting.selectors.resource_plan import PLAN_BY, RESOURCE_PLAN_COLUMNS, resource_plan
from apps.reporting.selectors.runs import OUTCOMES, RUN_HEALTH_COLUMNS, run_health
from apps.reporting.selectors.savings import ASSUMPTIONS, ROI_COLUMNS, invoice_cycles_sql, roi
from apps.reporting.selectors.unposted import AGE_BUCKETS, UNPOSTED_COLUMNS, unposted_time
from apps.reporting.selectors.utilization_rates import NO_PRACTICE, UTILIZATION_BY, UTILIZATION_COLUMNS, utilization

__all__ = [
    "ReportFilters", "TIME_BASES",
    "SNAPSHOT", "ZERO", "CENT", "RATIO", "ratio", "percentile", "outbound_flows", "stored_snapshot", "AGE_BUCKETS",
    "UNPOSTED_COLUMNS", "unposted_time", "MISMATCH_COLUMNS", "DEFAULT_TOLERANCE", "assignment_mismatches",
    "assignments_all", "planned_by_week", "PERIODS", "LATENCY_COLUMNS", "posting_latency", "OUTCOMES",
    "RUN_HEALTH_COLUMNS", "run_health", "UTILIZATION_BY", "UTILIZATION_COLUMNS", "NO_PRACTICE", "utilization",
    "BASES", "MARGIN_COLUMNS", "project_margin", "EXCEPTION_AGES", "EXCEPTION_COLUMNS", "exceptions_by_kind_age",
    "BLOCKED_COLUMNS", "blocked_invoices", "AtRisk", "money_at_risk", "exception_scope",
    "RECONCILIATION_COLUMNS", "TOLERANCE", "reconciliation", "ROI_COLUMNS",
    "roi", "ASSUMPTIONS", "invoice_cycles_sql", "PLAN_BY", "RESOURCE_PLAN_COLUMNS", "resource_plan",
]
