"""A rate limiter shared by every worker: counters in PostgreSQL, concurrency by advisory locks."""

from __future__ import annotations

import contextlib
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import connection as db

from apps.common.errors import ErrorCategory
from apps.connectors.errors import ConnectorError

DAY = 86400


@dataclass(frozen=True)
class RateLimit:
    """A vendor's published limits: ``windows`` as (calls, seconds) pairs, plus concurrent calls."""

    windows: tuple[tuple[int, int], ...] = ()
    concurrency: int | None = None

    def describe(self) -> str:
        parts = [f"{calls} per {seconds} s" for calls, seconds in self.windows]
        if self.concurrency:
            parts.append(f"{self.concurrency} at once")
        return ", ".join(parts) or "no limit"


@dataclass
class DatabaseRateLimiter:
    """Counts calls per connection in fixed windows; waits (up to ``max_wait``) when a window is full.

    A daily window is always counted, limited or not, so API usage per day is known for monitors
    and for metering.
    """

    connection_id: int
    limit: RateLimit
    max_wait: float = 60.0
    sleep: callable = time.sleep
    clock: callable = time.time
    _windows: tuple[tuple[int | None, int], ...] = field(init=False)

    def __post_init__(self):
        windows = list(self.limit.windows)
        if not any(seconds == DAY for _, seconds in windows):
            windows.append((None, DAY))  # counted, never refused
        self._windows = tuple(windows)

    @contextlib.contextmanager
    def slot(self):
        deadline = self.clock() + self.max_wait
        for calls, seconds in self._windows:
            self._take(calls, seconds, deadline)
        with self._concurrency_slot(deadline):
            yield

    def _take(self, calls: int | None, seconds: int, deadline: float) -> None:
        while True:
            now = self.clock()
            start = int(now // seconds * seconds)
            if self._increment(seconds, start, calls):
                return
            wait = start + seconds - now
            if now + wait > deadline:
                raise ConnectorError(
                    f"Rate limit reached ({calls} calls per {seconds} s); next window in {wait:.0f} s.",
                    permanent=False, category=ErrorCategory.RATE_LIMIT, retry_after=wait,
                )
            self.sleep(wait + 0.01)

    def _increment(self, seconds: int, start: int, limit: int | None) -> bool:
        window_start = datetime.fromtimestamp(start, tz=UTC)
        sql = (
            "INSERT INTO connectors_apicallwindow (connection_id, window_seconds, window_start, calls) "
            "VALUES (%s, %s, %s, 1) ON CONFLICT (connection_id, window_seconds, window_start) "
            "DO UPDATE SET calls = connectors_apicallwindow.calls + 1"
        )
        params = [self.connection_id, seconds, window_start]
        if limit is not None:
            sql += " WHERE connectors_apicallwindow.calls < %s"
            params.append(limit)
        with db.cursor() as cursor:
            cursor.execute(sql + " RETURNING calls", params)
            return cursor.fetchone() is not None

    @contextlib.contextmanager
    def _concurrency_slot(self, deadline: float):
        if not self.limit.concurrency:
            yield
            return
        key = zlib.crc32(f"{db.schema_name}:{self.connection_id}".encode()) & 0x7FFFFFFF
        while True:
            for slot in range(self.limit.concurrency):
                if self._try_lock(key, slot):
                    try:
                        yield
                    finally:
                        self._unlock(key, slot)
                    return
            if self.clock() > deadline:
                raise ConnectorError(
                    f"All {self.limit.concurrency} concurrent call slots stayed busy.", permanent=False,
                    category=ErrorCategory.RATE_LIMIT, retry_after=1.0,
                )
            self.sleep(0.05)

    @staticmethod
    def _try_lock(key: int, slot: int) -> bool:
        with db.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [key, slot])
            return cursor.fetchone()[0]

    @staticmethod
    def _unlock(key: int, slot: int) -> None:
        with db.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [key, slot])
