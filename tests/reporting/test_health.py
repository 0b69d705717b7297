"""The public health summary: written after runs and by a schedule, judged against the SLA, read by the overview."""

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_q.models import Schedule
from django_tenants.utils import schema_context

from apps.portal.selectors import partner_overview
from apps.reporting.health import customer_health_refresh
from apps.runs.models import Run, RunStatus
from apps.runs.signals import run_finished
from apps.tenants.choices import SlaStatus
from apps.tenants.health_summary import HealthFigures, sla_assess
from apps.tenants.models import Customer, CustomerHealth
from apps.tenants.tasks import every_tenant_run

NOW = timezone.now()


def flow(name="Time in", *, success_hours_ago=None, every_minutes=15, scheduled=True, created_hours_ago=100):
    success = None if success_hours_ago is None else (NOW - timedelta(hours=success_hours_ago)).isoformat()
    return {"name": name, "enabled": True, "scheduled": scheduled, "every_minutes": every_minutes,
            "created_at": (NOW - timedelta(hours=created_hours_ago)).isoformat(), "last_success_at": success}


@pytest.mark.parametrize("figures,status,reason", [
    (HealthFigures(), SlaStatus.UNKNOWN, "No flows"),
    (HealthFigures(flows=[flow(success_hours_ago=1)]), SlaStatus.OK, "synced recently"),
    (HealthFigures(flows=[flow(success_hours_ago=13)]), SlaStatus.AT_RISK, "Time in: no successful run for 13 h"),
    (HealthFigures(flows=[flow(success_hours_ago=30)]), SlaStatus.BREACHED, "Time in: no successful run for 30 h"),
    (HealthFigures(flows=[flow(success_hours_ago=None)]), SlaStatus.BREACHED, "4 days"),  # never, made 100 h ago
    (HealthFigures(flows=[flow(success_hours_ago=None, created_hours_ago=1)]), SlaStatus.OK, ""),  # just installed
    (HealthFigures(flows=[flow(success_hours_ago=30, every_minutes=24 * 60)]), SlaStatus.AT_RISK, ""),  # daily flow
    (HealthFigures(flows=[flow(success_hours_ago=300, scheduled=False)]), SlaStatus.OK, ""),  # event-driven: quiet
    (HealthFigures(open_exceptions=2, flows=[flow(success_hours_ago=1)]), SlaStatus.AT_RISK, "2 open exception"),
    (HealthFigures(open_exceptions=1, oldest_open_exception_at=NOW - timedelta(hours=25),
                   flows=[flow(success_hours_ago=1)]), SlaStatus.BREACHED, "open for 25 h"),
])
def test_sla_status_from_sync_freshness_and_exceptions(figures, status, reason):
    got, why = sla_assess(figures, now=NOW)
    assert got == status and reason in why


def test_refresh_summarises_the_customers_schema_into_the_public_table(cast, data):
    with schema_context("alpha"):
        health = customer_health_refresh()
    assert health.customer == cast.alpha and not health.stale and health.computed_at
    # The hand-computed data set (tests/reporting/dataset.py): E2, E4, E9, E10 approved and not posted.
    assert health.unposted_hours == Decimal("23.00") and health.unposted_value == Decimal("2670.00")
    assert health.open_exceptions >= 1 and health.unposted_currency == "EUR"
    assert [f["slug"] for f in health.flows] == [data.flow.slug]
    assert health.flows[0]["last_success_at"] is not None


def test_a_burst_of_finished_runs_queues_one_refresh(cast, data, django_capture_on_commit_callbacks):
    from apps.reporting.services import reporting_refresh

    reporting_refresh()
    CustomerHealth.objects.filter(customer=cast.alpha).update(stale=False)  # whatever earlier tests committed
    with mock.patch("apps.reporting.receivers.tenant_task_enqueue") as enqueue, schema_context("alpha"):
        for _ in range(3):
            run_finished.send(sender=Run, run=Run(status=RunStatus.SUCCEEDED, counts={"created": 1}))
    # One refresh of the stored figures, which refreshes the health summary after them.
    assert [c.args[:2] for c in enqueue.call_args_list] == [("alpha", "apps.reporting.tasks.reporting_refresh")]
    assert CustomerHealth.objects.get(customer=cast.alpha).stale


def test_the_overview_equals_the_drill_in_right_after_a_run(cast, data, django_capture_on_commit_callbacks):
    """The summary is computed after the run's figures are stored, never from the figures of the run before."""
    from apps.canonical.models import TimeEntry
    from apps.reporting.filters import ReportFilters
    from apps.reporting.selectors import unposted_time
    from apps.reporting.services import reporting_refresh

    with schema_context("alpha"):
        reporting_refresh()  # the figures as of the previous run
        e10 = data.entries["E10"]
        TimeEntry.objects.create(person=e10.person, project=e10.project, date=e10.date, hours=Decimal("3"),
                                 approval_status="approved", approved_at=e10.approved_at, content_hash="new")
        with django_capture_on_commit_callbacks(execute=True):
            run_finished.send(sender=Run, run=Run(status=RunStatus.SUCCEEDED, counts={"created": 1}))
        drill_in = unposted_time(filters=ReportFilters(as_of=timezone.localdate())).summary["hours"]
    overview = CustomerHealth.objects.get(customer=cast.alpha)
    assert drill_in == Decimal("26.00") and overview.unposted_hours == drill_in and not overview.stale


