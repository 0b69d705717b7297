"""The sync engine: run requests, the run lifecycle, slices and hub-change fan-out.

A run is claimed (``apps.runs.lease``), works for one slice (``inbound`` or ``outbound``), then either
finishes or goes back on the queue behind other tenants' work. A crash leaves the run "running" with a
stale heartbeat; the queue re-delivers the task (and a scheduled request for the flow queues it again) and
the next claim takes it over from its saved cursor, once the heartbeat is older than
``WEFT_RUN_STALE_SECONDS``. The engine orchestrates: it hands the slices what they may ask of it (announce
changed hub records, run a dependency's flow first), so no slice imports the engine.
"""

from __future__ import annotations

import logging
from functools import partial

from django.conf import settings
from django.db import connection as db
from django.db import transaction
from django.utils import timezone

from apps.common.errors import ExternalSystemError
from apps.common.logging import log_context
from apps.runs import inbound, outbound, progress
from apps.runs.lease import (
    RunLost,
    circuit_allows,
    circuit_record_failure,
    circuit_record_success,
    run_claim,
    run_heartbeat,
    stale_after,
)
from apps.runs.models import (
    FINISHED,
    Flow,
    FlowDirection,
    ItemOutcome,
    Run,
    RunItem,
    RunStatus,
    Trigger,
    finished_status,
)
from apps.runs.signals import run_finished
from apps.tenants import access
from apps.tenants.tasks import tenant_task_enqueue

logger = logging.getLogger(__name__)


def flow_run_request(
    *, flow: Flow, trigger: str, acting_user, record_ids: list[int] | None = None, mapping_version=None,
    replay_payloads: bool = False, enqueue: bool = True, operation_id: int | None = None,
) -> Run:
    """Queue a run of ``flow``. A scheduled or manual run while one is unfinished returns that one,
    queued again if it looks abandoned (its worker died, or its task was lost), so it resumes.

    ``acting_user``: the person who asked (a manual run or a replay), or None for the system's own
    triggers (schedules, webhooks, hub changes). ``operation_id``: the run reports its progress to that
    operation (``apps.runs.progress``)."""
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
        replay_payloads=replay_payloads, operation_id=operation_id,
    )
    if enqueue:
        tenant_task_enqueue(db.schema_name, "apps.runs.tasks.run_execute", run.pk)
    return run


def run_execute(*, run_id: int) -> Run | None:
    """Work one slice of a run; re-queue it if more remains. None if the run is not (or no longer) ours."""
    run = run_claim(run_id)
    if run is None:
        return None
    try:
        with log_context(run=run.pk, flow=run.flow.slug if run.flow else None):
            run = _run_slice(run)
            if run.operation_id:
                progress.operation_follow(run)
            return run
    except RunLost:
        logger.warning("run %s was taken over by another worker; this one stops", run.pk)
        return None


def _run_slice(run: Run) -> Run:
    if not run.connection.is_enabled:
        return run_finish(run, status=RunStatus.PAUSED, error_message=f"{run.connection} is disabled.")
    if not circuit_allows(run.connection):
        return run_finish(run, status=RunStatus.PAUSED,
                          error_message=f"{run.connection} is failing; its flows pause until a probe succeeds.")
    budget = settings.WEFT_RUN_SLICE_ITEMS
    try:
        if run.flow is None or run.flow.direction == FlowDirection.INBOUND:
            done = inbound.inbound_slice(run, budget=budget, announce=hub_changed)
            circuit_record_success(run.connection)  # the source answered (outbound counts per record)
        else:
            done = outbound.outbound_slice(run, budget=budget, run_first=_run_first)
    except ExternalSystemError as error:
        if not error.permanent:  # a target that fails whole runs (its login, a read) is failing as much as per item
            circuit_record_failure(run.connection)
        return run_finish(run, status=RunStatus.FAILED, error_message=error.message, error_category=error.category)
    if run.status == RunStatus.PAUSED:
        return run_finish(run, status=RunStatus.PAUSED, error_message=run.error_message)
    if not done:
        run_heartbeat(run, status=RunStatus.QUEUED)
        tenant_task_enqueue(db.schema_name, "apps.runs.tasks.run_execute", run.pk)  # back of the queue
        return run
    if run.flow is not None and run.flow.direction == FlowDirection.OUTBOUND:
        _follow_up(run)
    return run_finish(run)


def run_finish(run: Run, *, status: str | None = None, error_message: str = "", error_category: str = "") -> Run:
    """Settle the run (only if this worker still holds it) and announce it."""
    run.status = status or finished_status(run.counts)
    run.error_message = error_message or run.error_message
    run.error_category = error_category or run.error_category
    run.finished_at = timezone.now()
    run_heartbeat(run, status=run.status, error_message=run.error_message, error_category=run.error_category,
                  finished_at=run.finished_at)
    logger.info("run %s (%s) %s: %s", run.pk, run.flow or run.connection, run.status, run.counts)
    run_finished.send(sender=Run, run=run)
    return run


def hub_changed(*, object_type: str, canonical_ids: list[int], inline: bool = False, after_commit: bool = False,
                new_ids: list[int] = ()) -> list[Run]:
    """Trigger the outbound flows that listen to changes of ``object_type`` for these records: queued, or run here
    (``inline``), or run here once the current transaction has committed (``after_commit``). ``new_ids``: those the
    hub created in this task (run in this process, they are created in the target without a look-up first: see
    ``outbound.new_records``)."""
    if not canonical_ids:
        return []
    runs = []
    for flow in Flow.objects.filter(direction=FlowDirection.OUTBOUND, object_type=object_type, on_hub_change=True,
                                    is_enabled=True).select_related("connection"):
        run = flow_run_request(flow=flow, trigger=Trigger.HUB_CHANGE, record_ids=sorted(canonical_ids),
                               enqueue=not (inline or after_commit), acting_user=None)
        if after_commit:
            # The run is stored with the caller's work (a webhook event's transaction) and runs here once that has
            # committed: a worker that dies in between leaves a queued run for the sweep (apps.runs.recovery),
            # never a hub change that no flow will send.
            transaction.on_commit(partial(_run_inline, run.pk, object_type, tuple(new_ids)))
        elif inline:
            _run_inline(run.pk, object_type, tuple(new_ids))
        runs.append(run)
    return runs


def _run_inline(run_id: int, object_type: str, new_ids: tuple[int, ...]) -> None:
    with outbound.new_records(object_type, new_ids):
        run_execute(run_id=run_id)


def _follow_up(run: Run) -> list[Run]:
    """Queue the flows that follow this one (``Flow.after_flow``) for the records it created in its target: a
    project the ERP now holds has its ERP code written back to the CRM deal it came from."""
    followers = list(Flow.objects.filter(after_flow=run.flow, is_enabled=True))
    if not followers:
        return []
    created = sorted(set(RunItem.objects.filter(run=run, outcome=ItemOutcome.CREATED)
                         .exclude(canonical_id=None).values_list("canonical_id", flat=True)))
    if not created:
        return []
    return [flow_run_request(flow=flow, trigger=Trigger.AFTER_FLOW, record_ids=created, acting_user=None)
            for flow in followers]


def _run_first(flow: Flow, record_ids: list[int]) -> None:
    """Write the records an outbound slice needs first (a new project's customer) through their own flow, now."""
    first = flow_run_request(flow=flow, trigger=Trigger.HUB_CHANGE, record_ids=record_ids, enqueue=False,
                             acting_user=None)
    run_execute(run_id=first.pk)
