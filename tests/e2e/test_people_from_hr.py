"""Accelerator "people from HR", end to end: the HRIS behind Finch (a stateful fake, every request and answer
checked against Finch's OpenAPI document) owns who works here; people flow into the hub with their employment,
practice, hourly cost rate and weekly capacity, and on to employees in the real Tryton. A leaver is deactivated
in both (inactive in the hub, an end date in Tryton), never deleted. With a time connection, people also become
Harvest users (the Harvest fake, spec-checked the same way), and a leaver's user is archived, not deleted."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from apps.canonical.models import ExternalRef, Ownership, Person
from apps.connectors.models import Connection
from apps.connectors.services import connection_update
from tests.e2e.support import canonical_id, connect_harvest, connect_tryton, install, run_flow

pytestmark = pytest.mark.usefixtures("templates", "fanout")


@pytest.fixture
def hr(in_alpha, tryton, finch):
    """Tryton connected, the accelerator installed, and its Finch connection given its token and enabled."""
    erp = connect_tryton(tryton)
    install(in_alpha, "people-from-hr")
    finch_connection = connection_update(connection=Connection.objects.get(slug="finch"),
                                         changes={"is_enabled": True}, credentials={"access_token": "finch-token"},
                                         acting_user=None)
    return finch_connection, erp


@pytest.fixture
def hr_and_time(in_alpha, tryton, finch, harvest):
    """As ``hr``, installed with Harvest (connected first, with its token) as the time connection."""
    erp, time = connect_tryton(tryton), connect_harvest()
    install(in_alpha, "people-from-hr", time_connection="harvest")
    finch_connection = connection_update(connection=Connection.objects.get(slug="finch"),
                                         changes={"is_enabled": True}, credentials={"access_token": "finch-token"},
                                         acting_user=None)
    return finch_connection, erp, time


def hub_person(finch_connection, person: dict) -> Person:
    return Person.objects.get(pk=canonical_id(finch_connection, "person", person["id"]))


def tryton_employee(tryton, erp, person: Person) -> dict:
    employee_id = ExternalRef.objects.get(connection=erp, object_type="person", canonical_id=person.pk).external_id
    (row,) = tryton.client.read("company.employee", [int(employee_id)],
                                ["active", "end_date", "cost_price", "party.code", "party.name"],
                                context={"active_test": False})
    return row


def test_people_flow_from_the_hris_to_tryton_employees_and_leavers_are_deactivated_not_deleted(hr, tryton, finch):
    finch_connection, erp = hr
    ann = finch.hire("Ann", "Archer", department="Advisory",
                     income={"unit": "yearly", "amount": 8_600_000, "currency": "EUR", "effective_date": "2024-01-08"})
    bo = finch.hire("Bo", "Baker", department="Delivery", subtype="part_time", kind="contractor",
                    income={"unit": "hourly", "amount": 4_500, "currency": "EUR", "effective_date": "2025-06-01"})
    cy = finch.hire("Cy", "Cole", department="Advisory", start_date="2023-03-01",
                    income={"unit": "monthly", "amount": 602_000, "currency": "EUR", "effective_date": "2023-03-01"})

    first = run_flow("hr-people-in")

    assert first.counts == {"created": 3}
    assert Ownership.objects.get(object_type="person").connection == finch_connection
    people = {p["first_name"]: hub_person(finch_connection, p) for p in (ann, bo, cy)}
    assert [(p.code, p.name, p.employment, p.practice, p.capacity_hours_per_week, p.cost_rate, p.cost_currency)
            for p in people.values()] == [
        (ann["id"], "Ann Archer", "employee", "Advisory", Decimal("40.00"), Decimal("50.00"), "EUR"),
        (bo["id"], "Bo Baker", "contractor", "Delivery", Decimal("20.00"), Decimal("45.00"), "EUR"),
        (cy["id"], "Cy Cole", "employee", "Advisory", Decimal("40.00"), Decimal("42.00"), "EUR")]
    assert people["Ann"].extra["start_date"] == "2024-01-08" and people["Ann"].is_active
    for first_name, person in people.items():
        employee = tryton_employee(tryton, erp, person)
        assert employee["party."]["code"] == person.code and employee["party."]["name"] == person.name
        assert employee["active"] and employee["cost_price"] == person.cost_rate, first_name

    finch.leave(cy, end_date="2026-02-27")
    again = run_flow("hr-people-in")

    assert again.counts == {"updated": 1, "unchanged": 2}
    cy_person = hub_person(finch_connection, cy)
    assert not cy_person.is_active and cy_person.extra["end_date"] == "2026-02-27"
    cy_employee = tryton_employee(tryton, erp, cy_person)  # still there, with its history
    assert not cy_employee["active"] and cy_employee["end_date"] < dt.date.today()
    assert tryton_employee(tryton, erp, people["Ann"])["active"]

    assert run_flow("hr-people-in").counts == {"unchanged": 3}  # nothing moves twice
    assert Person.objects.filter(pk__in=[p.pk for p in people.values()]).count() == 3


def test_a_raise_dates_a_new_cost_price_and_a_rehired_leaver_is_reactivated(hr, tryton, finch):
    finch_connection, erp = hr
    dee = finch.hire("Dee", "Dunn", income={"unit": "hourly", "amount": 6_000, "currency": "EUR"})
    finch.leave(dee, end_date="2025-12-31")
    run_flow("hr-people-in")
    person = hub_person(finch_connection, dee)
    assert not person.is_active and not tryton_employee(tryton, erp, person)["active"]  # hired after leaving

    dee.update(is_active=True, end_date=None, start_date="2026-03-02",
               income={"unit": "hourly", "amount": 6_500, "currency": "EUR"})
    assert run_flow("hr-people-in").counts == {"updated": 1}

    person.refresh_from_db()
    employee = tryton_employee(tryton, erp, person)
    assert person.is_active and person.cost_rate == Decimal("65.00")
    assert employee["active"] and employee["end_date"] is None and employee["cost_price"] == Decimal("65.00")
    prices = tryton.client.search_read("company.employee_cost_price",
                                       [["employee", "=", employee["id"]]], ["cost_price"])
    assert sorted(p["cost_price"] for p in prices) == [Decimal("65.00")]  # the day's price replaced, not doubled


def harvest_user(harvest, time, person: Person) -> dict:
    user_id = ExternalRef.objects.get(connection=time, object_type="person", canonical_id=person.pk).external_id
    return harvest.users[int(user_id)]


def test_with_a_time_connection_people_become_harvest_users_and_a_leaver_is_archived_not_deleted(
        hr_and_time, tryton, finch, harvest):
    finch_connection, erp, time = hr_and_time
    eve = finch.hire("Eve", "Evans", subtype="part_time", kind="contractor", email="eve.evans@example.com",
                     income={"unit": "hourly", "amount": 7_000, "currency": "EUR"})

    run_flow("hr-emails-in")  # the work e-mail, which Harvest keys its users by
    run_flow("hr-people-in")

    person = hub_person(finch_connection, eve)
    user = harvest_user(harvest, time, person)
    assert [u["email"] for u in harvest.users.values()] == ["pat.admin@example.com", "eve.evans@example.com"]
    assert (user["first_name"], user["last_name"], user["is_contractor"], user["is_active"]) == (
        "Eve", "Evans", True, True)
    assert (user["weekly_capacity"], user["cost_rate"]) == (20 * 3600, 70.0)
    assert tryton_employee(tryton, erp, person)["active"]  # the ERP leg is as without Harvest

    writes = len(harvest.calls("POST", "PATCH"))
    assert run_flow("people-to-time-system").counts == {}  # nothing pending: Harvest holds the user as she is
    assert run_flow("hr-people-in").counts == {"unchanged": 1}
    assert len(harvest.calls("POST", "PATCH")) == writes

    finch.people[eve["id"]]["employment"]["subtype"] = "full_time"
    assert run_flow("hr-people-in").counts == {"updated": 1}
    assert harvest_user(harvest, time, person)["weekly_capacity"] == 40 * 3600
    assert len(harvest.users) == 2 and ("DELETE" not in {m for m, _ in harvest.calls()})

    finch.leave(eve, end_date="2026-02-27")
    assert run_flow("hr-people-in").counts == {"updated": 1}
    user = harvest_user(harvest, time, person)
    assert user["is_active"] is False and user["email"] == "eve.evans@example.com"  # archived, still there
    assert harvest.calls("PATCH")[-1] == ("PATCH", f"/users/{user['id']}")
    assert len(harvest.users) == 2 and not tryton_employee(tryton, erp, person)["active"]


def test_a_harvest_user_already_there_with_the_same_email_is_taken_over_not_duplicated(hr_and_time, finch, harvest):
    finch_connection, _, time = hr_and_time
    existing = harvest.add_user("Flo", "Fox", "Flo.Fox@example.com", weekly_capacity=72000)
    flo = finch.hire("Flo", "Fox", email="flo.fox@example.com",
                     income={"unit": "hourly", "amount": 5_000, "currency": "EUR"})

    run_flow("hr-emails-in")
    run_flow("hr-people-in")

    person = hub_person(finch_connection, flo)
    assert harvest_user(harvest, time, person)["id"] == existing["id"] and len(harvest.users) == 2
    assert (existing["weekly_capacity"], existing["cost_rate"]) == (40 * 3600, 50.0)  # the rate dated from today
    assert [r["amount"] for r in harvest.cost_rates[existing["id"]]] == [50.0]
