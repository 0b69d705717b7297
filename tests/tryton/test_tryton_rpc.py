"""TrytonRpc against a real Tryton 8.2 server (the ``tryton`` fixture), plus its JSON encoding."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from apps.common.errors import ErrorCategory
from apps.connectors.kinds.tryton.rpc import HttpxSend, TrytonError, TrytonRpc, decode, encode
from tests.tryton.conftest_plugin import unique
from tests.tryton.server import free_port


class RecordingSend:
    """The real transport, noting which RPC methods went over the wire."""

    def __init__(self):
        self._send = HttpxSend()
        self.methods: list[str] = []

    def __call__(self, method, url, json, headers):
        self.methods.append(json["method"])
        return self._send(method, url, json, headers)


def _project(tryton, name: str) -> tuple[int, int]:
    """A project open for timesheets; returns (project id, its timesheet work id)."""
    client = tryton.client
    project, = client.create("project.work", [{
        "name": name, "type": "project", "company": tryton.company_id, "party": tryton.seed["customer_id"],
        "timesheet_available": True, "project_invoice_method": "timesheet",
    }])
    (row,) = client.read("project.work", [project], ["timesheet_works"])
    return project, row["timesheet_works"][0]


def _line(tryton, work: int, reference: str, **values) -> int:
    line, = tryton.client.create("timesheet.line", [{
        "company": tryton.company_id, "employee": tryton.employee_ids[0], "work": work,
        "date": dt.date(2026, 11, 25), "duration": dt.timedelta(hours=1, minutes=30), "description": reference,
        **values,
    }])
    return line


def test_tryton_types_survive_the_json_round_trip():
    values = [dt.date(2026, 3, 1), dt.datetime(2026, 3, 1, 9, 30, 5, 12), dt.timedelta(minutes=90),
              Decimal("1234.50"), dt.time(8, 15), b"\x00pdf"]
    wire = encode({"values": values})
    assert wire["values"][0] == {"__class__": "date", "year": 2026, "month": 3, "day": 1}
    assert wire["values"][2] == {"__class__": "timedelta", "seconds": 5400.0}
    assert wire["values"][3] == {"__class__": "Decimal", "decimal": "1234.50"}
    assert decode(json.dumps(wire)) == {"values": values}


def test_login_loads_the_users_company_and_employee(tryton):
    client = tryton.connect()
    user_id = client.login()
    assert user_id == client.user_id
    assert client.context["company"] == tryton.company_id
    assert client.context["employee"] in tryton.employee_ids


def test_server_version_needs_no_login(tryton):
    send = RecordingSend()
    assert tryton.connect(http=send).call("common.server.version") == "8.2"
    assert send.methods == ["common.server.version"]


def test_wrong_password_is_a_permanent_auth_error(tryton):
    with pytest.raises(TrytonError) as caught:
        tryton.connect(password="not-the-password").login()
    assert caught.value.permanent
    assert caught.value.category == ErrorCategory.AUTH


def test_party_created_is_read_back(tryton):
    name = unique("Acme")
    party, = tryton.client.create("party.party", [{"name": name}])
    (row,) = tryton.client.read("party.party", [party], ["name", "code"])
    assert row["name"] == name
    assert row["code"]  # Tryton numbers parties itself
    found = tryton.client.search_read("party.party", [["name", "=", name]], ["id"])
    assert [r["id"] for r in found] == [party]


def test_timesheet_line_on_a_project_is_found_by_our_reference(tryton):
    project, work = _project(tryton, unique("Website relaunch"))
    reference = unique("weft")
    line = _line(tryton, work, reference)

    rows = tryton.client.search_read("timesheet.line", [["description", "=", reference]],
                                     ["date", "duration", "employee", "work", "work.origin", "cost_price"])
    assert [r["id"] for r in rows] == [line]
    (row,) = rows
    assert row["date"] == dt.date(2026, 11, 25)
    assert row["duration"] == dt.timedelta(minutes=90)
    assert row["employee"] == tryton.employee_ids[0]
    assert row["work."]["origin"] == f"project.work,{project}"
    assert row["cost_price"] == Decimal("60.00")  # from the employee's seeded cost price
    (total,) = tryton.client.read("project.work", [project], ["timesheet_duration"])
    assert total["timesheet_duration"] == dt.timedelta(minutes=90)


def test_timesheet_line_is_updated_then_deleted(tryton):
    _project_id, work = _project(tryton, unique("Audit"))
    reference = unique("weft")
    line = _line(tryton, work, reference)

    tryton.client.write("timesheet.line", [line], {"duration": dt.timedelta(hours=2), "date": dt.date(2026, 11, 26)})
    (row,) = tryton.client.read("timesheet.line", [line], ["duration", "date", "description"])
    assert (row["duration"], row["date"], row["description"]) == (dt.timedelta(hours=2), dt.date(2026, 11, 26),
                                                                   reference)

    tryton.client.delete("timesheet.line", [line])
    assert tryton.client.search("timesheet.line", [["description", "=", reference]]) == []


def test_negative_duration_is_a_permanent_validation_error(tryton):
    _project_id, work = _project(tryton, unique("Rejected"))
    reference = unique("weft")
    with pytest.raises(TrytonError) as caught:
        _line(tryton, work, reference, duration=dt.timedelta(minutes=-1))
    assert caught.value.permanent
    assert caught.value.category == ErrorCategory.VALIDATION
    assert caught.value.fault == "UserError"
    assert "duration" in caught.value.message.lower()
    assert tryton.client.search("timesheet.line", [["description", "=", reference]]) == []


def test_unknown_model_says_so(tryton):
    with pytest.raises(TrytonError) as caught:
        tryton.client.search("no.such.model", [])
    assert caught.value.permanent
    assert "no.such.model" in caught.value.message
    assert "module" in caught.value.message


def test_unknown_field_is_permanent(tryton):
    with pytest.raises(TrytonError) as caught:
        tryton.client.create("party.party", [{"name": unique("X"), "no_such_field": 1}])
    assert caught.value.permanent
    assert "no_such_field" in caught.value.message


def test_expired_session_logs_in_again_once(tryton):
    send = RecordingSend()
    client = tryton.connect(http=send)
    client.login()
    client.call("common.db.logout")  # the server forgets the session, as when it expires
    # Other tests add employees to the shared server: look for the seeded ones only.
    seeded = [["id", "in", tryton.employee_ids]]
    assert client.search("company.employee", seeded, order=[["id", "ASC"]]) == sorted(tryton.employee_ids)
    assert send.methods.count("common.db.login") == 2
    assert send.methods[-1] == "model.company.employee.search"


def test_unreachable_server_is_a_transient_transport_error():
    client = TrytonRpc(f"http://127.0.0.1:{free_port()}", "weft", "admin", "admin")
    with pytest.raises(TrytonError) as caught:
        client.login()
    assert not caught.value.permanent
    assert caught.value.category == ErrorCategory.TRANSPORT


def test_seeded_customer_invoices_are_readable(tryton):
    posted, draft = tryton.seed["invoice_ids"]["posted"], tryton.seed["invoice_ids"]["draft"]
    fields = ["number", "state", "type", "invoice_date", "party.name", "currency.code", "total_amount",
              "untaxed_amount", "tax_amount", "lines", "reference"]
    rows = {r["id"]: r for r in tryton.client.read("account.invoice", [posted, draft], fields)}

    assert rows[posted]["state"] == "posted" and rows[posted]["number"].startswith("INV2026-")
    assert rows[posted]["total_amount"] == Decimal("2340.00")
    assert rows[posted]["currency."]["code"] == "EUR"
    assert rows[posted]["party."]["name"] == "Northwind Traders"
    assert rows[posted]["invoice_date"] == dt.date(2026, 1, 31)
    assert rows[draft]["state"] == "draft" and rows[draft]["number"] is None
    lines = tryton.client.read("account.invoice.line", rows[posted]["lines"],
                               ["description", "quantity", "unit_price", "amount"])
    assert sorted((r["description"], r["amount"]) for r in lines) == [
        ("Consulting, January", Decimal("1440.00")), ("Workshop", Decimal("900.00"))]
