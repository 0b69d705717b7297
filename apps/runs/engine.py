"""The sync engine: run lifecycle, claims, slices, circuit breaker and hub-change fan-out.

A run is claimed with a conditional UPDATE (so a duplicate or re-delivered task does no harm),
works for one slice, then either finishes or goes back on the queue behind other tenants' work.
A crash leaves the run "running" with a stale heartbeat; the queue re-delivers the task (and a
scheduled request for the flow queues it again) and the next claim takes it over from its saved
cursor, once the heartbeat is older than ``WEFT_RUN_STALE_SECONDS``.

The claim is a lease: ``updated_at`` as the claim left it. Every heartbeat, the re-queue and the
finish are conditional on it, so a worker that was presumed dead and taken over notices at its next
heartbeat (``RunLost``) and stops, instead of working on beside the new owner.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection as db
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.common.errors import ExternalSystemError
from apps.connectors.models import Connection
from apps.connectors.services import connection_test
from apps.runs.models import FINISHED, Flow, FlowDirection, Run, RunStatus, Trigger
from apps.tenants import access
from apps.tenants.tasks import tenant_task_enqueue

logger = logging.getLogger(__name__)


class RunLost(Exception):
    """This worker's claim on a run was taken over (it was presumed dead); it must stop working on it."""


def stale_after() -> timedelta:
    """How long a running run may go without a heartbeat before another worker may take it over."""
    return timedelta(seconds=settings.WEFT_RUN_STALE_SECONDS)


def flow_run_request(
    *, flow: Flow, trigger: str, acting_user, record_ids: list[int] | None = None, mapping_version=None,
    replay_payloads: bool = False, enqueue: bool = True,
) -> Run:
    """Queue a run of ``flow``. A scheduled or manual run while one is unfinished returns that one,
    queued again if it looks abandoned (its worker died, or its task was lost), so it resumes.

    ``acting_user``: the person who asked (a manual run or a replay), or None for the system's own
    triggers (schedules, webhooks, hub changes)."""
    access.check(acting_user, "run.replay" if trigger == Trigger.REPLAY else "run.start")
    if record_ids is None and not replay_payloads:
        pending = Run.objects.filter(flow=flow, record_ids__isnull=True).exclude(status__in=FINISHED).first()
        if pending is not None:
            if enqueue and pending.updated_at < timezone.now() - stale_after():
                logger.warning("run %s of %s looks abandoned (last heartbeat %s); queued again", pending.pk, flow,
                               pending.updated_at)
                tenant_task_enqueue(db.schema_name, "apps.runs.tasks.run_execute", pending.pk)
            return pending
    run = Run.objects.create(
        flow=flow, connection=flow.connection, object_name=flow.object_name, object_type=flow.object_type,
        trigger=trigger, status=RunStatus.QUEUED, record_ids=record_ids, mapping_version=mapping_version,
        replay_payloads=replay_payloads,
    )
    if enqueue:
        tenant_task_enqueue(db.schema_name, "apps.runs.tasks.run_execute", run.pk)
    return run


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


def run_execute(*, run_id: int) -> Run | None:
    """Work one slice of a run; re-queue it if more remains. None if the run is not (or no longer) ours."""
    run = run_claim(run_id)
    if run is None:
        return None
    try:
        return _run_slice(run)
    except RunLost:
        logger.warning("run %s was taken over by another worker; this one stops", run.pk)
        return None


def _run_slice(run: Run) -> Run:
    from apps.runs import inbound, outbound

    if not run.connection.is_enabled:
        return run_finish(run, status=RunStatus.PAUSED, error_message=f"{run.connection} is disabled.")
    if not _circuit_allows(run.connection):
        return run_finish(run, status=RunStatus.PAUSED,
                          error_message=f"{run.connection} is failing; its flows pause until a probe succeeds.")
    budget = settings.WEFT_RUN_SLICE_ITEMS
    try:
        if run.flow is None or run.flow.direction == FlowDirection.INBOUND:
            done = inbound.inbound_slice(run, budget=budget)
        else:
            done = outbound.outbound_slice(run, budget=budget)
    except ExternalSystemError as error:
        return run_finish(run, status=RunStatus.FAILED, error_message=error.message, error_category=error.category)
    if run.status == RunStatus.PAUSED:
        return run_finish(run, status=RunStatus.PAUSED, error_message=run.error_message)
    if not done:
        run_heartbeat(run, status=RunStatus.QUEUED)
        tenant_task_enqueue(db.schema_name, "apps.runs.tasks.run_execute", run.pk)  # back of the queue
        return run
    return run_finish(run)


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


def run_finish(run: Run, *, status: str | None = None, error_message: str = "", error_category: str = "") -> Run:
    """Settle the run (only if this worker still holds it) and announce it."""
    failures = run.counts.get("failed", 0) + run.counts.get("conflict", 0)
    run.status = status or (RunStatus.PARTIAL if failures else RunStatus.SUCCEEDED)
    run.error_message = error_message or run.error_message
    run.error_category = error_category or run.error_category
    run.finished_at = timezone.now()
    run_heartbeat(run, status=run.status, error_message=run.error_message, error_category=run.error_category,
                  finished_at=run.finished_at)
    logger.info("run %s (%s) %s: %s", run.pk, run.flow or run.connection, run.status, run.counts)
    from apps.runs.signals import run_finished

    run_finished.send(sender=Run, run=run)
    return run


def hub_changed(*, object_type: str, canonical_ids: list[int], inline: bool = False) -> list[Run]:
    """Trigger the outbound flows that listen to changes of ``object_type`` for these records."""
    if not canonical_ids:
        return []
    runs = []
    for flow in Flow.objects.filter(direction=FlowDirection.OUTBOUND, object_type=object_type, on_hub_change=True,
                                    is_enabled=True).select_related("connection"):
        run = flow_run_request(flow=flow, trigger=Trigger.HUB_CHANGE, record_ids=sorted(canonical_ids),
                               enqueue=not inline, acting_user=None)
        if inline:
            run_execute(run_id=run.pk)
        runs.append(run)
    return runs


# --- circuit breaker ---------------------------------------------------------------------------
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


def _circuit_allows(connection: Connection) -> bool:
    """Closed: go. Open and cooling down: no. Open and cooled down: probe, and close it if the probe works."""
    if connection.circuit_open_until is None:
        return True
    if connection.circuit_open_until > timezone.now():
        return False
    if connection_test(connection=connection, acting_user=None).ok:  # the system's own probe
        circuit_record_success(connection)
        return True
    Connection.objects.filter(pk=connection.pk).update(
        circuit_open_until=timezone.now() + timedelta(seconds=settings.WEFT_CIRCUIT_COOLDOWN_SECONDS))
    return False
