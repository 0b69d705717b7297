"""Customer health for the partner overview, and reconciliation differences raised (and cleared) as exceptions."""

from datetime import date
from decimal import Decimal as D

from apps.canonical.models import ExternalRef
from apps.exceptions.choices import Kind, Status
from apps.exceptions.models import IntegrationException
from apps.reporting.filters import ReportFilters
from apps.reporting.health import customer_health_compute
from apps.reporting.services import reconciliation_check
from tests.reporting.dataset import at


def test_customer_health(data):
    health = customer_health_compute(now=at("06-30", 12))
    assert health["open_exceptions"] == 4  # X1, X2, X3, X5 (X4 is resolved)
    assert (health["money_at_risk"], health["money_at_risk_currency"]) == (D("1750.00"), "EUR")  # 750 + 1000
    # Unposted as of 30 June: E2 6 h/720, E4 5 h/750, E9 10 h/1000, E10 2 h/200.
    assert (health["unposted_hours"], health["unposted_value"], health["unposted_currency"]) == (
        D("23.00"), D("2670.00"), "EUR")
    assert health["last_good_sync_at"] == at("06-03", 10)
    assert health["last_good_sync_by_flow"] == {"time-to-tryton": at("06-03", 10)}
    # June: 3 created + 4 updated items; runs R1 and R2; daily API windows 40 + 2 (May's and the 60 s one are not).
    assert (health["usage_month"], health["records_synced"], health["runs"], health["api_calls"]) == (
        date(2025, 6, 1), 7, 2, 42)


def test_customer_health_of_an_empty_customer(in_alpha):
    health = customer_health_compute()
    assert (health["open_exceptions"], health["money_at_risk"], health["unposted_hours"]) == (0, D("0"), 0)
    assert health["last_good_sync_at"] is None and health["api_calls"] == 0


def reconciliation_exceptions():
    return {x.records.get().record_key: x for x in IntegrationException.objects.filter(kind=Kind.RECONCILIATION)}


def test_reconciliation_raises_an_exception_per_differing_project_week_and_clears_it_when_fixed(data):
    june = ReportFilters(start=date(2025, 6, 2), end=date(2025, 6, 29))
    outcome = reconciliation_check(filters=june, now=at("07-02"))
    assert (outcome.compared, outcome.flagged) == (5, 4)
    raised = reconciliation_exceptions()
    assert sorted(raised) == ["ACME-1:2025-06-02", "ACME-1:2025-06-16", "ACME-1:2025-06-23", "ACME-2:2025-06-09"]
    e4_missing = raised["ACME-2:2025-06-09"]
    assert e4_missing.status == Status.OPEN and e4_missing.flow == data.flow
    assert (e4_missing.hours_at_risk, e4_missing.amount_at_risk, e4_missing.currency) == (D("5.00"), D("750.00"),
                                                                                         "EUR")
    assert "the hub has 9.00 h" in e4_missing.message and "Tryton has 4.00 h" in e4_missing.message

    # E10 reaches Tryton: its week agrees again and that exception clears; the others are counted once more.
    e10 = data.entries["E10"]
    ExternalRef.objects.create(object_type="time_entry", canonical_id=e10.pk, connection=data.tryton,
                               external_id="T-10", last_synced_hash=e10.content_hash)
    outcome = reconciliation_check(filters=june, now=at("07-03"))
    assert outcome.flagged == 3 and len(outcome.cleared) == 1
    after = reconciliation_exceptions()
    assert after["ACME-1:2025-06-23"].status == Status.RESOLVED
    assert after["ACME-2:2025-06-09"].status == Status.OPEN and after["ACME-2:2025-06-09"].occurrences == 2
    assert IntegrationException.objects.filter(kind=Kind.RECONCILIATION).count() == 4  # grouped, not repeated


def test_a_reconciliation_exception_closes_when_its_week_has_nothing_left_to_compare(data):
    # E10 (2 h, the only entry of ACME-1 in the week of 23 June) was never posted: flagged on 2 July. It is then
    # rejected at the source: the week is empty on both sides, which agrees; the next check closes it.
    june = ReportFilters(start=date(2025, 6, 2), end=date(2025, 6, 29))
    reconciliation_check(filters=june, now=at("07-02"))
    assert reconciliation_exceptions()["ACME-1:2025-06-23"].status == Status.OPEN
    data.entries["E10"].approval_status = "rejected"
    data.entries["E10"].save(update_fields=["approval_status"])

    outcome = reconciliation_check(filters=june, now=at("07-03"))

    gone = reconciliation_exceptions()["ACME-1:2025-06-23"]
    assert gone.status == Status.RESOLVED and gone.id in outcome.cleared and gone.open_records == 0
    assert reconciliation_exceptions()["ACME-2:2025-06-09"].status == Status.OPEN  # still differs: stays
    # A check narrowed to one project says nothing about the others' weeks: it leaves them as they are.
    data.entries["E10"].approval_status = "approved"
    data.entries["E10"].save(update_fields=["approval_status"])
    reconciliation_check(filters=june, now=at("07-04"))
    reopened = reconciliation_exceptions()["ACME-1:2025-06-23"]
    assert reopened.status == Status.OPEN
    data.entries["E10"].approval_status = "rejected"
    data.entries["E10"].save(update_fields=["approval_status"])
    reconciliation_check(filters=ReportFilters(start=date(2025, 6, 2), end=date(2025, 6, 29), project="ACME-2"),
                         now=at("07-05"))
    assert reconciliation_exceptions()["ACME-1:2025-06-23"].status == Status.OPEN


def test_reconciliation_leaves_weeks_that_are_still_settling(data):
    # On 30 June only weeks that ended by 28 June are reconciled: the week of 23 June (ends 29 June) waits.
    outcome = reconciliation_check(filters=ReportFilters(start=date(2025, 6, 2), end=date(2025, 6, 29)),
                                   now=at("06-30"))
    assert outcome.flagged == 3
    assert "ACME-1:2025-06-23" not in reconciliation_exceptions()


def test_the_daily_reconciliation_is_scheduled_for_every_tenant(cast):
    from django.core.management import call_command
    from django_q.models import Schedule

    call_command("weft_schedules", verbosity=0)
    schedule = Schedule.objects.get(name="platform:reconciliation-check")
    assert (schedule.func, schedule.schedule_type) == ("apps.tenants.tasks.every_tenant_run", Schedule.DAILY)
    assert "apps.reporting.tasks.reconciliation_check" in schedule.args


def test_the_reconciliation_task_works_in_its_own_tenant_only(data):
    from unittest import mock

    from django_tenants.utils import schema_context

    from apps.tenants.tasks import tenant_task_run

    with mock.patch("django.utils.timezone.now", return_value=at("07-02")):  # the last 8 weeks settled by 2 July
        tenant_task_run("beta", "apps.reporting.tasks.reconciliation_check")
        assert not reconciliation_exceptions()  # beta's run raised nothing here (alpha)
        tenant_task_run("alpha", "apps.reporting.tasks.reconciliation_check")
    # The June differences, and E9 (20 May, never posted) in the week of 19 May.
    assert sorted(reconciliation_exceptions()) == ["ACME-1:2025-05-19", "ACME-1:2025-06-02", "ACME-1:2025-06-16",
                                                   "ACME-1:2025-06-23", "ACME-2:2025-06-09"]
    with schema_context("beta"):
        assert not IntegrationException.objects.exists()
