"""Monitors: trouble no failed record shows. Each finding is an exception that resolves itself when it clears.

- expected run missed: a scheduled flow whose last good run is older than twice its interval;
- connection health: a connection whose last health check failed;
- backlog: hub records an outbound flow still has to send, or failed records, older than a threshold; webhook
  events waiting for a worker longer than ``WEFT_EVENT_BACKLOG_MINUTES``;
- quota: a connection that has spent most of its kind's daily API allowance;
- re-authorization: an OAuth2 grant the vendor no longer honours (assigned to the customer's admin, with the link
  to click Connect again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from croniter import croniter
from django.conf import settings

from apps.common.errors import ApplicationError
from apps.connectors.kinds import get_kind
from apps.connectors.models import ApiCallWindow, Connection, GrantStatus, HealthStatus, OAuthGrant
from apps.connectors.ratelimit import DAY
from apps.connectors.selectors import connections_enabled
from apps.exceptions.choices import ACTIVE_STATUSES, Kind, Severity, Source
from apps.exceptions.classify import signature
from apps.exceptions.models import ExceptionRecord, IntegrationException
from apps.exceptions.notify import console_url
from apps.exceptions.services import (
    RecordAtRisk,
    current_customer,
    exception_assign,
    exception_clear,
    exception_raise,
)
from apps.runs.models import Flow, FlowDirection, Run, RunStatus
from apps.runs.selectors import event_backlog, pending_records
from apps.tenants.choices import Role
from apps.tenants.models import Membership


@dataclass
class MonitorReport:
    raised: list[str] = field(default_factory=list)
    cleared: list[str] = field(default_factory=list)


def monitors_check(*, now: datetime) -> MonitorReport:
    report = MonitorReport()
    for check in (_missed_runs, _connection_health, _outbound_backlog, _failed_backlog, _event_backlog, _quota,
                  _reauthorization):
        check(now, report)
    return report


def _finding(report: MonitorReport, *, kind: str, scope: str, found: bool, message: str, now: datetime,
             connection_id=None, flow_id=None, records: list[RecordAtRisk] | None = None) -> None:
    """Raise the monitor's exception while the condition holds; resolve it (by the system) once it clears."""
    if found:
        exception_raise(kind=kind, message=message, fingerprint_text=kind, scope=scope, source=Source.MONITOR,
                        connection_id=connection_id, flow_id=flow_id, records=records, now=now)
        report.raised.append(scope)
        return
    fingerprint = signature(kind=kind, message=kind, flow_id=flow_id, connection_id=connection_id, object_type="",
                            error_field="", scope=scope).fingerprint
    existing = IntegrationException.objects.filter(fingerprint=fingerprint, status__in=ACTIVE_STATUSES).first()
    if existing is not None:
        exception_clear(exception=existing, now=now, reason="Resolved by the system: the monitor's condition cleared.")
        report.cleared.append(scope)


# --- expected run missed -----------------------------------------------------------------------------
def flow_interval(flow: Flow, now: datetime) -> timedelta:
    if flow.schedule_cron:
        schedule = croniter(flow.schedule_cron, now)
        first = schedule.get_next(datetime)
        return schedule.get_next(datetime) - first
    return timedelta(minutes=max(flow.schedule_minutes, 1))


