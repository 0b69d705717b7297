"""Accelerator "people from HR", end to end: the HRIS behind Finch (a stateful fake, every request and answer
checked against Finch's OpenAPI document) owns who works here; people flow into the hub with their employment,
practice, hourly cost rate and weekly capacity, and on to employees in the real Tryton. A leaver is deactivated
in both (inactive in the hub, an end date in Tryton), never deleted."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from apps.canonical.models import ExternalRef, Ownership, Person
from apps.connectors.models import Connection
from apps.connectors.services import connection_update
from tests.e2e.support import canonical_id, connect_tryton, install, run_flow

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
