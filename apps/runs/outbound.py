"""Outbound leg: hub records → rules → mapping → the target system, exactly once in effect.

Each record is written under a stable reference (``weft-<schema>-<type>-<id>``) and an idempotency
key that changes with its content. Before a create is sent, a ``WriteAttempt`` row says so durably; the
transaction that records the outcome removes it. One left behind (a worker killed after the write but
before the ledger entry, or during the write) makes whoever sends the record next ask the target for the
reference first, and keep asking until the target's write window has passed since that attempt, so
resuming (or taking over a run) never makes a duplicate; a record with no attempt left behind is
created without asking. Creates that stand together go to a target that takes many in one call
(``kind.write_many``), each with its own outcome in the ledger. The cross-reference keeps the hash of what was
sent: unchanged content is not sent again, and our own write read back is recognised as an echo.

What the target answered is settled in one transaction for the records written since the last
settlement (a batch, or at least every ``SETTLE_SECONDS``): their cross-references, ledger items and
the run's progress (counts, cursor, heartbeat). A worker killed at any point therefore leaves either
all of them or none; in the second case the resumed run finds each record by its reference and
records it then, so every record the target holds is in the ledger exactly once. Settling a batch
at a time, not a record at a time, is what lets a fast target (an export file) take thousands of
records a second: one commit, one COPY of ledger items and one heartbeat instead of one each per record.
A kind may hold its writes back until the batch ends (``kind.batch()``: the export file writes its lines
with one fsync); they are durable before they are recorded.

A write-back flow (``Flow.write_back``) is the one outbound flow that writes to the system its records came from:
it only updates the record each came from, once the after-flow's target holds it, and the ledger's last payload
for the record keeps it from writing the same values twice (docs/write-back.md).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from django.db import connection as db
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Least, Now
from django.utils import timezone
from django.utils.dateparse import parse_datetime

import apps.common.lookups  # noqa: F401  (registers __any)
from apps.canonical.models import OBJECT_MODELS, ExternalRef, InvoiceLine
from apps.canonical.selectors import canonical_views
from apps.common.errors import ErrorCategory, ExternalSystemError
from apps.common.locks import advisory_lock
from apps.connectors.kinds.base import ConnectorKind, WriteRequest
from apps.connectors.services import connection_kind
from apps.mappings.rules import apply_rules, evaluated_subset, expressions_start, to_payload
from apps.mappings.validation import OUTBOUND_BASELINE, RuleSpec, Verdict, rule_set_specs, validate, with_defaults
from apps.runs.lease import circuit_record_failure, circuit_record_success, run_count, run_heartbeat
from apps.runs.ledger import LedgerRow, run_item_rows_write
from apps.runs.models import Flow, FlowDirection, ItemOutcome, Run, RunItem, RunStatus, WriteAttempt
from apps.runs.prepare import run_prepare
from apps.runs.selectors import pending_records, target_id_lookup
from apps.tenants.tasks import cluster_stopping

ITEM_ATTEMPTS = 3
# A slow target's writes are recorded (and the run's lease renewed) at least this often, not only per batch.
SETTLE_SECONDS = 1.0


@dataclass
class Plan:
    """What the engine will do with one record (also what a replay preview shows)."""

    canonical_id: int
    action: str  # write, reverse, unchanged, skip, fail
    view: dict
    payload: dict | None = None
    external_id: str | None = None
    message: str = ""
    category: str = ""
    field: str = ""  # the target field a mapping failure is about
    new: bool = False  # created in the hub by this task: nothing to look up before creating it (``new_records``)
    doubt_since: datetime | None = None  # an earlier create of this record may have reached the target (see below)
    key: str = ""  # its idempotency key, once worked out (``_key``: the write and the ledger both need it)


class SentAs(NamedTuple):
    """What a record's cross-reference to the target says (read as a tuple: a model instance per record cost more)."""

    external_id: str
    last_synced_hash: str


# Hub records created by the task that is posting them now, by object type (``new_records``).
_NEW: ContextVar[dict[str, frozenset[int]] | None] = ContextVar("weft_new_records", default=None)


@contextmanager
def new_records(object_type: str, ids) -> Iterator[None]:
    """Within: ``ids`` of ``object_type`` are hub records this task created (and committed) before posting them.
    No target can hold one under our reference yet (any earlier send would have left a ``WriteAttempt`` or a
    cross-reference in this database, and a record that did not exist before this task had none), so they are
    created without a look-up first: a batch of new entries is one call to the target."""
    token = _NEW.set({**(_NEW.get() or {}), object_type: frozenset(ids)})
    try:
        yield
    finally:
        _NEW.reset(token)


# Records a target needs before this one can be written: a project needs its customer, and so on.
DEPENDENCIES = {
    "project": ("customer",),
    "time_entry": ("project", "person"),
    "expense": ("project", "person"),
    "assignment": ("project", "person"),
    "invoice": ("customer", "project"),
    "rate_card": ("project",),  # a project's rate card line, once the target holds the project
}