def _missed_runs(now: datetime, report: MonitorReport) -> None:
    flows = Flow.objects.filter(is_enabled=True, on_schedule=True, connection__is_enabled=True)
    for flow in flows:
        interval = flow_interval(flow, now)
        last = (Run.objects.filter(flow=flow, status__in=[RunStatus.SUCCEEDED, RunStatus.PARTIAL])
                .order_by("-finished_at").values_list("finished_at", flat=True).first())
        since = last or flow.created_at
        missed = now - since > 2 * interval
        minutes = int(interval.total_seconds() // 60)
        message = (f"{flow.name} should run every {minutes} min; its last good run was "
                   f"{'at ' + since.isoformat(timespec='minutes') if last else 'never'}.")
        _finding(report, kind=Kind.MISSED_RUN, scope=f"missed_run:{flow.pk}", found=missed, message=message,
                 now=now, flow_id=flow.pk, connection_id=flow.connection_id)


# --- connection health ---------------------------------------------------------------------------------
def _connection_health(now: datetime, report: MonitorReport) -> None:
    for connection in connections_enabled():
        failing = connection.health_status == HealthStatus.FAILING
        message = f"{connection.name} fails its health check: {connection.last_check_message or 'no reason given'}"
        _finding(report, kind=Kind.CONNECTION_HEALTH, scope=f"health:{connection.pk}", found=failing,
                 message=message, now=now, connection_id=connection.pk)


# --- backlog -------------------------------------------------------------------------------------------
def _outbound_backlog(now: datetime, report: MonitorReport) -> None:
    threshold = now - timedelta(hours=settings.WEFT_EXCEPTIONS_BACKLOG_HOURS)
    for flow in Flow.objects.filter(direction=FlowDirection.OUTBOUND, is_enabled=True).select_related("connection"):
        stale = pending_records(flow).filter(updated_at__lt=threshold)
        count = stale.count()
        message = (f"{flow.name}: {count} record(s) waiting to be sent for more than "
                   f"{settings.WEFT_EXCEPTIONS_BACKLOG_HOURS} h.")
        _finding(report, kind=Kind.BACKLOG, scope=f"backlog:{flow.pk}", found=count > 0, message=message, now=now,
                 flow_id=flow.pk, connection_id=flow.connection_id,
                 records=[RecordAtRisk(key=f"backlog:{flow.pk}", context={"waiting": count})])


def _failed_backlog(now: datetime, report: MonitorReport) -> None:
    threshold = now - timedelta(hours=settings.WEFT_EXCEPTIONS_BACKLOG_HOURS)
    old = (ExceptionRecord.objects.filter(is_open=True, first_seen__lt=threshold,
                                          exception__status__in=ACTIVE_STATUSES)
           .exclude(exception__source=Source.MONITOR))
    count = old.count()
    message = f"{count} failed record(s) older than {settings.WEFT_EXCEPTIONS_BACKLOG_HOURS} h are still open."
    _finding(report, kind=Kind.BACKLOG, scope="backlog:failed", found=count > 0, message=message, now=now,
             records=[RecordAtRisk(key="backlog:failed", context={"failed": count})])


def _event_backlog(now: datetime, report: MonitorReport) -> None:
    backlog = event_backlog()
    limit = timedelta(minutes=settings.WEFT_EVENT_BACKLOG_MINUTES)
    age = backlog.age(now)
    behind = age is not None and age > limit
    message = (f"{backlog.waiting} webhook event(s) are queued; the oldest has waited "
               f"{int(age.total_seconds() // 60) if age else 0} min (more than {settings.WEFT_EVENT_BACKLOG_MINUTES} "
               f"min): the workers are behind or stopped.")
    _finding(report, kind=Kind.BACKLOG, scope="backlog:events", found=behind, message=message, now=now,
             records=[RecordAtRisk(key="backlog:events", context={"waiting": backlog.waiting})])


# --- daily API quota -----------------------------------------------------------------------------------
def daily_allowance(connection: Connection) -> int | None:
    try:
        limit = get_kind(connection.kind).capabilities.rate_limit
    except ApplicationError:
        return None
    return next((calls for calls, seconds in limit.windows if seconds == DAY), None)


def _quota(now: datetime, report: MonitorReport) -> None:
    start = datetime.fromtimestamp(int(now.timestamp()) // DAY * DAY, tz=UTC)
    used = dict(ApiCallWindow.objects.filter(window_seconds=DAY, window_start=start)
                .values_list("connection_id", "calls"))
    for connection in connections_enabled():
        allowance = daily_allowance(connection)
        if allowance is None:
            continue
        calls = used.get(connection.pk, 0)
        nearly = calls >= allowance * settings.WEFT_EXCEPTIONS_QUOTA_WARN_PERCENT / 100
        message = f"{connection.name} has used {calls} of its {allowance} API calls today."
        _finding(report, kind=Kind.QUOTA, scope=f"quota:{connection.pk}", found=nearly, message=message, now=now,
                 connection_id=connection.pk)


# --- OAuth2 grants needing re-authorization ---------------------------------------------------------------------
def _reauthorization(now: datetime, report: MonitorReport) -> None:
    customer = current_customer()
    link = f"{console_url(customer)}/connections/"
    for grant in OAuthGrant.objects.select_related("connection"):
        scope = f"reauthorize:{grant.connection_id}"
        message = (f"Re-authorization needed: {grant.connection.name} no longer accepts Weft's access. "
                   f"Click Connect at {link} and sign in at the vendor. ({grant.message})")
        if grant.status != GrantStatus.REAUTHORIZE:
            _finding(report, kind=Kind.AUTH, scope=scope, found=False, message=message, now=now,
                     connection_id=grant.connection_id)
            continue
        exception = exception_raise(kind=Kind.AUTH, message=message, fingerprint_text=Kind.AUTH, scope=scope,
                                    source=Source.MONITOR, connection_id=grant.connection_id, severity=Severity.HIGH,
                                    now=now)
        report.raised.append(scope)
        if exception.owner_id is None and customer is not None:
            admin = _customer_admin(customer)
            if admin is not None:  # granting access to the customer's own system is the customer's call
                exception_assign(exception=exception, owner=admin, acting_user=None, customer=customer)


def _customer_admin(customer):
    membership = (Membership.objects.filter(customer=customer, role=Role.CUSTOMER_ADMIN, user__is_active=True)
                  .select_related("user").order_by("pk").first())
    return membership.user if membership else None

