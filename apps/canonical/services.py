"""Writes into the hub: upsert records a connection read, with their cross-references, in batches.

The hot path is built for volume: one query per batch to find what is already known, unchanged
records skipped by content hash without touching their rows, new records written with COPY, and
changed ones with a bulk UPDATE. Ownership is enforced here: a non-owner's change to owned fields is
a conflict, never an overwrite.

Re-reads are the common case (a schedule reads a system again; a file is dropped twice), so a record
whose input is exactly what this connection sent last time is settled as unchanged before it is
converted or hashed: ``ExternalRef.last_input_key`` fingerprints that input (its fields, the canonical
ids its references resolve to now, the conversion rules' version) together with the stored
``last_synced_hash``. Anything that could change the outcome changes the key: other input, a reference
that now resolves elsewhere, new conversion code, or an outbound write that moved ``last_synced_hash``.
Records with a business code (customers, people, projects: few, and matched by code too) always take
the full path.

Records keyed by their content (rows of a file without ids, ``CanonicalInput.origin``) remember the file they
were first read from; the same key from another file is a duplicate row and is refused, unless the source
says a later file updates (``Origin.once`` false). References may name a record by email or name where a row
carries no code; they resolve only when exactly one record matches.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from itertools import islice
from typing import Any

from django.db import connection as db
from django.db import transaction
from django.utils import timezone

from apps.canonical.fields import RecordPlan, field_plans, record_plan
from apps.canonical.hashing import content_hash
from apps.canonical.models import FIELD_GROUPS, OBJECT_MODELS, ExternalRef, Ownership
from apps.common.collector import cyclic_gc_paused
from apps.common.errors import ErrorCategory
from apps.common.history import save_attributed
from apps.common.models import keys_reserve
from apps.common.objects import CanonicalInput
from apps.connectors.models import Connection
from apps.tenants import access


class Outcome:
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    CONFLICT = "conflict"
    FAILED = "failed"


@dataclass(slots=True)  # one per incoming record: slots make them smaller and cheaper to create
class HubResult:
    """What happened to one incoming record."""

    external_id: str
    outcome: str
    canonical_id: int | None = None
    message: str = ""
    field: str | None = None
    category: str | None = None
    content_hash: str = ""


@dataclass
class HubSummary:
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    problems: list[HubResult] = field(default_factory=list)

    def add(self, results: list[HubResult], keep_problems: int = 1000) -> None:
        for result in results:
            self.counts[result.outcome] += 1
            if result.outcome in (Outcome.FAILED, Outcome.CONFLICT) and len(self.problems) < keep_problems:
                self.problems.append(result)


@dataclass(slots=True)
class _Prepared:
    record: CanonicalInput
    values: dict[str, Any]  # by attname, converted
    hash: str = ""
    canonical_id: int | None = None
    stored_hash: str | None = None
    input_text: str | None = None  # what last_input_key fingerprints; None: never keyed (see _input_text)
    stored_key: str = ""


@dataclass(slots=True)
class _Known:
    canonical_id: int
    stored_hash: str
    stored_key: str
    origin_file: str = ""
    origin_row: int | None = None


AMBIGUOUS = 0  # a reference by email or name that more than one record answers (ids start at 1)


def hub_upsert(
    *, connection: Connection, object_type: str, records: Iterable[CanonicalInput], batch_size: int = 2000
) -> Iterator[list[HubResult]]:
    """Upsert ``records`` read from ``connection``; yields the results batch by batch.

    Each batch is its own transaction, so a long load makes steady progress and a failure loses at
    most one batch (which a re-run then repeats harmlessly: unchanged content is skipped).
    """
    iterator = iter(records)
    while batch := list(islice(iterator, batch_size)):
        with transaction.atomic():
            _lock_stream(connection, object_type)
            yield _upsert_batch(connection, object_type, batch)


def hub_upsert_all(**kwargs) -> HubSummary:
    summary = HubSummary()
    for results in hub_upsert(**kwargs):
        summary.add(results)
    return summary


def _lock_stream(connection: Connection, object_type: str) -> None:
    # Two workers loading the same connection and object would race on the cross-reference.
    with db.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)",
                       [connection.pk, zlib.crc32(object_type.encode()) & 0x7FFFFFFF])


def _upsert_batch(connection: Connection, object_type: str, batch: list[CanonicalInput]) -> list[HubResult]:
    with cyclic_gc_paused():  # a batch alone, when not inside a load's page that pauses it already
        return _upsert_batch_now(connection, object_type, batch)


def _upsert_batch_now(connection: Connection, object_type: str, batch: list[CanonicalInput]) -> list[HubResult]:
    plans = field_plans(object_type)
    plan = record_plan(object_type)
    model = OBJECT_MODELS[object_type]
    owners = _owners(object_type)
    results: dict[int, HubResult] = {}
    deletions = {index: record for index, record in enumerate(batch) if record.deleted}
    live = {index: record for index, record in enumerate(batch) if not record.deleted}
    known = _known_refs(connection, object_type, [record.external_id for record in live.values()])
    _refuse_repeats(live, known, results)
    resolved = _resolve_ref_ids(connection, plan, live.values())
    texts = _settle_unchanged_inputs(object_type, plan, live, known, resolved, results)
    prepared: dict[int, _Prepared] = {}
    for index, record in live.items():
        if index in results:
            continue
        try:
            prepared[index] = _Prepared(record, _convert(plan, record), input_text=texts.get(index))
        except _RecordProblem as problem:
            results[index] = problem.result(record)
    _refuse_duplicates(prepared, results)
    _apply_all_refs(connection, plan, prepared, resolved, results)
    _attach_known(object_type, prepared, known)
    hashed = model.HASHED_FIELDS
    creates, updates, settled = [], [], []
    for index, item in prepared.items():
        if item.canonical_id is None:
            blocked = _blocked_creation(owners, connection, object_type, item)
            results[index] = blocked or HubResult(item.record.external_id, Outcome.CREATED)
            if not blocked:
                creates.append((index, item))  # hashed while it is written (_insert)
            continue
        item.hash = content_hash(hashed, item.values)
        if item.hash == item.stored_hash:
            results[index] = HubResult(item.record.external_id, Outcome.UNCHANGED, item.canonical_id,
                                       content_hash=item.hash)
            settled.append(item)
        else:
            updates.append((index, item))
    current = _current_rows(model, [item for _, item in updates])
    for _, item in updates:
        _keep_only_provided(plan, item)  # a record that leaves a field out must not blank it
    conflicts = _ownership_conflicts(owners, connection, object_type, current, [item for _, item in updates])
    results.update({index: conflicts[id(item)] for index, item in updates if id(item) in conflicts})
    updates = [(index, item) for index, item in updates if id(item) not in conflicts]
    updates = _merge_or_settle(model, current, updates, results, settled)
    _insert(connection, object_type, model, plans, creates, results)
    _update(connection, object_type, model, updates, results)
    _key_settled(connection, object_type, settled)
    results.update(_delete(connection, object_type, model, owners, deletions))
    return [results[i] for i in range(len(batch))]


# --- unchanged input, settled before conversion ------------------------------------------------------
# Bump when conversion (fields.py) or hashing changes what the same input is stored as: every key changes.
INPUT_KEY_VERSION = "1"


def _known_refs(connection, object_type: str, external_ids: list[str]) -> dict[str, _Known]:
    with db.cursor() as cursor:  # = ANY(array): one parameter, not thousands for Django and psycopg to bind
        cursor.execute("SELECT external_id, canonical_id, last_synced_hash, last_input_key, origin_file, origin_row "
                       "FROM canonical_externalref WHERE connection_id = %s AND object_type = %s "
                       "AND external_id = ANY(%s)", [connection.pk, object_type, external_ids])
        return {external_id: _Known(*rest) for external_id, *rest in cursor.fetchall()}


def _refuse_repeats(live: dict[int, CanonicalInput], known: dict[str, _Known], results: dict[int, HubResult]) -> None:
    """A row keyed by its content whose key was first read from another file is a duplicate of that row: refused
    (it names the first; the caller shows both). The same file read again (a resumed or re-sent read) is not."""
    for index, record in list(live.items()):
        origin = record.origin
        found = known.get(record.external_id) if origin is not None and origin.once else None
        if found is None or not found.origin_file or found.origin_file == origin.file:
            continue
        results[index] = HubResult(
            record.external_id, Outcome.FAILED, category=ErrorCategory.DUPLICATE, field="external_id",
            message=f"Duplicate: the same row was loaded before from {found.origin_file} row {found.origin_row}; only "
                    "that one was stored.")
        del live[index]


def _settle_unchanged_inputs(object_type, plan: RecordPlan, live: dict[int, CanonicalInput], known, resolved,
                             results: dict[int, HubResult]) -> dict[int, str]:
    """Settle records whose input key matches as unchanged; returns the input text of every other keyable one."""
    if "code" in plan.converters:
        return {}
    salt = _key_salt(object_type)
    seen = Counter(record.external_id for record in live.values())
    texts = {}
    for index, record in live.items():
        text = _input_text(plan, record, resolved) if seen[record.external_id] == 1 else None
        if text is None:
            continue
        found = known.get(record.external_id)
        if found is not None and found.stored_key and found.stored_key == _input_key(salt, found.stored_hash, text):
            results[index] = HubResult(record.external_id, Outcome.UNCHANGED, found.canonical_id,
                                       content_hash=found.stored_hash)
        else:
            texts[index] = text
    return texts


def _input_text(plan: RecordPlan, record: CanonicalInput, resolved) -> str | None:
    """The record's fields as given and the canonical ids its references resolve to; None when a reference
    does not resolve or is unknown (the full path reports those)."""
    if not record.refs.keys() <= plan.relation_names:
        return None
    ids = []
    for name, _, target_type, _ in plan.relations:
        ref = record.refs.get(name)
        if ref is None:
            ids.append(None)
            continue
        canonical_id = resolved.get((target_type, ref.by, ref.value))
        if not canonical_id:  # unknown, or AMBIGUOUS
            return None
        ids.append(canonical_id)
    return f"{record.fields!r}|{ids!r}"


@cache
def _key_salt(object_type: str) -> str:
    return f"{INPUT_KEY_VERSION}|{object_type}|{OBJECT_MODELS[object_type].HASHED_FIELDS!r}|"


def _input_key(salt: str, synced_hash: str, text: str) -> str:
    return hashlib.sha256(f"{salt}{synced_hash}|{text}".encode()).hexdigest()


def _item_key(object_type: str, item: _Prepared) -> str:
    """The key to store with ``item.hash`` as the new ``last_synced_hash`` ('' when the input is not keyable)."""
    return _input_key(_key_salt(object_type), item.hash, item.input_text) if item.input_text is not None else ""


def _key_settled(connection, object_type: str, settled: list[_Prepared]) -> None:
    """Unchanged records read the full way (their key was missing or stale): key them for next time."""
    rows = [(item.record.external_id, key) for item in settled
            if (key := _input_key(_key_salt(object_type), item.stored_hash, item.input_text)
                if item.input_text is not None else "") != item.stored_key]
    if not rows:
        return
    with db.cursor() as cursor:
        cursor.execute(
            "UPDATE canonical_externalref AS r SET last_input_key = v.key "
            "FROM unnest(%s::text[], %s::text[]) AS v(external_id, key) "
            "WHERE r.connection_id = %s AND r.object_type = %s AND r.external_id = v.external_id",
            [[external_id for external_id, _ in rows], [key for _, key in rows], connection.pk, object_type])


def _refuse_duplicates(prepared: dict[int, _Prepared], results: dict[int, HubResult]) -> None:
    """Two records in one batch with the same external id or business code: the first lands, the
    others fail visibly (storing both would break the cross-reference, and silently merging loses one)."""
    by_id: dict[str, str] = {}
    by_code: dict[str, str] = {}  # both map to the external id of the record seen first
    for index, item in list(prepared.items()):
        external_id = item.record.external_id
        code = str(item.values["code"]) if item.values.get("code") else None
        if external_id in by_id:
            clash, value, first = "external id", external_id, by_id[external_id]
        elif code is not None and code in by_code:
            clash, value, first = "code", code, by_code[code]
        else:
            by_id[external_id] = external_id
            if code is not None:
                by_code[code] = external_id
            continue
        results[index] = HubResult(external_id, Outcome.FAILED, category=ErrorCategory.DUPLICATE,
                                   field="code" if clash == "code" else None,
                                   message=f"Duplicate: {clash} {value} appears twice in one read "
                                           f"(first as {first}); only the first was stored.")
        del prepared[index]


class _RecordProblem(Exception):
    def __init__(self, message: str, *, field: str | None, category: str):
        super().__init__(message)
        self.message, self.field, self.category = message, field, category

    def result(self, record: CanonicalInput) -> HubResult:
        return HubResult(record.external_id, Outcome.FAILED, message=self.message, field=self.field,
                         category=self.category)


_MISSING = object()


def _convert(plan: RecordPlan, record: CanonicalInput) -> dict[str, Any]:
    """Typed values by attname. Per record this touches only the fields it brings, plus the required ones."""
    if not record.external_id:
        raise _RecordProblem("The record has no external id.", field=None, category=ErrorCategory.VALIDATION)
    values = plan.defaults.copy()
    converters = plan.converters
    for name, raw in record.fields.items():
        found = converters.get(name)
        if found is None:
            raise _RecordProblem(f"Unknown field {name!r} for a {record.object_type}.", field=name,
                                 category=ErrorCategory.MAPPING)
        try:
            values[found[0]] = found[1](raw)
        except ValueError as error:
            raise _RecordProblem(f"{name}: {error}", field=name, category=ErrorCategory.VALIDATION) from None
    for name, attname in plan.required:
        if attname not in values:
            raise _RecordProblem(f"{name} is required but missing.", field=name, category=ErrorCategory.VALIDATION)
    for name, attname in plan.required:
        if values[attname] is None or values[attname] == "":
            raise _RecordProblem(f"{name} is required but empty.", field=name, category=ErrorCategory.VALIDATION)
    return values


def _resolve_ref_ids(connection, plan: RecordPlan, records: Iterable[CanonicalInput]) -> dict[tuple, int]:
    """Canonical ids for every ``Ref`` in the batch, with one query per (object type, kind of key)."""
    targets = {name: target for name, _, target, _ in plan.relations}
    wanted: dict[tuple[str, str], set[str]] = defaultdict(set)
    for record in records:
        for name, ref in record.refs.items():
            target = targets.get(name)
            if target is not None and ref is not None:
                wanted[(target, ref.by)].add(ref.value)
    found: dict[tuple[str, str, str], int] = {}
    with db.cursor() as cursor:
        for (target_type, by), keys in wanted.items():
            if by in ("email", "name"):
                found.update(_resolve_by_label(cursor, target_type, by, keys))
                continue
            if by == "external":
                cursor.execute("SELECT external_id, canonical_id FROM canonical_externalref WHERE connection_id = %s "
                               "AND object_type = %s AND external_id = ANY(%s)",
                               [connection.pk, target_type, list(keys)])
            else:
                cursor.execute(f"SELECT code, id FROM {OBJECT_MODELS[target_type]._meta.db_table} "
                               f"WHERE code = ANY(%s)", [list(keys)])
            found.update({(target_type, by, key): pk for key, pk in cursor.fetchall()})
    return found


def _resolve_by_label(cursor, target_type: str, by: str, keys: set[str]) -> dict[tuple[str, str, str], int]:
    """Records named by email or name (case and spacing aside): the one id, or AMBIGUOUS when several match."""
    model = OBJECT_MODELS[target_type]
    if by not in {f.attname for f in model._meta.concrete_fields}:
        return {}
    by_lower: dict[str, list[str]] = defaultdict(list)
    for key in keys:
        by_lower[" ".join(key.split()).lower()].append(key)
    cursor.execute(f"SELECT lower({by}), min(id), count(*) FROM {model._meta.db_table} "
                   f"WHERE lower({by}) = ANY(%s) AND deleted_at IS NULL GROUP BY lower({by})", [list(by_lower)])
    found = {}
    for label, pk, count in cursor.fetchall():
        for key in by_lower[label]:
            found[(target_type, by, key)] = pk if count == 1 else AMBIGUOUS
    return found


def _apply_all_refs(connection, plan: RecordPlan, prepared: dict[int, _Prepared], found: dict[tuple, int],
                    results: dict[int, HubResult]) -> None:
    targets = {name: target for name, _, target, _ in plan.relations}
    for index, item in list(prepared.items()):
        try:
            _apply_refs(plan, targets, item, found, connection)
        except _RecordProblem as problem:
            results[index] = problem.result(item.record)
            del prepared[index]


def _apply_refs(plan: RecordPlan, targets: dict[str, str], item: _Prepared, found, connection) -> None:
    refs, values = item.record.refs, item.values
    if not refs.keys() <= targets.keys():
        name = next(name for name in refs if name not in targets)
        raise _RecordProblem(f"Unknown reference {name!r} for a {item.record.object_type}.", field=name,
                             category=ErrorCategory.MAPPING)
    for name, attname, target_type, required in plan.relations:
        ref = refs.get(name)
        if ref is None:
            if required:
                raise _RecordProblem(f"{name} is required but missing.", field=name,
                                     category=ErrorCategory.MISSING_REFERENCE)
            values[attname] = None
            continue
        canonical_id = found.get((target_type, ref.by, ref.value))
        if canonical_id == AMBIGUOUS:
            raise _RecordProblem(f"{name}: more than one {target_type.replace('_', ' ')} has the {ref.by} "
                                 f"{ref.value}; name it by its code.", field=name, category=ErrorCategory.VALIDATION)
        if canonical_id is None:
            where = {"external": f"with {connection.name} id {ref.value}", "name": f"named {ref.value}"}.get(
                ref.by, f"with {ref.by} {ref.value}")
            raise _RecordProblem(f"{name}: no {target_type.replace('_', ' ')} {where} is known yet.",
                                 field=name, category=ErrorCategory.MISSING_REFERENCE)
        values[attname] = canonical_id


def _attach_known(object_type: str, prepared: dict[int, _Prepared], known: dict[str, _Known]) -> None:
    """Find which incoming records the hub already knows: by cross-reference, else by business code."""
    for item in prepared.values():
        found = known.get(item.record.external_id)
        if found is not None:
            item.canonical_id, item.stored_hash = found.canonical_id, found.stored_hash
            item.stored_key = found.stored_key
    model = OBJECT_MODELS[object_type]
    if not hasattr(model, "code"):
        return
    unlinked = {item.values.get("code"): item for item in prepared.values()
                if item.canonical_id is None and item.values.get("code")}
    if unlinked:
        for code, pk in model.objects.filter(code__in=list(unlinked)).values_list("code", "pk"):
            unlinked[code].canonical_id, unlinked[code].stored_hash = pk, None  # known by code: link on write


def _owners(object_type: str) -> dict[str, int]:
    return dict(Ownership.objects.filter(object_type=object_type).values_list("field_group", "connection_id"))


def _blocked_creation(owners: dict[str, int], connection, object_type: str, item: _Prepared) -> HubResult | None:
    owner = owners.get("")
    if owner is None or owner == connection.pk:
        return None
    return _conflict_result(item, f"{_plural(object_type)} are owned by {_connection_name(owner)}; "
                                  f"{connection.name} may not create them.")


def _current_rows(model, items: list[_Prepared]) -> dict[int, dict]:
    if not items:
        return {}
    attnames = [f.attname for f in model._meta.concrete_fields]
    return {row["id"]: row for row in model.objects.filter(pk__in=[i.canonical_id for i in items]).values(*attnames)}


def _keep_only_provided(plan: RecordPlan, item: _Prepared) -> None:
    provided = {plan.converters[name][0] for name in item.record.fields}
    provided |= {attname for name, attname, _, _ in plan.relations if name in item.record.refs}
    item.values = {attname: value for attname, value in item.values.items() if attname in provided}


def _merge_or_settle(model, current: dict[int, dict], updates: list[tuple[int, _Prepared]], results,
                     settled: list[_Prepared]) -> list:
    """Lay each update's fields over the stored record; if nothing differs, it is unchanged (an echo of
    our own write, or a system that sends fewer fields than the hub keeps)."""
    changed = []
    for index, item in updates:
        row = current[item.canonical_id]
        merged = {**{a: v for a, v in row.items() if a not in _SYSTEM_ATTNAMES}, **item.values}
        item.hash = content_hash(model.HASHED_FIELDS, merged)
        if item.hash == row["content_hash"] and item.stored_hash is not None:
            results[index] = HubResult(item.record.external_id, Outcome.UNCHANGED, item.canonical_id,
                                       content_hash=item.hash)
            settled.append(item)  # the cross-reference keeps its hash; the key is made with that one
            continue
        item.values = merged
        changed.append((index, item))
    return changed


_SYSTEM_ATTNAMES = {"id", "created_at", "updated_at", "content_hash", "source_connection_id"}


def _ownership_conflicts(owners, connection, object_type, current: dict[int, dict],
                         updates: list[_Prepared]) -> dict[int, HubResult]:
    """Updates that would change fields another connection owns, keyed by ``id(item)``."""
    foreign = {group: owner for group, owner in owners.items() if owner != connection.pk}
    if not foreign or not updates:
        return {}
    conflicts = {}
    for item in updates:
        changed = {name for name, value in item.values.items() if current[item.canonical_id].get(name) != value}
        owned = _owned_fields(foreign, object_type, changed)
        if owned:
            owner = foreign.get("") or next(iter(foreign.values()))
            conflicts[id(item)] = _conflict_result(
                item, f"{', '.join(sorted(owned))} of this {object_type.replace('_', ' ')} belong to "
                      f"{_connection_name(owner)}; {connection.name}'s change was not applied.",
            )
    return conflicts


def _owned_fields(foreign: dict[str, int], object_type: str, changed: set[str]) -> set[str]:
    if "" in foreign:
        return {name.removesuffix("_id") for name in changed}
    groups = FIELD_GROUPS.get(object_type, {})
    owned_names = {name for group in foreign for name in groups.get(group, ())}
    return {name.removesuffix("_id") for name in changed if name.removesuffix("_id") in owned_names}


def _conflict_result(item: _Prepared | None, message: str) -> HubResult:
    return HubResult(item.record.external_id if item else "", Outcome.CONFLICT,
                     item.canonical_id if item else None, message=message, category=ErrorCategory.CONFLICT)


def _connection_name(connection_id: int) -> str:
    return Connection.objects.filter(pk=connection_id).values_list("name", flat=True).first() or "another system"


def _delete(connection, object_type, model, owners, deletions: dict[int, CanonicalInput]) -> dict[int, HubResult]:
    """Mark records deleted or voided at the source; a reversal is an event, so rows are kept."""
    if not deletions:
        return {}
    refs = dict(ExternalRef.objects.filter(
        connection=connection, object_type=object_type, external_id__in=[r.external_id for r in deletions.values()]
    ).values_list("external_id", "canonical_id"))
    owner = owners.get("")
    results = {}
    to_delete = []
    for index, record in deletions.items():
        canonical_id = refs.get(record.external_id)
        if canonical_id is None:
            results[index] = HubResult(record.external_id, Outcome.UNCHANGED, message="Deleted before Weft saw it.")
        elif owner is not None and owner != connection.pk:
            message = (f"{_plural(object_type)} are owned by {_connection_name(owner)}; "
                       f"{connection.name} may not delete them.")
            results[index] = HubResult(record.external_id, Outcome.CONFLICT, canonical_id, message=message,
                                       category=ErrorCategory.CONFLICT)
        else:
            to_delete.append((index, record, canonical_id))
    now = timezone.now()
    newly = set(model.objects.filter(pk__in=[c for _, _, c in to_delete], deleted_at__isnull=True)
                .values_list("pk", flat=True))
    model.objects.filter(pk__in=newly).update(deleted_at=now, updated_at=now)
    for index, record, canonical_id in to_delete:
        outcome = Outcome.DELETED if canonical_id in newly else Outcome.UNCHANGED
        results[index] = HubResult(record.external_id, outcome, canonical_id)
    return results


def _plural(object_type: str) -> str:
    return object_type.replace("_", " ").capitalize() + "s"


def _insert(connection, object_type, model, plans, creates: list[tuple[int, _Prepared]], results) -> None:
    if not creates:
        return
    now = timezone.now()
    table = model._meta.db_table
    hashed = model.HASHED_FIELDS
    ids = keys_reserve(model, len(creates))
    with db.cursor() as cursor:
        attnames = [p.attname for p in plans.values()]
        columns = ["id", *[p.column for p in plans.values()], "created_at", "updated_at", "content_hash",
                   "source_connection_id"]
        json_at = [position + 1 for position, p in enumerate(plans.values()) if p.name == "extra"]
        # Rows are hashed as they are written: the server indexes the rows already sent meanwhile.
        with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for new_id, (index, item) in zip(ids, creates, strict=True):
                values = item.values
                item.hash = content_hash(hashed, values)
                row = [new_id, *map(values.__getitem__, attnames), now, now, item.hash, connection.pk]
                for position in json_at:
                    row[position] = _json_text(row[position])
                copy.write_row(row)
                item.canonical_id = new_id
                result = results[index]
                result.canonical_id, result.content_hash = new_id, item.hash
        _link(cursor, connection, object_type, [item for _, item in creates], now)


def _link(cursor, connection, object_type: str, items: list[_Prepared], now) -> None:
    """Create cross-references for records new to this connection."""
    with cursor.cursor.copy(
        "COPY canonical_externalref (object_type, canonical_id, connection_id, external_id, last_synced_hash, "
        "last_synced_at, last_input_key, origin_file, origin_row) FROM STDIN"
    ) as copy:
        for item in items:
            origin = item.record.origin
            copy.write_row([object_type, item.canonical_id, connection.pk, item.record.external_id, item.hash, now,
                            _item_key(object_type, item), origin.file if origin else "",
                            origin.row if origin else None])


def _update(connection, object_type, model, updates: list[tuple[int, _Prepared]], results) -> None:
    if not updates:
        return
    now = timezone.now()
    rows = []
    for index, item in updates:
        obj = model(pk=item.canonical_id, **item.values)
        obj.updated_at, obj.content_hash, obj.source_connection_id = now, item.hash, connection.pk
        rows.append(obj)
        results[index] = HubResult(item.record.external_id, Outcome.UPDATED, item.canonical_id, content_hash=item.hash)
    names = {f.attname: f.name for f in model._meta.concrete_fields}
    fields = {names[a] for _, item in updates for a in item.values} | {"updated_at", "content_hash",
                                                                         "source_connection"}
    model.objects.bulk_update(rows, sorted(fields))
    unlinked = [item for _, item in updates if item.stored_hash is None]
    known = [item for _, item in updates if item.stored_hash is not None]
    with db.cursor() as cursor:
        if unlinked:
            _link(cursor, connection, object_type, unlinked, now)
        if known:
            cursor.execute(
                "UPDATE canonical_externalref AS r SET last_synced_hash = v.hash, last_synced_at = %s, "
                "last_input_key = v.key FROM unnest(%s::text[], %s::text[], %s::text[]) AS v(external_id, hash, key) "
                "WHERE r.connection_id = %s AND r.object_type = %s AND r.external_id = v.external_id",
                [now, [i.record.external_id for i in known], [i.hash for i in known],
                 [_item_key(object_type, i) for i in known], connection.pk, object_type],
            )


def _json_text(value: Any) -> str:
    return json.dumps(value) if value else "{}"


def ownership_set(*, object_type: str, connection: Connection, field_group: str = "", acting_user) -> Ownership:
    """Make ``connection`` the system of record for ``object_type`` (or one of its field groups)."""

    access.check(acting_user, "configuration.change")

    ownership = Ownership.objects.filter(object_type=object_type, field_group=field_group).first() or Ownership(
        object_type=object_type, field_group=field_group)
    ownership.connection = connection
    return save_attributed(ownership, acting_user=acting_user, reason="System of record set")