# What the engine hands a slice to write records another record needs through their own flow, now.
RunFirst = Callable[[Flow, list[int]], None]


def outbound_slice(run: Run, *, budget: int, run_first: RunFirst) -> bool:
    """Send up to ``budget`` pending records; True when none remain. Related records the target lacks go first,
    through ``run_first`` (the engine runs their flow)."""
    kind = connection_kind(run.connection, run=run)
    run_prepare(run)  # flows that make their records in the hub first (billing readiness)
    handled = 0
    while handled < budget and not cluster_stopping():  # a stopping cluster hands the rest back after this batch
        ids = _next_ids(run, limit=min(run.flow.batch_size, budget - handled))
        if not ids:
            return True
        with advisory_lock(target_lock_name(run)):  # planned, written and settled by one run at a time
            if not run.flow.write_back:  # a write-back only updates records the source already holds
                _send_dependencies_first(run, ids, run_first)
            plans = outbound_plan(run, kind, ids)
            while plans:
                with kind.batch():  # what the target held back is durable once this ends, before it is recorded
                    done = _execute_some(run, kind, plans)
                _settle(run, done)
                if run.status == RunStatus.PAUSED:
                    return True
                plans = plans[len(done):]
        run.cursor_end = str(ids[-1])  # past records the plan dropped too (gone from the hub meanwhile)
        run_heartbeat(run)
        handled += len(ids)
    return not _next_ids(run, limit=1)


def target_lock_name(run: Run) -> str:
    """The lock a run holds while it plans, writes and settles a batch for its target's object.

    Runs of one flow may overlap: a catch-up run (or one resumed after its worker died) and the runs hub changes
    start for just their records can pick the same record. Planned outside the lock, both would see it unsent and
    both create it (twice in the target, twice in the ledger). Under it, the second plans after the first settled,
    finds the cross-reference and leaves the record as it is."""
    return f"outbound:{db.schema_name}:{run.connection_id}:{run.object_type}:{run.object_name}"


def _send_dependencies_first(run: Run, ids: list[int], run_first: RunFirst) -> None:
    """Write the related records the target lacks (a new project's customer) through their own flows first."""
    model = OBJECT_MODELS[run.object_type]
    for dependency in DEPENDENCIES.get(run.object_type, ()):
        flow = Flow.objects.filter(direction=FlowDirection.OUTBOUND, object_type=dependency, is_enabled=True,
                                   connection=run.connection).first()
        if flow is None:
            continue
        related = set(model.objects.filter(pk__any=ids).exclude(**{f"{dependency}_id": None})
                      .values_list(f"{dependency}_id", flat=True))
        known = set(ExternalRef.objects.filter(connection=run.connection, object_type=dependency,
                                               canonical_id__any=list(related)).values_list("canonical_id", flat=True))
        if related - known:
            run_first(flow, sorted(related - known))


def _next_ids(run: Run, *, limit: int) -> list[int]:
    after = int(run.cursor_end or 0)
    if run.record_ids is not None:
        return [i for i in sorted(run.record_ids) if i > after][:limit]
    return list(pending_records(run.flow).filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:limit])


def outbound_plan(run: Run, kind: ConnectorKind, ids: list[int], *, mapping_version=None) -> list[Plan]:
    """Decide, for each record, whether to write, reverse, skip or fail, and build the payloads."""
    flow = run.flow
    views = canonical_views(flow.object_type, ids)
    ordered = [views[i] for i in ids if i in views]
    refs = {canonical_id: SentAs(external_id, synced) for canonical_id, external_id, synced in
            ExternalRef.objects.filter(connection=run.connection, object_type=flow.object_type, canonical_id__any=ids)
            .values_list("canonical_id", "external_id", "last_synced_hash")}
    version = _mapping_version(run, mapping_version)
    early = None if flow.write_back else _expressions_early(run, version, ordered, refs)
    attempts = _attempts_in_doubt(run, ids)
    new = (_NEW.get() or {}).get(flow.object_type, frozenset())
    lookup = target_id_lookup(run.connection_id)
    if flow.write_back:
        ordered = write_back_views(flow, ordered)
    verdicts = validate(_rule_specs(flow), ordered, lookup=lookup, variables=flow.variables)
    plans: list[Plan] = []
    to_map: list[tuple[Plan, dict]] = []
    for view, verdict in zip(ordered, verdicts, strict=True):
        classify = _classify_write_back if flow.write_back else _classify
        plan = classify(view, verdict, refs.get(view["id"]), run)
        if plan.external_id is None and plan.canonical_id in attempts:
            plan.doubt_since = attempts[plan.canonical_id]
        plan.new = plan.canonical_id in new and plan.canonical_id not in attempts
        plans.append(plan)
        if plan.action == "write":
            to_map.append((plan, view))
    _map(run, kind, to_map, lookup, version, early)
    if flow.write_back:
        _already_written_back(flow, [plan for plan, _ in to_map if plan.action == "write"])
    return plans


