"""The filters every figure takes, parsed once from query parameters for pages, API and exports alike."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from django.utils import timezone

from apps.reporting.errors import ReportFilterError

FILTER_PARAMS = ("start", "end", "as_of", "project", "customer", "person", "practice", "flow")
MAX_DAYS = 3 * 366  # a bound on any one request: the figures aggregate in the database, but not without end


@dataclass(frozen=True)
class ReportFilters:
    """Which slice of the data a figure covers. Codes are the canonical codes (``ACME-042``); ``flow`` a slug.

    ``start``/``end`` are inclusive dates; when left out, each figure picks its own default window
    ending at ``as_of`` (today unless given) and says so in its notes.
    """

    start: date | None = None
    end: date | None = None
    as_of: date | None = None
    project: str | None = None
    customer: str | None = None
    person: str | None = None
    practice: str | None = None
    flow: str | None = None

    def today(self) -> date:
        return self.as_of or timezone.localdate()

    def window(self, *, default_days: int) -> tuple[date, date]:
        """(start, end), inclusive: the given dates, or the ``default_days`` ending at ``as_of``."""
        end = self.end or self.today()
        start = self.start or end - timedelta(days=default_days - 1)
        return start, end

    def with_window(self, start: date, end: date) -> ReportFilters:
        return replace(self, start=start, end=end)


def filters_from_params(params) -> ReportFilters:
    """Parse ``start``, ``end``, ``as_of`` (YYYY-MM-DD) and the codes; refuse what does not parse."""
    values = {name: (params.get(name) or "").strip() or None for name in FILTER_PARAMS}
    for name in ("start", "end", "as_of"):
        if values[name] is not None:
            values[name] = _date(name, values[name])
    filters = ReportFilters(**values)
    if filters.start and filters.end:
        if filters.start > filters.end:
            raise ReportFilterError("start must not be after end.")
        if (filters.end - filters.start).days > MAX_DAYS:
            raise ReportFilterError(f"A report covers at most {MAX_DAYS} days; narrow start and end.")
    return filters


def choice_param(params, name: str, choices: tuple[str, ...], default: str) -> str:
    value = (params.get(name) or default).strip()
    if value not in choices:
        raise ReportFilterError(f"{name} must be one of: {', '.join(choices)}.")
    return value


def decimal_param(params, name: str, default: Decimal) -> Decimal:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise ReportFilterError(f"{name} must be a number.")
    if not value.is_finite() or value < 0:
        raise ReportFilterError(f"{name} must be a number of at least 0.")
    return value


def _date(name: str, raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ReportFilterError(f"{name} must be a date as YYYY-MM-DD.")
