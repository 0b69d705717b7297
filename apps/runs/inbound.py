"""Inbound leg: read a source object page by page, map into canonical shape, upsert into the hub,
record every item in the ledger, and tell outbound flows what changed."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from django.db import transaction

from apps.canonical.services import Outcome, hub_upsert
from apps.common.collector import cyclic_gc_paused
from apps.common.errors import ErrorCategory, ExternalSystemError
from apps.common.objects import CanonicalInput
from apps.connectors.kinds.base import ConnectorKind, Page
from apps.connectors.services import connection_kind
from apps.mappings.models import MappingVersion
from apps.mappings.rules import apply_rules, to_canonical_input
from apps.runs.door import door_check
from apps.runs.duplicates import duplicates_explain
from apps.runs.lease import run_count, run_heartbeat
from apps.runs.ledger import LedgerRow, canonical_payload, run_item_rows_write
from apps.runs.models import ItemOutcome, Run, RunItem, SyncCursor
from apps.tenants.tasks import cluster_stopping

CHANGED = {Outcome.CREATED, Outcome.UPDATED, Outcome.DELETED}
# What the engine hands a slice to announce changed hub records to the outbound flows (``engine.hub_changed``).
Announce = Callable[..., object]  # (*, object_type: str, canonical_ids: list[int], inline: bool = False)


def inbound_slice(run: Run, *, budget: int, announce: Announce) -> bool:
    """Read and store up to ``budget`` records; True when the source has nothing more. What changed in the hub
    is handed to ``announce`` page by page."""
    if run.replay_payloads:
        return _replay_slice(run, budget=budget, announce=announce)
    kind = connection_kind(run.connection)
    spec = kind.capabilities.spec(run.object_name)
    cursor_row, _ = SyncCursor.objects.get_or_create(connection=run.connection, object_name=run.object_name)
    if not run.cursor_start and not run.cursor_end:
        run.cursor_start = cursor_row.value if spec.incremental else ""
        Run.objects.filter(pk=run.pk).update(cursor_start=run.cursor_start)
    cursor = run.cursor_end or run.cursor_start or None
    handled = 0
    pages = iter(kind.read(run.object_name, cursor=cursor))
    for page in pages:
        before = _work_done(run)
        inbound_page_store(run, kind, page, announce=announce)
        if spec.incremental and page.next_cursor:
            SyncCursor.objects.filter(pk=cursor_row.pk).update(value=page.next_cursor)
        run.cursor_end = page.next_cursor or run.cursor_end
        if page.notes:  # what the source left for later; shown with the run's status, not as a failure
            run_heartbeat(run, error_message=" ".join(page.notes))
        else:
            run_heartbeat(run)
        # Records the hub already had do not use up the budget: a source that can only resume from
        # the start of a file (the CSV inbox) re-reads what an earlier slice stored, and must get past it.
        handled += _work_done(run) - before
        if (handled >= budget or cluster_stopping()) and page.next_cursor:  # stopping: the rest goes back
            # Asking for the next page is how a source learns the last one was stored (the CSV inbox then
            # archives a finished file). That page is not stored now: the next slice reads it again.
            return next(pages, None) is None
    return True


def _work_done(run: Run) -> int:
    return sum(n for outcome, n in run.counts.items() if outcome != ItemOutcome.UNCHANGED)


def inbound_page_store(run: Run, kind: ConnectorKind, page: Page, *, announce: Announce, inline_fanout: bool = False,
                       deleted: bool = False) -> list[int]:
    """Map and upsert one page; every record becomes a ledger item. Returns the changed canonical ids, which are
    handed to ``announce`` (the engine's ``hub_changed``) for the outbound flows.

    With ``inline_fanout`` the outbound flows run in this process once the caller's transaction commits (at once
    outside one); otherwise they are queued. ``deleted`` marks every record as deleted at the source (a webhook's
    deletion event)."""
    with cyclic_gc_paused():  # the whole page: translation, checks, upsert and ledger rows
        return _page_store(run, kind, page, announce=announce, inline_fanout=inline_fanout, deleted=deleted)


def _page_store(run: Run, kind: ConnectorKind, page: Page, *, announce: Announce, inline_fanout: bool,
                deleted: bool) -> list[int]:
    started = time.monotonic()
    items: list[LedgerRow] = [_item(run, error.reference, ItemOutcome.FAILED, payload_before=error.raw,
                                  category=error.category, field=error.field,
                                  message=f"{error.reference}: {error.message}") for error in page.errors]
    inputs, raw_by_id = _translate(run, kind, page.records, items, deleted=deleted)
    inputs = _door(run, kind, inputs, raw_by_id, items)
    changed: list[int] = []
    inputs_by_id = {i.external_id: i for i in inputs}
    with transaction.atomic():
        for results in hub_upsert(connection=run.connection, object_type=run.object_type, records=inputs):
            for result in results:
                canonical, raw = inputs_by_id.get(result.external_id), raw_by_id.get(result.external_id)
                items.append(_item(
                    run, result.external_id, result.outcome, canonical_id=result.canonical_id, payload_before=raw,
                    payload_after=canonical_payload(canonical), content_hash=result.content_hash,
                    category=result.category, field=result.field, message=_located(run, kind, raw, result),
                ))
                if result.outcome in CHANGED and result.canonical_id:
                    changed.append(result.canonical_id)
        duration = int((time.monotonic() - started) * 1000 / max(len(items), 1))
        for item in items:
            item.duration_ms = duration
            run_count(run, item.outcome)
        duplicates_explain(run, kind, items)
        run_item_rows_write(items)  # COPY: the ledger of a page costs less than its hub upsert
    if inline_fanout and changed:
        # Outbound runs settle what they wrote in transactions of their own. Inside the caller's (a webhook event's)
        # they would hold its locks, the hub stream's among them, while the target answers, and every other
        # event of the stream would wait for them: they are stored with the caller's work and start once it has
        # committed (``engine.hub_changed``).
        new_ids = [item.canonical_id for item in items if item.outcome == ItemOutcome.CREATED and item.canonical_id]
        announce(object_type=run.object_type, canonical_ids=changed, after_commit=True, new_ids=new_ids)
    elif changed:
        announce(object_type=run.object_type, canonical_ids=changed)
    return changed


def _located(run: Run, kind: ConnectorKind, raw, result) -> str:
    """A hub failure's message after where the record came from ("time.csv row 2: ..."), when the kind can say."""
    if result.outcome not in (Outcome.FAILED, Outcome.CONFLICT) or not result.message or not isinstance(raw, dict):
        return result.message
    where = kind.record_location(run.object_name, raw)
    return f"{where}: {result.message}" if where else result.message