# A create whose sender died was sent when its attempt was recorded, and its sender stopped waiting for the answer
# at most this long after (longer than any request time-out): the write window counts from then, or from when the
# next sender found the attempt (that sender has lost its run by then, or stops waiting within its time-out).
ATTEMPT_WAIT_BOUND = timedelta(minutes=5)


def _attempts_in_doubt(run: Run, ids: list[int]) -> dict[int, datetime]:
    """The creates among ``ids`` an earlier sender left in doubt, each with when its write window starts. The
    first sender to find one stamps that start on it, so a sender stopped while it waits (a task time-out, a
    restart) does not push the window on: the next one waits out what is left of it."""
    attempts = WriteAttempt.objects.filter(connection=run.connection, object_type=run.flow.object_type,
                                           canonical_id__any=ids)
    found = list(attempts.values_list("canonical_id", "sent_at", "doubt_since"))  # usually none: one query
    if run.pk is not None and any(since is None for _, _, since in found):  # a preview only reads
        attempts.filter(doubt_since__isnull=True).update(doubt_since=Least(Now(), F("sent_at") + ATTEMPT_WAIT_BOUND))
        found = list(attempts.values_list("canonical_id", "sent_at", "doubt_since"))
    return {canonical_id: since or min(timezone.now(), sent_at + ATTEMPT_WAIT_BOUND)
            for canonical_id, sent_at, since in found}


def _classify(view: dict, verdict: Verdict, ref: SentAs | None, run: Run) -> Plan:
    plan = Plan(canonical_id=view["id"], action="write", view=view, external_id=ref.external_id if ref else None)
    if view.get("source_connection_id") == run.connection_id:
        plan.action, plan.message = "skip", "Came from this system; not sent back."
    elif view.get("deleted_at") or verdict.skip:
        if ref is not None:
            plan.action = "reverse"
            plan.message = "Deleted at the source." if view.get("deleted_at") else f"Reversed: {verdict.skip}"
        else:
            plan.action, plan.message = "skip", ("Deleted before it was sent." if view.get("deleted_at")
                                                 else verdict.skip)
    elif verdict.failures:
        plan.action, plan.message, plan.category = "fail", " ".join(verdict.failures), ErrorCategory.VALIDATION
    elif ref is not None and ref.last_synced_hash == view.get("content_hash"):
        plan.action, plan.message = "unchanged", "Already sent with this content."
    return plan


# --- writing back to the source ---------------------------------------------------------------------
def write_back_views(flow: Flow, views: list[dict]) -> list[dict]:
    """The views of a write-back flow's records with ``refs``: each system's id for the record, by connection slug
    (``refs.tryton`` is the ERP's project id), so the mapping can build a link to it."""
    ids = [view["id"] for view in views]
    found: dict[int, dict[str, str]] = {}
    for canonical_id, slug, external_id in ExternalRef.objects.filter(
            object_type=flow.object_type, canonical_id__in=ids).values_list(
            "canonical_id", "connection__slug", "external_id"):
        found.setdefault(canonical_id, {})[slug] = external_id
    return [{**view, "refs": found.get(view["id"], {})} for view in views]


def _classify_write_back(view: dict, verdict: Verdict, ref: SentAs | None, run: Run) -> Plan:
    """A write-back updates the record the hub record came from, once the after-flow's target holds it."""
    plan = Plan(canonical_id=view["id"], action="write", view=view, external_id=ref.external_id if ref else None)
    after = run.flow.after_flow
    if view.get("source_connection_id") != run.connection_id or ref is None:
        plan.action, plan.message = "skip", f"Did not come from {run.connection}: nothing there to write back to."
    elif view.get("deleted_at"):
        plan.action, plan.message = "skip", "Deleted at the source."
    elif after is not None and after.connection.slug not in view.get("refs", {}):
        plan.action, plan.message = "skip", f"Not in {after.connection} yet: written back once it is."
    elif verdict.skip:
        plan.action, plan.message = "skip", verdict.skip
    elif verdict.failures:
        plan.action, plan.message, plan.category = "fail", " ".join(verdict.failures), ErrorCategory.VALIDATION
    return plan


def _already_written_back(flow: Flow, plans: list[Plan]) -> None:
    """Plans whose values the ledger says this flow already wrote to the same record become "unchanged": the
    write-back happens once, however often the flow is asked (a replay, a later change in the ERP)."""
    if not plans:
        return
    last = dict(RunItem.objects.filter(run__flow=flow, outcome__in=WRITTEN,
                                       canonical_id__in=[p.canonical_id for p in plans])
                .order_by("canonical_id", "-pk").distinct("canonical_id")
                .values_list("canonical_id", "payload_after"))
    for plan in plans:
        if plan.canonical_id in last and last[plan.canonical_id] == plan.payload:
            plan.action, plan.message = "unchanged", "Already written back with these values."


