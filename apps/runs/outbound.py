"""Outbound leg: hub records → rules → mapping → the target system, exactly once in effect.

Each record is written under a stable reference (``weft-<schema>-<type>-<id>``) and an idempotency
key that changes with its content. Before creating, the engine asks the target whether it already
has the reference (a worker killed after the write but before the ledger entry leaves exactly that
situation), so resuming never makes a duplicate. The cross-reference keeps the hash of what was
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
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db import connection as db
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.canonical.models import OBJECT_MODELS, ExternalRef
from apps.canonical.selectors import canonical_views
from apps.common.errors import ErrorCategory, ExternalSystemError
from apps.connectors.kinds.base import ConnectorKind
from apps.connectors.services import connection_kind
from apps.mappings.rules import apply_rules, to_payload
from apps.mappings.validation import OUTBOUND_BASELINE, RuleSpec, Verdict, rule_set_specs, validate, with_defaults
from apps.runs.lease import circuit_record_failure, circuit_record_success, run_count, run_heartbeat
from apps.runs.ledger import run_items_write
from apps.runs.models import Flow, FlowDirection, ItemOutcome, Run, RunItem, RunStatus
from apps.runs.selectors import pending_records
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


# Records a target needs before this one can be written: a project needs its customer, and so on.
DEPENDENCIES = {
    "project": ("customer",),
    "time_entry": ("project", "person"),
    "expense": ("project", "person"),
    "assignment": ("project", "person"),
    "invoice": ("customer", "project"),
}


# What the engine hands a slice to write records another record needs through their own flow, now.
RunFirst = Callable[[Flow, list[int]], None]


def outbound_slice(run: Run, *, budget: int, run_first: RunFirst) -> bool:
    """Send up to ``budget`` pending records; True when none remain. Related records the target lacks go first,
    through ``run_first`` (the engine runs their flow)."""
    kind = connection_kind(run.connection)
    handled = 0
    while handled < budget and not cluster_stopping():  # a stopping cluster hands the rest back after this batch
        ids = _next_ids(run, limit=min(run.flow.batch_size, budget - handled))
        if not ids:
            return True
        _send_dependencies_first(run, ids, run_first)
        plans = iter(outbound_plan(run, kind, ids))
        while True:
            with kind.batch():  # what the target held back is durable once this ends, before it is recorded
                done = _execute_some(run, kind, plans)
            _settle(run, done)
            if run.status == RunStatus.PAUSED:
                return True
            if not done:
                break
        run.cursor_end = str(ids[-1])  # past records the plan dropped too (gone from the hub meanwhile)
        run_heartbeat(run)
        handled += len(ids)
    return not _next_ids(run, limit=1)


def _send_dependencies_first(run: Run, ids: list[int], run_first: RunFirst) -> None:
    """Write the related records the target lacks (a new project's customer) through their own flows first."""
    model = OBJECT_MODELS[run.object_type]
    for dependency in DEPENDENCIES.get(run.object_type, ()):
        flow = Flow.objects.filter(direction=FlowDirection.OUTBOUND, object_type=dependency, is_enabled=True,
                                   connection=run.connection).first()
        if flow is None:
            continue
        related = set(model.objects.filter(pk__in=ids).exclude(**{f"{dependency}_id": None})
                      .values_list(f"{dependency}_id", flat=True))
        known = set(ExternalRef.objects.filter(connection=run.connection, object_type=dependency,
                                               canonical_id__in=related).values_list("canonical_id", flat=True))
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
    refs = {r.canonical_id: r for r in ExternalRef.objects.filter(
        connection=run.connection, object_type=flow.object_type, canonical_id__in=ids)}
    lookup = _lookup(run.connection_id)
    verdicts = validate(_rule_specs(flow), ordered, lookup=lookup, variables=flow.variables)
    plans: list[Plan] = []
    to_map: list[tuple[Plan, dict]] = []
    for view, verdict in zip(ordered, verdicts, strict=True):
        plan = _classify(view, verdict, refs.get(view["id"]), run)
        plans.append(plan)
        if plan.action == "write":
            to_map.append((plan, view))
    _map(run, kind, to_map, lookup, mapping_version)
    return plans


def _classify(view: dict, verdict: Verdict, ref: ExternalRef | None, run: Run) -> Plan:
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


def _map(run, kind, to_map: list[tuple[Plan, dict]], lookup, mapping_version) -> None:
    if not to_map:
        return
    flow = run.flow
    version = mapping_version or run.mapping_version or (flow.mapping.published_version() if flow.mapping_id else None)
    if version is None:
        for plan, view in to_map:
            try:
                plan.payload = kind.from_canonical(run.object_name, view, _related_ids(view, lookup))
            except ExternalSystemError as error:
                plan.action, plan.message, plan.category = "fail", error.message, error.category
        return
    for (plan, _view), mapped in zip(to_map, apply_rules(version.rules, [v for _, v in to_map],
                                                         variables=flow.variables, lookup=lookup), strict=True):
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


def _lookup(connection_id: int):
    cache: dict[tuple[str, str], str | None] = {}

    def lookup(object_type: str, canonical_id) -> str | None:
        key = (object_type, str(canonical_id))
        if key not in cache:
            cache[key] = ExternalRef.objects.filter(connection_id=connection_id, object_type=object_type,
                                                    canonical_id=canonical_id).values_list("external_id",
                                                                                           flat=True).first()
        return cache[key]

    return lookup


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


def _execute_some(run: Run, kind: ConnectorKind, plans: Iterator[Plan]) -> list[Done]:
    """Execute plans until they run out, the run pauses, or ``SETTLE_SECONDS`` have passed."""
    done: list[Done] = []
    since = time.monotonic()
    for plan in plans:
        done.append(_execute(run, kind, plan))
        if run.status == RunStatus.PAUSED or time.monotonic() - since >= SETTLE_SECONDS:
            break
    return done


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
    key = idempotency_key(run.connection_id, run.object_type, plan.canonical_id, plan.view.get("content_hash", ""))
    found = None if plan.external_id else kind.find(run.object_name, reference=reference)
    external_id = plan.external_id or found
    sent = time.monotonic()
    try:
        result = kind.write(run.object_name, plan.payload, reference=reference, external_id=external_id,
                            idempotency_key=key)
    except ExternalSystemError as error:
        if external_id or not error.in_doubt:
            raise  # an update sent twice writes the same values: the retry may simply send it again
        found = _find_in_doubt(run, kind, reference, sent)
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


def _find_in_doubt(run: Run, kind: ConnectorKind, reference: str, sent: float) -> str | None:
    """A create whose answer was lost may still land until the target's write window has passed since it was
    sent: look for it by reference until then (and once more after). None: it did not land, so it may be
    created again (the caller's retry does). The run's lease is renewed meanwhile, so no other worker takes the
    run over and creates the record beside this one."""
    deadline = sent + kind.write_window()
    while True:
        try:
            found = kind.find(run.object_name, reference=reference)
        except ExternalSystemError as error:
            if error.permanent or time.monotonic() > deadline:
                raise
            found = None  # the look-up failed too; the window is not over, so look again
        if found is not None or time.monotonic() > deadline:
            return found
        time.sleep(max(0.0, min(DOUBT_POLL_SECONDS, deadline - time.monotonic())) + 0.01)
        run_heartbeat(run)


def _settle(run: Run, done: list[Done]) -> None:
    """The cross-references, ledger items and the run's progress for ``done``, in one transaction (see the
    module doc)."""
    if not done:
        return
    now = timezone.now()
    _refuse_shared_targets(run, done)
    with transaction.atomic():
        _sync_refs(run, done, now)
        run_items_write([_ledger_item(run, entry, now) for entry in done if entry.ledger])
        for entry in done:
            run_count(run, entry.outcome)
        run.cursor_end = str(done[-1].plan.canonical_id)
        run_heartbeat(run)  # raises RunLost (undoing these records' entries) if another worker took the run


WRITTEN = (ItemOutcome.CREATED, ItemOutcome.UPDATED)
QUIET_OUTCOMES = (ItemOutcome.SKIPPED, ItemOutcome.UNCHANGED, ItemOutcome.DELETED)


def _ledger_item(run: Run, entry: Done, now: datetime) -> RunItem:
    plan, outcome = entry.plan, entry.outcome
    return RunItem(
        run=run, object_type=run.object_type, canonical_id=plan.canonical_id, outcome=outcome,
        idempotency_key=idempotency_key(run.connection_id, run.object_type, plan.canonical_id,
                                        plan.view.get("content_hash", "")),
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
        external_id__in={entry.external_id for entry in written}).values_list("external_id", "canonical_id"))
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
    if written:  # one INSERT ... ON CONFLICT (one reference per record and connection)
        ExternalRef.objects.bulk_create(
            [ExternalRef(**key, canonical_id=canonical_id, external_id=entry.external_id,
                         last_synced_hash=entry.plan.view.get("content_hash", ""), last_synced_at=now)
             for canonical_id, entry in written.items()],
            update_conflicts=True, unique_fields=["connection", "object_type", "canonical_id"],
            update_fields=["external_id", "last_synced_hash", "last_synced_at"])
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
