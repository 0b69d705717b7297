"""Reads of flows, runs and the ledger shared by the engine, exceptions, reporting and the portal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count, Exists, Min, OuterRef, Q, Subquery
from django.utils import timezone

from apps.canonical.models import OBJECT_MODELS, ExternalRef, Invoice, Person, Project, TimeEntry
from apps.canonical.selectors import canonical_views
from apps.runs.models import FINISHED, Flow, FlowDirection, InboundEvent, ItemOutcome, Run, RunItem, RunStatus

# A run that finished moving data counts, even if some records failed (those are exceptions, counted apart).
GOOD_STATUSES = (RunStatus.SUCCEEDED, RunStatus.PARTIAL)


@dataclass(frozen=True)
class EventBacklog:
    """Webhook events stored and not yet handled: how many, and since when the oldest has waited."""

    waiting: int
    oldest_at: datetime | None

    def age(self, now: datetime | None = None) -> timedelta | None:
        return None if self.oldest_at is None else (now or timezone.now()) - self.oldest_at


def event_backlog() -> EventBacklog:
    """The events of this customer waiting for a worker (one indexed aggregate over status, received_at)."""
    found = InboundEvent.objects.filter(status=InboundEvent.Status.RECEIVED).aggregate(
        waiting=Count("pk"), oldest_at=Min("received_at"))
    return EventBacklog(waiting=found["waiting"], oldest_at=found["oldest_at"])


def flows_with_status() -> list[Flow]:
    """Every flow with ``last_run`` (the latest run) and ``last_success_at`` (latest good finish): 2 queries."""
    runs = Run.objects.filter(flow=OuterRef("pk"))
    latest = runs.order_by("-created_at").values("pk")[:1]
    last_good = runs.filter(status__in=GOOD_STATUSES).order_by("-finished_at").values("finished_at")[:1]
    flows = list(
        Flow.objects.select_related("connection")
        .annotate(last_run_id=Subquery(latest), last_success_at=Subquery(last_good))
        .order_by("direction", "name")
    )
    last_runs = Run.objects.in_bulk([f.last_run_id for f in flows if f.last_run_id])
    for flow in flows:
        flow.last_run = last_runs.get(flow.last_run_id)
    return flows


def failed_runs_since(*, hours: int) -> int:
    """Runs that failed outright in the last ``hours`` (partial runs show up as exceptions instead)."""
    since = timezone.now() - timedelta(hours=hours)
    return Run.objects.filter(status=RunStatus.FAILED, finished_at__gte=since).count()


def pending_records(flow):
    """Hub records this outbound flow still has to send, change or reverse. Reporting states the same rule in SQL
    for live time entries (``apps.reporting.store.pending_sql``); tests/reporting/test_rules_agree.py compares them."""
    model = OBJECT_MODELS[flow.object_type]
    refs = ExternalRef.objects.filter(connection=flow.connection, object_type=flow.object_type,
                                      canonical_id=OuterRef("pk"))
    if flow.write_back:  # the records that came from its connection and that the after-flow's target holds
        records = model.objects.filter(Exists(refs), source_connection=flow.connection, deleted_at__isnull=True)
        if flow.after_flow_id:
            records = records.filter(Exists(ExternalRef.objects.filter(
                connection_id=flow.after_flow.connection_id, object_type=flow.object_type,
                canonical_id=OuterRef("pk"))))
        return records
    in_sync = refs.filter(last_synced_hash=OuterRef("content_hash"))
    queryset = model.objects.annotate(sent=Exists(refs), in_sync=Exists(in_sync))
    live = Q(deleted_at__isnull=True) & ~Q(in_sync=True)
    return queryset.filter(live | Q(deleted_at__isnull=False, sent=True)).exclude(source_connection=flow.connection)


def target_id_lookup(connection_id: int):
    """``lookup(object_type, canonical_id)``: the record's id in that connection's system (None if not written
    there yet), cached per call; what outbound ``lookup`` rules ask."""
    cache: dict[tuple[str, str], str | None] = {}

    def lookup(object_type: str, canonical_id) -> str | None:
        key = (object_type, str(canonical_id))
        if key not in cache:
            cache[key] = ExternalRef.objects.filter(connection_id=connection_id, object_type=object_type,
                                                    canonical_id=canonical_id).values_list("external_id",
                                                                                           flat=True).first()
        return cache[key]

    return lookup


def mapping_preview_context(mapping) -> tuple[dict, object]:
    """The variables and target-id lookup a flow using ``mapping`` gives it, for the mapping preview (an enabled
    flow first); ``({}, None)`` when no flow uses it."""
    flow = Flow.objects.filter(mapping=mapping).order_by("-is_enabled", "pk").first()
    if flow is None:
        return {}, None
    lookup = target_id_lookup(flow.connection_id) if flow.direction == FlowDirection.OUTBOUND else None
    return dict(flow.variables or {}), lookup


def mapping_recent_source_payloads(mapping, n: int) -> list[dict]:
    """The latest ``n`` records the ledger holds for flows using ``mapping`` (the mapping preview's and field
    picker's samples): source payloads read for an inbound mapping, the hub's records sent for an outbound one."""
    items = RunItem.objects.filter(run__flow__mapping=mapping).order_by("-created_at", "-pk")
    if mapping.direction == "outbound":
        ids = list(dict.fromkeys(items.exclude(canonical_id=None).values_list("canonical_id", flat=True)[:n * 3]))[:n]
        views = canonical_views(mapping.object_type, ids)
        return [views[i] for i in ids if i in views]
    return list(items.exclude(payload_before=None).values_list("payload_before", flat=True)[:n])


def run_items_matching(items, term: str):
    """``items`` about the record a person names: a project code (``ACME-104``), a person's code, name or e-mail,
    an invoice number, a date (``2026-11-23``), an external id, or any text in the payloads or the error.

    Records in the hub are found by their business keys (then their items by the indexed canonical id); records
    that never reached the hub (an unknown project code) by the text of what was read or sent.
    """
    term = term.strip()
    if not term:
        return items
    projects = Project.objects.filter(code__iexact=term).values("pk")
    people = Person.objects.filter(Q(code__iexact=term) | Q(email__iexact=term) | Q(name__icontains=term)).values("pk")
    entries = TimeEntry.objects.filter(Q(project__in=projects) | Q(person__in=people))
    day = _as_date(term)
    if day is not None:
        entries = TimeEntry.objects.filter(Q(pk__in=entries.values("pk")) | Q(date=day))
    hub = (Q(object_type="project", canonical_id__in=projects) | Q(object_type="person", canonical_id__in=people)
           | Q(object_type="time_entry", canonical_id__in=entries.values("pk"))
           | Q(object_type="invoice", canonical_id__in=Invoice.objects.filter(number__iexact=term).values("pk")))
    text = (Q(external_id__iexact=term) | Q(target_external_id__iexact=term) | Q(error_message__icontains=term)
            | Q(payload_before__icontains=term) | Q(payload_after__icontains=term))
    return items.filter(hub | text)


def _as_date(term: str) -> date | None:
    try:
        return date.fromisoformat(term)
    except ValueError:
        return None


@dataclass(frozen=True)
class RunProgress:
    """What a run page shows while the run works: items by outcome, pace, what is left and where it is."""

    run: Run
    counts: dict[str, int]  # outcome → items so far, every outcome present (0 when none)
    processed: int
    elapsed_seconds: float | None
    rate: float | None  # items per second
    remaining: int | None  # None: the source does not say (an inbound read of files or pages)
    eta_seconds: float | None
    position: str  # where the current slice works: its cursor
    heartbeat_at: datetime | None
    finished: bool


def run_progress(run: Run, *, now: datetime | None = None) -> RunProgress:
    """The live progress of ``run``: two indexed queries (items by outcome; what is left for an outbound run)."""
    now = now or timezone.now()
    by_outcome = dict(RunItem.objects.filter(run=run).values_list("outcome").annotate(n=Count("pk")))
    counts = {outcome: by_outcome.get(outcome, 0) for outcome in ItemOutcome.values}
    processed = sum(counts.values())
    finished = run.status in FINISHED
    end = run.finished_at if finished and run.finished_at else now
    elapsed = (end - run.started_at).total_seconds() if run.started_at else None
    rate = processed / elapsed if elapsed and processed else None
    remaining = 0 if finished else _remaining(run)
    eta = remaining / rate if remaining is not None and rate else None
    return RunProgress(run, counts, processed, elapsed, rate, remaining, eta, run.cursor_end or "start",
                       run.updated_at if run.started_at else None, finished)


def _remaining(run: Run) -> int | None:
    """Records an outbound run has still to send (past its cursor); unknown for an inbound read."""
    after = int(run.cursor_end) if run.cursor_end.isdigit() else 0
    if run.record_ids is not None:
        return sum(1 for pk in run.record_ids if pk > after)
    if run.flow is None or run.flow.direction != FlowDirection.OUTBOUND:
        return None
    return pending_records(run.flow).filter(pk__gt=after).count()


def runs_recent(*, limit: int = 50):
    """The latest runs with their flows, newest first (the portal's run list)."""
    return Run.objects.select_related("flow", "connection").order_by("-created_at")[:limit]