def _mapping_version(run: Run, mapping_version=None):
    flow = run.flow
    return mapping_version or run.mapping_version or (flow.mapping.published_version() if flow.mapping_id else None)


class _Early(NamedTuple):
    """The mapping's expressions being evaluated in the background over the views likely to be written."""

    positions: dict[int, int]  # id(view) -> its place among the views evaluated
    outcomes: Future


def _expressions_early(run: Run, version, views: list[dict], refs: dict[int, SentAs]) -> _Early | None:
    """Start the sandbox on the mapping's expressions for the views that will be written unless a rule refuses them
    (not deleted, not from this target, not sent with this content), so it works while the plan's queries run."""
    if version is None or not any("expression" in rule for rule in version.rules):
        return None
    likely = [view for view in views if view.get("source_connection_id") != run.connection_id
              and not view.get("deleted_at") and not ((ref := refs.get(view["id"])) is not None
                                                      and ref.last_synced_hash == view.get("content_hash"))]
    if not likely:
        return None
    return _Early({id(view): n for n, view in enumerate(likely)},
                  expressions_start(version.rules, likely, variables=run.flow.variables))


def _map(run, kind, to_map: list[tuple[Plan, dict]], lookup, version, early: _Early | None = None) -> None:
    if not to_map:
        if early is not None:
            early.outcomes.cancel()
        return
    flow = run.flow
    if version is None:
        for plan, view in to_map:
            try:
                refs = _related_ids(view, lookup)
                if flow.object_type == "invoice":
                    refs.update(_invoice_refs(view, run.connection_id))
                plan.payload = kind.from_canonical(run.object_name, view, refs)
            except ExternalSystemError as error:
                plan.action, plan.message, plan.category = "fail", error.message, error.category
        return
    evaluated = None
    if early is not None and all(id(view) in early.positions for _, view in to_map):
        evaluated = evaluated_subset(early.outcomes.result(), [early.positions[id(view)] for _, view in to_map])
    for (plan, _view), mapped in zip(to_map, apply_rules(version.rules, [v for _, v in to_map],
                                                         variables=flow.variables, lookup=lookup,
                                                         evaluated=evaluated), strict=True):
        if mapped.ok:
            plan.payload = to_payload(mapped)
        else:
            plan.action, plan.category = "fail", ErrorCategory.MAPPING
            if any("not known to the target" in e.message for e in mapped.errors):
                plan.category = ErrorCategory.MISSING_REFERENCE
            plan.message = "Mapping failed: " + "; ".join(f"{e.target}: {e.message}" for e in mapped.errors)
            plan.field = mapped.errors[0].target


def _related_ids(view: dict, lookup) -> dict[str, str | None]:
    """For kinds' default translations: this target's ids of the record's related records."""
    related = {}
    for name in ("customer", "project", "person", "manager", "parent"):
        node = view.get(name)
        if isinstance(node, dict) and node.get("id"):
            related[name] = lookup(name if name not in ("manager",) else "person", node["id"])
    return related


def _invoice_refs(view: dict, connection_id: int) -> dict:
    """For writing an invoice's posting status back to the source: this target's ids of the time entries the
    invoice bills (``time_entries``), and where the invoice itself was posted as it stands now (``posted``:
    connection slug → its id there)."""
    billed = InvoiceLine.time_entries.through.objects.filter(invoiceline__invoice_id=view["id"]).values(
        "timeentry_id")
    entries = sorted(ExternalRef.objects.filter(connection_id=connection_id, object_type="time_entry",
                                                canonical_id__in=billed).values_list("external_id", flat=True))
    posted = dict(ExternalRef.objects.filter(object_type="invoice", canonical_id=view["id"],
                                             last_synced_hash=view.get("content_hash", "")).exclude(
        connection_id=connection_id).values_list("connection__slug", "external_id"))
    return {"time_entries": entries, "posted": posted}


def _rule_specs(flow) -> list[RuleSpec]:
    """The flow's rules over the baseline (hours per entry for time): hub records that predate the door's checks
    must not reach a target either."""
    return with_defaults(OUTBOUND_BASELINE.get(flow.object_type, ()), rule_set_specs(flow.rule_set_id))


# --- executing a plan ---------------------------------------------------------------------------
@dataclass
class Done:
    """What became of one record: settled (recorded) with the others of its batch by ``_settle``."""

    plan: Plan
    outcome: str
    duration_ms: int
    ledger: bool = True
    message: str = ""
    category: str = ""
    attempts: int = 1
    external_id: str | None = None
    response: dict | None = None


