"""Reporting's writes: its settings, and raising reconciliation differences as exceptions (through apps.exceptions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from apps.canonical.models import ExternalRef, Project
from apps.common.objects import ObjectType
from apps.reporting.filters import ReportFilters
from apps.reporting.models import InvoiceCycle, ReportingSettings, Snapshot, UnpostedEntry
from apps.reporting.selectors import (
    SNAPSHOT,
    invoice_cycles_sql,
    outbound_flows,
    reconciliation,
    unposted_entries_sql,
)
from apps.runs.models import Flow

SETTINGS_FIELDS = ("go_live_date", "manual_reconciliation_hours_per_week", "minutes_per_flagged_difference",
                   "hourly_cost", "currency")
SETTLE_DAYS = 2  # a week is reconciled only once it ended this long ago: the last entries of a week still travel


@transaction.atomic
def reporting_settings_update(*, changes: dict, acting_user, reason: str = "") -> ReportingSettings:
    """Change the go-live date or ROI assumptions (kept with history, naming who and why)."""
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


def reconciliation_check(*, filters: ReportFilters, read_back: bool = False, now=None) -> ReconciliationOutcome:
    """Compare hub and targets per project and week; raise a reconciliation exception per differing project-week
    and clear the ones that agree again. Weeks that ended less than ``SETTLE_DAYS`` ago are left alone.

    ``read_back``: where a target's connector kind offers ``read_totals``, compare against the totals the
    target itself reports instead of what Weft posted.
    """
    from apps.exceptions.choices import Kind, Source
    from apps.exceptions.services import RecordAtRisk, exception_raise

    now = now or timezone.now()
    settled = timezone.localdate(now) - timedelta(days=SETTLE_DAYS)
    start, end = filters.window(default_days=8 * 7)
    end = min(end, settled)
    filters = filters.with_window(start, end)
    flows = {f.name: f for f in outbound_flows(filters, ObjectType.TIME_ENTRY)}
    totals = {f.pk: t for f in flows.values() if read_back and (t := reconciliation_read_back(
        flow=f, start=start, end=end)) is not None}
    table = reconciliation(filters=filters, read_back=totals)
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
    return outcome


def _message(flow: Flow, row: dict) -> str:
    return (f"Approved time for {row['project']} in the week of {row['week'].isoformat()}: the hub has "
            f"{row['source_hours']} h / {row['source_amount']}, {flow.connection} has {row['target_hours']} h / "
            f"{row['target_amount']} ({row['status']}).")


def _clear(flow: Flow, key: str, now) -> list[int]:
    from apps.exceptions.choices import ACTIVE_STATUSES, Kind
    from apps.exceptions.models import IntegrationException
    from apps.exceptions.services import exception_clear

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

    Only kinds with ``read_totals(object_name, *, start, end)`` offer this; it returns
    ``{(project external id, week Monday): (hours, amount)}``. None where the kind has no such read.
    """
    from apps.connectors.services import connection_kind

    kind = connection_kind(flow.connection)
    read_totals = getattr(kind, "read_totals", None)
    if read_totals is None:
        return None
    totals = read_totals(flow.object_name, start=start, end=end)
    projects = dict(ExternalRef.objects.filter(connection_id=flow.connection_id, object_type=ObjectType.PROJECT,
                                               external_id__in=[str(k[0]) for k in totals])
                    .values_list("external_id", "canonical_id"))
    keyed: dict[tuple, dict] = {}
    for (external_id, week), (hours, amount) in totals.items():
        project_id = projects.get(str(external_id))
        if project_id is not None:
            keyed[(project_id, week)] = {"hours": Decimal(str(hours)), "amount": Decimal(str(amount))}
    return keyed


UNPOSTED_COLUMNS = ("flow_id", "time_entry_id", "project_id", "person_id", "work_date", "approved_day", "hours",
                    "billable_hours", "value", "unrated_hours", "currency")
CYCLE_COLUMNS = ("invoice_id", "project_id", "customer_id", "issue_date", "days")


@transaction.atomic
def reporting_refresh(*, requested_at=None) -> Snapshot:
    """Store what is unposted and the invoice cycles, as of now (seconds on a million entries; run in a task).

    ``requested_at``: the finish time of the run that asked; a refresh that started after it covers it,
    so queued duplicates do nothing. Concurrent refreshes of one schema queue behind a lock.
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':reporting_refresh'))")
    current = Snapshot.objects.filter(name=SNAPSHOT).first()
    if current is not None and requested_at is not None and current.refreshed_at >= requested_at:
        return current
    started = timezone.now()
    flows = outbound_flows(ReportFilters(), ObjectType.TIME_ENTRY)
    _replace(UnpostedEntry, UNPOSTED_COLUMNS, *(unposted_entries_sql(flows) if flows else ("", [])))
    _replace(InvoiceCycle, CYCLE_COLUMNS, invoice_cycles_sql(), [])
    took = int((timezone.now() - started).total_seconds() * 1000)
    snapshot, _ = Snapshot.objects.update_or_create(name=SNAPSHOT, defaults={"refreshed_at": started,
                                                                             "took_ms": took})
    return snapshot


def _replace(model, columns: tuple[str, ...], select_sql: str, params: list) -> None:
    table = model._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")
        if select_sql:
            names = ", ".join(columns)
            cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM ({select_sql}) s", params)
