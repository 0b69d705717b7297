"""The shared rate limiter: vendor limits hold across workers, and daily usage is always counted."""

import zlib

import psycopg
import pytest
from django.db import connection as db

from apps.common.errors import ErrorCategory
from apps.connectors.errors import ConnectorError
from apps.connectors.models import ApiCallWindow
from apps.connectors.ratelimit import DatabaseRateLimiter, RateLimit
from tests.canonical.factories import ConnectionFactory


class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0):
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def limiter(connection, limit, clock, max_wait=120.0):
    return DatabaseRateLimiter(connection.pk, limit, max_wait=max_wait, sleep=clock.sleep, clock=clock)


def test_calls_beyond_the_window_wait_for_the_next_window(in_alpha):
    clock = FakeClock(start=1_800_000_000.0)  # a multiple of 60: a window starts here
    harvest = ConnectionFactory(kind="harvest")
    limited = limiter(harvest, RateLimit(windows=((3, 60),)), clock)

    for _ in range(3):
        with limited.slot():
            pass
    assert clock.slept == []
    with limited.slot():
        pass
    assert len(clock.slept) == 1 and 59.9 < clock.slept[0] < 60.1


def test_a_spent_daily_quota_is_reported_with_when_to_come_back(in_alpha):
    clock = FakeClock()
    xero = ConnectionFactory(kind="xero")
    limited = limiter(xero, RateLimit(windows=((2, 86400),)), clock, max_wait=60)
    for _ in range(2):
        with limited.slot():
            pass
    with pytest.raises(ConnectorError) as error, limited.slot():
        pass
    assert error.value.category == ErrorCategory.RATE_LIMIT and error.value.retry_after > 3600


def test_daily_usage_is_counted_even_without_a_limit(in_alpha):
    clock = FakeClock()
    tryton = ConnectionFactory(kind="tryton")
    unlimited = limiter(tryton, RateLimit(), clock)
    for _ in range(5):
        with unlimited.slot():
            pass
    assert ApiCallWindow.objects.get(connection=tryton, window_seconds=86400).calls == 5


def test_concurrent_calls_beyond_the_limit_must_wait(in_alpha):
    clock = FakeClock()
    xero = ConnectionFactory(kind="xero")
    one_at_a_time = limiter(xero, RateLimit(concurrency=1), clock)
    key = zlib.crc32(f"{db.schema_name}:{xero.pk}".encode()) & 0x7FFFFFFF
    settings = db.settings_dict
    with psycopg.connect(host=settings["HOST"], port=settings["PORT"] or None, user=settings["USER"],
                         dbname=settings["NAME"], autocommit=True) as other_worker:
        with one_at_a_time.slot():
            assert other_worker.execute("SELECT pg_try_advisory_lock(%s, 0)", [key]).fetchone()[0] is False
        assert other_worker.execute("SELECT pg_try_advisory_lock(%s, 0)", [key]).fetchone()[0] is True
        other_worker.execute("SELECT pg_advisory_unlock(%s, 0)", [key])
