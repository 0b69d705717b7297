"""Helpers for kinds that read vendor JSON: typed field access whose errors name the record and the field,
pages that keep bad records out (as ``RecordError``) while the rest land, and resume-safe ``updated_since``
cursors.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.dateparse import parse_date, parse_datetime

from apps.common.errors import ErrorCategory, ExternalSystemError
from apps.common.objects import Ref
from apps.connectors.errors import ConnectorError
from apps.connectors.kinds.base import Page, RecordError

# Microsoft JSON dates as Xero sends them: /Date(1573755038314+0000)/ (milliseconds since the epoch, UTC).
MS_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
# Records changed while a long read was under way may sort before what it already passed: read them again.
CURSOR_OVERLAP = timedelta(minutes=5)


class RecordProblem(ConnectorError):
    """One record has a missing or malformed field; reads report it as a RecordError and go on."""

    def __init__(self, reference: str, field: str | None, detail: str):
        where = f"{field} " if field else ""
        super().__init__(f"{reference}: {where}{detail}", permanent=True, category=ErrorCategory.PARSE)
        self.reference, self.field, self.detail = reference, field, detail


class Fields:
    """Typed access to one vendor record; ``path`` may be dotted (``project.id``)."""

    def __init__(self, record: Any, reference: str):
        if not isinstance(record, dict):
            raise RecordProblem(reference, None, f"is not an object but {type(record).__name__}")
        self.record, self.reference = record, reference

    def raw(self, path: str) -> Any:
        node: Any = self.record
        for part in path.split("."):
            if not isinstance(node, dict):
                return None
            node = node.get(part)
        return node

    def problem(self, path: str, detail: str) -> RecordProblem:
        return RecordProblem(self.reference, path, detail)

    def _present(self, path: str, required: bool) -> Any:
        value = self.raw(path)
        if value in (None, "") and required:
            raise self.problem(path, "is missing")
        return None if value in (None, "") else value

    def text(self, path: str, *, required: bool = False) -> str:
        value = self._present(path, required)
        if value is None:
            return ""
        if isinstance(value, dict | list):
            raise self.problem(path, f"should be text, got {type(value).__name__}")
        return str(value).strip()

    def id(self, path: str = "id") -> str:
        value = self._present(path, True)
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise self.problem(path, f"{value!r} is not an id")
        return str(value)

    def ref(self, path: str, *, required: bool = False) -> Ref | None:
        """A related record by this system's id (``project.id``)."""
        return Ref.external(self.id(path)) if required or self.raw(path) not in (None, "") else None

    def decimal(self, path: str, *, required: bool = False) -> Decimal | None:
        value = self._present(path, required)
        if value is None:
            return None
        if isinstance(value, bool):
            raise self.problem(path, f"{value!r} is not a number")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise self.problem(path, f"{value!r} is not a number") from None
        if not number.is_finite():
            raise self.problem(path, f"{value!r} is not a finite number")
        return number

    def boolean(self, path: str, *, default: bool | None = None) -> bool | None:
        value = self.raw(path)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.problem(path, f"{value!r} is not true/false")
        return value

    def date(self, path: str, *, required: bool = False) -> date | None:
        value = self._present(path, required)
        if value is None:
            return None
        parsed = parse_any_datetime(value)
        if parsed is not None:
            return parsed.date()
        day = parse_date(value[:10]) if isinstance(value, str) else None
        if day is None:
            raise self.problem(path, f"{value!r} is not a date")
        return day

    def datetime(self, path: str, *, required: bool = False) -> datetime | None:
        value = self._present(path, required)
        if value is None:
            return None
        parsed = parse_any_datetime(value)
        if parsed is None:
            raise self.problem(path, f"{value!r} is not a date-time")
        return parsed


def parse_any_datetime(value: Any) -> datetime | None:
    """An ISO 8601 or ``/Date(ms±hhmm)/`` value as an aware UTC datetime; None if it is neither."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    match = MS_DATE.match(text)
    if match:
        return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=UTC)  # the offset is only a display hint
    try:
        parsed = parse_datetime(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed is None:
        return None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def checked_page(items: Iterable[Any], check: Callable[[Any, int], Any], next_cursor: str | None) -> Page:
    """A page of the records that pass ``check``; each that fails becomes a RecordError naming it and the field."""
    page = Page(records=[], next_cursor=next_cursor)
    for index, item in enumerate(items):
        try:
            check(item, index)
        except RecordProblem as problem:
            message = f"{problem.field} {problem.detail}" if problem.field else problem.detail
            page.errors.append(RecordError(reference=problem.reference, message=message, field=problem.field, raw=item))
            continue
        page.records.append(item)
    return page


class UpdatedSince:
    """The cursor of an incremental read: the newest ``updated_at`` seen, given only once the read is complete.

    Pages come in the vendor's order, not by update time, so a cursor after page 1 would skip older changes on
    page 2 if the read stopped there. The cursor is also held back to the read's start minus an overlap, so a
    record changed while the read was under way is read again next time (the hub skips unchanged content).
    """

    def __init__(self, start: str | None, now: datetime):
        self.start = start
        self.limit = now - CURSOR_OVERLAP
        self.newest: datetime | None = None

    def see(self, moment: datetime | None) -> None:
        if moment is not None and (self.newest is None or moment > self.newest):
            self.newest = moment

    def cursor(self) -> str | None:
        if self.newest is None:
            return self.start
        return iso_utc(min(self.newest, self.limit))


def start_from(cursor: str | None, label: str) -> str | None:
    """Check a stored cursor before sending it: it must be an ISO date-time."""
    if not cursor:
        return None
    moment = parse_any_datetime(cursor)
    if moment is None:
        raise ConnectorError(f"{label}: the stored cursor {cursor!r} is not a date-time; read from the start.",
                             permanent=True, category=ErrorCategory.CONFIG)
    return iso_utc(moment)


def reraise(error: ExternalSystemError, what: str) -> ConnectorError:
    """The client's error with what we were doing in front, same classification."""
    return ConnectorError(f"{what}: {error.message}", permanent=error.permanent, category=error.category,
                          status=error.status, retry_after=error.retry_after)