def _execute_some(run: Run, kind: ConnectorKind, plans: list[Plan]) -> list[Done]:
    """Execute a prefix of ``plans`` (at most a batch): until they run out, the run pauses, or ``SETTLE_SECONDS``
    have passed. Returns what became of each, in their order.

    The creates among them are marked first (``WriteAttempt``, one INSERT, committed before anything is sent), and
    creates standing next to each other go to the target in one call where the kind can write many
    (``_create_many``). Marks of creates this call did not get to are taken back."""
    chunk = plans[:max(1, run.flow.batch_size)]
    marked = _mark_creates(run, chunk)
    many = kind.writes_many(run.object_name)
    done: list[Done] = []
    since = time.monotonic()
    while len(done) < len(chunk):
        group = _leading_creates(chunk[len(done):]) if many else []
        done.extend(_create_many(run, kind, group) if len(group) > 1 else [_execute(run, kind, chunk[len(done)])])
        if run.status == RunStatus.PAUSED or time.monotonic() - since >= SETTLE_SECONDS:
            break
    _forget_attempts(run, [plan.canonical_id for plan in chunk[len(done):] if plan.canonical_id in marked])
    return done


def _is_create(plan: Plan) -> bool:
    return plan.action == "write" and plan.external_id is None


def _leading_creates(plans: list[Plan]) -> list[Plan]:
    """The creates at the head of ``plans`` that can go in one call: none an earlier attempt left in doubt (those
    are looked for one by one first)."""
    group = []
    for plan in plans:
        if not _is_create(plan) or plan.doubt_since is not None:
            break
        group.append(plan)
    return group


def _mark_creates(run: Run, plans: list[Plan]) -> set[int]:
    """Record, durably and before they are sent, the creates among ``plans`` (see ``WriteAttempt``). Not those an
    earlier attempt left in doubt: their mark stays as it is (when their window started) until they are found, or
    sent again once it has passed (``_apply`` marks them then)."""
    ids = [plan.canonical_id for plan in plans if _is_create(plan) and plan.doubt_since is None]
    _mark_attempts(run, ids)
    return set(ids)


def _mark_attempts(run: Run, ids: list[int]) -> None:
    """A create of each of ``ids`` is about to be sent: a new attempt, whose window has not started."""
    if ids:
        # Operational rows: one INSERT ... ON CONFLICT over an array, committed at once (outside the caller's
        # transaction, if any, it would not survive the crash it is for; the engine calls this outside one).
        with db.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {WriteAttempt._meta.db_table} (connection_id, object_type, canonical_id, run_id, sent_at)"
                " SELECT %s, %s, unnest(%s::bigint[]), %s, %s"
                " ON CONFLICT (connection_id, object_type, canonical_id)"
                " DO UPDATE SET run_id = EXCLUDED.run_id, sent_at = EXCLUDED.sent_at, doubt_since = NULL",
                [run.connection_id, run.object_type, ids, run.pk, timezone.now()])


def _forget_attempts(run: Run, ids: list[int]) -> None:
    """Remove the ``WriteAttempt`` marks of ``ids`` (one DELETE over an array; operational rows)."""
    if ids:
        with db.cursor() as cursor:
            cursor.execute(f"DELETE FROM {WriteAttempt._meta.db_table} WHERE connection_id = %s"
                           " AND object_type = %s AND canonical_id = ANY(%s::bigint[])",
                           [run.connection_id, run.object_type, ids])


# Kinds that fail a whole batch for one bad record answer with these: the batch is split to find it.
RECORD_FAULTS = (ErrorCategory.VALIDATION, ErrorCategory.MISSING_REFERENCE, ErrorCategory.MAPPING)


def _create_many(run: Run, kind: ConnectorKind, group: list[Plan], *, looked_up: bool = False) -> list[Done]:
    """Create ``group`` with one call (``kind.write_many``: all or none).

    A batch whose answer was lost is in doubt as a whole: each record is looked for by its reference until the
    write window has passed, and those not found are created one by one. A batch the target refused for a bad
    record is split in halves until the bad one stands alone and fails by itself (its exception); the good ones
    land. A transient failure is tried again, as a single write would be."""
    if len(group) == 1:
        return [_execute(run, kind, group[0])]
    if not looked_up:
        return _create_unless_found(run, kind, group)
    started, attempts = time.monotonic(), 0
    while True:
        attempts += 1
        try:
            results = kind.write_many(run.object_name, [
                WriteRequest(plan.payload, record_reference(run.object_type, plan.canonical_id),
                             _key(run, plan)) for plan in group])
        except ExternalSystemError as error:
            if error.in_doubt:  # the window counts from when we stopped waiting: now
                stopped = timezone.now()
                return [_found_or_created(run, kind, plan, error, stopped) for plan in group]
            if error.permanent and error.category in RECORD_FAULTS:
                half = len(group) // 2
                return (_create_many(run, kind, group[:half], looked_up=True)
                        + _create_many(run, kind, group[half:], looked_up=True))
            if not error.permanent and attempts < ITEM_ATTEMPTS and not (error.retry_after or 0) > 30:
                time.sleep(min(2 ** attempts * 0.25, 5))
                continue
            if not error.permanent and circuit_record_failure(run.connection):
                run.status, run.error_message = RunStatus.PAUSED, f"{run.connection} keeps failing: {error.message}"
            ms = int((time.monotonic() - started) * 1000)
            return [Done(plan, ItemOutcome.FAILED, ms, message=error.message, category=error.category,
                         attempts=attempts, response={"status": error.status} if error.status else None)
                    for plan in group]
        circuit_record_success(run.connection)
        ms = int((time.monotonic() - started) * 1000)
        return [Done(plan, ItemOutcome.CREATED, ms, attempts=attempts, external_id=result.external_id,
                     response={**(result.response or {}), "batch": len(group)})
                for plan, result in zip(group, results, strict=True)]


