"""Running reads and flows, and writing the ledger."""

from __future__ import annotations

import logging

from django.utils import timezone

from apps.canonical.services import HubResult, Outcome, hub_upsert
from apps.common.errors import ExternalSystemError
from apps.common.objects import CanonicalInput
from apps.connectors.kinds.base import ConnectorKind, RecordError
from apps.connectors.models import Connection
from apps.connectors.services import connection_kind
from apps.runs.models import ItemOutcome, Run, RunItem, RunStatus, SyncCursor, Trigger

logger = logging.getLogger(__name__)
PROBLEM_OUTCOMES = {Outcome.FAILED: ItemOutcome.FAILED, Outcome.CONFLICT: ItemOutcome.CONFLICT}


def pull_run(*, connection: Connection, object_name: str, trigger: str = Trigger.MANUAL,
             from_start: bool = False, kind: ConnectorKind | None = None) -> Run:
    """Read ``object_name`` from ``connection`` into the hub, resuming after the last good cursor.

    Every record either lands in the hub or becomes a failed/conflict item in the ledger with a
    message naming the record and the field. The cursor advances only past pages that were stored.
    """
    kind = kind or connection_kind(connection)
    spec = kind.capabilities.spec(object_name)
    cursor_row, _ = SyncCursor.objects.get_or_create(connection=connection, object_name=object_name)
    start = "" if from_start or not spec.incremental else cursor_row.value
    run = Run.objects.create(connection=connection, object_name=object_name, object_type=spec.object_type,
                             trigger=trigger, status=RunStatus.RUNNING, cursor_start=start, started_at=timezone.now())
    counts: dict[str, int] = {}
    try:
        for page in kind.read(object_name, cursor=start or None):
            _store_page(run, connection, kind, object_name, spec.object_type, page, counts)
            if spec.incremental and page.next_cursor:
                SyncCursor.objects.filter(pk=cursor_row.pk).update(value=page.next_cursor)
                run.cursor_end = page.next_cursor
    except ExternalSystemError as error:
        return _finish(run, counts, error_message=error.message)
    return _finish(run, counts)


def _store_page(run, connection, kind, object_name, object_type, page, counts) -> None:
    problems: list[RunItem] = [_read_error_item(run, object_type, error) for error in page.errors]
    inputs: list[CanonicalInput] = []
    raw_by_id: dict[str, dict] = {}
    for record in page.records:
        try:
            canonical = kind.to_canonical(object_name, record)
        except ExternalSystemError as error:
            problems.append(RunItem(run=run, object_type=object_type, outcome=ItemOutcome.FAILED,
                                    error_category=error.category, error_message=error.message, payload_before=record))
            continue
        inputs.append(canonical)
        raw_by_id[canonical.external_id] = record
    counts[Outcome.FAILED] = counts.get(Outcome.FAILED, 0) + len(problems)  # unreadable before the hub
    for results in hub_upsert(connection=connection, object_type=object_type, records=inputs):
        for result in results:
            counts[result.outcome] = counts.get(result.outcome, 0) + 1
            if result.outcome in PROBLEM_OUTCOMES:
                problems.append(_hub_problem_item(run, object_type, result, raw_by_id.get(result.external_id)))
    RunItem.objects.bulk_create(problems)


def _read_error_item(run: Run, object_type: str, error: RecordError) -> RunItem:
    return RunItem(run=run, object_type=object_type, external_id=error.reference[:255], outcome=ItemOutcome.FAILED,
                   error_category=error.category, error_field=error.field or "", payload_before=error.raw,
                   error_message=f"{error.reference}: {error.message}")


def _hub_problem_item(run: Run, object_type: str, result: HubResult, raw: dict | None) -> RunItem:
    return RunItem(run=run, object_type=object_type, external_id=result.external_id, canonical_id=result.canonical_id,
                   outcome=PROBLEM_OUTCOMES[result.outcome], error_category=result.category or "",
                   error_field=result.field or "", error_message=result.message, payload_before=raw)


def _finish(run: Run, counts: dict[str, int], error_message: str = "") -> Run:
    failures = counts.get(Outcome.FAILED, 0) + counts.get(Outcome.CONFLICT, 0)
    if error_message:
        status = RunStatus.FAILED
    elif failures:
        status = RunStatus.PARTIAL
    else:
        status = RunStatus.SUCCEEDED
    run.status, run.counts, run.error_message, run.finished_at = status, counts, error_message, timezone.now()
    run.save(update_fields=["status", "counts", "error_message", "finished_at", "cursor_end", "updated_at"])
    logger.info("run %s %s/%s: %s %s", run.pk, run.connection, run.object_name, status, counts)
    return run
