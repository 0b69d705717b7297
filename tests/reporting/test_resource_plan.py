"""The forward view: bookings spread over their working days, against weekly capacity, with the over- and
under-booked flagged; the same figure on the portal page, the API and the CSV. Arithmetic written out by hand."""

from datetime import date
from decimal import Decimal as D

import pytest
from django_tenants.utils import schema_context

from apps.canonical.models import Assignment, Customer, Person, Project
from apps.reporting import selectors
from apps.reporting.errors import ReportFilterError
from apps.reporting.filters import ReportFilters
from tests.conftest import host, member

MONDAY = date(2026, 3, 2)


@pytest.fixture
def bookings(in_alpha):
    acme = Customer.objects.create(code="ACME", name="Acme Ltd", currency="EUR")
    p1 = Project.objects.create(code="ACME-1", name="Rollout", customer=acme, currency="EUR")
    p2 = Project.objects.create(code="ACME-2", name="Support", customer=acme, currency="EUR")
    ann = Person.objects.create(code="ANN", name="Ann", practice="Data", capacity_hours_per_week=40)
    bob = Person.objects.create(code="BOB", name="Bob", practice="Data", capacity_hours_per_week=20)
    Person.objects.create(code="CID", name="Cid", practice="Apps", capacity_hours_per_week=40)  # nothing booked
    Person.objects.create(code="OLD", name="Left", capacity_hours_per_week=40, is_active=False)
    # Ann: 60 h over two weeks (30 a week) on ACME-1, and 20 h in week 1 only on ACME-2: week 1 = 50 h > 40.
    Assignment.objects.create(person=ann, project=p1, start_date=MONDAY, end_date=date(2026, 3, 13), planned_hours=60)
    Assignment.objects.create(person=ann, project=p2, start_date=MONDAY, end_date=date(2026, 3, 6), planned_hours=20)
    # Bob: 12 h over Wed 4 to Tue 10 March (5 working days: 3 in week 1, 2 in week 2) = 7.20 h and 4.80 h.
    Assignment.objects.create(person=bob, project=p2, start_date=date(2026, 3, 4), end_date=date(2026, 3, 10),
                              planned_hours=12)
    Assignment.objects.create(person=bob, project=p1, planned_hours=30)  # no dates: cannot be spread


def test_booked_hours_against_capacity_per_person_and_week(bookings):
    table = selectors.resource_plan(filters=ReportFilters(start=date(2026, 3, 4)), weeks=3)
    rows = [(r["person"], r["week"], r["capacity_hours"], r["booked_hours"], r["load"], r["status"])
            for r in table.rows]
    assert rows == [
        ("ANN", date(2026, 3, 2), D("40.00"), D("50.00"), D("1.2500"), "over"),   # 30 + 20
        ("ANN", date(2026, 3, 9), D("40.00"), D("30.00"), D("0.7500"), "ok"),
        ("ANN", date(2026, 3, 16), D("40.00"), D("0.00"), D("0.0000"), "under"),
        ("BOB", date(2026, 3, 2), D("20.00"), D("7.20"), D("0.3600"), "under"),   # 12 × 3/5
        ("BOB", date(2026, 3, 9), D("20.00"), D("4.80"), D("0.2400"), "under"),   # 12 × 2/5
        ("BOB", date(2026, 3, 16), D("20.00"), D("0.00"), D("0.0000"), "under"),
        ("CID", date(2026, 3, 2), D("40.00"), D("0.00"), D("0.0000"), "under"),
        ("CID", date(2026, 3, 9), D("40.00"), D("0.00"), D("0.0000"), "under"),
        ("CID", date(2026, 3, 16), D("40.00"), D("0.00"), D("0.0000"), "under"),
    ]  # OLD has left: not in the plan
    assert table.summary["over_booked"] == ["ANN"] and table.summary["under_booked"] == ["ANN", "BOB", "CID"]
    assert any("1 assignment(s) without start" in note for note in table.notes)


def test_by_practice_adds_people_up_and_counts_the_flagged(bookings):
    table = selectors.resource_plan(filters=ReportFilters(start=MONDAY), weeks=1, by="practice")
    assert [(r["practice"], r["people"], r["capacity_hours"], r["booked_hours"], r["over_booked"], r["under_booked"])
            for r in table.rows] == [
        ("Apps", 1, D("40.00"), D("0.00"), 0, 1),
        ("Data", 2, D("60.00"), D("57.20"), 1, 1),  # Ann 50 (over) + Bob 7.20 (under)
    ]


def test_weeks_and_grouping_are_checked(bookings):
    with pytest.raises(ReportFilterError):
        selectors.resource_plan(filters=ReportFilters(), weeks=27)
    with pytest.raises(ReportFilterError):
        selectors.resource_plan(filters=ReportFilters(), by="project")


def test_the_portal_page_and_the_api_show_the_same_figure(cast, client, bookings):
    finance = member("finance_approver", customer=cast.alpha)
    client.force_login(finance)
    page = client.get("/reports/resource-plan/?start=2026-03-02&weeks=2", HTTP_HOST=host(cast.alpha))
    assert page.status_code == 200 and "Resource plan" in page.text
    assert "125.0%" in page.text and ">over<" in page.text.replace(" ", "")  # Ann's first week, flagged
    api = client.get("/api/v1/reports/resource-plan/?start=2026-03-02&weeks=2", HTTP_HOST=host(cast.alpha))
    assert api.status_code == 200
    body = api.json()
    assert body["summary"]["over_booked"] == ["ANN"] and len(body["rows"]) == 6
    with schema_context("alpha"):
        assert Assignment.objects.count() == 4
