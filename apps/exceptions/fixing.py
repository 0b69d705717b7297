"""Fix and replay: edit a failed inbound record's source payload, preview what a replay sends, replay.

Inbound items: the edited source payload replaces the ledger item's ``payload_before`` (the original is
kept in a ``PayloadEdit`` row), and a replay re-maps it with today's mapping. It is checked first: a
JSON object the flow's mapping (or the kind's default translation) turns into a record whose fields
convert, whose required fields are there, and which passes the checks at the door (``apps.runs.door``).
Outbound items are not edited: their payload is built from the hub record by the mapping at send time,
so the fix is the mapping, the rules, or the record at its source; then replay.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from apps.canonical.fields import field_plans
from apps.canonical.models import ExternalRef
from apps.common.errors import ApplicationError, ExternalSystemError
from apps.common.objects import CanonicalInput
from apps.connectors.services import connection_kind
from apps.exceptions.errors import PayloadInvalid, ReplayRefused
from apps.exceptions.ingest import RUN_KEY
from apps.exceptions.models import ExceptionRecord, IntegrationException, PayloadEdit
from apps.exceptions.services import _locked, _save
from apps.mappings.rules import apply_rules, to_canonical_input
from apps.runs import replay
from apps.runs.door import door_check
from apps.runs.engine import flow_run_request
from apps.runs.models import FlowDirection, ItemOutcome, Run, RunItem, Trigger
from apps.tenants import access
from apps.tenants.models import Operation
from apps.tenants.operations import operation_finish, operation_progress, operation_start

MAX_PAYLOAD_BYTES = 256 * 1024


def replay_items(*, exception: IntegrationException, record_keys: list[str] | None = None) -> list[RunItem]:
    """The latest failed ledger item of each open record (or of the chosen ones). For an exception resolved by
    hand, the records it had open then: replaying them is how to check the fix."""
    records = exception.records.exclude(record_key=RUN_KEY).exclude(last_item=None)
    records = records.filter(is_open=True) if records.filter(is_open=True).exists() else records.filter(
        cleared_by="person")
    if record_keys:
        records = records.filter(record_key__in=record_keys)
    return [r.last_item for r in records.select_related("last_item__run__flow", "last_item__run__connection")]


def exception_replay_preview(*, exception: IntegrationException, record_keys: list[str] | None = None) -> list[dict]:
    """What a replay would send or store, per record, without sending anything."""
    items = replay_items(exception=exception, record_keys=record_keys)
    if not items:
        if _run_level(exception):
            return [{"flow": exception.flow.slug, "action": "run", "message": "Runs the flow again."}]
        raise ReplayRefused("Nothing to replay: no open record of this exception has a failed ledger item.")
    try:
        return replay.replay_preview(items=items)
    except ApplicationError as error:
        raise ReplayRefused(error.message) from None


@transaction.atomic
def exception_replay(*, exception: IntegrationException, acting_user, record_keys: list[str] | None = None,
                     now: datetime | None = None, operation_id: int | None = None) -> list[Run]:
    """Queue replays of the open records' items (one run per flow); the exception settles when they finish.
    With ``operation_id`` the item replays report their progress to that operation."""
    access.check(acting_user, "exception.replay")
    items = replay_items(exception=exception, record_keys=record_keys)
    if items:
        try:
            runs = replay.replay_request(items=items, acting_user=acting_user, operation_id=operation_id)
        except ApplicationError as error:
            raise ReplayRefused(error.message) from None
    elif _run_level(exception):
        runs = [flow_run_request(flow=exception.flow, trigger=Trigger.MANUAL, acting_user=acting_user)]
    else:
        raise ReplayRefused("Nothing to replay: no open record of this exception has a failed ledger item.")
    locked = _locked(exception)
    locked.last_replay_at, locked.last_replay_runs = now or timezone.now(), [r.pk for r in runs]
    what = f"{len(items)} record(s)" if items else "the flow"
    _save(locked, ["last_replay_at", "last_replay_runs"], acting_user=acting_user,
          reason=f"Replay of {what} requested: run(s) {', '.join(str(r.pk) for r in runs)}")
    return runs


def exceptions_replay_bulk(*, exceptions, acting_user) -> Operation:
    """Replay many exceptions at once, watched on one operation's page: every record replayed (done of total),
    failures, and each exception that could not be replayed (with why) as an error. All runs are queued in one
    transaction, so none finishes before the last is queued (the operation ends when all have)."""
    access.check(acting_user, "exception.replay")
    exceptions = list(exceptions)
    operation = operation_start(kind="replay", title=f"Replay {len(exceptions):,} exception(s)",
                                customer=access.current_customer(), acting_user=acting_user)
    runs, refused = [], 0
    with transaction.atomic():
        for exception in exceptions:
            try:
                runs += exception_replay(exception=exception, acting_user=acting_user, operation_id=operation.pk)
            except ApplicationError as error:
                refused += 1
                operation_progress(operation.pk, add_errors=1, error=f"{exception}: {error.message}")
        tagged = [run for run in runs if run.operation_id == operation.pk]
        operation_progress(operation.pk, total=sum(len(run.record_ids or []) for run in tagged),
                           step=f"{len(runs)} run(s) queued; {refused} exception(s) not replayed")
    if not tagged:
        operation_finish(operation.pk, error="" if runs else "Nothing to replay.",
                         step=f"{len(runs)} flow run(s) queued; {refused} exception(s) not replayed.")
    return operation


def _run_level(exception: IntegrationException) -> bool:
    return exception.flow_id is not None and exception.records.filter(record_key=RUN_KEY, is_open=True).exists()


# --- editing a payload -----------------------------------------------------------------------------
@transaction.atomic
def exception_payload_edit(*, exception: IntegrationException, record_key: str, payload, acting_user,
                           reason: str = "") -> PayloadEdit:
    """Replace the source payload a replay of this record re-maps, after checking it."""
    access.check(acting_user, "exception.edit_payload")
    record = (ExceptionRecord.objects.select_related("last_item__run__flow__mapping", "last_item__run__connection")
              .filter(exception=exception, record_key=record_key).first())
    if record is None or record.last_item is None:
        raise PayloadInvalid("This exception has no such record with a ledger item.")
    item = record.last_item
    flow = item.run.flow
    if flow is not None and flow.direction == FlowDirection.OUTBOUND:
        raise PayloadInvalid("Outbound payloads are built from the hub record by the mapping when sent: fix the "
                             "mapping or rules (or the record at its source), preview, then replay.")
    errors = payload_check(item=item, payload=payload)
    if errors:
        raise PayloadInvalid("The edited payload is not valid: " + " ".join(errors), extra={"errors": errors})
    edit = PayloadEdit.objects.create(exception=exception, record=record, run_item=item, before=item.payload_before,
                                      after=payload, edited_by=acting_user, reason=reason)
    # The ledger item is what replay re-maps; the original stays in the PayloadEdit row.
    RunItem.objects.filter(pk=item.pk).update(payload_before=payload)
    _save(_locked(exception), [], acting_user=acting_user,
          reason=f"Payload of {record_key} edited" + (f": {reason}" if reason else ""))
    return edit


def payload_check(*, item: RunItem, payload) -> list[str]:
    """Problems with an edited inbound payload, as messages naming the field; empty when it may be replayed."""
    if not isinstance(payload, dict):
        return ["The payload must be a JSON object."]
    if len(json.dumps(payload, default=str)) > MAX_PAYLOAD_BYTES:
        return [f"The payload is larger than {MAX_PAYLOAD_BYTES // 1024} KB."]
    canonical, errors = _translate(item, payload)
    if errors:
        return errors
    return _field_problems(item, canonical) or _door_problems(item, canonical)


def _door_problems(item: RunItem, canonical: CanonicalInput) -> list[str]:
    """What the door's rules would refuse (docs/data-quality.md): an edit that would fail again is said now."""
    _, refused = door_check(item.run, [canonical])
    return [refusal.message for refusal in refused if refusal.outcome == ItemOutcome.FAILED]


