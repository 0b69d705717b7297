"""Pagination and incremental cursors for manifest-driven reads.

A paginator says what the next request looks like (its page variables, or the URL to follow) and, from an
answer, whether there is a next page. Besides the manifest's own stop conditions every read stops at an empty
page; a page that repeats the previous page's records, or a request that repeats, is an error that names the
pagination setting to check, because a paginator the vendor ignores would otherwise read page 1 for ever.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from apps.common.errors import ErrorCategory
from apps.connectors.errors import ConnectorError
from apps.connectors.kinds.records import iso_utc, parse_any_datetime
from apps.connectors.kinds.rest.manifest import search


class Paginator:
    """The state of one paginated read."""

    def __init__(self, config: dict | None, where: str, base_url: str = "", size_sent: bool = False):
        self.config = config or {"type": "none"}
        self.base_url = base_url
        # A short page ends the read only when the page size was asked for (a size parameter or {page.size}).
        self.size_sent = size_sent or bool(self.config.get("size_param"))
        self.kind = self.config["type"]
        self.where = where
        self.size = self.config.get("size", 100)
        self.number = self.config.get("start", 1) if self.kind == "page_number" else 1
        self.offset = self.config.get("start", 0) if self.kind == "offset" else 0
        self.cursor: str | None = self.config.get("first_cursor")
        self.next_url: str | None = None
        self.max_pages = self.config.get("max_pages", 10_000)
        self._previous_ids: list | None = None

    def variables(self) -> dict[str, Any]:
        return {"page.number": self.number, "page.offset": self.offset, "page.size": self.size,
                "page.cursor": self.cursor}

    def params(self) -> tuple[dict, dict]:
        """(query parameters, body fields) this paginator adds to the next request."""
        added: dict[str, Any] = {}
        param = self.config.get("param")
        if param:
            value = {"page_number": self.number, "offset": self.offset, "cursor": self.cursor}.get(self.kind)
            if value is not None:
                added[param] = value
        if self.config.get("size_param"):
            added[self.config["size_param"]] = self.size
        if self.config.get("in", "query") == "body":
            return {}, added
        return added, {}

    def advance(self, data: Any, response: httpx.Response, records: list, ids: list) -> bool:
        """Move to the next page; False when the answer was the last page."""
        self._check_not_repeated(ids)
        if not records or self.kind == "none":
            return False
        has_more = self.config.get("has_more")
        if has_more and not search(has_more, data):
            return False
        return getattr(self, f"_advance_{self.kind}")(data, response, len(records))

    def _check_not_repeated(self, ids: list) -> None:
        if ids and self._previous_ids == ids:
            setting = "param" if self.kind in ("page_number", "offset") else "cursor"
            raise ConnectorError(
                f"At {self.where}.pagination: the vendor sent the same {len(ids)} records again for the next page, so "
                f"it ignored how the page was asked for. Check pagination.{setting} "
                f"({self.config.get(setting)!r}) against the vendor's documented parameter.",
                permanent=True, category=ErrorCategory.CONFIG)
        self._previous_ids = ids

    def _short(self, count: int) -> bool:
        return self.config.get("stop_on_short_page", True) and self.size_sent and count < self.size

    def _advance_page_number(self, data: Any, response, count: int) -> bool:
        total = search(self.config.get("total"), data)
        if self._short(count) or (isinstance(total, int | float) and self.number >= total):
            return False
        self.number += 1
        return True

    def _advance_offset(self, data: Any, response, count: int) -> bool:
        following = search(self.config.get("next_offset"), data)
        following = int(following) if isinstance(following, int | float | str) and str(following).isdigit() else (
            self.offset + count)
        total = search(self.config.get("total"), data)
        if self._short(count) or (isinstance(total, int | float) and following >= total):
            return False
        self.offset = following
        return True

    def _advance_cursor(self, data: Any, response, count: int) -> bool:
        cursor = search(self.config["cursor"], data)
        if cursor in (None, "") or isinstance(cursor, dict | list):
            return False
        if str(cursor) == self.cursor:
            raise ConnectorError(f"At {self.where}.pagination: the vendor sent the same cursor twice "
                                 f"({self.config['cursor']!r} = {cursor!r}); check the cursor path.",
                                 permanent=True, category=ErrorCategory.CONFIG)
        self.cursor = str(cursor)
        return True

    def _advance_next_link(self, data: Any, response, count: int) -> bool:
        return self._follow(search(self.config["cursor"], data))

    def _advance_link_header(self, data: Any, response: httpx.Response, count: int) -> bool:
        return self._follow((response.links.get("next") or {}).get("url"))

    def _follow(self, url: Any) -> bool:
        if not url or not isinstance(url, str):
            return False
        url = str(httpx.URL(self.next_url or self.base_url + "/").join(url))
        if url == self.next_url:
            raise ConnectorError(f"At {self.where}.pagination: the vendor sent the same next-page link twice; check "
                                 "the pagination settings.", permanent=True, category=ErrorCategory.CONFIG)
        self.next_url = url
        return True


class Incremental:
    """The cursor of an incremental read (``None`` config: reads are full every time).

    ``cursor_field``: the newest value of the record field seen, handed over once the read is complete (pages
    need not come in change order). ``since``: the time the read started. Either way the next read starts
    ``overlap_seconds`` earlier, and the hub skips what it has already.
    """

    def __init__(self, config: dict | None, cursor: str | None, now: datetime, where: str):
        self.config, self.stored, self.now, self.where = config, cursor, now, where
        self.newest: Any = None

    @property
    def enabled(self) -> bool:
        return bool(self.config)

    def since(self) -> Any:
        """The value sent to the vendor for this read, or None on a first read without ``initial``."""
        if not self.config:
            return None
        if not self.stored:
            return self.config.get("initial")
        fmt = self.config.get("format", "iso8601")
        if fmt == "raw":
            return self.stored
        moment = parse_any_datetime(self.stored)
        if moment is None:
            raise ConnectorError(f"At {self.where}.incremental: the stored cursor {self.stored!r} is not a time; "
                                 "read from the start once.", permanent=True, category=ErrorCategory.CONFIG)
        return format_time(moment - timedelta(seconds=self.config.get("overlap_seconds", 300)), fmt)

    def params(self) -> tuple[dict, dict]:
        param, value = (self.config or {}).get("param"), self.since()
        if not param or value is None:
            return {}, {}
        return ({}, {param: value}) if self.config.get("in", "query") == "body" else ({param: value}, {})

    def see(self, record: Any) -> None:
        if not self.config or self.config["mode"] != "cursor_field":
            return
        value = search(self.config["field"], record)
        if value is None:
            return
        comparable = value if self.config.get("format") == "raw" else to_time(value)
        if comparable is not None and (self.newest is None or comparable > self.newest):
            self.newest = comparable

    def cursor(self) -> str | None:
        if not self.config:
            return None
        if self.config["mode"] == "since":
            return iso_utc(self.now)
        if self.newest is None:
            return self.stored
        return str(self.newest) if self.config.get("format") == "raw" else iso_utc(self.newest)


def to_time(value: Any) -> datetime | None:
    """A change time as the vendor wrote it (ISO text, unix seconds or milliseconds) as an aware datetime."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        number = float(value)
        return datetime.fromtimestamp(number / 1000 if number > 1e11 else number, tz=UTC)
    return parse_any_datetime(value)


def format_time(moment: datetime, fmt: str) -> Any:
    if fmt == "epoch_seconds":
        return int(moment.timestamp())
    if fmt == "epoch_milliseconds":
        return int(moment.timestamp() * 1000)
    if fmt == "date":
        return date.isoformat(moment.astimezone(UTC).date())
    return iso_utc(moment)
