"""Writes into the hub: upsert records a connection read, with their cross-references, in batches.

The hot path is built for volume: one query per batch to find what is already known, unchanged
records skipped by content hash without touching their rows, new records written with COPY, and
changed ones with a bulk UPDATE. Ownership is enforced here: a non-owner's change to owned fields is
a conflict, never an overwrite.
"""

from __future__ import annotations

import json
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from django.db import connection as db
from django.db import transaction
from django.utils import timezone

from apps.canonical.fields import RecordPlan, field_plans, record_plan
from apps.canonical.hashing import content_hash
from apps.canonical.models import FIELD_GROUPS, OBJECT_MODELS, ExternalRef, Ownership
from apps.common.errors import ErrorCategory
from apps.common.objects import CanonicalInput
from apps.connectors.models import Connection


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
    plans = field_plans(object_type)
    plan = record_plan(object_type)
    model = OBJECT_MODELS[object_type]
    owners = _owners(object_type)
    results: dict[int, HubResult] = {}
    prepared: dict[int, _Prepared] = {}
    deletions: dict[int, CanonicalInput] = {}
    for index, record in enumerate(batch):
        if record.deleted:
            deletions[index] = record
            continue
        try:
            prepared[index] = _Prepared(record, _convert(plan, record))
        except _RecordProblem as problem:
            results[index] = problem.result(record)
    _refuse_duplicates(prepared, results)
    _resolve_refs(connection, plan, prepared, results)
    hashed = model.HASHED_FIELDS
    for item in prepared.values():
        item.hash = content_hash(hashed, item.values)
    _attach_known(connection, object_type, prepared)
    creates, updates = [], []
    for index, item in prepared.items():
        if item.canonical_id is None:
            blocked = _blocked_creation(owners, connection, object_type, item)
            results[index] = blocked or HubResult(item.record.external_id, Outcome.CREATED, content_hash=item.hash)
            if not blocked:
                creates.append((index, item))
        elif item.hash == item.stored_hash:
            results[index] = HubResult(item.record.external_id, Outcome.UNCHANGED, item.canonical_id,
                                       content_hash=item.hash)
        else:
            updates.append((index, item))
    current = _current_rows(model, [item for _, item in updates])
    for _, item in updates:
        _keep_only_provided(plan, item)  # a record that leaves a field out must not blank it
    conflicts = _ownership_conflicts(owners, connection, object_type, current, [item for _, item in updates])
    results.update({index: conflicts[id(item)] for index, item in updates if id(item) in conflicts})
    updates = [(index, item) for index, item in updates if id(item) not in conflicts]
    updates = _merge_or_settle(model, current, updates, results)
    _insert(connection, object_type, model, plans, creates, results)
    _update(connection, object_type, model, updates, results)
    results.update(_delete(connection, object_type, model, owners, deletions))
    return [results[i] for i in range(len(batch))]


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


def _resolve_refs(connection, plan: RecordPlan, prepared: dict[int, _Prepared],
                  results: dict[int, HubResult]) -> None:
    """Turn every ``Ref`` in the batch into a canonical id with one query per (object type, kind of key)."""
    targets = {name: target for name, _, target, _ in plan.relations}
    wanted: dict[tuple[str, str], set[str]] = defaultdict(set)
    for item in prepared.values():
        for name, ref in item.record.refs.items():
            target = targets.get(name)
            if target is not None and ref is not None:
                wanted[(target, ref.by)].add(ref.value)
    found: dict[tuple[str, str, str], int] = {}
    with db.cursor() as cursor:
        for (target_type, by), keys in wanted.items():
            if by == "external":
                cursor.execute("SELECT external_id, canonical_id FROM canonical_externalref WHERE connection_id = %s "
                               "AND object_type = %s AND external_id = ANY(%s)",
                               [connection.pk, target_type, list(keys)])
            else:
                cursor.execute(f"SELECT code, id FROM {OBJECT_MODELS[target_type]._meta.db_table} "
                               f"WHERE code = ANY(%s)", [list(keys)])
            found.update({(target_type, by, key): pk for key, pk in cursor.fetchall()})
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
        if canonical_id is None:
            where = f"{connection.name} id {ref.value}" if ref.by == "external" else f"code {ref.value}"
            raise _RecordProblem(f"{name}: no {target_type.replace('_', ' ')} with {where} is known yet.",
                                 field=name, category=ErrorCategory.MISSING_REFERENCE)
        values[attname] = canonical_id


def _attach_known(connection, object_type: str, prepared: dict[int, _Prepared]) -> None:
    """Find which incoming records the hub already knows: by cross-reference, else by business code."""
    by_external = {item.record.external_id: item for item in prepared.values()}
    with db.cursor() as cursor:  # = ANY(array): one parameter, not thousands for Django and psycopg to bind
        cursor.execute("SELECT external_id, canonical_id, last_synced_hash FROM canonical_externalref "
                       "WHERE connection_id = %s AND object_type = %s AND external_id = ANY(%s)",
                       [connection.pk, object_type, list(by_external)])
        for external_id, canonical_id, stored_hash in cursor.fetchall():
            item = by_external[external_id]
            item.canonical_id, item.stored_hash = canonical_id, stored_hash
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


def _merge_or_settle(model, current: dict[int, dict], updates: list[tuple[int, _Prepared]], results) -> list:
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
    with db.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                       [table, len(creates)])
        ids = [row[0] for row in cursor.fetchall()]
        attnames = [p.attname for p in plans.values()]
        columns = ["id", *[p.column for p in plans.values()], "created_at", "updated_at", "content_hash",
                   "source_connection_id"]
        json_at = [position for position, p in enumerate(plans.values()) if p.name == "extra"]
        with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for new_id, (index, item) in zip(ids, creates, strict=True):
                row = [new_id, *map(item.values.__getitem__, attnames), now, now, item.hash, connection.pk]
                for position in json_at:
                    row[position + 1] = _json_text(row[position + 1])
                copy.write_row(row)
                item.canonical_id = new_id
                results[index].canonical_id = new_id
        _link(cursor, connection, object_type, [item for _, item in creates], now)


def _link(cursor, connection, object_type: str, items: list[_Prepared], now) -> None:
    """Create cross-references for records new to this connection; re-point hashes for known ones."""
    with cursor.cursor.copy(
        "COPY canonical_externalref (object_type, canonical_id, connection_id, external_id, last_synced_hash, "
        "last_synced_at) FROM STDIN"
    ) as copy:
        for item in items:
            copy.write_row([object_type, item.canonical_id, connection.pk, item.record.external_id, item.hash, now])


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
                "UPDATE canonical_externalref AS r SET last_synced_hash = v.hash, last_synced_at = %s "
                "FROM unnest(%s::text[], %s::text[]) AS v(external_id, hash) "
                "WHERE r.connection_id = %s AND r.object_type = %s AND r.external_id = v.external_id",
                [now, [i.record.external_id for i in known], [i.hash for i in known], connection.pk, object_type],
            )


def _json_text(value: Any) -> str:
    return json.dumps(value) if value else "{}"


def ownership_set(*, object_type: str, connection: Connection, field_group: str = "", acting_user=None) -> Ownership:
    """Make ``connection`` the system of record for ``object_type`` (or one of its field groups)."""
    from apps.common.history import save_attributed

    ownership = Ownership.objects.filter(object_type=object_type, field_group=field_group).first() or Ownership(
        object_type=object_type, field_group=field_group)
    ownership.connection = connection
    return save_attributed(ownership, acting_user=acting_user, reason="System of record set")


