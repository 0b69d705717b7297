"""Money at risk: what open exceptions put at risk, each source record counted once, in every currency.

The counting itself (each source record once, reconciliation gaps netted) is ``apps.exceptions.at_risk``;
this module narrows it to a report's filters.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django.utils import timezone

from apps.exceptions.at_risk import AtRisk, records_at_risk
from apps.reporting.filters import ReportFilters
from apps.reporting.sql import T

__all__ = ["AtRisk", "exception_scope", "money_at_risk", "opened_by"]


def opened_by(day: date) -> datetime:
    """The end of ``day`` (local time): exceptions opened before it were open at that day's end, if still open."""
    return timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))


def exception_scope(filters: ReportFilters, alias: str = "x") -> tuple[list[str], list[Any]]:
    """Open and acknowledged exceptions, narrowed by the labels their records carry (project and customer
    codes, person names, as JSON lists) and by flow; with ``end``, only those opened by the end of that day
    (a month's review leaves out what opened after the month)."""
    clauses, params = [f"{alias}.status IN ('open', 'acknowledged')"], []
    if filters.end:
        clauses.append(f"{alias}.opened_at < %s")
        params.append(opened_by(filters.end))
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


def money_at_risk(*, filters: ReportFilters) -> AtRisk:
    """Open records of open and acknowledged exceptions in the filters' scope, each source record once
    (``apps.exceptions.at_risk``)."""
    clauses, params = exception_scope(filters)
    return records_at_risk(clauses, params)
