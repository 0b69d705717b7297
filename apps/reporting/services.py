"""Reporting's writes: its settings, and raising reconciliation differences as exceptions (through apps.exceptions)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from apps.canonical.models import ExternalRef, Project
from apps.common.errors import ExternalSystemError
from apps.common.objects import ObjectType
from apps.connectors.services import connection_kind
from apps.exceptions.choices import ACTIVE_STATUSES, Kind, Source
from apps.exceptions.models import IntegrationException
from apps.exceptions.services import RecordAtRisk, exception_clear, exception_raise
from apps.reporting import store
from apps.reporting.filters import ReportFilters
from apps.reporting.health import customer_health_refresh
from apps.reporting.models import (
    ActualWeek,
    InvoiceCycle,
    PlanWeek,
    ReconciliationWeek,
    ReportingSettings,
    Snapshot,
    TimeWeek,
    UnpostedEntry,
)
from apps.reporting.selectors import (
    SNAPSHOT,
    assignments_all,
    invoice_cycles_sql,
    outbound_flows,
    planned_by_week,
    reconciliation,
)
from apps.reporting.sql import monday
from apps.runs.models import Flow
from apps.runs.outbound import record_reference
from apps.tenants import access

logger = logging.getLogger(__name__)

SETTINGS_FIELDS = ("go_live_date", "manual_reconciliation_hours_per_week", "minutes_per_flagged_difference",
                   "hourly_cost", "currency", "time_basis")
SETTLE_DAYS = 2  # a week is reconciled only once it ended this long ago: the last entries of a week still travel
# A refresh recomputes entries changed since the previous one started, less this margin: a change saved before
# that start but committed after it was not visible to it.
CHANGE_MARGIN = timedelta(hours=1)
# At least this often a refresh recomputes everything: catches what leaves no trace in ``updated_at`` or the
# ledger (a cross-reference edited in the admin, an entry deleted outright, a transaction open longer than the margin).
FULL_EVERY = timedelta(hours=24)


@transaction.atomic
def reporting_settings_update(*, changes: dict, acting_user, reason: str = "") -> ReportingSettings:
    """Change the go-live date or ROI assumptions (kept with history, naming who and why)."""
    access.check(acting_user, "configuration.change")
    settings = ReportingSettings.objects.select_for_update().order_by("pk").first() or ReportingSettings()
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise ValueError(f"Not reporting settings: {', '.join(sorted(unknown))}")
    for name, value in changes.items():
        setattr(settings, name, value)
    settings._history_user = acting_user
    settings._change_reason = reason
    settings.full_clean()
    settings.save()
    return settings


@dataclass
class ReconciliationOutcome:
    """What a reconciliation check found and did: exceptions raised (or counted again) and cleared."""

    compared: int = 0
    flagged: int = 0
    raised: list[int] = field(default_factory=list)
    cleared: list[int] = field(default_factory=list)
    duplicates: int = 0  # Weft references a target holds on more than one record (read back only)


def reconciliation_check(*, filters: ReportFilters, read_back: bool = False, now=None) -> ReconciliationOutcome:
    """Compare hub and targets per project and week; raise a reconciliation exception per differing project-week
    and clear the ones that agree again. Weeks that ended less than ``SETTLE_DAYS`` ago are left alone.

    ``read_back``: where a target's connector kind offers ``read_totals``, compare against the totals the
    target itself reports instead of what Weft posted.
    """

    now = now or timezone.now()
    settled = timezone.localdate(now) - timedelta(days=SETTLE_DAYS)
    start, end = filters.window(default_days=8 * 7)
    end = min(end, settled)
    filters = filters.with_window(start, end)
    flows = {f.name: f for f in outbound_flows(filters, ObjectType.TIME_ENTRY)}
    totals = {f.pk: t for f in flows.values() if read_back and (t := reconciliation_read_back(
        flow=f, start=monday(start), end=end)) is not None}  # whole weeks, as the comparison
    table = reconciliation(filters=filters, read_back=totals, live=True)  # exceptions from the hub as it is now
    currencies = _project_currencies({r["project"] for r in table.rows})
    outcome = ReconciliationOutcome(compared=len(table.rows))
    for row in table.rows:
        week_end = row["week"] + timedelta(days=6)
        if week_end > settled:
            continue
        flow = flows[row["flow"]]
        key = f"{row['project']}:{row['week'].isoformat()}"
        if row["flagged"]:
            outcome.flagged += 1
            record = RecordAtRisk(key=key, context={"project": row["project"], "date": row["week"].isoformat(),
                                                    "week": row["week"].isoformat(), "status": row["status"]},
                                  hours=abs(row["hours_difference"]), amount=abs(row["amount_difference"]),
                                  currency=currencies.get(row["project"], ""))
            exception = exception_raise(
                kind=Kind.RECONCILIATION, source=Source.RECONCILIATION, scope=f"reconciliation:{flow.slug}:{key}",
                message=_message(flow, row), flow_id=flow.pk, connection_id=flow.connection_id,
                object_type=ObjectType.TIME_ENTRY, records=[record], now=now)
            outcome.raised.append(exception.pk)
        else:
            outcome.cleared += _clear(flow, key, now)
    if not (filters.project or filters.customer or filters.person or filters.practice):
        outcome.cleared += _clear_vanished(flows.values(), {(r["flow"], f"{r['project']}:{r['week'].isoformat()}")
                                                            for r in table.rows}, monday(start), settled, now)
    if read_back:
        for flow in flows.values():
            _check_duplicates(flow, monday(start), end, now, outcome)
    if outcome.raised or outcome.cleared:
        customer_health_refresh()  # the money at risk changed: the partner overview shows it at once
    return outcome


def _check_duplicates(flow: Flow, start: date, end: date, now, outcome: ReconciliationOutcome) -> None:
    """Raise a ``duplicate`` exception per Weft reference the target holds on more than one record (a write made
    twice: the ledger and the cross-reference know only one of them); clear those that are single again."""
    prefix = record_reference(flow.object_type, "")
    try:
        kind = connection_kind(flow.connection)
        held_twice = getattr(kind, "references_held_twice", None)
        found = None if held_twice is None else held_twice(flow.object_name, prefix=prefix, start=start, end=end)
    except ExternalSystemError as error:
        logger.warning("duplicate check in %s failed (%s)", flow.connection, error.message)
        return
    if found is None:
        return
    canonical = {reference: int(tail) for reference in found if (tail := reference[len(prefix):]).isdigit()}
    recorded = dict(ExternalRef.objects.filter(
        connection_id=flow.connection_id, object_type=flow.object_type, canonical_id__in=canonical.values(),
    ).values_list("canonical_id", "external_id"))
    for reference, ids in sorted(found.items()):
        outcome.duplicates += 1
        kept = recorded.get(canonical.get(reference))
        others = [i for i in ids if i != kept]
        message = (f"{flow.connection} holds {len(ids)} {flow.object_name.replace('_', ' ')} under Weft reference "
                   f"{reference} (ids {', '.join(ids)}): the same record was written more than once. "
                   + (f"Weft knows id {kept}; delete {', '.join(others)} there." if kept in ids
                      else "Keep one and delete the others there, then run the flow again."))
        exception = exception_raise(
            kind=Kind.DUPLICATE, source=Source.RECONCILIATION, scope=f"held-twice:{flow.slug}:{reference}",
            message=message, fingerprint_text=f"held twice: {reference}", flow_id=flow.pk,
            connection_id=flow.connection_id, object_type=flow.object_type, now=now,
            records=[RecordAtRisk(key=reference, context={"reference": reference, "ids": ids, "kept": kept or ""})])
        outcome.raised.append(exception.pk)
    for exception in IntegrationException.objects.filter(kind=Kind.DUPLICATE, source=Source.RECONCILIATION,
                                                         flow=flow, status__in=ACTIVE_STATUSES):
        if not exception.records.filter(record_key__in=list(found)).exists():
            exception_clear(exception=exception, reason="Reconciled: the target holds each reference once again.",
                            now=now)
            outcome.cleared.append(exception.pk)


def _clear_vanished(flows, compared: set[tuple[str, str]], start: date, settled: date, now) -> list[int]:
    """Open differences of settled weeks in the window that the check no longer sees at all (the entries
    were rejected or deleted on both sides): nothing left to compare agrees, so they close too. Only after
    an unnarrowed check: one narrowed to a project says nothing of the others' weeks."""
    cleared = []
    open_ones = (IntegrationException.objects.filter(kind=Kind.RECONCILIATION, flow__in=list(flows),
                                                     status__in=ACTIVE_STATUSES)
                 .select_related("flow").prefetch_related("records"))
    for exception in open_ones:
        for record in exception.records.all():
            week = _week(record.context.get("week"))
            if (record.is_open and week is not None and start <= week and week + timedelta(days=6) <= settled
                    and (exception.flow.name, record.record_key) not in compared):
                exception_clear(exception=exception, now=now,
                                reason="Reconciled: the week has nothing left to compare on either side.")
                cleared.append(exception.pk)
                break
    return cleared


