"""The run lease: claiming a run, the heartbeat that renews the claim and saves progress, the counts, and the
circuit breaker of a failing connection. The inbound and outbound slices use it; the engine orchestrates.

A run is claimed with a conditional UPDATE (so a duplicate or re-delivered task does no harm). The claim is a
lease: ``updated_at`` as the claim left it. Every heartbeat, the re-queue and the finish are conditional on it,
so a worker that was presumed dead and taken over notices at its next heartbeat (``RunLost``) and stops,
instead of working on beside the new owner. A run whose heartbeat is older than ``WEFT_RUN_STALE_SECONDS``
may be taken over.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.connectors.models import Connection
from apps.connectors.services import connection_test
from apps.runs.models import Run, RunStatus

logger = logging.getLogger(__name__)


class RunLost(Exception):
    """This worker's claim on a run was taken over (it was presumed dead); it must stop working on it."""


def stale_after() -> timedelta:
    """How long a running run may go without a heartbeat before another worker may take it over."""
    return timedelta(seconds=settings.WEFT_RUN_STALE_SECONDS)

def run_claim(run_id: int) -> Run | None:
    """Take the run for this worker, or None if another worker has it or it is finished.

    The returned run carries ``lease``: the ``updated_at`` this claim wrote (see ``run_heartbeat``)."""
    now = timezone.now()
    claimable = Q(status=RunStatus.QUEUED) | Q(status=RunStatus.RUNNING, updated_at__lt=now - stale_after())
    # Operational fields only: QuerySet.update(), in one statement so the lease is exactly ``now``.
    claimed = Run.objects.filter(claimable, pk=run_id).update(
        status=RunStatus.RUNNING, updated_at=now, started_at=Coalesce(F("started_at"), now))
    if not claimed:
        return None
    run = Run.objects.select_related("flow__mapping", "flow__rule_set", "connection", "mapping_version").get(pk=run_id)
    run.lease = now
    return run

def run_heartbeat(run: Run, **fields) -> None:
    """Save progress (counts, cursor) and renew the lease; raise ``RunLost`` if another worker took the run.

    A run without a lease (one not claimed through ``run_claim``) is saved unconditionally."""
    now = timezone.now()
    query = Run.objects.filter(pk=run.pk)
    lease = getattr(run, "lease", None)
    if lease is not None:
        query = query.filter(updated_at=lease)
    # Operational fields: QuerySet.update(), conditional on the lease.
    if not query.update(updated_at=now, counts=run.counts, cursor_end=run.cursor_end, **fields):
        raise RunLost(f"Run {run.pk} was taken over by another worker.")
    run.updated_at = run.lease = now
    for name, value in fields.items():
        setattr(run, name, value)


def run_count(run: Run, outcome: str, n: int = 1) -> None:
    outcome = str(outcome)  # plain strings in counts (choices' members would print as ItemOutcome.CREATED)
    run.counts[outcome] = run.counts.get(outcome, 0) + n

# --- circuit breaker: a connection that keeps failing pauses its flows until a probe succeeds -------------
def circuit_record_failure(connection: Connection) -> bool:
    """Count a transient failure; returns True when this failure opened the circuit."""
    Connection.objects.filter(pk=connection.pk).update(consecutive_failures=F("consecutive_failures") + 1)
    connection.refresh_from_db(fields=["consecutive_failures", "circuit_open_until"])
    if connection.consecutive_failures >= settings.WEFT_CIRCUIT_THRESHOLD and connection.circuit_open_until is None:
        until = timezone.now() + timedelta(seconds=settings.WEFT_CIRCUIT_COOLDOWN_SECONDS)
        Connection.objects.filter(pk=connection.pk).update(circuit_open_until=until)
        connection.circuit_open_until = until
        logger.warning("circuit opened for %s until %s", connection, until)
        return True
    return False


def circuit_record_success(connection: Connection) -> None:
    if connection.consecutive_failures or connection.circuit_open_until:
        Connection.objects.filter(pk=connection.pk).update(consecutive_failures=0, circuit_open_until=None)
        connection.consecutive_failures, connection.circuit_open_until = 0, None


def circuit_allows(connection: Connection) -> bool:
    """Closed: go. Open and cooling down: no. Open and cooled down: probe, and close it if the probe works."""
    if connection.circuit_open_until is None:
        return True
    if connection.circuit_open_until > timezone.now():
        return False
    if connection_test(connection=connection).ok:
        circuit_record_success(connection)
        return True
    Connection.objects.filter(pk=connection.pk).update(
        circuit_open_until=timezone.now() + timedelta(seconds=settings.WEFT_CIRCUIT_COOLDOWN_SECONDS))
    return False
