"""Readiness: can this host serve? The database answers, the broker answers, a cluster is alive.

Each check is cheap (one connection with a short timeout, one ping, one indexed read) and reports only
whether it passed and how long it took: nothing about tenants, hosts or addresses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.db import connection
from django.utils import timezone

from apps.ops.models import ClusterHeartbeat

CONNECT_TIMEOUT_SECONDS = 2


@dataclass(frozen=True)
class Check:
    ok: bool
    ms: float
    detail: str = ""

    def as_dict(self) -> dict:
        return {"ok": self.ok, "ms": round(self.ms, 1), **({"detail": self.detail} if self.detail else {})}


def _timed(probe) -> Check:
    started = time.perf_counter()
    try:
        ok, detail = probe()
    except Exception as error:  # whatever the probe hit, readiness says "not ready", never 500
        ok, detail = False, type(error).__name__
    return Check(ok=ok, ms=(time.perf_counter() - started) * 1000, detail=detail)


def _database() -> tuple[bool, str]:
    # A connection of its own with a short timeout: the pool would wait for a free connection instead, and
    # a connection made now is the honest answer to "can this host reach PostgreSQL?".
    import psycopg

    params = {**connection.get_connection_params(), "connect_timeout": CONNECT_TIMEOUT_SECONDS}
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params, autocommit=True) as conn:
        conn.execute("SELECT 1")
    return True, ""


@cache
def broker():
    from django_q.brokers import get_broker

    return get_broker()


def _broker() -> tuple[bool, str]:
    if settings.Q_CLUSTER.get("orm"):
        return True, "orm"  # the queue is the database: checked above
    return bool(broker().ping()), "redis"


def _cluster() -> tuple[bool, str]:
    newest = ClusterHeartbeat.objects.order_by("-beat_at").values_list("beat_at", flat=True).first()
    if newest is None:
        return False, "no heartbeat yet"
    age = (timezone.now() - newest).total_seconds()
    return age <= settings.WEFT_READY_HEARTBEAT_SECONDS, f"last heartbeat {age:.0f} s ago"


def readiness() -> tuple[bool, dict]:
    """(ready, body). Ready means the database and the broker answer; a missing cluster heartbeat makes the
    status "degraded" but not unready: this host still stores webhooks and serves pages, and taking every web
    host out of the load balancer because the workers stopped would turn a backlog into an outage."""
    checks = {"database": _timed(_database), "broker": _timed(_broker)}
    checks["cluster"] = _timed(_cluster) if checks["database"].ok else Check(False, 0.0, "database unreachable")
    ready = checks["database"].ok and checks["broker"].ok
    status = "ready" if ready and checks["cluster"].ok else ("degraded" if ready else "unavailable")
    return ready, {"status": status, "checks": {name: check.as_dict() for name, check in checks.items()}}