def _door(run: Run, kind: ConnectorKind, inputs: list[CanonicalInput], raw_by_id: dict[str, dict],
          items: list[LedgerRow]) -> list[CanonicalInput]:
    """Keep out what fails the door's checks (``apps.runs.door``): each a ledger item with its canonical fields."""
    passed, refused = door_check(run, inputs)
    for refusal in refused:
        record = refusal.record
        raw = raw_by_id.get(record.external_id)
        where = kind.record_location(run.object_name, raw) if isinstance(raw, dict) else ""
        items.append(_item(run, record.external_id, refusal.outcome, payload_before=raw,
                           payload_after=canonical_payload(record), category=refusal.category, field=refusal.field,
                           message=f"{where}: {refusal.message}" if where else refusal.message))
    return passed


def _translate(run: Run, kind: ConnectorKind, records: list[dict], items: list[LedgerRow], *, deleted: bool = False):
    """Native records → canonical inputs, through the flow's mapping or the kind's default translation.

    With ``deleted`` (a deletion event) only the record's id matters: a sender may send nothing else."""
    inputs: list[CanonicalInput] = []
    raw_by_id: dict[str, dict] = {}
    for record, canonical, failure in _translations(run, kind, records):
        if deleted and (external_id := (canonical.external_id if canonical else _deleted_id(record, failure))):
            canonical = CanonicalInput(run.object_type, external_id, {}, deleted=True)
        elif canonical is None:
            items.append(failure)
            continue
        inputs.append(canonical)
        raw_by_id[canonical.external_id] = record
    return inputs, raw_by_id


def _translations(run: Run, kind: ConnectorKind, records: list[dict]):
    """(record, canonical input or None, failed ledger item or None) per record."""
    version = _mapping_version(run)
    if version is not None:
        for mapped in apply_rules(version.rules, records, variables=run.flow.variables):
            if mapped.ok:
                yield mapped.source, to_canonical_input(run.object_type, mapped), None
                continue
            message = "; ".join(f"{e.target}: {e.message}" for e in mapped.errors)
            failure = _item(run, str(mapped.value.get("external_id") or mapped.source.get("id", "")),
                            ItemOutcome.FAILED, payload_before=mapped.source, category=ErrorCategory.MAPPING,
                            field=mapped.errors[0].target, message=f"Mapping failed: {message}")
            yield mapped.source, None, failure
        return
    for record in records:
        try:
            yield record, kind.to_canonical(run.object_name, record), None
        except ExternalSystemError as error:
            yield record, None, _item(run, str(record.get("id", "")), ItemOutcome.FAILED, payload_before=record,
                                      category=error.category, message=error.message)


def _deleted_id(record: dict, failure: LedgerRow) -> str:
    """The id of a deleted record that could not be translated in full (the mapping's, else the record's)."""
    return failure.external_id or str(record.get("id") or "")


def _mapping_version(run: Run) -> MappingVersion | None:
    if run.mapping_version_id:
        return run.mapping_version
    if run.flow is not None and run.flow.mapping_id:
        return run.flow.mapping.published_version()
    return None


def _replay_slice(run: Run, *, budget: int, announce: Announce) -> bool:
    """Replay failed inbound items: map their stored source payloads again (with today's mapping)."""
    kind = connection_kind(run.connection)
    originals = list(RunItem.objects.filter(pk__in=run.record_ids or []).exclude(payload_before=None)
                     .values_list("pk", "payload_before"))
    inbound_page_store(run, kind, Page(records=[payload for _, payload in originals], next_cursor=None),
                       announce=announce)
    return True


def _item(run: Run, external_id: str, outcome: str, *, canonical_id=None, payload_before=None, payload_after=None,
          content_hash: str = "", category=None, field=None, message: str = "") -> LedgerRow:
    key = hashlib.sha256(f"{run.connection_id}:{run.object_type}:{external_id}:{content_hash}".encode()).hexdigest()
    return LedgerRow(run_id=run.pk, idempotency_key=key, object_type=run.object_type,
                     external_id=str(external_id)[:255], canonical_id=canonical_id, outcome=outcome,
                     payload_before=payload_before, payload_after=payload_after, error_category=category or "",
                     error_field=field or "", error_message=message)