def _week(value) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def _message(flow: Flow, row: dict) -> str:
    return (f"Approved time for {row['project']} in the week of {row['week'].isoformat()}: the hub has "
            f"{row['source_hours']} h / {row['source_amount']}, {flow.connection} has {row['target_hours']} h"
            f"{'' if row['target_amount'] is None else ' / ' + str(row['target_amount'])} ({row['status']}).")


def _clear(flow: Flow, key: str, now) -> list[int]:
    cleared = []
    for exception in IntegrationException.objects.filter(kind=Kind.RECONCILIATION, flow=flow,
                                                         status__in=ACTIVE_STATUSES, records__record_key=key):
        exception_clear(exception=exception, reason="Reconciled: the hub and the target agree again.", now=now)
        cleared.append(exception.pk)
    return cleared


def _project_currencies(codes: set[str]) -> dict[str, str]:
    return {code: currency or customer_currency for code, currency, customer_currency in
            Project.objects.filter(code__in=codes).values_list("code", "currency", "customer__currency")}


def reconciliation_read_back(*, flow: Flow, start: date, end: date) -> dict | None:
    """Totals the target reports itself, keyed like the reconciliation: {(project id, week): {hours, amount}}.

    Only kinds with ``read_totals(object_name, *, start, end)`` offer this (Tryton's timesheet lines); it returns
    ``{(project external id, week Monday): (hours, amount or None)}``. None where the kind has no such read for
    the flow's object, or the target cannot be reached (the check then compares with what Weft posted).
    """

    try:  # a connection not set up yet, or a target out of reach, is no reason to skip the check
        kind = connection_kind(flow.connection)
        read_totals = getattr(kind, "read_totals", None)
        totals = None if read_totals is None else read_totals(flow.object_name, start=start, end=end)
    except ExternalSystemError as error:
        logger.warning("reconciliation read-back from %s failed (%s): comparing with what Weft posted",
                       flow.connection, error.message)
        return None
    if totals is None:
        return None
    projects = dict(ExternalRef.objects.filter(connection_id=flow.connection_id, object_type=ObjectType.PROJECT,
                                               external_id__in=[str(k[0]) for k in totals])
                    .values_list("external_id", "canonical_id"))
    keyed: dict[tuple, dict] = {}
    for (external_id, week), (hours, amount) in totals.items():
        project_id = projects.get(str(external_id))
        if project_id is not None:
            keyed[(project_id, week)] = {"hours": Decimal(str(hours)).quantize(Decimal("0.01")),
                                         "amount": None if amount is None else Decimal(str(amount))}
    return keyed


