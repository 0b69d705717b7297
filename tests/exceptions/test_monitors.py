"""Monitors raise exceptions for trouble no failed record shows, and resolve them when it clears."""

from datetime import UTC, datetime, timedelta

from django.utils import timezone

from apps.canonical.models import TimeEntry
from apps.connectors.models import ApiCallWindow, Connection, HealthStatus
from apps.connectors.services import connection_create
from apps.exceptions.choices import Kind, Status
from apps.exceptions.models import IntegrationException
from apps.exceptions.monitors import monitors_check
from apps.runs.models import Flow, Run, RunStatus
from tests.runs.journal import drop, run_flow


def _only(kind: str) -> IntegrationException:
    return IntegrationException.objects.get(kind=kind)


def test_a_scheduled_flow_that_did_not_run_is_an_expected_run_missed(setup):
    flow = setup["inbound"]
    Flow.objects.filter(pk=flow.pk).update(on_schedule=True, schedule_minutes=15)
    now = timezone.now()

    monitors_check(now=now + timedelta(minutes=20))
    assert not IntegrationException.objects.filter(kind=Kind.MISSED_RUN).exists()  # within twice the interval
    report = monitors_check(now=now + timedelta(minutes=31))
    missed = _only(Kind.MISSED_RUN)
    assert report.raised == [f"missed_run:{flow.pk}"] and missed.flow == flow and missed.status == Status.OPEN

    run_flow(flow)
    monitors_check(now=timezone.now())
    missed.refresh_from_db()
    assert missed.status == Status.RESOLVED
    assert missed.history.latest("history_date").history_user is None


def test_a_connection_failing_its_health_check(in_alpha):
    connection = connection_create(name="ERP", kind="csv", acting_user=None)
    Connection.objects.filter(pk=connection.pk).update(health_status=HealthStatus.FAILING,
                                                       last_check_message="inbox folder is missing")

    monitors_check(now=timezone.now())
    failing = _only(Kind.CONNECTION_HEALTH)
    assert "inbox folder is missing" in failing.title and failing.severity == 30

    Connection.objects.filter(pk=connection.pk).update(health_status=HealthStatus.OK)
    monitors_check(now=timezone.now())
    failing.refresh_from_db()
    assert failing.status == Status.RESOLVED


def test_the_daily_api_quota_nearly_spent(in_alpha):
    xero = connection_create(name="Xero", kind="xero", settings={"tenant_id": "t"}, credentials={"access_token": "x"},
                             acting_user=None)
    now = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    window = ApiCallWindow.objects.create(connection=xero, window_seconds=86400, calls=4400,
                                          window_start=datetime(2026, 11, 2, tzinfo=UTC))

    monitors_check(now=now)
    assert not IntegrationException.objects.filter(kind=Kind.QUOTA).exists()
    ApiCallWindow.objects.filter(pk=window.pk).update(calls=4600)  # 92 % of Xero's 5,000 a day
    monitors_check(now=now)
    assert "4600 of its 5000" in _only(Kind.QUOTA).title

    monitors_check(now=now + timedelta(days=1))  # a new day, a new allowance
    assert _only(Kind.QUOTA).status == Status.RESOLVED


def test_records_waiting_to_be_sent_for_too_long_are_a_backlog(setup, settings):
    settings.WEFT_EXCEPTIONS_BACKLOG_HOURS = 24
    Flow.objects.filter(pk=setup["outbound"].pk).update(is_enabled=False)  # nothing is sent for now
    drop(setup["in"], "time-01.csv", "t1,ann,ACME-042,2026-11-02,7.5,approved,ok\n")
    run_flow(setup["inbound"])
    Flow.objects.filter(pk=setup["outbound"].pk).update(is_enabled=True)
    TimeEntry.objects.update(updated_at=timezone.now() - timedelta(hours=30))

    monitors_check(now=timezone.now())
    backlog = IntegrationException.objects.get(kind=Kind.BACKLOG, flow=setup["outbound"])
    assert "1 record(s) waiting" in backlog.title

    run_flow(setup["outbound"])
    monitors_check(now=timezone.now())
    backlog.refresh_from_db()
    assert backlog.status == Status.RESOLVED
    assert Run.objects.filter(flow=setup["outbound"], status=RunStatus.SUCCEEDED).exists()


def test_webhook_events_waiting_too_long_are_a_backlog_that_clears_once_handled(in_alpha, settings):
    from apps.runs.models import InboundEvent

    settings.WEFT_EVENT_BACKLOG_MINUTES = 10
    hooks = connection_create(name="Hooks", slug="hooks", kind="webhook",
                              credentials={"signing_secret": "whsec-monitor-0123456789abcdef0123456"},
                              acting_user=None)
    for n in range(3):
        InboundEvent.objects.create(connection=hooks, event_id=f"evt-{n}", event_type="record.changed", payload={})
    now = timezone.now()

    monitors_check(now=now + timedelta(minutes=5))
    assert not IntegrationException.objects.filter(kind=Kind.BACKLOG).exists()  # behind, but within the limit
    monitors_check(now=now + timedelta(minutes=12))
    backlog = _only(Kind.BACKLOG)
    assert "3 webhook event(s) are queued; the oldest has waited 12 min" in backlog.title

    InboundEvent.objects.update(status=InboundEvent.Status.PROCESSED)
    monitors_check(now=now + timedelta(minutes=13))
    backlog.refresh_from_db()
    assert backlog.status == Status.RESOLVED