def _create_unless_found(run: Run, kind: ConnectorKind, group: list[Plan]) -> list[Done]:
    """``_create_many`` for the records of ``group`` the target does not hold yet, asked with one look-up
    (``kind.find_many``); those it holds (written before their cross-reference was lost) go one by one, as a
    single write does it. Results in the order of ``group``."""
    try:
        asked = [record_reference(run.object_type, p.canonical_id) for p in group if not p.new]
        found = kind.find_many(run.object_name, asked) if asked else {}
    except ExternalSystemError:
        return [_execute(run, kind, plan) for plan in group]  # each looks itself up, with its own retries
    held = {p.canonical_id for p in group if found.get(record_reference(run.object_type, p.canonical_id))}
    fresh = [plan for plan in group if plan.canonical_id not in held]
    done = {entry.plan.canonical_id: entry for entry in _create_many(run, kind, fresh, looked_up=True)}
    done.update({plan.canonical_id: _execute(run, kind, plan) for plan in group if plan.canonical_id in held})
    return [done[plan.canonical_id] for plan in group]


def _found_or_created(run: Run, kind: ConnectorKind, plan: Plan, error: ExternalSystemError,
                      since: datetime) -> Done:
    """One record of a batch whose answer was lost: found by reference once the window allows, else created alone."""
    started = time.monotonic()
    reference = record_reference(run.object_type, plan.canonical_id)
    try:
        found = _find_in_doubt(run, kind, reference, since)
    except ExternalSystemError as lookup_error:
        return Done(plan, ItemOutcome.FAILED, int((time.monotonic() - started) * 1000), message=lookup_error.message,
                    category=lookup_error.category)
    if found is None:
        return _execute(run, kind, plan)  # the window has passed: it did not land, so it may be sent again
    return Done(plan, ItemOutcome.CREATED, int((time.monotonic() - started) * 1000), external_id=found,
                response={"in_doubt": error.message, "found_by_reference": found, "batch": True})


def _key(run: Run, plan: Plan) -> str:
    if not plan.key:
        plan.key = idempotency_key(run.connection_id, run.object_type, plan.canonical_id,
                                   plan.view.get("content_hash", ""))
    return plan.key


def _execute(run: Run, kind: ConnectorKind, plan: Plan) -> Done:
    started = time.monotonic()

    def done(outcome: str, **fields) -> Done:
        return Done(plan, outcome, int((time.monotonic() - started) * 1000), **fields)

    if plan.action in ("skip", "unchanged"):
        # Targeted runs say what happened to each record they were asked about; catch-up runs only count.
        return done(ItemOutcome.SKIPPED if plan.action == "skip" else ItemOutcome.UNCHANGED,
                    ledger=run.record_ids is not None)
    if plan.action == "fail":
        return done(ItemOutcome.FAILED, message=plan.message, category=plan.category)
    attempts = 0
    while True:
        attempts += 1
        try:
            outcome, external_id, response = _apply(run, kind, plan)
        except ExternalSystemError as error:
            if not error.permanent and attempts < ITEM_ATTEMPTS and not (error.retry_after or 0) > 30:
                time.sleep(min(2 ** attempts * 0.25, 5))
                continue
            if not error.permanent and circuit_record_failure(run.connection):
                run.status, run.error_message = RunStatus.PAUSED, f"{run.connection} keeps failing: {error.message}"
            return done(ItemOutcome.FAILED, message=error.message, category=error.category, attempts=attempts,
                        response={"status": error.status} if error.status else None)
        circuit_record_success(run.connection)
        return done(outcome, attempts=attempts, external_id=external_id, response=response)


