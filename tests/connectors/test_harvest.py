"""Harvest v2: reads page and resume, bad records become named errors while the rest land, writes never make a
second record, and a pull fills the hub. Every request is checked against Harvest's published OpenAPI spec."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from apps.canonical.models import Customer, ExternalRef, Person, Project, TimeEntry
from apps.common.errors import ErrorCategory
from apps.common.objects import Ref
from apps.connectors.errors import ConnectorError
from apps.connectors.kinds.harvest import HarvestKind
from apps.connectors.services import connection_create, connection_kind
from apps.runs.models import RunItem, RunStatus, SyncCursor
from apps.runs.services import pull_run
from tests.connectors.scripted import json_body, kind_with, vendor

BASE = "https://api.harvestapp.com/v2"
SETTINGS = {"account_id": "123456"}
CREDENTIALS = {"access_token": "harvest-token"}
PROJECT_REFERENCE = "weft-alpha-project-9"


def harvest(*answers, broken=False, sleeps=None, settings=None):
    transport = vendor("harvest", *answers, broken_responses=broken)
    kind = kind_with(HarvestKind, transport, settings={**SETTINGS, **(settings or {})}, credentials=CREDENTIALS,
                     sleeps=sleeps)
    return kind, transport


def ok(data, status=200) -> httpx.Response:
    return httpx.Response(status, json=data)


def page(key: str, items: list, *, number: int = 1, pages: int = 1, next_query: str | None = None) -> httpx.Response:
    return ok({
        key: items, "per_page": 2000, "total_pages": pages, "total_entries": len(items), "page": number,
        "next_page": number + 1 if next_query else None, "previous_page": number - 1 if number > 1 else None,
        "links": {"first": f"{BASE}/{key}?page=1&per_page=2000", "last": f"{BASE}/{key}?page={pages}&per_page=2000",
                  "next": f"{BASE}/{key}?{next_query}" if next_query else None, "previous": None},
    })


def client(id=101, name="Acme Ltd", updated="2024-03-01T10:00:00Z"):
    return {"id": id, "name": name, "is_active": True, "address": "1 Main St", "statement_key": "k", "currency": "EUR",
            "created_at": "2024-01-01T10:00:00Z", "updated_at": updated}


def project(id=777, client_id=101, code="ACME-042", notes="", updated="2024-03-02T10:00:00Z"):
    return {"id": id, "name": "Website", "code": code,
            "client": {"id": client_id, "name": "Acme Ltd", "currency": "EUR"}, "is_active": True,
            "is_billable": True, "is_fixed_fee": False, "bill_by": "Project", "hourly_rate": 150.0,
            "budget": 120.0, "budget_by": "project", "notes": notes, "starts_on": "2024-03-01", "ends_on": None,
            "created_at": "2024-03-01T10:00:00Z", "updated_at": updated}


def user(id=55, email="kim@acme.example", updated="2024-03-03T10:00:00Z"):
    return {"id": id, "first_name": "Kim", "last_name": "Allen", "email": email, "is_contractor": False,
            "is_active": True, "weekly_capacity": 126000, "cost_rate": 60.0, "created_at": "2024-01-01T10:00:00Z",
            "updated_at": updated}


def entry(id=8811, hours=2.5, updated="2024-03-11T18:00:00Z", **changes):
    record = {"id": id, "spent_date": "2024-03-11", "user": {"id": 55, "name": "Kim Allen"},
              "client": {"id": 101, "name": "Acme Ltd"}, "project": {"id": 777, "name": "Website"},
              "task": {"id": 3, "name": "Design"}, "hours": hours, "notes": "Wireframes", "is_locked": True,
              "locked_reason": "Item Approved and Locked for this Time Period", "is_closed": True, "is_billed": False,
              "is_running": False, "billable": True, "billable_rate": 150.0, "cost_rate": 60.0,
              "created_at": "2024-03-11T17:00:00Z", "updated_at": updated}
    record.update(changes)
    return record


def nonzero(counts: dict) -> dict:
    return {outcome: count for outcome, count in counts.items() if count}


def calls(transport) -> list[tuple[str, str]]:
    return [(r.method, r.url.path.removeprefix("/v2")) for r in transport.requests]


# --- reading ----------------------------------------------------------------------------------------------


def test_time_entries_are_read_page_by_page_following_links_next():
    kind, transport = harvest(
        page("time_entries", [entry(1), entry(2)], number=1, pages=3, next_query="page=2&per_page=2000"),
        page("time_entries", [entry(3)], number=2, pages=3, next_query="page=3&per_page=2000"),
        page("time_entries", [entry(4)], number=3, pages=3),
    )

    pages = list(kind.read("time_entries"))

    assert [record["id"] for p in pages for record in p.records] == [1, 2, 3, 4]
    assert [r.url.params.get("page") for r in transport.requests] == [None, "2", "3"]
    assert {(r.headers["Authorization"], r.headers["Harvest-Account-Id"]) for r in transport.requests} == {
        ("Bearer harvest-token", "123456")}
    # The cursor comes only with the last page: a read stopped half-way starts over, it never skips.
    assert [p.next_cursor for p in pages] == [None, None, "2024-03-11T18:00:00Z"]
    transport.assert_clean()


def test_clients_follow_harvest_cursor_pagination_and_never_the_link_host():
    kind, transport = harvest(
        page("clients", [client(1, "A")], next_query="cursor=eyJhZnRlciI6eyJpZCI6MX19&per_page=2000"),
        page("clients", [client(2, "B")]),
    )

    records = [r for p in kind.read("clients") for r in p.records]

    assert [r["name"] for r in records] == ["A", "B"]
    second = transport.requests[1]
    assert second.url.host == "api.harvestapp.com"
    assert second.url.params["cursor"] == "eyJhZnRlciI6eyJpZCI6MX19" and "page" not in second.url.params
    transport.assert_clean()


def test_incremental_read_sends_updated_since_and_moves_the_cursor_to_the_newest_change():
    kind, transport = harvest(page("time_entries", [
        entry(1, updated="2024-03-05T09:00:00Z"), entry(2, updated="2024-03-09T08:00:00Z"),
        entry(3, updated="2024-03-07T12:30:00Z"),
    ]))

    pages = list(kind.read("time_entries", cursor="2024-03-01T00:00:00Z"))

    assert transport.requests[0].url.params["updated_since"] == "2024-03-01T00:00:00Z"
    assert pages[-1].next_cursor == "2024-03-09T08:00:00Z"
    transport.assert_clean()


def test_a_read_with_nothing_new_keeps_the_cursor():
    kind, transport = harvest(page("time_entries", []))
    assert [p.next_cursor for p in kind.read("time_entries", cursor="2024-03-09T08:00:00Z")] == [
        "2024-03-09T08:00:00Z"]
    transport.assert_clean()


def test_the_cursor_never_passes_the_start_of_the_read_minus_an_overlap():
    just_now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    kind, transport = harvest(page("time_entries", [entry(1, updated=just_now)]))

    cursor = list(kind.read("time_entries"))[-1].next_cursor

    assert cursor < just_now  # something changed while we read would otherwise be skipped next time
    transport.assert_clean()


def test_429_with_retry_after_is_waited_out_and_nothing_is_lost():
    sleeps = []
    kind, transport = harvest(
        httpx.Response(429, headers={"Retry-After": "3"}, json={"message": "Too many requests"}),
        page("time_entries", [entry(1)], pages=2, next_query="page=2&per_page=2000"),
        httpx.Response(429, headers={"Retry-After": "1"}, json={"message": "Too many requests"}),
        page("time_entries", [entry(2)], number=2, pages=2),
        sleeps=sleeps,
    )

    records = [r["id"] for p in kind.read("time_entries") for r in p.records]

    assert records == [1, 2]
    assert sleeps[0] >= 3 and sleeps[1] >= 1
    transport.assert_clean()


def test_a_burst_of_5xx_is_retried():
    kind, transport = harvest(
        httpx.Response(502, headers={"Content-Type": "text/html"}, text="<html>Bad gateway</html>"),
        httpx.Response(503, json={"message": "busy"}), httpx.Response(500, json={"message": "oops"}),
        page("clients", [client()]),
    )
    assert [r["id"] for p in kind.read("clients") for r in p.records] == [101]
    assert len(transport.requests) == 4
    transport.assert_clean()


def test_a_lasting_outage_is_a_transient_error_that_says_what_was_being_read():
    kind, transport = harvest(*[httpx.Response(503, json={"message": "Service unavailable"})] * 4)
    with pytest.raises(ConnectorError) as failure:
        list(kind.read("time_entries"))
    assert not failure.value.permanent
    assert "Reading Harvest time_entries (page 1)" in failure.value.message and "503" in failure.value.message


@pytest.mark.parametrize(("answer", "expected"), [
    (httpx.Response(200, headers={"Content-Type": "text/html"}, text="<html><h1>Down for maintenance</h1></html>"),
     "expected JSON but got text/html"),
    (httpx.Response(200, headers={"Content-Type": "application/json"}, text='{"clients": [{"id": 1, "na'),
     "malformed JSON"),
    (httpx.Response(200, json={"error": "invalid_token"}), "the answer has no 'clients' list"),
    (httpx.Response(200, json=[1, 2]), "expected a JSON object"),
], ids=["html", "truncated", "no-list", "not-an-object"])
def test_a_malformed_response_is_a_clear_parse_error(answer, expected):
    kind, transport = harvest(answer, broken=True)
    with pytest.raises(ConnectorError) as failure:
        list(kind.read("clients"))
    assert failure.value.category == ErrorCategory.PARSE
    assert "Reading Harvest clients (page 1)" in failure.value.message and expected in failure.value.message
    transport.assert_clean()


def test_records_with_bad_fields_become_errors_naming_record_and_field_while_the_rest_land():
    no_date = entry(8813)
    del no_date["spent_date"]
    kind, transport = harvest(page("time_entries", [
        entry(8811), entry(8812, hours="abc"), no_date, entry(8814, project=None), "garbage",
        entry(8815, spent_date="11/03/2024"), entry(8816),
    ]), broken=True)

    [result] = list(kind.read("time_entries"))

    assert [r["id"] for r in result.records] == [8811, 8816]
    assert [(e.reference, e.field, e.message) for e in result.errors] == [
        ("Harvest time entry 8812", "hours", "hours 'abc' is not a number"),
        ("Harvest time entry 8813", "spent_date", "spent_date is missing"),
        ("Harvest time entry 8814", "project.id", "project.id is missing"),
        ("Harvest time entry #5 on page", None, "is not an object but str"),
        ("Harvest time entry 8815", "spent_date", "spent_date '11/03/2024' is not a date"),
    ]
    assert result.errors[0].raw["hours"] == "abc" and result.errors[0].category == ErrorCategory.PARSE
    transport.assert_clean()


# --- translation ------------------------------------------------------------------------------------------


def test_a_time_entry_translates_to_canonical_fields_and_refs():
    kind, _ = harvest()
    canonical = kind.to_canonical("time_entries", entry())

    assert canonical.object_type == "time_entry" and canonical.external_id == "8811"
    assert canonical.refs == {"person": Ref.external("55"), "project": Ref.external("777")}
    fields = canonical.fields
    assert (fields["date"].isoformat(), fields["hours"], fields["billable"], fields["task"]) == (
        "2024-03-11", Decimal("2.5"), True, "Design")
    assert fields["approval_status"] == "approved" and fields["approved_at"] == canonical.source_updated_at
    assert (fields["bill_rate"], fields["cost_rate"]) == (Decimal("150.0"), Decimal("60.0"))


@pytest.mark.parametrize(("closed", "locked", "reason", "setting", "expected"), [
    (True, True, "Item Approved and Locked for this Time Period", None, "approved"),
    (False, True, "Timesheet submitted for approval", None, "submitted"),
    (False, True, "Item Invoiced", None, "draft"),
    (False, False, None, None, "draft"),
    (False, False, None, "approved", "approved"),  # an account that does not use Harvest approvals
])
def test_approval_status_follows_harvest_closing_and_locks(closed, locked, reason, setting, expected):
    kind, _ = harvest(settings={"open_entries_as": setting} if setting else None)
    record = entry(is_closed=closed, is_locked=locked, locked_reason=reason)
    assert kind.to_canonical("time_entries", record).fields["approval_status"] == expected


def test_projects_users_and_assignments_translate():
    kind, _ = harvest()
    prj = kind.to_canonical("projects", project(code=""))
    person = kind.to_canonical("users", user(email="Kim@Acme.example"))
    assignment = kind.to_canonical("user_assignments", {
        "id": 9, "project": {"id": 777}, "user": {"id": 55}, "is_active": False, "is_project_manager": True,
        "use_default_rates": False, "hourly_rate": 175.0, "budget": 40.0, "updated_at": "2024-03-04T10:00:00Z"})

    assert prj.fields["code"] == "HARVEST-777" and prj.refs == {"customer": Ref.external("101")}
    assert (prj.fields["billing_type"], prj.fields["budget_hours"]) == ("tm", Decimal("120.0"))
    assert (person.fields["code"], person.fields["capacity_hours_per_week"]) == ("kim@acme.example", Decimal(35))
    assert assignment.deleted and assignment.fields["bill_rate_override"] == Decimal("175.0")


def test_a_fixed_fee_projects_budget_amount_is_its_fee_not_its_cost_budget():
    """Fixed-fee revenue is recognised as a share of the fee (docs/billing.md), and ``fee`` is what is written back."""
    kind, _ = harvest()
    fixed = {**project(), "is_fixed_fee": True, "fee": 30000.0, "budget_by": "project_cost", "cost_budget": 18000.0}

    assert kind.to_canonical("projects", fixed).fields["budget_amount"] == Decimal("30000.0")
    assert kind.to_canonical("projects", {**fixed, "is_fixed_fee": False}).fields["budget_amount"] == Decimal(
        "18000.0")


def test_task_assignments_are_readable_but_have_no_canonical_form():
    kind, transport = harvest(page("task_assignments", [{"id": 1, "project": {"id": 777}, "task": {"id": 3},
                                                         "is_active": True, "billable": True}]))
    [result] = list(kind.read("task_assignments"))
    assert len(result.records) == 1
    with pytest.raises(ConnectorError, match="no canonical object"):
        kind.to_canonical("task_assignments", result.records[0])
    transport.assert_clean()


# --- writing ----------------------------------------------------------------------------------------------

CUSTOMER = {"code": "ACME", "name": "Acme Ltd", "currency": "EUR", "is_active": True}
PROJECT = {"code": "ACME-042", "name": "Website", "status": "active", "billing_type": "tm", "budget_hours": "120.00",
           "default_bill_rate": "150.00", "start_date": "2024-03-01", "end_date": None, "customer": {"code": "ACME"}}


def test_a_client_is_created_then_updated():
    kind, transport = harvest(
        page("clients", [client(5, "Globex")]),
        ok(client(), 201),
        ok(client(name="Acme Limited")),
    )
    payload = kind.from_canonical("clients", CUSTOMER, {})

    created = kind.write("clients", payload, reference="weft-alpha-customer-7", idempotency_key="k1")
    updated = kind.write("clients", {**payload, "name": "Acme Limited"}, reference="weft-alpha-customer-7",
                         external_id="101", idempotency_key="k2")

    assert (created.external_id, created.created) == ("101", True)
    assert (updated.external_id, updated.created) == ("101", False)
    assert calls(transport) == [("GET", "/clients"), ("POST", "/clients"), ("PATCH", "/clients/101")]
    assert json_body(transport.requests[1]) == {"name": "Acme Ltd", "is_active": True, "currency": "EUR"}
    transport.assert_clean()


def test_a_project_is_created_with_our_reference_in_its_notes_then_updated():
    kind, transport = harvest(
        page("projects", [project(id=5, code="OTHER", notes="Weft reference: weft-alpha-project-1")]),
        ok(project(notes=f"Weft reference: {PROJECT_REFERENCE}"), 201),
        ok(project()),
    )
    payload = kind.from_canonical("projects", PROJECT, {"customer": "101"})

    created = kind.write("projects", payload, reference=PROJECT_REFERENCE)
    updated = kind.write("projects", {**payload, "name": "Website v2"}, reference=PROJECT_REFERENCE,
                         external_id=created.external_id)

    assert (created.external_id, created.created, updated.created) == ("777", True, False)
    assert calls(transport) == [("GET", "/projects"), ("POST", "/projects"), ("PATCH", "/projects/777")]
    assert json_body(transport.requests[1]) == {
        "client_id": 101, "name": "Website", "code": "ACME-042", "is_active": True, "is_billable": True,
        "is_fixed_fee": False, "bill_by": "Project", "budget_by": "project", "budget": 120.0, "hourly_rate": 150.0,
        "starts_on": "2024-03-01", "notes": f"Weft reference: {PROJECT_REFERENCE}",
    }
    assert "notes" not in json_body(transport.requests[2])  # an update leaves the notes (and our line) alone
    transport.assert_clean()


def test_a_project_whose_customer_is_not_in_harvest_is_refused_clearly():
    kind, _ = harvest()
    with pytest.raises(ConnectorError, match="its customer ACME is not in Harvest yet") as failure:
        kind.from_canonical("projects", PROJECT, {"customer": None})
    assert failure.value.category == ErrorCategory.MISSING_REFERENCE


def test_a_retry_after_a_crash_finds_the_project_instead_of_creating_a_second():
    first, first_transport = harvest(page("projects", []), ok(project(notes=f"Weft reference: {PROJECT_REFERENCE}"),
                                                             201))
    payload = first.from_canonical("projects", PROJECT, {"customer": "101"})
    first.write("projects", payload, reference=PROJECT_REFERENCE)  # the worker dies before saving the id

    notes = f"Kick-off in March.\n\nWeft reference: {PROJECT_REFERENCE}"
    again, transport = harvest(page("projects", [project(id=5, code="X"), project(notes=notes)]), ok(project()))
    assert again.find("projects", reference=PROJECT_REFERENCE) == "777"
    result = again.write("projects", payload, reference=PROJECT_REFERENCE)

    assert (result.external_id, result.created) == ("777", False)
    assert calls(first_transport) + calls(transport) == [
        ("GET", "/projects"), ("POST", "/projects"), ("GET", "/projects"), ("PATCH", "/projects/777")]
    transport.assert_clean()


def test_a_project_create_whose_answer_was_lost_is_looked_for_again_before_the_next_attempt():
    kind, transport = harvest(page("projects", []), httpx.Response(503, json={"message": "upstream timeout"}),
                              page("projects", [project(notes=f"Weft reference: {PROJECT_REFERENCE}")]),
                              ok(project()))
    payload = kind.from_canonical("projects", PROJECT, {"customer": "101"})
    with pytest.raises(ConnectorError) as lost:
        kind.write("projects", payload, reference=PROJECT_REFERENCE)

    retried = kind.write("projects", payload, reference=PROJECT_REFERENCE)

    assert not lost.value.permanent and (retried.external_id, retried.created) == ("777", False)
    assert calls(transport) == [("GET", "/projects"), ("POST", "/projects"), ("GET", "/projects"),
                                ("PATCH", "/projects/777")]  # a POST is never repeated blindly
    transport.assert_clean()


def test_a_retry_after_a_crash_finds_the_client_by_name():
    kind, transport = harvest(page("clients", [client(101, "ACME LTD ")]), ok(client()))
    result = kind.write("clients", kind.from_canonical("clients", CUSTOMER, {}), reference="weft-alpha-customer-7")
    assert (result.external_id, result.created) == ("101", False)
    assert calls(transport) == [("GET", "/clients"), ("PATCH", "/clients/101")]
    transport.assert_clean()


def test_a_client_made_meanwhile_under_the_same_name_is_updated_not_duplicated():
    kind, transport = harvest(
        page("clients", []),
        httpx.Response(422, json={"message": "Name has already been taken"}),
        page("clients", [client()]),
        ok(client()),
    )
    result = kind.write("clients", kind.from_canonical("clients", CUSTOMER, {}), reference="weft-alpha-customer-7")
    assert (result.external_id, result.created) == ("101", False)
    assert calls(transport) == [("GET", "/clients"), ("POST", "/clients"), ("GET", "/clients"),
                                ("PATCH", "/clients/101")]
    transport.assert_clean()


PERSON = {"code": "hr-1", "name": "Kim Allen", "email": "kim@acme.example", "employment": "contractor",
          "capacity_hours_per_week": "35.00", "cost_rate": "60.00", "is_active": True}
PERSON_REFERENCE = "weft-alpha-person-3"


def test_a_user_is_created_with_capacity_in_seconds_and_found_by_email_on_a_retry():
    kind, transport = harvest(page("users", [user(5, "pat@acme.example")]), ok(user(), 201))
    created = kind.write("users", kind.from_canonical("users", PERSON, {}), reference=PERSON_REFERENCE)
    again, retry = harvest(page("users", [user(email="KIM@acme.example")]), ok(user()))
    found = again.write("users", again.from_canonical("users", PERSON, {}), reference=PERSON_REFERENCE)

    assert (created.external_id, created.created, found.external_id, found.created) == ("55", True, "55", False)
    assert json_body(transport.requests[1]) == {
        "first_name": "Kim", "last_name": "Allen", "email": "kim@acme.example", "is_contractor": True,
        "weekly_capacity": 126000, "cost_rate": 60.0, "is_active": True}
    assert calls(retry) == [("GET", "/users"), ("PATCH", "/users/55")]  # the same cost rate: none dated
    assert "cost_rate" not in json_body(retry.requests[1])  # Harvest's PATCH takes none
    transport.assert_clean()
    retry.assert_clean()


def test_a_changed_cost_rate_is_dated_and_a_leaver_is_archived_never_deleted():
    archived = {**user(), "is_active": False}
    kind, transport = harvest(ok(user()), ok({"id": 9, "amount": 65.0, "start_date": "2026-03-02", "end_date": None,
                                              "created_at": "2026-03-02T10:00:00Z",
                                              "updated_at": "2026-03-02T10:00:00Z"}, 201), ok(archived))
    kind.write("users", kind.from_canonical("users", {**PERSON, "cost_rate": "65.00"}, {}),
               reference=PERSON_REFERENCE, external_id="55")
    left = kind.write("users", kind.from_canonical("users", {**PERSON, "is_active": False}, {}),
                      reference=PERSON_REFERENCE, external_id="55")

    assert calls(transport) == [("PATCH", "/users/55"), ("POST", "/users/55/cost_rates"), ("PATCH", "/users/55")]
    assert json_body(transport.requests[1]) == {"amount": 65.0}  # from Harvest's today
    assert json_body(transport.requests[2]) == {"is_active": False}  # an archived user's name is locked
    assert (left.external_id, left.created) == ("55", False)
    transport.assert_clean()


def test_a_user_made_meanwhile_with_the_same_email_is_updated_not_duplicated():
    kind, transport = harvest(page("users", []), httpx.Response(422, json={"message": "Email has already been taken"}),
                              page("users", [user()]), ok(user()))
    result = kind.write("users", kind.from_canonical("users", PERSON, {}), reference=PERSON_REFERENCE)
    assert (result.external_id, result.created) == ("55", False)
    assert calls(transport) == [("GET", "/users"), ("POST", "/users"), ("GET", "/users"), ("PATCH", "/users/55")]
    transport.assert_clean()


def test_a_person_without_an_email_waits_for_it():
    kind, _ = harvest()
    with pytest.raises(ConnectorError, match="no e-mail yet") as failure:
        kind.from_canonical("users", {**PERSON, "email": ""}, {})
    assert not failure.value.permanent and failure.value.category == ErrorCategory.MISSING_REFERENCE


def test_the_connection_test_names_the_signed_in_user():
    me = {k: v for k, v in user().items() if k in ("id", "first_name", "last_name", "email")}
    kind, transport = harvest(ok(me), httpx.Response(401, json={"error_description": "invalid token"}))
    assert kind.test().message == "Signed in to Harvest account 123456 as Kim Allen."
    failed = kind.test()
    assert not failed.ok and "401" in failed.message and "invalid token" in failed.message
    transport.assert_clean()


# --- into the hub -----------------------------------------------------------------------------------------

HUB_ROUND = (
    ("clients", [client()]),
    ("projects", [project()]),
    ("users", [user()]),
    ("time_entries", [entry(8811), entry(8812, hours=0.75, is_closed=False, is_locked=False, locked_reason=None,
                                        updated="2024-03-12T09:00:00Z")]),
)


def test_pull_runs_fill_the_hub_from_clients_to_time_entries_and_a_re_pull_changes_nothing(in_alpha):
    connection = connection_create(name="Harvest", kind="harvest", settings=SETTINGS, credentials=CREDENTIALS,
                                   acting_user=None)
    kind, transport = harvest(*[page(name, items) for name, items in HUB_ROUND * 2])

    first = [pull_run(connection=connection, object_name=name, kind=kind) for name, _ in HUB_ROUND]
    second = [pull_run(connection=connection, object_name=name, kind=kind) for name, _ in HUB_ROUND]

    assert [(r.status, nonzero(r.counts)) for r in first] == [
        (RunStatus.SUCCEEDED, {"created": 1}), (RunStatus.SUCCEEDED, {"created": 1}),
        (RunStatus.SUCCEEDED, {"created": 1}), (RunStatus.SUCCEEDED, {"created": 2})]
    assert [nonzero(r.counts) for r in second] == [{"unchanged": 1}] * 3 + [{"unchanged": 2}]
    assert [r.url.params.get("updated_since") for r in transport.requests[4:]] == [
        "2024-03-01T10:00:00Z", "2024-03-02T10:00:00Z", "2024-03-03T10:00:00Z", "2024-03-12T09:00:00Z"]
    ref = ExternalRef.objects.get(connection=connection, object_type="time_entry", external_id="8811")
    approved = TimeEntry.objects.select_related("project__customer", "person").get(pk=ref.canonical_id)
    assert (approved.project.code, approved.project.customer.code, approved.person.email) == (
        "ACME-042", "HARVEST-101", "kim@acme.example")
    assert (approved.hours, approved.approval_status, approved.task) == (Decimal("2.50"), "approved", "Design")
    assert TimeEntry.objects.filter(approval_status="draft", hours=Decimal("0.75")).count() == 1
    assert (Customer.objects.count(), Project.objects.count(), Person.objects.count()) == (1, 1, 1)
    transport.assert_clean()


def test_a_pull_that_fails_half_way_keeps_its_cursor_and_the_next_one_lands_everything(in_alpha):
    connection = connection_create(name="Harvest", kind="harvest", settings=SETTINGS, credentials=CREDENTIALS,
                                   acting_user=None)
    SyncCursor.objects.create(connection=connection, object_name="clients", value="2024-01-01T00:00:00Z")
    first_page = page("clients", [client(1, "A", updated="2024-03-05T00:00:00Z")], pages=2,
                      next_query="cursor=abc&per_page=2000")
    kind, transport = harvest(first_page, *[httpx.Response(503, json={"message": "busy"})] * 4,
                              first_page, page("clients", [client(2, "B", updated="2024-03-02T00:00:00Z")]))

    failed = pull_run(connection=connection, object_name="clients", kind=kind)
    cursor_after_failure = SyncCursor.objects.get(connection=connection, object_name="clients").value
    resumed = pull_run(connection=connection, object_name="clients", kind=kind)

    assert failed.status == RunStatus.FAILED and "503" in failed.error_message
    assert cursor_after_failure == "2024-01-01T00:00:00Z"  # client B, on the page that failed, is not skipped
    assert resumed.status == RunStatus.SUCCEEDED and nonzero(resumed.counts) == {"unchanged": 1, "created": 1}
    assert sorted(Customer.objects.values_list("name", flat=True)) == ["A", "B"]
    assert SyncCursor.objects.get(connection=connection, object_name="clients").value == "2024-03-05T00:00:00Z"
    transport.assert_clean()


def test_a_bad_record_in_a_pull_is_a_failed_ledger_item_naming_record_and_field(in_alpha):
    connection = connection_create(name="Harvest", kind="harvest", settings=SETTINGS, credentials=CREDENTIALS,
                                   acting_user=None)
    kind, _ = harvest(page("clients", [client(1, "A"), {**client(2, "B"), "name": None}]), broken=True)

    run = pull_run(connection=connection, object_name="clients", kind=kind)

    assert run.status == RunStatus.PARTIAL and nonzero(run.counts) == {"failed": 1, "created": 1}
    item = RunItem.objects.get(run=run, outcome="failed")
    assert (item.external_id, item.error_field, item.error_message) == (
        "Harvest client 2", "name", "Harvest client 2: name is missing")
    assert RunItem.objects.get(run=run, outcome="created").external_id == "1"  # every item in the ledger


# --- against Prism ----------------------------------------------------------------------------------------


@pytest.mark.prism
def test_prism_harvest_accepts_the_kinds_reads_and_writes(in_alpha, prism_harvest):
    connection = connection_create(
        name="Harvest (Prism)", kind="harvest", settings={**SETTINGS, "base_url": prism_harvest},
        credentials=CREDENTIALS, allow_private_network=True, acting_user=None,
    )
    kind = connection_kind(connection)

    assert kind.test().ok
    for name in ("clients", "projects", "users", "user_assignments", "time_entries", "expenses"):
        pages = list(kind.read(name, cursor="2024-01-01T00:00:00Z"))
        records = [r for p in pages for r in p.records]
        assert records and not [e for p in pages for e in p.errors], name
        assert all(kind.to_canonical(name, r).external_id for r in records)
    made_client = kind.write("clients", kind.from_canonical("clients", CUSTOMER, {}),
                             reference="weft-alpha-customer-7")
    payload = kind.from_canonical("projects", PROJECT, {"customer": made_client.external_id})
    made_project = kind.write("projects", payload, reference=PROJECT_REFERENCE)
    assert made_client.created and made_project.created and made_project.external_id.isdigit()


@pytest.mark.prism
def test_prism_harvest_takes_the_posting_status_as_each_billed_entrys_external_reference(in_alpha, prism_harvest):
    """Billing readiness writes back what Harvest's API allows: the ERP invoice as each time entry's external
    reference (``is_billed`` and ``is_locked`` are read-only there). Prism checks every PATCH against the spec."""
    connection = connection_create(
        name="Harvest (Prism)", kind="harvest", settings={**SETTINGS, "base_url": prism_harvest},
        credentials=CREDENTIALS, allow_private_network=True, acting_user=None,
    )
    kind = connection_kind(connection)
    invoice = {"id": 12, "number": "", "extra": {"billing_key": "ACME-042:2026-04"}}
    payload = kind.from_canonical("time_entry_links", invoice, {
        "time_entries": ["636708723", "636709355"], "posted": {"xero": "4f7a5c2e-1d1b-4f6e-9a57-3c2b9e1d0a11"}})

    written = kind.write("time_entry_links", payload, reference="weft-alpha-invoice-12")

    assert written.created and written.response["time_entries"] == ["636708723", "636709355"]
    assert payload["external_reference"] == {"id": "4f7a5c2e-1d1b-4f6e-9a57-3c2b9e1d0a11",
                                             "group_id": "ACME-042:2026-04", "account_id": "xero", "permalink": None}
    with pytest.raises(ConnectorError, match="bills no time entry read from this Harvest account"):
        kind.from_canonical("time_entry_links", invoice, {"time_entries": [], "posted": {}})