CYCLE_COLUMNS = ("invoice_id", "project_id", "customer_id", "issue_date", "days")


def reporting_refresh_request() -> bool:
    """A run finished: mark the stored figures stale. True when no refresh is waiting yet (so queue one); before
    the first refresh there is nothing to mark, and every request queues one (all but the first find it done)."""
    marked = Snapshot.objects.filter(name=SNAPSHOT, refresh_pending=False).update(refresh_pending=True)
    return bool(marked) or not Snapshot.objects.filter(name=SNAPSHOT).exists()


def reporting_refresh_claim() -> None:
    """A queued refresh starts: clear the mark first, so a run finishing from now on queues the next one."""
    Snapshot.objects.filter(name=SNAPSHOT, refresh_pending=True).update(refresh_pending=False)


@transaction.atomic
def reporting_refresh(*, requested_at=None, full: bool = False) -> Snapshot:
    """Store what is unposted, the weekly time and reconciliation sums, and the invoice cycles, as of now.

    Only the time entry ranges (``store.PART``) whose entries changed or were posted since the previous
    refresh are recomputed; everything is when ``full``, before the first one, when rates, currencies or
    the enabled outbound flows changed (``store.config_hash``), and at least every ``FULL_EVERY``.
    ``requested_at``: the finish time of the run that asked; a refresh that started after it covers it,
    so queued duplicates do nothing. Concurrent refreshes of one schema queue behind a lock.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':reporting_refresh'))")
        # A full refresh groups a million entries; with the default 4 MB its sorts spill to disk (twice as slow).
        cursor.execute("SET LOCAL work_mem = '64MB'")
    current = Snapshot.objects.filter(name=SNAPSHOT).first()
    if current is not None and requested_at is not None and current.refreshed_at >= requested_at:
        return current
    started = timezone.now()
    flows = outbound_flows(ReportFilters(), ObjectType.TIME_ENTRY)
    config = store.config_hash(flows)
    full = (full or current is None or current.config_hash != config or current.full_at is None
            or started - current.full_at >= FULL_EVERY)
    since = None if full else current.refreshed_at - CHANGE_MARGIN
    parts = None if since is None else store.touched_parts(since)
    if parts is None or parts:
        _store_time(flows, parts)
    _store_cycles(parts, since)
    plan = store.plan_hash()
    if full or plan != current.plan_hash:
        _store_plan()
    if full:
        _analyze()
    took = int((timezone.now() - started).total_seconds() * 1000)
    snapshot, _ = Snapshot.objects.update_or_create(name=SNAPSHOT, defaults={
        "refreshed_at": started, "took_ms": took, "config_hash": config, "flow_ids": [f.pk for f in flows],
        "full_at": started if full else current.full_at, "parts": None if parts is None else len(parts),
        "plan_hash": plan})
    return snapshot


def _analyze() -> None:
    """Fresh planner statistics after rewriting every stored row: autovacuum would get there, minutes later."""
    tables = (UnpostedEntry, TimeWeek, ActualWeek, PlanWeek, ReconciliationWeek, InvoiceCycle)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {', '.join(model._meta.db_table for model in tables)}")


def _store_plan() -> None:
    """Spread every assignment over its weeks again (a few thousand rows; only when the assignments changed)."""
    planned = planned_by_week(assignments_all(), date.min, date.max)
    sql = store.PLANNED_SQL if planned else ""
    store.store_replace(PlanWeek, ("person_id", "project_id", "week", "hours"), sql, [store.planned_json(planned)],
                        parts=None)


def _store_cycles(parts: list[int] | None, since) -> None:
    """Recompute the invoice cycles of invoices changed since ``since``, or billing time in ``parts`` (None: all)."""
    if parts is None:
        store.store_replace(InvoiceCycle, CYCLE_COLUMNS, invoice_cycles_sql(), [], parts=None)
        return
    ids = store.touched_invoices(since, parts)
    if ids:
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {InvoiceCycle._meta.db_table} WHERE invoice_id = ANY(%s)", [ids])
            names = ", ".join(CYCLE_COLUMNS)
            cursor.execute(f"INSERT INTO {InvoiceCycle._meta.db_table} ({names}) SELECT {names} FROM "
                           f"({invoice_cycles_sql('i.id = ANY(%s)')}) s", [ids])


def _store_actual(weeks: set[date] | None) -> None:
    """Add up the ``TimeWeek`` rows of ``weeks`` (None: all) again into ``ActualWeek``."""
    table = ActualWeek._meta.db_table
    clause, params = ("TRUE", []) if weeks is None else ("week = ANY(%s)", [sorted(weeks)])
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE {clause}", params)
        time = f"SELECT * FROM {TimeWeek._meta.db_table} WHERE {clause}"
        cursor.execute(f"INSERT INTO {table} (person_id, project_id, week, hours) {store.actual_weeks_sql(time)}",
                       params)


def _store_time(flows: list[Flow], parts: list[int] | None) -> None:
    """Recompute the stored rows of the time entries in ``parts`` (None: all)."""
    clause, params = store.parts_clause(parts, "te.id")
    unposted = store.unposted_entries_sql(flows, (clause,), tuple(params)) if flows else ("", [])
    store.store_replace(UnpostedEntry, store.UNPOSTED_COLUMNS, *unposted, parts=parts, id_column="time_entry_id")
    weeks = store.weeks_of(TimeWeek, parts)
    store.store_replace(TimeWeek, store.TIME_COLUMNS, store.time_segments_sql([clause]), params, parts=parts)
    _store_actual(None if parts is None else weeks | store.weeks_of(TimeWeek, parts))
    sqls = [store.reconciliation_rows_sql(flow, [clause], params) for flow in flows]
    # Each flow's rows are a WITH query: wrapped, so two outbound time flows (journal and payroll) can be joined.
    columns = ", ".join(store.RECONCILIATION_COLUMNS)
    store.store_replace(ReconciliationWeek, store.RECONCILIATION_COLUMNS,
                        " UNION ALL ".join(f"SELECT {columns} FROM ({s}) live" for s, _ in sqls),
                        [p for _, flow_params in sqls for p in flow_params], parts=parts)
