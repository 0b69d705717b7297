"""Turning what the engine recorded into exceptions, and clearing them when the records succeed later.

Entry points: ``exceptions_from_run`` (the ``run_finished`` receiver and the sweep call it; a run is
taken once, however often it is offered) and ``exceptions_from_events`` (failed webhook events); monitors
and reconciliation raise theirs through ``services.exception_raise``. Ingest uses the services (the totals
and the status that follow from them, ``services.exception_refresh``), never the reverse. Records are
keyed within their flow (or, for runs without a flow, their connection and object type) by the id the
ledger gives them, so a later item for the same record can clear it: outbound items by canonical id,
inbound items by source id.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from apps.exceptions import classify as classifying
from apps.exceptions.choices import DEFAULT_SEVERITY, Severity, Source
from apps.exceptions.context import contexts_for
from apps.exceptions.models import ExceptionItem, ExceptionRecord, IntegrationException, RunIngest
from apps.exceptions.services import exception_refresh
from apps.runs.models import FINISHED, InboundEvent, ItemOutcome, Run, RunItem, RunStatus

logger = logging.getLogger(__name__)
PROBLEMS = (ItemOutcome.FAILED, ItemOutcome.CONFLICT)
# A later item with one of these outcomes means the record no longer fails in that flow. Skipped counts:
# a record the flow no longer sends (unapproved again, deleted before sending) has nothing left to fix.
CLEARING = (ItemOutcome.CREATED, ItemOutcome.UPDATED, ItemOutcome.UNCHANGED, ItemOutcome.DELETED,
            ItemOutcome.SKIPPED)
RUN_KEY = "__run__"
CHUNK = 1000


@dataclass
class IngestReport:
    run_id: int | None = None
    taken: bool = False
    raised: set[int] = field(default_factory=set)  # exceptions that gained occurrences
    cleared: int = 0  # records that left their exception


def exceptions_from_run(*, run: Run, now: datetime | None = None) -> IngestReport:
    """Failed and conflicting items of a finished run become (or count on) exceptions; items that now
    succeed clear their records. Idempotent: a run is taken once."""
    now = now or timezone.now()
    report = IngestReport(run_id=run.pk)
    if run.status not in FINISHED:
        return report
    with transaction.atomic():
        try:
            with transaction.atomic():
                RunIngest.objects.create(run=run)
        except IntegrityError:
            return report  # taken already (the signal and the sweep may both offer it)
        report.taken = True
        touched = _ingest_failures(run, report)
        touched |= _ingest_run_level(run, report)
        touched |= _clear(run, report)
        for exception_id in touched:
            exception_refresh(exception_id=exception_id, now=now)
    return report


def record_key(item: RunItem) -> str:
    """The record an item is about, within its flow: outbound items carry the canonical id as external id."""
    return (item.external_id or (f"canonical:{item.canonical_id}" if item.canonical_id else f"item:{item.pk}"))[:255]


def _scope(run: Run) -> Q:
    if run.flow_id:
        return Q(exception__flow_id=run.flow_id)
    return Q(exception__flow__isnull=True, exception__connection_id=run.connection_id,
             exception__object_type=run.object_type)


# --- failed items ----------------------------------------------------------------------------------
def _ingest_failures(run: Run, report: IngestReport) -> set[int]:
    touched: set[int] = set()
    problems = run.items.filter(outcome__in=PROBLEMS).order_by("pk")
    last_pk = 0
    while True:
        chunk = list(problems.filter(pk__gt=last_pk)[:CHUNK])
        if not chunk:
            return touched
        last_pk = chunk[-1].pk
        touched |= _ingest_chunk(run, chunk, report)


def _ingest_chunk(run: Run, items: list[RunItem], report: IngestReport) -> set[int]:
    contexts = contexts_for(run.object_type, items)
    groups: dict[str, list[RunItem]] = defaultdict(list)
    signatures = {}
    for item in items:
        kind = classifying.classify(category=item.error_category, message=item.error_message,
                                    conflict=item.outcome == ItemOutcome.CONFLICT)
        sig = classifying.signature(kind=kind, message=item.error_message, flow_id=run.flow_id,
                                    connection_id=run.connection_id, object_type=item.object_type,
                                    error_field=item.error_field)
        signatures[sig.fingerprint] = sig
        groups[sig.fingerprint].append(item)
    touched = set()
    for fingerprint, group in groups.items():
        exception = _exception_for(signatures[fingerprint], run=run, source=Source.LEDGER, sample=group[-1],
                                   seen=group[0].created_at)
        added = _link_records(exception, group, contexts)
        touched.add(exception.pk)
        touched |= _move_records_out(run, exception, {record_key(i) for i in group})
        if added:
            _count(exception, added, group[-1].error_message, max(i.created_at for i in group))
            report.raised.add(exception.pk)
    return touched


def _exception_for(sig, *, run: Run | None, source: str, sample=None, seen: datetime, message: str = "",
                   connection_id: int | None = None, object_type: str = "", error_field: str = "",
                   severity: int | None = None) -> IntegrationException:
    defaults = {
        "kind": sig.kind, "source": source, "title": sig.title[:300],
        "message": (sample.error_message if sample is not None else message)[:4000],
        "error_field": (sample.error_field if sample is not None else error_field)[:120],
        "flow_id": run.flow_id if run else None,
        "connection_id": run.connection_id if run else connection_id,
        "object_type": (sample.object_type if sample is not None else (run.object_type if run else object_type)),
        "severity": severity or DEFAULT_SEVERITY.get(sig.kind, Severity.MEDIUM),
        "first_seen": seen, "last_seen": seen, "opened_at": seen,
    }
    exception, _ = IntegrationException.objects.get_or_create(fingerprint=sig.fingerprint, defaults=defaults)
    return exception


def _link_records(exception: IntegrationException, items: list[RunItem], contexts) -> int:
    """Upsert one record row per record and link each item once; returns how many items were new here."""
    links = ExceptionItem.objects.filter(exception=exception, run_item__in=[i.pk for i in items])
    already = set(links.values_list("run_item_id", flat=True))
    items = [i for i in items if i.pk not in already]
    if not items:
        return 0
    by_key: dict[str, list[RunItem]] = defaultdict(list)
    for item in items:
        by_key[record_key(item)].append(item)
    existing = {r.record_key: r for r in ExceptionRecord.objects.filter(exception=exception, record_key__in=by_key)}
    new, changed = [], []
    for key, group in by_key.items():
        latest = max(group, key=lambda i: (i.created_at, i.pk))
        context = contexts.get(latest.pk)
        record = existing.get(key)
        if record is None:
            record = ExceptionRecord(exception=exception, record_key=key, first_seen=min(i.created_at for i in group),
                                     occurrences=0, last_seen=latest.created_at)
            new.append(record)
        else:
            changed.append(record)
        _apply_item(record, latest, context, len(group))
    ExceptionRecord.objects.bulk_create(new)
    ExceptionRecord.objects.bulk_update(changed, ["is_open", "occurrences", "last_seen", "last_item", "hours",
                                                  "amount", "currency", "context", "external_id", "canonical_id",
                                                  "object_type"])
    records = {r.record_key: r for r in [*new, *changed]}
    ExceptionItem.objects.bulk_create(
        [ExceptionItem(exception=exception, record=records[record_key(i)], run_item=i) for i in items],
        ignore_conflicts=True)
    return len(items)


def _apply_item(record: ExceptionRecord, item: RunItem, context, count: int) -> None:
    record.occurrences += count
    if record.last_seen is None or item.created_at >= record.last_seen:
        record.last_seen = item.created_at
        record.last_item = item
    # A failure older than the success that cleared the record (a late sweep) does not reopen it.
    if record.cleared_at is None or item.created_at > record.cleared_at:
        record.is_open = True
    record.object_type, record.external_id = item.object_type, item.external_id[:255]
    record.canonical_id = item.canonical_id or record.canonical_id
    if context is not None:
        record.hours, record.amount, record.currency = context.hours, context.amount, context.currency
        record.context = context.as_json()


def _move_records_out(run: Run, exception: IntegrationException, keys: set[str]) -> set[int]:
    """A record now failing for another reason leaves the exception of its old reason (that one is fixed)."""
    moved = (ExceptionRecord.objects.filter(_scope(run), record_key__in=keys, is_open=True)
             .exclude(exception=exception).exclude(record_key=RUN_KEY))
    touched = set(moved.values_list("exception_id", flat=True))
    if touched:
        moved.update(is_open=False, cleared_at=timezone.now(), cleared_by="moved")
    return touched


def _count(exception: IntegrationException, added: int, message: str, seen: datetime) -> None:
    # Counters, not triage: QuerySet.update() adds in the database, so concurrent runs lose nothing.
    IntegrationException.objects.filter(pk=exception.pk).update(
        occurrences=F("occurrences") + added, last_seen=Greatest(F("last_seen"), seen), message=message[:4000])


# --- a run that failed as a whole ------------------------------------------------------------------
def _ingest_run_level(run: Run, report: IngestReport) -> set[int]:
    if run.status not in (RunStatus.FAILED, RunStatus.PAUSED) or not run.error_message:
        return set()
    if run.status == RunStatus.PAUSED and run.error_message.endswith("is disabled."):
        return set()  # switched off on purpose: not a failure
    kind = classifying.classify(category=run.error_category, message=run.error_message)
    sig = classifying.signature(kind=kind, message=run.error_message, flow_id=run.flow_id,
                                connection_id=run.connection_id, object_type=run.object_type, error_field="",
                                scope="run")
    seen = run.finished_at or timezone.now()
    exception = _exception_for(sig, run=run, source=Source.RUN, seen=seen, message=run.error_message)
    record, created = ExceptionRecord.objects.get_or_create(
        exception=exception, record_key=RUN_KEY,
        defaults={"first_seen": seen, "last_seen": seen, "object_type": run.object_type,
                  "context": {"run": run.pk}})
    if not created:
        record.occurrences, record.last_seen, record.context = record.occurrences + 1, seen, {"run": run.pk}
        record.is_open = record.is_open or record.cleared_at is None or seen > record.cleared_at
        record.save(update_fields=["occurrences", "last_seen", "context", "is_open"])
    _count(exception, 1, run.error_message, seen)
    report.raised.add(exception.pk)
    return {exception.pk}


# --- records that succeed later --------------------------------------------------------------------
def _clear(run: Run, report: IngestReport) -> set[int]:
    open_records = ExceptionRecord.objects.filter(_scope(run), is_open=True)
    touched: set[int] = set()
    if run.status in (RunStatus.SUCCEEDED, RunStatus.PARTIAL):
        touched |= _clear_records(open_records.filter(record_key=RUN_KEY), run.finished_at or timezone.now(), report)
    keys = set(open_records.exclude(record_key=RUN_KEY).values_list("record_key", flat=True))
    if not keys:
        return touched
    done: dict[str, datetime] = {}
    for key, when in (run.items.filter(outcome__in=CLEARING, external_id__in=keys)
                      .values_list("external_id", "created_at")):
        done[key] = max(done.get(key, when), when)
    for key, when in done.items():
        touched |= _clear_records(open_records.filter(record_key=key, last_seen__lte=when), when, report)
    return touched


def _clear_records(records, when: datetime, report: IngestReport) -> set[int]:
    touched = set(records.values_list("exception_id", flat=True))
    report.cleared += records.update(is_open=False, cleared_at=when, cleared_by="success")
    return touched


# --- sweeps ----------------------------------------------------------------------------------------
def runs_sweep(*, now: datetime | None = None) -> int:
    """Take finished runs the signal missed (a worker died, a path that sends no signal), oldest first."""
    now = now or timezone.now()
    since = now - timedelta(hours=settings.WEFT_EXCEPTIONS_SWEEP_HOURS)
    taken = RunIngest.objects.values("run_id")
    runs = (Run.objects.filter(status__in=FINISHED, finished_at__gte=since).exclude(pk__in=taken)
            .select_related("flow", "connection").order_by("finished_at", "pk")[:200])
    count = 0
    for run in runs:
        count += exceptions_from_run(run=run, now=now).taken
    return count


def exceptions_from_events(*, now: datetime | None = None) -> int:
    """Failed webhook events become exceptions (one per event type and error); processed ones clear them."""
    now = now or timezone.now()
    since = now - timedelta(hours=settings.WEFT_EXCEPTIONS_SWEEP_HOURS)
    touched: set[int] = set()
    for event in InboundEvent.objects.filter(status=InboundEvent.Status.FAILED, processed_at__gte=since):
        touched |= _event_failure(event)
    waiting = ExceptionRecord.objects.filter(exception__source=Source.WEBHOOK, is_open=True)
    settled = InboundEvent.objects.filter(status__in=[InboundEvent.Status.PROCESSED, InboundEvent.Status.IGNORED])
    settled_keys = {f"event:{pk}": at for pk, at in settled.filter(
        pk__in=[int(k.split(":")[1]) for k in waiting.values_list("record_key", flat=True)]
    ).values_list("pk", "processed_at")}
    for key, when in settled_keys.items():
        touched |= _clear_records(waiting.filter(record_key=key), when or now, IngestReport())
    for exception_id in touched:
        exception_refresh(exception_id=exception_id, now=now)
    return len(touched)


@transaction.atomic
def _event_failure(event: InboundEvent) -> set[int]:
    kind = classifying.classify(category="", message=event.error_message)
    sig = classifying.signature(kind=kind, message=event.error_message, flow_id=None,
                                connection_id=event.connection_id, object_type="", error_field="",
                                scope=f"webhook:{event.event_type}")
    exception = _exception_for(sig, run=None, source=Source.WEBHOOK, seen=event.processed_at,
                               message=event.error_message, connection_id=event.connection_id)
    key = f"event:{event.pk}"
    record, created = ExceptionRecord.objects.get_or_create(
        exception=exception, record_key=key,
        defaults={"first_seen": event.processed_at, "last_seen": event.processed_at, "external_id": event.event_id,
                  "context": {"event": event.event_id, "type": event.event_type}})
    if not created and record.last_seen >= event.processed_at:
        return set()  # this failure was counted already
    if not created:
        ExceptionRecord.objects.filter(pk=record.pk).update(occurrences=F("occurrences") + 1, is_open=True,
                                                            last_seen=event.processed_at)
    _count(exception, 1, event.error_message, event.processed_at)
    return {exception.pk}