def _apply(run: Run, kind: ConnectorKind, plan: Plan) -> tuple[str, str, dict | None]:
    """Make the change in the target; the caller records it (cross-reference and ledger) in one go."""
    if plan.action == "reverse":
        kind.delete(run.object_name, plan.external_id)
        return ItemOutcome.DELETED, plan.external_id, None
    reference = record_reference(run.object_type, plan.canonical_id)
    key = _key(run, plan)
    found = None
    if _is_create(plan) and not plan.new:  # an earlier attempt (or a restored database's lost cross-reference)
        found = (_find_in_doubt(run, kind, reference, plan.doubt_since) if plan.doubt_since
                 else kind.find(run.object_name, reference=reference))
        if found is None and plan.doubt_since:  # it never landed: what is sent now is a new attempt
            _mark_attempts(run, [plan.canonical_id])
    external_id = plan.external_id or found
    try:
        result = kind.write(run.object_name, plan.payload, reference=reference, external_id=external_id,
                            idempotency_key=key)
    except ExternalSystemError as error:
        if external_id or not error.in_doubt:
            raise  # an update sent twice writes the same values: the retry may simply send it again
        found = _find_in_doubt(run, kind, reference, timezone.now())  # the window counts from when we stopped waiting
        if found is None:
            raise
        return ItemOutcome.CREATED, found, {"in_doubt": error.message, "found_by_reference": found}
    if found:  # ours, written by a worker that died (or lost the reply) before the ledger recorded it
        outcome = ItemOutcome.UPDATED if _created_before(run, plan.canonical_id) else ItemOutcome.CREATED
    else:
        outcome = ItemOutcome.CREATED if result.created and not external_id else ItemOutcome.UPDATED
    return outcome, result.external_id, result.response


def _created_before(run: Run, canonical_id: int) -> bool:
    """Whether the ledger already says this record was created in the run's target (only asked for a record
    found by reference without a cross-reference: rare, so one query each is fine)."""
    return RunItem.objects.filter(run__connection_id=run.connection_id, object_type=run.object_type,
                                  canonical_id=canonical_id, outcome=ItemOutcome.CREATED).exists()


# How often a create in doubt is looked for while the target's write window lasts.
DOUBT_POLL_SECONDS = 1.0


def _find_in_doubt(run: Run, kind: ConnectorKind, reference: str, since: datetime) -> str | None:
    """A create whose answer was lost (by this worker, or by one that died: ``WriteAttempt``) may still land until
    the target's write window has passed ``since`` its sender stopped waiting: look for it by reference until then
    (and once more after). None: it did not land, so it may be created again. The run's lease is renewed meanwhile,
    so no other worker takes the run over and creates the record beside this one."""
    deadline = since.timestamp() + kind.write_window()
    while True:
        try:
            found = kind.find(run.object_name, reference=reference)
        except ExternalSystemError as error:
            if error.permanent or time.time() > deadline:
                raise
            found = None  # the look-up failed too; the window is not over, so look again
        if found is not None or time.time() > deadline:
            return found
        time.sleep(max(0.0, min(DOUBT_POLL_SECONDS, deadline - time.time())) + 0.01)
        run_heartbeat(run)


def _settle(run: Run, done: list[Done]) -> None:
    """The cross-references, ledger items and the run's progress for ``done``, in one transaction (see the
    module doc)."""
    if not done:
        return
    now = timezone.now()
    write_back = run.flow.write_back  # updates the record the hub record came from: which is which stays as read
    if not write_back:
        _refuse_shared_targets(run, done)
    with transaction.atomic():
        if not write_back:
            _sync_refs(run, done, now)
        _forget_attempts(run, [entry.plan.canonical_id for entry in done])
        run_item_rows_write([_ledger_item(run, entry, now) for entry in done if entry.ledger])
        for entry in done:
            run_count(run, entry.outcome)
        run.cursor_end = str(done[-1].plan.canonical_id)
        run_heartbeat(run)  # raises RunLost (undoing these records' entries) if another worker took the run


WRITTEN = (ItemOutcome.CREATED, ItemOutcome.UPDATED)
QUIET_OUTCOMES = (ItemOutcome.SKIPPED, ItemOutcome.UNCHANGED, ItemOutcome.DELETED)


def _ledger_item(run: Run, entry: Done, now: datetime) -> LedgerRow:
    plan, outcome = entry.plan, entry.outcome
    return LedgerRow(
        run_id=run.pk, object_type=run.object_type, canonical_id=plan.canonical_id, outcome=outcome,
        idempotency_key=_key(run, plan),
        external_id=str(plan.canonical_id), target_external_id=entry.external_id or plan.external_id or "",
        payload_before=plan.view, payload_after=plan.payload, target_response=entry.response,
        error_message=entry.message or (plan.message if outcome in QUIET_OUTCOMES else ""),
        error_category=entry.category, error_field=plan.field if outcome == ItemOutcome.FAILED else "",
        attempts=entry.attempts, duration_ms=entry.duration_ms,
        latency_ms=_latency_ms(plan.view, now) if outcome in WRITTEN else None,
    )