def test_the_queued_refresh_runs_after_commit_in_the_customers_schema(cast, django_capture_on_commit_callbacks):
    with schema_context("alpha"), django_capture_on_commit_callbacks(execute=True):
        run_finished.send(sender=Run, run=Run(status=RunStatus.SUCCEEDED, counts={"created": 1}))
    health = CustomerHealth.objects.get(customer=cast.alpha)
    assert health.computed_at and not health.stale  # django-q2 runs synchronously in the tests


def test_bookkeeping_failures_never_break_the_run(cast):
    with mock.patch("apps.reporting.health.usage_record", side_effect=RuntimeError("db hiccup")), \
            schema_context("alpha"):
        run_finished.send(sender=Run, run=Run(status=RunStatus.SUCCEEDED, counts={}))  # logged, not raised
        assert connection.schema_name == "alpha"


def test_the_schedule_refreshes_every_active_customer(cast):
    assert every_tenant_run("apps.reporting.tasks.customer_health_refresh") >= 3
    assert {"alpha", "beta", "gamma"} <= set(
        CustomerHealth.objects.filter(computed_at__isnull=False).values_list("customer__slug", flat=True))


def test_weft_schedules_installs_the_health_schedule(cast):
    call_command("weft_schedules", verbosity=0)
    schedule = Schedule.objects.get(name="platform:customer-health")
    assert schedule.func == "apps.tenants.tasks.every_tenant_run" and "customer_health_refresh" in schedule.args


def test_overview_reads_public_tables_only_whatever_the_number_of_customers(cast):
    """Customers made here have no schema at all: the overview would fail if it switched into one."""
    many = [Customer(partner=cast.xpartner, slug=f"firm-{n}", name=f"Firm {n}", schema_name=f"firm_{n}")
            for n in range(60)]
    Customer.objects.bulk_create(many)
    CustomerHealth.objects.bulk_create([CustomerHealth(customer=c, open_exceptions=n, computed_at=NOW)
                                        for n, c in enumerate(Customer.objects.filter(slug__startswith="firm-"))])
    with CaptureQueriesContext(connection) as queries:
        rows = partner_overview(cast.xpartner)
        assert len(rows) == 62 and sum(r["open_exceptions"] or 0 for r in rows) == sum(range(60))
    selects = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith("SET search_path")]
    assert len(selects) == 1  # customers joined to plan, health, this month's usage and primary domain
    assert connection.schema_name == "public"


def test_every_currency_reaches_the_summary_the_overview_and_the_metrics(cast, data, client):
    """Alpha has EUR 1,750 at risk (the data set) and USD 300 on one more exception; nothing is dropped."""
    from apps.exceptions.models import ExceptionRecord, IntegrationException
    from apps.ops.metrics import _health_gauges
    from apps.tenants.choices import Role
    from tests.conftest import member
    from tests.reporting.dataset import at

    with schema_context("alpha"):
        usd = IntegrationException.objects.create(fingerprint="usd", kind="validation", title="USD entry",
                                                  first_seen=at("06-30"), last_seen=at("06-30"),
                                                  opened_at=at("06-30"), open_records=1)
        ExceptionRecord.objects.create(exception=usd, record_key="usd-1", first_seen=at("06-30"),
                                       last_seen=at("06-30"), amount=Decimal("300.00"), currency="USD")
        health = customer_health_refresh()
    assert health.money_at_risk_amounts == {"EUR": "1750.00", "USD": "300.00"}
    assert (health.money_at_risk, health.money_at_risk_currency) == (Decimal("1750.00"), "EUR")  # the sort key
    assert health.unposted_values == {"EUR": "2670.00"}

    client.force_login(member(Role.ANALYST, partner=cast.xpartner, username="xanalyst2"))
    page = client.get("/", HTTP_HOST=cast.xpartner.domain_suffix).content.decode()
    row = page[page.index('data-customer="alpha"'):]
    assert "EUR 1,750.00 · USD 300.00" in row[:row.index("</tr>")]
    assert "USD 300.00" in page[page.index('data-figure="money-at-risk"'):][:200]

    [_, money] = list(_health_gauges())
    samples = {(s.labels["tenant"], s.labels["currency"]): s.value for s in money.samples}
    assert samples[("alpha", "USD")] == 300.0 and samples[("alpha", "EUR")] == 1750.0
