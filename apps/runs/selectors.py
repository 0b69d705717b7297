"""Reads of flows, runs and the ledger shared by the engine, exceptions, reporting and the portal."""

from __future__ import annotations

from datetime import date, timedelta

from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone

from apps.canonical.models import OBJECT_MODELS, ExternalRef, Invoice, Person, Project, TimeEntry
from apps.runs.models import Flow, Run, RunItem, RunStatus

# A run that finished moving data counts, even if some records failed (those are exceptions, counted apart).
GOOD_STATUSES = (RunStatus.SUCCEEDED, RunStatus.PARTIAL)


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
    in_sync = refs.filter(last_synced_hash=OuterRef("content_hash"))
    queryset = model.objects.annotate(sent=Exists(refs), in_sync=Exists(in_sync))
    live = Q(deleted_at__isnull=True) & ~Q(in_sync=True)
    return queryset.filter(live | Q(deleted_at__isnull=False, sent=True)).exclude(source_connection=flow.connection)


def mapping_recent_source_payload(mapping) -> dict | None:
    """The latest source record the ledger holds for a flow using ``mapping`` (the mapping preview's sample)."""
    return (RunItem.objects.filter(run__flow__mapping=mapping).exclude(payload_before=None)
            .order_by("-created_at").values_list("payload_before", flat=True).first())


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