def _translate(item: RunItem, payload: dict) -> tuple[CanonicalInput | None, list[str]]:
    run, flow = item.run, item.run.flow
    version = flow.mapping.published_version() if flow is not None and flow.mapping_id else None
    if version is None:
        try:
            return connection_kind(run.connection).to_canonical(run.object_name, payload), []
        except ExternalSystemError as error:
            return None, [error.message]
    mapped = apply_rules(version.rules, [payload], variables=flow.variables)[0]
    if not mapped.ok:
        return None, [f"{e.target}: {e.message}" for e in mapped.errors]
    return to_canonical_input(item.object_type, mapped), []


def _field_problems(item: RunItem, canonical: CanonicalInput) -> list[str]:
    plans = field_plans(item.object_type)
    problems = [] if canonical.external_id else ["The record has no external id."]
    for name, value in canonical.fields.items():
        plan = plans.get(name)
        if plan is None:
            problems.append(f"{name}: not a field of a {item.object_type.replace('_', ' ')}.")
            continue
        try:
            plan.convert(value)
        except ValueError as error:
            problems.append(f"{name}: {error}")
    known = ExternalRef.objects.filter(connection_id=item.run.connection_id, object_type=item.object_type,
                                       external_id=canonical.external_id).exists()
    if not known and not canonical.deleted:  # a new record needs every required field; updates merge
        for plan in plans.values():
            present = canonical.refs.get(plan.name) if plan.target_type else canonical.fields.get(plan.name)
            if plan.required and present in (None, ""):
                problems.append(f"{plan.name} is required.")
    return problems