def _refuse_shared_targets(run: Run, done: list[Done]) -> None:
    """A write the target answered with a record another hub record already stands for fails (a target that
    matches records by name can do that): two hub records cannot share one record in the target."""
    written = [entry for entry in done if entry.outcome in WRITTEN]
    if not written:
        return
    holders = dict(ExternalRef.objects.filter(
        connection=run.connection, object_type=run.object_type,
        external_id__any=list({entry.external_id for entry in written})).values_list("external_id", "canonical_id"))
    for entry in written:
        other = holders.setdefault(entry.external_id, entry.plan.canonical_id)  # earlier in this batch holds it too
        if other != entry.plan.canonical_id:
            entry.outcome, entry.category = ItemOutcome.FAILED, ErrorCategory.DUPLICATE
            entry.message = (
                f"{run.connection} record {entry.external_id} already stands for "
                f"{run.object_type.replace('_', ' ')} {other} in Weft, and this one was written onto it: two records "
                "cannot share one. Rename or merge them, then replay.")


def _sync_refs(run: Run, done: list[Done], now: datetime) -> None:
    """Keep the cross-references in step with what the target now holds."""
    key = {"connection": run.connection, "object_type": run.object_type}
    written = {entry.plan.canonical_id: entry for entry in done if entry.outcome in WRITTEN}
    if written:  # one INSERT ... ON CONFLICT over arrays (one reference per record and connection)
        with db.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {ExternalRef._meta.db_table} (connection_id, object_type, canonical_id, external_id,"
                " last_synced_hash, last_synced_at, last_input_key, origin_file, origin_row)"
                " SELECT %s, %s, record, target, hash, %s, '', '', NULL"
                " FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS given(record, target, hash)"
                " ON CONFLICT (connection_id, object_type, canonical_id) DO UPDATE SET"
                " external_id = EXCLUDED.external_id, last_synced_hash = EXCLUDED.last_synced_hash,"
                " last_synced_at = EXCLUDED.last_synced_at",
                [run.connection_id, run.object_type, now, list(written),
                 [entry.external_id for entry in written.values()],
                 [entry.plan.view.get("content_hash", "") for entry in written.values()]])
    deleted = [entry.plan.canonical_id for entry in done if entry.outcome == ItemOutcome.DELETED]
    if deleted:
        ExternalRef.objects.filter(**key, canonical_id__in=deleted).delete()


def _latency_ms(view: dict, now: datetime) -> int | None:
    approved = view.get("approved_at")
    parsed = parse_datetime(approved) if isinstance(approved, str) else None
    return int((now - parsed).total_seconds() * 1000) if parsed else None


def record_reference(object_type: str, canonical_id: int) -> str:
    """Our stable name for a record in other systems, unique across tenants."""
    return f"weft-{db.schema_name}-{object_type}-{canonical_id}"


def idempotency_key(connection_id: int, object_type: str, canonical_id: int, content_hash: str) -> str:
    raw = f"{db.schema_name}:{connection_id}:{object_type}:{canonical_id}:{content_hash}"
    return hashlib.sha256(raw.encode()).hexdigest()[:64]


# --- a rule set's edit, previewed ---------------------------------------------------------------------------------
@dataclass
class RulePreview:
    """One record that failed its outbound flow lately, judged by the rules now and by the edited rules."""

    flow: str
    record: str  # what names it: its date and codes
    now: list[str]  # failures under the saved rules ([]: it would pass)
    edited: list[str]  # failures under the edited rules


PREVIEW_RECORDS = 50


def rules_preview(*, rule_set_id: int, rules: list[RuleSpec], limit: int = PREVIEW_RECORDS) -> list[RulePreview]:
    """What the edited ``rules`` of a rule set would make of the records that failed lately in the outbound flows
    using it (the last ``limit`` per flow): nothing is written. Lets an engineer see a fix work before saving it."""
    previews: list[RulePreview] = []
    for flow in Flow.objects.filter(rule_set_id=rule_set_id, direction=FlowDirection.OUTBOUND):
        ids = list(dict.fromkeys(RunItem.objects.filter(run__flow=flow, outcome=ItemOutcome.FAILED,
                                                        canonical_id__isnull=False)
                                 .order_by("-pk").values_list("canonical_id", flat=True)[:limit]))
        views = canonical_views(flow.object_type, ids)
        ordered = [views[i] for i in ids if i in views]
        lookup = target_id_lookup(flow.connection_id)
        edited = with_defaults(OUTBOUND_BASELINE.get(flow.object_type, ()), rules)
        before = validate(_rule_specs(flow), ordered, lookup=lookup, variables=flow.variables)
        after = validate(edited, ordered, lookup=lookup, variables=flow.variables)
        previews += [RulePreview(flow.name, _record_label(view), now.failures, then.failures)
                     for view, now, then in zip(ordered, before, after, strict=True)]
    return previews


def _record_label(view: dict) -> str:
    """``2026-11-24 · ACME-104 · P-01``: what a person recognises a record by (its date and the codes it names)."""
    parts = [str(view["date"])] if view.get("date") else []
    parts += [str(view[name]["code"]) for name in ("project", "person", "customer")
              if isinstance(view.get(name), dict) and view[name].get("code")]
    return " · ".join(parts) or f"#{view['id']}"
