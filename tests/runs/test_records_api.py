"""Reference data in bulk over the API: many people, customers, projects, assignments or rate cards per request,
a result per record, clear 4xx for bodies Weft cannot take, and only the customer whose domain was called."""

import pytest
from django_tenants.utils import schema_context

from apps.canonical.models import Assignment, Customer, Person, Project
from apps.connectors.models import Connection
from apps.exceptions.models import IntegrationException
from apps.tenants.choices import Role
from tests.conftest import host, member


@pytest.fixture
def post(cast, client):
    def call(path, user, data, customer=None):
        client.force_login(user)
        return client.post(f"/api/v1/{path}", data, content_type="application/json",
                           HTTP_HOST=host(customer or cast.alpha))

    return call


@pytest.fixture
def engineer(cast):
    return member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner)


def test_reference_data_is_stored_in_bulk_with_a_result_per_record(cast, post, engineer):
    customers = post("records/customers/", engineer, {"records": [
        {"code": "ACME", "name": "Acme Ltd", "currency": "EUR"}, {"Client Code": "GLOBEX", "Client": "Globex"}]})
    people = post("records/people/", engineer, {"records": [
        {"code": "E-001", "name": "Ann Lee", "email": "ann@firm.example", "capacity_hours_per_week": 32},
        {"code": "E-002", "first_name": "Bob", "last_name": "Ray", "Employee?": False},
        {"code": "E-003"},
        {"code": "E-001", "name": "Ann Again"}]})
    projects = post("records/projects/", engineer, {"records": [
        {"code": "ACME-042", "name": "Relaunch", "customer": "ACME", "manager": "E-001", "billing_type": "T&M"},
        {"code": "NOPE-1", "name": "Orphan", "customer": "NOBODY"}]})
    assignments = post("records/assignments/", engineer, {"records": [
        {"email": "ann@firm.example", "project": "ACME-042", "role": "Lead", "planned_hours": "120"}]})

    assert customers.status_code == 200 and customers.json()["counts"] == {"created": 2}
    body = people.json()
    assert people.status_code == 200 and body["connection"] == "api" and body["status"] == "partial"
    assert [(r["index"], r["outcome"], r["id"]) for r in body["results"]] == [
        (0, "created", "E-001"), (1, "created", "E-002"), (2, "failed", "E-003"), (3, "failed", "E-001")]
    assert "name is required but missing" in body["results"][2]["message"] and body["results"][2]["field"] == "name"
    assert "record 0 has the same key E-001" in body["results"][3]["message"]
    assert body["results"][0]["canonical_id"]
    results = projects.json()["results"]
    assert results[0]["outcome"] == "created" and results[1]["outcome"] == "failed"
    assert "no customer with code NOBODY is known yet" in results[1]["message"]
    assert assignments.json()["counts"] == {"created": 1}
    with schema_context(cast.alpha.schema_name):
        bob = Person.objects.get(code="E-002")
        assert (bob.name, bob.employment) == ("Bob Ray", "contractor")
        assert Customer.objects.get(code="GLOBEX").name == "Globex"
        relaunch = Project.objects.get(code="ACME-042")
        assert (relaunch.customer.code, relaunch.manager.code, relaunch.billing_type) == ("ACME", "E-001", "tm")
        assert Assignment.objects.get().person.code == "E-001"
        assert Connection.objects.get(slug="api").kind == "api"
        assert IntegrationException.objects.filter(kind="missing_reference").count() == 1
    with schema_context(cast.beta.schema_name):
        assert not Person.objects.exists() and not Connection.objects.filter(slug="api").exists()


def test_sending_the_same_records_again_changes_nothing(post, engineer):
    records = {"records": [{"code": "ACME", "name": "Acme Ltd"}]}
    post("records/customers/", engineer, records)

    again = post("records/customers/", engineer, records)

    assert again.json()["counts"] == {"unchanged": 1}


@pytest.mark.parametrize(("path", "body", "expected"), [
    ("records/people/", [{"code": "E-1"}], "Expected a dictionary"),
    ("records/people/", {"records": {"code": "E-1"}}, "Expected a list"),
    ("records/people/", {"records": []}, "records"),
    ("records/people/", {"records": ["E-1"]}, "Expected a dictionary"),
    ("records/time_entries/", {"records": [{"code": "E-1"}]}, "Unknown object 'time_entries'"),
    ("records/people/", {"records": [{"code": "E-1"}], "connection": "nope"}, "No enabled API connection 'nope'"),
], ids=["not-an-object", "records-not-a-list", "no-records", "record-not-an-object", "unknown-object",
        "unknown-connection"])
def test_a_body_weft_cannot_take_answers_400_and_stores_nothing(cast, post, engineer, path, body, expected):
    answer = post(path, engineer, body)

    assert answer.status_code == 400 and expected in answer.content.decode()
    with schema_context(cast.alpha.schema_name):
        assert not Person.objects.exists()


def test_more_records_than_one_request_takes_is_refused(post, engineer):
    answer = post("records/customers/", engineer, {"records": [{"code": f"C{n}"} for n in range(5001)]})

    assert answer.status_code == 400 and "no more than 5000" in answer.content.decode()


def test_unknown_fields_and_unreadable_values_fail_their_record_only(post, engineer):
    answer = post("records/people/", engineer, {"records": [
        {"code": "E-1", "name": "Ann", "shoe_size": 41}, {"code": "E-2", "name": "Bob", "is_active": "maybe"},
        {"code": "E-3", "name": "Cy", "practice": ["a", "b"]}, {"code": "E-4", "name": "Dee"}]})

    results = answer.json()["results"]
    assert [r["outcome"] for r in results] == ["failed", "failed", "failed", "created"]
    assert "unknown field 'shoe_size'" in results[0]["message"]
    assert "is_active: 'maybe' is not yes/no" in results[1]["message"]
    assert "a value, not a list or object" in results[2]["message"]


def test_only_those_who_may_operate_the_customer_can_send_records(cast, post, charlie):
    viewer = member(Role.VIEWER, customer=cast.alpha)
    records = {"records": [{"code": "ACME", "name": "Acme"}]}

    assert post("records/customers/", viewer, records).status_code == 403
    assert post("records/customers/", charlie, records).status_code in (403, 404)
    with schema_context(cast.alpha.schema_name):
        assert not Customer.objects.exists()
