"""The Tryton connector kind against a real Tryton 8.2 server (the ``tryton`` fixture).

Every write is read back from Tryton; exactly-once rests on ``find`` seeing our reference after a
crash; reads resume from a cursor that neither loses nor repeats records sharing a timestamp; pulls
land in the hub with their relations; the engine writes hub records out and reverses them.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from apps.canonical.models import Customer, ExternalRef, Invoice, Person, Project, TimeEntry
from apps.canonical.services import hub_upsert_all
from apps.common.errors import ErrorCategory
from apps.common.http import OutboundClient, RetryPolicy
from apps.common.objects import CanonicalInput, ObjectType, Ref
from apps.connectors.errors import ConnectionInvalid, ConnectorError
from apps.connectors.kinds.tryton.rpc import OutboundSend, TrytonError, TrytonRpc
from apps.connectors.models import Connection
from apps.connectors.services import connection_create, connection_kind, connection_test
from apps.runs.engine import flow_run_request, run_execute
from apps.runs.models import Flow, FlowDirection, ItemOutcome, RunStatus, SyncCursor, Trigger
from apps.runs.services import pull_run
from tests.tryton.conftest_plugin import unique
from tests.tryton.server import free_port


# --- set-up --------------------------------------------------------------------------------------
def _connect(tryton, *, name: str = "Tryton", password: str | None = None, allow_private_network: bool = True,
             **settings):
    return connection_create(
        name=name, kind="tryton", allow_private_network=allow_private_network,
        settings={"base_url": tryton.url, "database": tryton.database, **settings},
        credentials={"username": tryton.username, "password": password or tryton.password}, acting_user=None,
    )


@pytest.fixture
def connection(in_alpha, tryton):
    return _connect(tryton)


@pytest.fixture
def kind(connection):
    return connection_kind(connection)


def _read_all(kind, object_name: str, cursor: str | None = None) -> tuple[list[dict], str | None]:
    records, last = [], cursor
    for page in kind.read(object_name, cursor=cursor):
        records += page.records
        last = page.next_cursor
    return records, last


def _read_one(kind, object_name: str, record_id: str) -> dict:
    records, _ = _read_all(kind, object_name)
    (record,) = [r for r in records if str(r["id"]) == record_id]
    return record


def _customer(kind, code: str | None = None, name: str = "Acme Consulting") -> str:
    code = code or unique("C")
    payload = kind.from_canonical("customers", {"code": code, "name": name, "is_active": True}, {})
    return kind.write("customers", payload, reference=unique("weft-alpha-customer")).external_id


def _project(kind, party: str, **view) -> str:
    view = {"id": 7, "code": unique("P"), "name": "Website relaunch", "status": "active", "billing_type": "tm",
            "customer": {"id": 3, "code": "ACME"}, **view}
    payload = kind.from_canonical("projects", view, {"customer": party})
    return kind.write("projects", payload, reference=unique("weft-alpha-project")).external_id


def _time_view(**values) -> dict:
    return {"id": 42, "date": "2026-11-24", "hours": "1.50", "notes": "Kick-off workshop",
            "person": {"id": 1, "code": "erin"}, "project": {"id": 2, "code": "WEB"}, **values}


@pytest.fixture
def project_id(kind):
    return _project(kind, _customer(kind))


def _line_payload(kind, tryton, project: str, **view) -> dict:
    refs = {"person": str(tryton.employee_ids[0]), "project": project}
    return kind.from_canonical("timesheet_lines", _time_view(**view), refs)


def _lines_tagged(tryton, reference: str) -> list[int]:
    return tryton.client.search("timesheet.line", [["description", "like", f"[{reference}]%"]])


# --- the connection ------------------------------------------------------------------------------
def test_test_logs_in_and_names_the_company(connection):
    result = connection_test(connection=connection, acting_user=None)
    assert result.ok, result.message
    assert "Weft Test Consulting" in result.message


def test_a_wrong_password_fails_the_test_with_tryton_refusing_the_login(in_alpha, tryton):
    result = connection_test(connection=_connect(tryton, password="wrong"), acting_user=None)
    assert not result.ok and "refused the login" in result.message


def test_calls_go_through_the_guarded_client_and_loopback_needs_permission(in_alpha, tryton):
    with pytest.raises(ConnectionInvalid, match="private, loopback or link-local"):  # refused when saved
        _connect(tryton, allow_private_network=False)
    connection = _connect(tryton)
    Connection.objects.filter(pk=connection.pk).update(allow_private_network=False)  # and refused when called
    connection.refresh_from_db()
    result = connection_test(connection=connection, acting_user=None)
    assert not result.ok and "private, loopback or link-local" in result.message


def test_an_expired_session_is_opened_again(kind, tryton):
    kind.test()
    kind.session.rpc.call("common.db.logout")  # the server forgets the session, as when it expires
    records, _ = _read_all(kind, "employees")
    assert {r["id"] for r in records} >= set(tryton.employee_ids)


def test_runs_share_the_session_and_one_tryton_forgot_is_opened_again(connection, monkeypatch):
    logins = []
    login = TrytonRpc.login
    monkeypatch.setattr(TrytonRpc, "login", lambda rpc: logins.append(rpc) or login(rpc))
    for _ in range(3):  # the engine makes a kind per run
        assert connection_test(connection=connection, acting_user=None).ok
    assert len(logins) == 1

    connection_kind(connection).session.rpc.call("common.db.logout")  # the server forgets it, as when it expires

    assert connection_test(connection=connection,
                           acting_user=None).ok and connection_test(connection=connection, acting_user=None).ok
    assert len(logins) == 2


def test_a_server_that_does_not_answer_is_a_transient_transport_error():
    url = f"http://127.0.0.1:{free_port()}"
    client = OutboundClient(base_url=url, name="Tryton", allow_private_network=True,
                            retry=RetryPolicy(max_attempts=2), sleep=lambda _: None)
    with pytest.raises(TrytonError) as caught:
        TrytonRpc(url, "weft", "admin", "admin", http=OutboundSend(client)).login()
    assert not caught.value.permanent and caught.value.category == ErrorCategory.TRANSPORT


# --- customers, projects, employees --------------------------------------------------------------
def test_customer_is_written_read_back_and_found_by_its_reference(kind, tryton):
    code, reference = unique("ACME"), unique("weft-alpha-customer")
    payload = kind.from_canonical("customers", {"code": code, "name": "Acme Consulting", "is_active": True}, {})
    written = kind.write("customers", payload, reference=reference)

    assert written.created
    assert kind.find("customers", reference=reference) == written.external_id
    canonical = kind.to_canonical("customers", _read_one(kind, "customers", written.external_id))
    assert canonical.object_type == ObjectType.CUSTOMER
    assert canonical.fields["code"] == code and canonical.fields["name"] == "Acme Consulting"

    kind.write("customers", {**payload, "name": "Acme Consulting GmbH"}, reference=reference,
               external_id=written.external_id)
    (row,) = tryton.client.read("party.party", [int(written.external_id)], ["name", "code"])
    assert (row["name"], row["code"]) == ("Acme Consulting GmbH", code)


def test_a_customer_code_change_is_refused_with_a_message_saying_why(kind):
    reference = unique("weft-alpha-customer")
    written = kind.write("customers", {"code": unique("OLD"), "name": "Acme"}, reference=reference)
    with pytest.raises(ConnectorError) as caught:
        kind.write("customers", {"code": "NEW", "name": "Acme"}, reference=reference,
                   external_id=written.external_id)
    assert caught.value.permanent and "does not allow changing it" in caught.value.message


def test_project_is_written_under_its_customer_and_keeps_the_hub_code(kind, tryton):
    party = _customer(kind)
    code, reference = unique("WEB"), unique("weft-alpha-project")
    view = {"id": 7, "code": code, "name": "Website relaunch", "status": "active", "billing_type": "tm",
            "default_bill_rate": "150.00", "budget_hours": "120.00", "customer": {"id": 3, "code": "ACME"}}
    written = kind.write("projects", kind.from_canonical("projects", view, {"customer": party}), reference=reference)

    assert kind.find("projects", reference=reference) == written.external_id
    canonical = kind.to_canonical("projects", _read_one(kind, "projects", written.external_id))
    assert canonical.fields["code"] == code  # not Tryton's own number
    assert canonical.refs["customer"] == Ref.external(party)
    assert (canonical.fields["status"], canonical.fields["billing_type"]) == ("active", "tm")
    assert Decimal(canonical.fields["default_bill_rate"]) == Decimal("150")
    assert Decimal(canonical.fields["budget_hours"]) == Decimal("120")
    (work,) = tryton.client.read("project.work", [int(written.external_id)], ["timesheet_works", "party"])
    assert work["timesheet_works"] and work["party"] == int(party)  # open for timesheets

    tryton.client.write("project.work", [int(written.external_id)],
                        {"comment": f"[{reference}]\n[code:{code}]\nCall before invoicing."})
    closed = kind.from_canonical("projects", {**view, "status": "closed"}, {"customer": party})
    kind.write("projects", closed, reference=reference, external_id=written.external_id)
    (row,) = tryton.client.read("project.work", [int(written.external_id)], ["status.name", "comment"])
    assert row["status."]["name"] == "Done"
    assert "Call before invoicing." in row["comment"] and row["comment"].count(f"[{reference}]") == 1


def test_a_project_whose_customer_is_not_in_tryton_is_a_missing_reference(kind):
    view = {"id": 7, "code": "WEB", "name": "Website", "customer": {"id": 3, "code": "ACME"}}
    with pytest.raises(ConnectorError) as caught:
        kind.from_canonical("projects", view, {"customer": None})
    assert caught.value.permanent and caught.value.category == ErrorCategory.MISSING_REFERENCE
    assert "customer ACME" in caught.value.message


def test_employee_is_written_with_a_party_and_read_back_as_a_person(kind, tryton):
    code, reference = unique("ann"), unique("weft-alpha-person")
    view = {"id": 5, "code": code, "name": "Ann Analyst", "email": "ann@example.com", "cost_rate": "55.00",
            "is_active": True}
    written = kind.write("employees", kind.from_canonical("employees", view, {}), reference=reference)

    assert kind.find("employees", reference=reference) == written.external_id
    person = kind.to_canonical("employees", _read_one(kind, "employees", written.external_id))
    assert person.object_type == ObjectType.PERSON
    assert (person.fields["code"], person.fields["name"], person.fields["email"]) == (code, "Ann Analyst",
                                                                                      "ann@example.com")
    assert Decimal(person.fields["cost_rate"]) == Decimal("55") and person.fields["is_active"]

    left = kind.from_canonical("employees", {**view, "cost_rate": "60.00", "is_active": False}, {})
    kind.write("employees", left, reference=reference, external_id=written.external_id)
    person = kind.to_canonical("employees", _read_one(kind, "employees", written.external_id))
    assert Decimal(person.fields["cost_rate"]) == Decimal("60") and not person.fields["is_active"]


def test_an_employee_create_that_died_after_its_party_reuses_that_party(kind, tryton):
    code, reference = unique("bob"), unique("weft-alpha-person")
    tryton.client.create("party.party", [{"name": "Bob", "code": code,
                                          "identifiers": [["create", [{"code": reference}]]]}])
    assert kind.find("employees", reference=reference) is None  # no employee yet: the engine creates

    written = kind.write("employees", {"code": code, "name": "Bob Builder"}, reference=reference)

    assert tryton.client.search("party.party", [["code", "=", code]]) == [
        tryton.client.read("company.employee", [int(written.external_id)], ["party"])[0]["party"]]


# --- timesheet lines -----------------------------------------------------------------------------
def test_timesheet_line_is_written_read_back_and_updated(kind, tryton, project_id):
    reference = unique("weft-alpha-time_entry")
    written = kind.write("timesheet_lines", _line_payload(kind, tryton, project_id), reference=reference)

    assert written.created
    record = _read_one(kind, "timesheet_lines", written.external_id)
    entry = kind.to_canonical("timesheet_lines", record)
    assert entry.object_type == ObjectType.TIME_ENTRY
    assert (entry.fields["date"], Decimal(entry.fields["hours"])) == ("2026-11-24", Decimal("1.5"))
    assert entry.fields["notes"] == "Kick-off workshop"  # our reference tag is not part of the notes
    assert entry.refs == {"person": Ref.external(tryton.employee_ids[0]), "project": Ref.external(project_id)}
    assert Decimal(entry.fields["cost_rate"]) == Decimal("60.00") and entry.fields["currency"] == "EUR"

    kind.write("timesheet_lines", _line_payload(kind, tryton, project_id, hours="2.25", notes="Workshop, longer"),
               reference=reference, external_id=written.external_id)
    (row,) = tryton.client.read("timesheet.line", [int(written.external_id)], ["duration", "description"])
    assert row["duration"] == dt.timedelta(hours=2, minutes=15)
    assert row["description"] == f"[{reference}] Workshop, longer"


def test_writing_the_same_reference_again_finds_the_line_and_makes_no_duplicate(kind, tryton, project_id):
    reference = unique("weft-alpha-time_entry")
    first = kind.write("timesheet_lines", _line_payload(kind, tryton, project_id), reference=reference)

    for _ in range(2):  # what the engine does for each retry: find, then update what it found
        found = kind.find("timesheet_lines", reference=reference)
        again = kind.write("timesheet_lines", _line_payload(kind, tryton, project_id), reference=reference,
                           external_id=found)
        assert (again.external_id, again.created) == (first.external_id, False)
    assert _lines_tagged(tryton, reference) == [int(first.external_id)]


def test_after_a_crash_that_lost_the_id_find_returns_the_line_written(kind, tryton, project_id):
    reference = unique("weft-alpha-time_entry")
    kind.write("timesheet_lines", _line_payload(kind, tryton, project_id), reference=reference)
    # The worker died here: the id never reached the ledger. A new worker (and kind) resumes.
    resumed = connection_kind(Connection.objects.get(pk=kind.context.connection_id))

    found = resumed.find("timesheet_lines", reference=reference)

    assert found is not None and _lines_tagged(tryton, reference) == [int(found)]


def test_a_reference_with_like_wildcards_matches_only_itself(kind, tryton, project_id):
    mine = unique("weft-alpha-time_entry")
    lookalike = mine.replace("time_entry", "timeXentry")  # "_" would match "X" in a LIKE pattern
    kind.write("timesheet_lines", _line_payload(kind, tryton, project_id), reference=lookalike)
    assert kind.find("timesheet_lines", reference=mine) is None


def test_delete_removes_the_line_and_a_second_delete_is_harmless(kind, tryton, project_id):
    reference = unique("weft-alpha-time_entry")
    written = kind.write("timesheet_lines", _line_payload(kind, tryton, project_id), reference=reference)

    kind.delete("timesheet_lines", written.external_id)
    kind.delete("timesheet_lines", written.external_id)

    assert _lines_tagged(tryton, reference) == []
    assert kind.find("timesheet_lines", reference=reference) is None


@pytest.fixture(scope="module")
def consulting_product(tryton):
    """A service product Tryton can invoice timesheets with (revenue account from the seeded chart)."""
    client = tryton.client
    (category,) = client.create("product.category", [{"name": unique("Services"), "accounting": True,
                                                      "account_revenue": tryton.seed["account_revenue_id"]}])
    (hour,) = client.search("product.uom", [["symbol", "=", "h"]])
    (template,) = client.create("product.template", [{
        "name": unique("Consulting hour"), "type": "service", "default_uom": hour, "list_price": Decimal("100"),
        "account_category": category, "products": [["create", [{}]]]}])
    (product,) = client.search("product.product", [["template", "=", template]])
    return product


def test_an_invoiced_line_cannot_be_deleted_and_tryton_says_why(kind, tryton, consulting_product):
    party = _customer(kind)
    tryton.client.write("party.party", [int(party)], {"addresses": [["create", [{"city": "Hamburg"}]]]})
    project = _project(kind, party, billing_type="tm", default_bill_rate="100.00")
    tryton.client.write("project.work", [int(project)], {"product": consulting_product})
    written = kind.write("timesheet_lines", _line_payload(kind, tryton, project), reference=unique("weft-alpha-te"))
    tryton.client.execute("project.work", "invoice", [int(project)])

    with pytest.raises(ConnectorError) as caught:
        kind.delete("timesheet_lines", written.external_id)

    assert caught.value.permanent and caught.value.category == ErrorCategory.VALIDATION
    assert "has been invoiced" in caught.value.message


def test_negative_hours_are_refused_permanently_with_trytons_message(kind, tryton, project_id):
    reference = unique("weft-alpha-time_entry")
    with pytest.raises(TrytonError) as caught:
        kind.write("timesheet_lines", _line_payload(kind, tryton, project_id, hours="-1"), reference=reference)
    assert caught.value.permanent and caught.value.category == ErrorCategory.VALIDATION
    assert 'field "Duration"' in caught.value.message
    assert _lines_tagged(tryton, reference) == []


def test_a_line_without_work_is_refused_with_trytons_message(kind, tryton, project_id):
    payload = {**_line_payload(kind, tryton, project_id), "work": None}
    with pytest.raises(ConnectorError) as caught:
        kind.write("timesheet_lines", payload, reference=unique("weft-alpha-time_entry"))
    assert caught.value.permanent and 'A value is required for field "Work"' in caught.value.message


def test_a_line_on_a_project_tryton_does_not_have_names_the_id(kind, tryton):
    with pytest.raises(ConnectorError) as caught:
        kind.write("timesheet_lines", _line_payload(kind, tryton, "999999"), reference=unique("weft-alpha-te"))
    assert caught.value.permanent and caught.value.category == ErrorCategory.MISSING_REFERENCE
    assert "999999" in caught.value.message


def test_a_time_entry_whose_person_is_not_in_tryton_is_a_missing_reference(kind, project_id):
    with pytest.raises(ConnectorError) as caught:
        kind.from_canonical("timesheet_lines", _time_view(), {"person": None, "project": project_id})
    assert caught.value.category == ErrorCategory.MISSING_REFERENCE and "person erin" in caught.value.message


def test_time_on_a_task_belongs_to_the_tasks_project(kind, tryton, project_id):
    (task,) = tryton.client.create("project.work", [{"name": "Design", "type": "task", "parent": int(project_id),
                                                     "company": tryton.company_id, "timesheet_available": True}])
    written = kind.write("timesheet_lines", _line_payload(kind, tryton, str(task)),
                         reference=unique("weft-alpha-time_entry"))
    entry = kind.to_canonical("timesheet_lines", _read_one(kind, "timesheet_lines", written.external_id))
    assert entry.refs["project"] == Ref.external(project_id) and entry.fields["task"] == "Design"


# --- incremental reads ---------------------------------------------------------------------------
def test_reads_resume_from_the_cursor_without_losing_or_repeating_records_on_one_timestamp(in_alpha, tryton):
    kind = connection_kind(_connect(tryton, page_size=2, reread_seconds=0))
    names = [unique("Tie") for _ in range(3)]
    ids = tryton.client.create("party.party", [{"name": n} for n in names])  # one transaction: one timestamp
    stamps = {r["last_modified_at"] for r in tryton.client.read("party.party", ids, ["last_modified_at"])}
    assert len(stamps) == 1

    first, cursor = _read_all(kind, "customers")
    assert sorted(r["id"] for r in first if r["id"] in ids) == sorted(ids)
    assert len({r["id"] for r in first}) == len(first)  # no record twice across pages

    nothing, same_cursor = _read_all(kind, "customers", cursor)
    assert nothing == [] and same_cursor == cursor

    tryton.client.write("party.party", [ids[1]], {"name": names[1] + " (renamed)"})
    changed, _ = _read_all(kind, "customers", cursor)
    assert [(r["id"], r["name"]) for r in changed] == [(ids[1], names[1] + " (renamed)")]


def test_the_reread_window_reads_recent_changes_again_without_moving_the_cursor_back(in_alpha, tryton):
    kind = connection_kind(_connect(tryton, page_size=1))  # default window: 60 s
    (party,) = tryton.client.create("party.party", [{"name": unique("Recent")}])
    _, cursor = _read_all(kind, "customers")

    again = kind.read("customers", cursor=cursor)
    pages = list(again)
    assert party in [r["id"] for p in pages for r in p.records]
    assert all(p.next_cursor >= cursor for p in pages)  # ISO timestamps sort as text


def test_an_unreadable_cursor_says_to_read_from_the_start(kind):
    with pytest.raises(ConnectorError) as caught:
        list(kind.read("customers", cursor="yesterday"))
    assert caught.value.permanent and "read from the start" in caught.value.message


# --- into the hub --------------------------------------------------------------------------------
def test_pulls_bring_every_object_into_the_hub_with_its_relations(kind, connection, tryton, project_id):
    written = kind.write("timesheet_lines", _line_payload(kind, tryton, project_id),
                         reference=unique("weft-alpha-time_entry"))

    runs = {name: pull_run(connection=connection, object_name=name, trigger=Trigger.MANUAL)
            for name in ("customers", "projects", "employees", "timesheet_lines", "invoices")}

    for name, run in runs.items():
        assert run.status == RunStatus.SUCCEEDED, (name, run.error_message,
                                                    list(run.items.values_list("error_message", flat=True)))
    project = ExternalRef.objects.get(connection=connection, object_type="project", external_id=project_id)
    entry_ref = ExternalRef.objects.get(connection=connection, object_type="time_entry",
                                        external_id=written.external_id)
    entry = TimeEntry.objects.select_related("person", "project__customer").get(pk=entry_ref.canonical_id)
    assert entry.project_id == project.canonical_id and entry.hours == Decimal("1.50")
    assert entry.person.name == "Erin Example" and entry.notes == "Kick-off workshop"
    assert Customer.objects.filter(pk=entry.project.customer_id, name="Acme Consulting").exists()
    assert not Customer.objects.filter(name__in=["Erin Example", "Weft Test Consulting"]).exists()
    posted = Invoice.objects.get(number="INV2026-1")
    assert (posted.status, posted.amount_total, posted.customer.name) == ("sent", Decimal("2340.00"),
                                                                          "Northwind Traders")
    assert [line["description"] for line in posted.extra["lines"]] == ["Consulting, January", "Workshop"]
    assert SyncCursor.objects.get(connection=connection, object_name="timesheet_lines").value

    again = pull_run(connection=connection, object_name="customers")
    # The re-read window brings back recent records; the hub already has them.
    assert {outcome for outcome, n in again.counts.items() if n} == {"unchanged"}


# --- the engine writing hub records to Tryton ----------------------------------------------------
def _outbound(connection, object_type: str, object_name: str) -> Flow:
    return Flow.objects.create(name=f"To Tryton {object_name}", slug=f"to-tryton-{object_name}",
                               direction=FlowDirection.OUTBOUND, object_type=object_type, connection=connection,
                               object_name=object_name, on_schedule=False)


def _run(flow: Flow):
    run = run_execute(run_id=flow_run_request(flow=flow, trigger=Trigger.MANUAL, enqueue=False, acting_user=None).pk)
    assert run.status == RunStatus.SUCCEEDED, list(run.items.values_list("error_message", flat=True))
    return run


def test_the_engine_writes_hub_records_to_tryton_exactly_once_and_reverses_them(connection, tryton):
    psa = connection_create(name="PSA", kind="webhook", acting_user=None)
    code = unique("ACME")
    hub_upsert_all(connection=psa, object_type="customer",
                   records=[CanonicalInput("customer", "c1", {"code": code, "name": "Acme Consulting"})])
    hub_upsert_all(connection=psa, object_type="person",
                   records=[CanonicalInput("person", "u1", {"code": unique("ann"), "name": "Ann Analyst"})])
    hub_upsert_all(connection=psa, object_type="project", records=[CanonicalInput(
        "project", "p1", {"code": unique("WEB"), "name": "Website"}, refs={"customer": Ref.external("c1")})])
    hub_upsert_all(connection=psa, object_type="time_entry", records=[CanonicalInput(
        "time_entry", "t1", {"date": "2026-11-24", "hours": "3.5", "notes": "Build"},
        refs={"person": Ref.external("u1"), "project": Ref.external("p1")})])
    flows = [_outbound(connection, t, n) for t, n in [("customer", "customers"), ("person", "employees"),
                                                      ("project", "projects"), ("time_entry", "timesheet_lines")]]

    for flow in flows:
        assert _run(flow).counts == {ItemOutcome.CREATED: 1}
    entry = TimeEntry.objects.get(notes="Build")
    line_ref = ExternalRef.objects.get(connection=connection, object_type="time_entry", canonical_id=entry.pk)
    (line,) = tryton.client.read("timesheet.line", [int(line_ref.external_id)], ["duration", "employee", "work.origin"])
    person_ref = ExternalRef.objects.get(connection=connection, object_type="person",
                                         canonical_id=Person.objects.get(name="Ann Analyst").pk)
    project_ref = ExternalRef.objects.get(connection=connection, object_type="project",
                                          canonical_id=Project.objects.get(name="Website").pk)
    assert line["duration"] == dt.timedelta(hours=3, minutes=30) and line["employee"] == int(person_ref.external_id)
    assert line["work."]["origin"] == f"project.work,{project_ref.external_id}"

    line_ref.delete()  # the cross-reference lost; the ledger still says the line was created, so this updates it
    assert _run(flows[-1]).counts == {ItemOutcome.UPDATED: 1}
    reference = f"weft-alpha-time_entry-{entry.pk}"
    assert _lines_tagged(tryton, reference) == [line["id"]]

    TimeEntry.objects.filter(pk=entry.pk).update(deleted_at=dt.datetime.now(dt.UTC))
    assert _run(flows[-1]).counts == {ItemOutcome.DELETED: 1}
    assert _lines_tagged(tryton, reference) == []
