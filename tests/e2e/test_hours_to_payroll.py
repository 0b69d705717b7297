"""Accelerator "hours to payroll", end to end: approved Harvest hours become lines on Xero Payroll UK timesheets,
per employee and pay period (Harvest and Xero Payroll are stateful fakes; every request and answer is checked
against the vendors' published OpenAPI documents). Each entry is sent once; a closed pay period (before the lock
date, or a timesheet Xero has approved) becomes an exception naming the person, the period and the hours."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.connectors.models import Connection
from apps.connectors.services import connection_update
from apps.exceptions.models import IntegrationException
from apps.runs.models import ItemOutcome, RunItem, RunStatus
from apps.runs.services import pull_run
from tests.e2e.support import XERO_TENANT, canonical_id, connect_harvest, install, run_flow
from tests.e2e.vendors_payroll import XERO_PAYROLL_URL, FakeXeroPayroll

pytestmark = pytest.mark.usefixtures("templates", "fanout")
ANN = "7d0c1f5e-1a2b-4c3d-8e9f-0a1b2c3d4e01"  # Ann's Xero Payroll employeeID
ORDINARY = "87f5b43a-cf51-4b74-92de-94c819e82d27"
OVERTIME = "87f5b43a-cf51-4b74-92de-94c819e82d28"


@pytest.fixture
def payroll(routes):
    fake = FakeXeroPayroll(period_start="2026-04-06")  # weekly, Monday to Sunday
    routes.vendors[XERO_PAYROLL_URL] = fake
    yield fake
    fake.transport.assert_clean()


@pytest.fixture
def setup(in_alpha, harvest, payroll):
    project = harvest.add_project(harvest.add_client("Acme Ltd"), "Website", "ACME-042")
    ann = harvest.add_user("Ann", "Lee", "ann.lee@example.com")
    bo = harvest.add_user("Bo", "Park", "bo.park@example.com")  # not on the payroll in Xero
    connection = connect_harvest()
    install(in_alpha, "hours-to-payroll", payroll_calendar_id=payroll.calendar["payrollCalendarID"],
            earnings_rate_id=ORDINARY, payroll_lock_date="2026-04-06")
    xero = Connection.objects.get(slug="xero-payroll")  # made by the install; the customer completes it
    assert xero.settings == {"payroll_calendar_id": payroll.calendar["payrollCalendarID"], "earnings_rate_id": ORDINARY}
    connection_update(connection=xero, credentials={"access_token": "xero-token"}, acting_user=None, changes={
        "is_enabled": True, "settings": {**xero.settings, "tenant_id": XERO_TENANT,
                                         "employee_ids": {"ann.lee@example.com": ANN},
                                         "earnings_rate_ids": {"Overtime": OVERTIME}}})
    for name in ("clients", "projects"):
        assert pull_run(connection=connection, object_name=name).status == RunStatus.SUCCEEDED
    assert run_flow("time-people-in").counts == {"created": 3}  # Ann, Bo and the account's own user
    return {"harvest": connection, "project": project, "ann": ann, "bo": bo}


def entry(harvest, setup, who: str, day: str, hours: float, *, approved: bool = True, task: str = "Development"):
    return harvest.add_time_entry(setup[who], setup["project"], spent_date=day, hours=hours, approved=approved,
                                  task=task)


def test_approved_hours_land_once_on_the_timesheet_of_their_pay_period(setup, harvest, payroll):
    for day, hours, task in (("2026-04-06", 7.5, "Development"), ("2026-04-07", 8, "Development"),
                             ("2026-04-08", 2, "Overtime"), ("2026-04-14", 6, "Development")):
        entry(harvest, setup, "ann", day, hours, task=task)
    entry(harvest, setup, "ann", "2026-04-09", 3, approved=False)  # not approved: not paid yet

    run_flow("time-in")

    assert payroll.lines(ANN) == [  # (pay period, day, hours, earnings rate)
        ("2026-04-06", "2026-04-06", 7.5, ORDINARY), ("2026-04-06", "2026-04-07", 8.0, ORDINARY),
        ("2026-04-06", "2026-04-08", 2.0, OVERTIME), ("2026-04-13", "2026-04-14", 6.0, ORDINARY)]
    assert sorted((s["startDate"], s["endDate"], s["status"]) for s in payroll.timesheets.values()) == [
        ("2026-04-06", "2026-04-12", "Draft"), ("2026-04-13", "2026-04-19", "Draft")]
    posts = payroll.calls("POST")
    assert len(posts) == 6 and all(r.headers.get("Idempotency-Key") for r in payroll.requests if r.method == "POST")

    again = run_flow("hours-to-payroll")  # the schedule's catch-up: everything is in the ledger already

    assert again.status == RunStatus.SUCCEEDED and again.counts.get("created", 0) == 0
    assert payroll.calls("POST") == posts and len(payroll.lines(ANN)) == 4
    items = RunItem.objects.filter(run__flow__slug="hours-to-payroll", outcome=ItemOutcome.CREATED)
    assert items.count() == 4 and all(i.target_external_id.count("/") == 1 for i in items)


def test_an_entry_taken_back_leaves_the_draft_timesheet(setup, harvest, payroll):
    kept, reopened = entry(harvest, setup, "ann", "2026-04-06", 7), entry(harvest, setup, "ann", "2026-04-07", 5)
    run_flow("time-in")
    assert len(payroll.lines(ANN)) == 2

    harvest.approve(reopened, approved=False)
    run_flow("time-in")

    assert payroll.lines(ANN) == [("2026-04-06", "2026-04-06", 7.0, ORDINARY)]
    assert payroll.calls("DELETE") and kept


def test_a_corrected_entry_is_changed_in_place_or_moved_to_the_timesheet_of_its_new_period(setup, harvest, payroll):
    longer, moved = entry(harvest, setup, "ann", "2026-04-06", 7), entry(harvest, setup, "ann", "2026-04-07", 5)
    run_flow("time-in")

    longer["hours"] = 7.5  # corrected in Harvest
    moved["spent_date"] = "2026-04-15"  # booked on the wrong week: it belongs to the next pay period
    harvest.approve(longer)
    harvest.approve(moved)
    run_flow("time-in")

    assert payroll.lines(ANN) == [("2026-04-06", "2026-04-06", 7.5, ORDINARY),
                                  ("2026-04-13", "2026-04-15", 5.0, ORDINARY)]
    assert [m for m, _ in payroll.calls("PUT", "DELETE")] == ["PUT", "DELETE"]
    updated = RunItem.objects.filter(run__flow__slug="hours-to-payroll", outcome=ItemOutcome.UPDATED)
    assert updated.count() == 2


def test_a_closed_pay_period_becomes_an_exception_with_the_person_period_and_hours(setup, harvest, payroll):
    payroll.approve(ANN, "2026-04-20")  # Xero approved Ann's timesheet for that week: the period is closed
    late = entry(harvest, setup, "ann", "2026-04-22", 5)
    locked = entry(harvest, setup, "ann", "2026-04-03", 4)  # before the payroll lock date
    stranger = entry(harvest, setup, "bo", "2026-04-07", 6)  # no Xero Payroll employee
    entry(harvest, setup, "ann", "2026-04-07", 8)

    run = run_flow("time-in")

    assert run.status == RunStatus.SUCCEEDED
    assert payroll.lines(ANN) == [("2026-04-06", "2026-04-07", 8.0, ORDINARY)]  # the good one went; none lost
    failed = {i.canonical_id: i.error_message for i in RunItem.objects.filter(run__flow__slug="hours-to-payroll",
                                                                                   outcome=ItemOutcome.FAILED)}
    ids = {name: canonical_id(setup["harvest"], "time_entry", e["id"])
           for name, e in (("late", late), ("locked", locked), ("stranger", stranger))}
    assert "Pay period 2026-04-20 to 2026-04-26 is closed in Xero Payroll for Ann Lee: their timesheet is Approved" \
        in failed[ids["late"]] and "5.00 h on 2026-04-22 were not sent" in failed[ids["late"]]
    assert failed[ids["locked"]].startswith("Payroll is locked before 2026-04-06")
    assert "Bo Park (bo.park@example.com) is not a Xero Payroll employee" in failed[ids["stranger"]]

    closed = IntegrationException.objects.get(message__contains="is closed in Xero Payroll")
    assert closed.people == ["Ann Lee"] and closed.hours_at_risk == Decimal("5.00")
    assert str(closed.period_start) == "2026-04-22" and closed.status == "open"
    assert IntegrationException.objects.filter(message__startswith="Payroll is locked before").get().hours_at_risk \
        == Decimal("4.00")


def test_a_change_xero_refuses_after_approval_is_an_exception_not_a_silent_drop(setup, harvest, payroll):
    sent = entry(harvest, setup, "ann", "2026-04-06", 7)
    run_flow("time-in")
    payroll.approve(ANN, "2026-04-06")  # the week is approved in Xero...
    sent["hours"] = 9  # ...then the hours are corrected in Harvest
    harvest.approve(sent)

    run_flow("time-in")

    failed = RunItem.objects.get(run__flow__slug="hours-to-payroll", outcome=ItemOutcome.FAILED)
    assert "answered 400" in failed.error_message and "closed pay period" in failed.error_message
    assert payroll.lines(ANN) == [("2026-04-06", "2026-04-06", 7.0, ORDINARY)]
    assert IntegrationException.objects.get(message__contains="closed pay period").people == ["Ann Lee"]
