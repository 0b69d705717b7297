"""Xero: contacts and sales invoices read and written through the Accounting API, time posted through the
Projects API. Every write carries xero-tenant-id and an Idempotency-Key; a retry after a crash finds the record
instead of making a second one. Every request is checked against Xero's published OpenAPI specs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from apps.common.errors import ErrorCategory
from apps.common.objects import Ref
from apps.connectors.errors import ConnectorError
from apps.connectors.kinds.records import parse_any_datetime
from apps.connectors.kinds.xero import XeroKind, contact_number, idempotency_header
from apps.connectors.kinds.xero_journals import journal_payload
from apps.connectors.services import connection_create, connection_kind
from tests.connectors.scripted import json_body, kind_with, vendor

TENANT = "9c2a8f4e-0000-4000-8000-000000000001"
SETTINGS = {"tenant_id": TENANT}
CREDENTIALS = {"access_token": "xero-token"}
CONTACT_ID = "430fa14a-f945-44d3-9f97-5df5e28441b8"
INVOICE_ID = "4f7a5c2e-1d1b-4f6e-9a57-3c2b9e1d0a11"
PROJECT_ID = "6b5e8d3a-0a4e-4c61-8d9c-2b1c4b6a0f11"
USER_ID = "6b5e8d3a-0a4e-4c61-8d9c-2b1c4b6a0f12"
TASK_ID = "6b5e8d3a-0a4e-4c61-8d9c-2b1c4b6a0f13"
ENTRY_ID = "6b5e8d3a-0a4e-4c61-8d9c-2b1c4b6a0f14"
MARCH_1 = "/Date(1709287200000+0000)/"  # 2024-03-01 10:00 UTC
MARCH_9 = "/Date(1709978400000+0000)/"  # 2024-03-09 10:00 UTC


def xero(spec="xero_accounting", *answers, broken=False, sleeps=None, settings=None):
    transport = vendor(spec, *answers, broken_responses=broken)
    kind = kind_with(XeroKind, transport, settings={**SETTINGS, **(settings or {})}, credentials=CREDENTIALS,
                     sleeps=sleeps)
    return kind, transport


def ok(data, status=200) -> httpx.Response:
    return httpx.Response(status, json=data)


def contact(id=CONTACT_ID, name="Acme Ltd", updated=MARCH_1, **changes):
    record = {"ContactID": id, "ContactStatus": "ACTIVE", "Name": name, "AccountNumber": "ACME",
              "EmailAddress": "ap@acme.example", "DefaultCurrency": "EUR", "TaxNumber": "GB123",
              "UpdatedDateUTC": updated}
    record.update(changes)
    return {key: value for key, value in record.items() if value is not None}


def invoice(id=INVOICE_ID, status="AUTHORISED", updated=MARCH_1, **changes):
    record = {"InvoiceID": id, "Type": "ACCREC", "InvoiceNumber": "INV-0042", "Reference": "March",
              "Contact": {"ContactID": CONTACT_ID, "Name": "Acme Ltd"}, "Date": "/Date(1709251200000+0000)/",
              "DueDate": "/Date(1711843200000+0000)/", "Status": status, "LineAmountTypes": "Exclusive",
              "CurrencyCode": "EUR", "SubTotal": 900.0, "TotalTax": 180.0, "Total": 1080.0,
              "LineItems": [{"Description": "Consulting, March", "Quantity": 7.5, "UnitAmount": 120.0,
                             "LineAmount": 900.0, "AccountCode": "200"}],
              "UpdatedDateUTC": updated}
    record.update(changes)
    return record


def listing(collection, items, *, page=1, pages=1):
    return ok({"pagination": {"page": page, "pageSize": 500, "pageCount": pages, "itemCount": len(items)},
               collection: items})


def calls(transport) -> list[tuple[str, str]]:
    return [(r.method, r.url.path.split("/2.0")[-1]) for r in transport.requests]


# --- reading ----------------------------------------------------------------------------------------------


def test_xero_dates_are_read_as_utc_whatever_the_offset_says():
    assert parse_any_datetime(MARCH_1) == datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    assert parse_any_datetime("/Date(1518685950940)/") == datetime(2018, 2, 15, 9, 12, 30, 940000, tzinfo=UTC)
    assert parse_any_datetime("/Date(1709287200000+1300)/") == datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    assert parse_any_datetime("2024-03-01T10:00:00") == datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    assert parse_any_datetime("/Date(soon)/") is None


def test_contacts_are_read_page_by_page_since_the_cursor():
    kind, transport = xero("xero_accounting",
                           listing("Contacts", [contact(updated=MARCH_9)], pages=2),
                           listing("Contacts", [contact(id="530fa14a-f945-44d3-9f97-5df5e28441b8", name="Globex",
                                                        AccountNumber=None, ContactStatus="ARCHIVED")], page=2,
                                   pages=2))

    pages = list(kind.read("contacts", cursor="2024-02-01T00:00:00Z"))

    assert [r["Name"] for p in pages for r in p.records] == ["Acme Ltd", "Globex"]
    assert [r.url.params["page"] for r in transport.requests] == ["1", "2"]
    first = transport.requests[0]
    assert first.headers["If-Modified-Since"] == "2024-02-01T00:00:00Z"
    assert (first.headers["xero-tenant-id"], first.headers["Authorization"]) == (TENANT, "Bearer xero-token")
    assert first.url.params["includeArchived"] == "true"
    assert [p.next_cursor for p in pages] == [None, "2024-03-09T10:00:00Z"]
    globex = kind.to_canonical("contacts", pages[1].records[0])
    assert (globex.fields["code"], globex.fields["is_active"]) == ("XERO-530fa14a-f945-44d3-9f97-5df5e28441b8",
                                                                    False)
    transport.assert_clean()


def test_a_sales_invoice_translates_with_its_lines_and_exact_amounts():
    kind, transport = xero("xero_accounting", listing("Invoices", [invoice()]))
    [result] = list(kind.read("invoices"))
    canonical = kind.to_canonical("invoices", result.records[0])

    assert transport.requests[0].url.params["where"] == 'Type=="ACCREC"'
    assert canonical.external_id == INVOICE_ID and canonical.refs == {"customer": Ref.external(CONTACT_ID)}
    fields = canonical.fields
    assert (fields["number"], fields["status"], fields["currency"]) == ("INV-0042", "sent", "EUR")
    assert (fields["issue_date"].isoformat(), fields["due_date"].isoformat()) == ("2024-03-01", "2024-03-31")
    assert (fields["amount_net"], fields["amount_tax"], fields["amount_total"]) == (
        Decimal("900.0"), Decimal("180.0"), Decimal("1080.0"))
    assert fields["extra"]["lines"] == [{"description": "Consulting, March", "quantity": "7.5", "unit_price": "120.0",
                                         "amount": "900.0", "account_code": "200"}]
    transport.assert_clean()


@pytest.mark.parametrize(("status", "expected", "deleted"), [
    ("DRAFT", "draft", False), ("SUBMITTED", "draft", False), ("PAID", "paid", False), ("VOIDED", "void", False),
    ("DELETED", "void", True),
])
def test_invoice_statuses_map_to_the_hub(status, expected, deleted):
    kind, _ = xero()
    canonical = kind.to_canonical("invoices", invoice(status=status))
    assert (canonical.fields["status"], canonical.deleted) == (expected, deleted)


def test_bad_invoices_become_errors_naming_record_and_field_while_the_rest_land():
    kind, transport = xero("xero_accounting", listing("Invoices", [
        invoice(id="00000000-0000-4000-8000-000000000001", Total="lots"),
        invoice(id="00000000-0000-4000-8000-000000000002", Contact=None),
        invoice(id="00000000-0000-4000-8000-000000000003", Status="MAYBE"),
        invoice(id="00000000-0000-4000-8000-000000000004",
                LineItems=[{"Description": "x", "Quantity": "seven"}]),
        invoice(),
    ]), broken=True)

    [result] = list(kind.read("invoices"))

    assert [r["InvoiceID"] for r in result.records] == [INVOICE_ID]
    assert [(e.reference, e.field, e.message) for e in result.errors] == [
        ("Xero invoice 00000000-0000-4000-8000-000000000001", "Total", "Total 'lots' is not a number"),
        ("Xero invoice 00000000-0000-4000-8000-000000000002", "Contact.ContactID", "Contact.ContactID is missing"),
        ("Xero invoice 00000000-0000-4000-8000-000000000003", "Status", "Status 'MAYBE' is not a Xero invoice status"),
        ("Xero invoice 00000000-0000-4000-8000-000000000004, line 1", "Quantity", "Quantity 'seven' is not a number"),
    ]
    transport.assert_clean()


def test_429_is_waited_out_and_an_html_page_is_a_clear_error():
    sleeps = []
    kind, transport = xero("xero_accounting",
                           httpx.Response(429, headers={"Retry-After": "5"}, text="Rate limit exceeded"),
                           listing("Contacts", [contact()]),
                           httpx.Response(200, headers={"Content-Type": "text/html"}, text="<html>Login</html>"),
                           broken=True, sleeps=sleeps)

    assert [r["Name"] for p in kind.read("contacts") for r in p.records] == ["Acme Ltd"]
    assert sleeps[0] >= 5
    with pytest.raises(ConnectorError, match=r"Reading Xero contacts \(page 1\).*expected JSON") as failure:
        list(kind.read("contacts"))
    assert failure.value.category == ErrorCategory.PARSE
    transport.assert_clean()


def test_project_time_is_write_only():
    kind, _ = xero()
    with pytest.raises(ConnectorError, match="can be written, not read"):
        list(kind.read("project_time"))


# --- writing contacts and invoices ------------------------------------------------------------------------

CUSTOMER = {"id": 7, "code": "ACME", "name": "Acme Ltd", "currency": "EUR", "tax_id": "GB123", "is_active": True}
REFERENCE = "weft-alpha-customer-7"


def test_a_contact_is_created_then_updated_with_tenant_and_idempotency_headers():
    kind, transport = xero("xero_accounting",
                           listing("Contacts", []),
                           ok({"Contacts": [contact(ContactNumber=REFERENCE)]}),
                           ok({"Contacts": [contact(ContactNumber=REFERENCE, Name="Acme Limited")]}))
    payload = kind.from_canonical("contacts", CUSTOMER, {})

    created = kind.write("contacts", payload, reference=REFERENCE, idempotency_key="k1")
    updated = kind.write("contacts", {**payload, "Name": "Acme Limited"}, reference=REFERENCE,
                         external_id=CONTACT_ID, idempotency_key="k2")

    assert (created.external_id, created.created, updated.created) == (CONTACT_ID, True, False)
    assert calls(transport) == [("GET", "/Contacts"), ("PUT", "/Contacts"), ("POST", "/Contacts")]
    lookup, create, update = transport.requests
    assert lookup.url.params["where"] == f'ContactNumber=="{REFERENCE}"'
    assert json_body(create) == {"Contacts": [{
        "Name": "Acme Ltd", "AccountNumber": "ACME", "ContactStatus": "ACTIVE", "TaxNumber": "GB123",
        "DefaultCurrency": "EUR", "ContactNumber": REFERENCE}]}
    assert json_body(update)["Contacts"][0]["ContactID"] == CONTACT_ID
    assert [(r.headers.get("Idempotency-Key"), r.headers["xero-tenant-id"]) for r in (create, update)] == [
        ("create-k1", TENANT), ("update-k2", TENANT)]
    transport.assert_clean()


def test_a_retry_after_a_crash_finds_the_contact_by_its_contact_number():
    first, first_transport = xero("xero_accounting", listing("Contacts", []),
                                  ok({"Contacts": [contact(ContactNumber=REFERENCE)]}))
    payload = first.from_canonical("contacts", CUSTOMER, {})
    first.write("contacts", payload, reference=REFERENCE, idempotency_key="k1")  # the worker dies here

    again, transport = xero("xero_accounting", listing("Contacts", [contact(ContactNumber=REFERENCE)]),
                            ok({"Contacts": [contact(ContactNumber=REFERENCE)]}))
    result = again.write("contacts", payload, reference=REFERENCE, idempotency_key="k1")

    assert (result.external_id, result.created) == (CONTACT_ID, False)
    puts = [c for c in calls(first_transport) + calls(transport) if c[0] == "PUT"]
    assert puts == [("PUT", "/Contacts")]  # one create, ever
    transport.assert_clean()


def test_the_engines_find_then_write_asks_xero_once():
    kind, transport = xero("xero_accounting", listing("Contacts", []),
                           ok({"Contacts": [contact(ContactNumber=REFERENCE)]}))
    assert kind.find("contacts", reference=REFERENCE) is None
    kind.write("contacts", kind.from_canonical("contacts", CUSTOMER, {}), reference=REFERENCE, idempotency_key="k1")
    assert calls(transport) == [("GET", "/Contacts"), ("PUT", "/Contacts")]
    transport.assert_clean()


def test_xero_validation_errors_are_permanent_and_quote_xero():
    refused = contact(HasValidationErrors=True, ValidationErrors=[
        {"Message": "The contact name Acme Ltd is already assigned to another contact."}])
    kind, transport = xero("xero_accounting", listing("Contacts", []), ok({"Contacts": [refused]}))
    with pytest.raises(ConnectorError, match="already assigned to another contact") as failure:
        kind.write("contacts", kind.from_canonical("contacts", CUSTOMER, {}), reference=REFERENCE)
    assert failure.value.permanent and failure.value.category == ErrorCategory.VALIDATION
    transport.assert_clean()


INVOICE = {"id": 12, "number": "", "status": "draft", "currency": "EUR", "issue_date": "2024-03-11",
           "due_date": "2024-04-10", "amount_net": "900.00", "customer": {"code": "ACME"},
           "project": {"name": "Website"}, "extra": {}}
INVOICE_REFERENCE = "weft-alpha-invoice-12"


def test_an_invoice_is_created_with_our_reference_and_a_retry_finds_it_by_reference():
    kind, transport = xero("xero_accounting",
                           listing("Invoices", [invoice(Reference=INVOICE_REFERENCE, Status="DELETED")]),
                           ok({"Invoices": [invoice(Reference=INVOICE_REFERENCE, Status="DRAFT")]}),
                           listing("Invoices", [invoice(Reference=INVOICE_REFERENCE, Status="DRAFT")]),
                           ok({"Invoices": [invoice(Reference=INVOICE_REFERENCE, Status="DRAFT")]}),
                           settings={"sales_account_code": "200"})
    payload = kind.from_canonical("invoices", INVOICE, {"customer": CONTACT_ID})

    created = kind.write("invoices", payload, reference=INVOICE_REFERENCE, idempotency_key="k1")
    retried = kind.write("invoices", payload, reference=INVOICE_REFERENCE, idempotency_key="k1")

    assert (created.created, retried.created, retried.external_id) == (True, False, INVOICE_ID)
    assert calls(transport) == [("GET", "/Invoices"), ("PUT", "/Invoices"), ("GET", "/Invoices"),
                                ("POST", "/Invoices")]
    assert transport.requests[0].url.params["where"] == f'Type=="ACCREC" AND Reference=="{INVOICE_REFERENCE}"'
    assert json_body(transport.requests[1]) == {"Invoices": [{
        "Type": "ACCREC", "Contact": {"ContactID": CONTACT_ID}, "LineAmountTypes": "Exclusive", "Status": "DRAFT",
        "CurrencyCode": "EUR", "Date": "2024-03-11", "DueDate": "2024-04-10", "Reference": INVOICE_REFERENCE,
        "LineItems": [{"Description": "Website", "Quantity": 1.0, "UnitAmount": 900.0, "AccountCode": "200"}]}]}
    assert [r.headers.get("Idempotency-Key") for r in transport.requests] == [None, "create-k1", None, "update-k1"]
    transport.assert_clean()


def test_an_invoice_for_a_customer_not_yet_in_xero_is_refused_clearly():
    kind, _ = xero()
    with pytest.raises(ConnectorError, match="customer ACME is not in Xero yet") as failure:
        kind.from_canonical("invoices", INVOICE, {"customer": None})
    assert failure.value.category == ErrorCategory.MISSING_REFERENCE


# --- time on projects -------------------------------------------------------------------------------------

TIME = {"id": 31, "date": "2024-03-11", "hours": "2.50", "task": "Design", "notes": "Wireframes",
        "project": {"id": 4, "code": "ACME-042"}, "person": {"id": 2, "code": "P7", "email": "kim@acme.example",
                                                              "name": "Kim Allen"}}


def time_entry_answer():
    return ok({"timeEntryId": ENTRY_ID, "userId": USER_ID, "projectId": PROJECT_ID, "taskId": TASK_ID,
               "dateUtc": "2024-03-11T12:00:00Z", "dateEnteredUtc": "2024-03-12T08:00:00Z", "duration": 150,
               "description": "Wireframes", "status": "ACTIVE"})


def test_time_is_posted_once_with_an_idempotency_key_even_when_the_post_is_retried():
    kind, transport = xero("xero_projects",
                           ok({"pagination": {"page": 1, "pageSize": 500, "pageCount": 1, "itemCount": 2},
                               "items": [{"taskId": "6b5e8d3a-0a4e-4c61-8d9c-2b1c4b6a0f99", "name": "Meetings"},
                                         {"taskId": TASK_ID, "name": "design"}]}),
                           httpx.Response(503, json={"message": "busy"}),
                           time_entry_answer())
    payload = kind.from_canonical("project_time", TIME, {"project": PROJECT_ID, "person": USER_ID})

    result = kind.write("project_time", payload, reference="weft-alpha-time_entry-31", idempotency_key="k1")

    assert (result.external_id, result.created) == (f"{PROJECT_ID}/{ENTRY_ID}", True)
    assert calls(transport) == [("GET", f"/Projects/{PROJECT_ID}/Tasks"), ("POST", f"/Projects/{PROJECT_ID}/Time"),
                                ("POST", f"/Projects/{PROJECT_ID}/Time")]
    first_post, second_post = transport.requests[1:]
    assert first_post.headers["Idempotency-Key"] == second_post.headers["Idempotency-Key"] == "create-k1"
    assert second_post.headers["xero-tenant-id"] == TENANT
    assert json_body(second_post) == {"userId": USER_ID, "taskId": TASK_ID, "dateUtc": "2024-03-11T12:00:00Z",
                                      "duration": 150, "description": "Wireframes"}
    transport.assert_clean()


def test_time_is_updated_and_reversed_by_its_project_and_entry_ids():
    settings = {"project_ids": {"ACME-042": PROJECT_ID}, "user_ids": json.dumps({"kim@acme.example": USER_ID}),
                "task_ids": {PROJECT_ID: TASK_ID}}
    kind, transport = xero("xero_projects", httpx.Response(204), httpx.Response(204), settings=settings)
    payload = kind.from_canonical("project_time", {**TIME, "hours": "3"}, {})

    result = kind.write("project_time", payload, reference="weft-alpha-time_entry-31",
                        external_id=f"{PROJECT_ID}/{ENTRY_ID}", idempotency_key="k2")
    kind.delete("project_time", f"{PROJECT_ID}/{ENTRY_ID}")

    assert result.created is False
    assert calls(transport) == [("PUT", f"/Projects/{PROJECT_ID}/Time/{ENTRY_ID}"),
                                ("DELETE", f"/Projects/{PROJECT_ID}/Time/{ENTRY_ID}")]
    assert json_body(transport.requests[0])["duration"] == 180
    assert transport.requests[0].headers["Idempotency-Key"] == "update-k2"
    transport.assert_clean()


@pytest.mark.parametrize(("time", "refs", "message"), [
    (TIME, {"person": USER_ID}, "project ACME-042 has no Xero project"),
    (TIME, {"project": PROJECT_ID}, "Kim Allen has no Xero user"),
    ({**TIME, "hours": "0"}, {"project": PROJECT_ID, "person": USER_ID}, "Xero takes 1 to 59940"),
    ({**TIME, "hours": "many"}, {"project": PROJECT_ID, "person": USER_ID}, "hours 'many' is not a number"),
])
def test_time_that_cannot_be_posted_is_refused_before_any_call(time, refs, message):
    kind, transport = xero("xero_projects")
    with pytest.raises(ConnectorError, match=message) as failure:
        kind.from_canonical("project_time", time, refs)
    assert failure.value.permanent and not transport.requests


def test_a_task_missing_from_the_project_is_a_clear_error():
    kind, transport = xero("xero_projects", ok({"items": [{"taskId": TASK_ID, "name": "Meetings"}]}))
    payload = kind.from_canonical("project_time", TIME, {"project": PROJECT_ID, "person": USER_ID})
    with pytest.raises(ConnectorError, match="has no task named 'Design'"):
        kind.write("project_time", payload, reference="weft-alpha-time_entry-31", idempotency_key="k1")
    transport.assert_clean()


def test_long_references_and_keys_are_shortened_stably_to_xeros_limits():
    reference = "weft-" + "a" * 60 + "-customer-7"
    assert len(contact_number(reference)) == 50 and contact_number(reference) == contact_number(reference)
    assert contact_number("weft-alpha-customer-7") == "weft-alpha-customer-7"
    assert len(idempotency_header("create", "k" * 200)["Idempotency-Key"]) <= 128


def revenue_view(amount: str, **extra) -> dict:
    return {"id": 12, "period": "2026-05-01", "method": "percent_complete", "amount": amount, "currency": "EUR",
            "project": {"code": "FIX-7", "name": "Audit", "customer": {"name": "Acme Ltd"}},
            "extra": {"billable_value": "18000.00", "cost": "6600.00", "hours": "120.00", "percent_complete": "70.0",
                      "fee": "30000.00", "percent_complete_before": "30.0", "note": None, **extra}}


def test_a_fixed_fee_month_is_journalled_at_its_share_of_the_fee_not_its_billable_value():
    journal = journal_payload(revenue_view("12000.00"), unbilled_account="630", sales_account="200",
                              tracking_category=None)

    assert [line["LineAmount"] for line in journal["JournalLines"]] == [12000.0, -12000.0]
    assert journal["Narration"] == (
        "Unbilled revenue FIX-7 2026-05 (Audit, Acme Ltd): fixed fee EUR 30000.00, 30.0 % to 70.0 % complete: "
        "EUR 12000.00 recognised, billable value EUR 18000.00, cost EUR 6600.00, 120.00 h, 70.0 % complete")


def test_a_month_with_nothing_to_accrue_is_never_journalled():
    unmeasured = revenue_view("0.00", percent_complete=None, percent_complete_before=None,
                              note="no budget hours, so no percent complete: nothing of the fixed fee accrued")
    with pytest.raises(ConnectorError) as caught:
        journal_payload(unmeasured, unbilled_account="630", sales_account="200", tracking_category=None)
    assert caught.value.permanent and "nothing to accrue (0.00)" in caught.value.message


def test_the_connection_test_names_the_organisation():
    kind, transport = xero("xero_accounting", ok({"Organisations": [{"Name": "Acme Consulting"}]}))
    assert kind.test().message == "Connected to Xero organisation Acme Consulting."
    assert transport.requests[0].headers["Accept"] == "application/json"
    transport.assert_clean()


# --- against Prism ----------------------------------------------------------------------------------------


@pytest.mark.prism
def test_prism_xero_accepts_the_kinds_contact_and_time_writes(in_alpha, prism_xero_accounting, prism_xero_projects):
    connection = connection_create(
        name="Xero (Prism)", kind="xero", credentials=CREDENTIALS, allow_private_network=True,
        settings={**SETTINGS, "accounting_base_url": prism_xero_accounting, "projects_base_url": prism_xero_projects,
                  "task_ids": {PROJECT_ID: TASK_ID}}, acting_user=None,
    )
    kind = connection_kind(connection)

    assert kind.test().ok
    pages = list(kind.read("contacts", cursor="2024-01-01T00:00:00Z"))
    assert [r for p in pages for r in p.records] and not [e for p in pages for e in p.errors]
    made = kind.write("contacts", kind.from_canonical("contacts", CUSTOMER, {}), reference=REFERENCE,
                      idempotency_key="k1")
    time = kind.write("project_time", kind.from_canonical("project_time", TIME, {"project": PROJECT_ID,
                                                                                 "person": USER_ID}),
                      reference="weft-alpha-time_entry-31", idempotency_key="k2")
    assert made.created and made.external_id and time.created and time.external_id.startswith(f"{PROJECT_ID}/")


@pytest.mark.prism
def test_prism_xero_accepts_a_billing_readiness_draft_invoice(in_alpha, prism_xero_accounting):
    """A draft as billing readiness makes it (per person and rate, expenses per category) goes to Xero as an
    ACCREC DRAFT over real HTTP (Prism does not check /Invoices bodies: the stateful e2e fake checks them against
    the same spec)."""
    connection = connection_create(
        name="Xero (Prism)", kind="xero", credentials=CREDENTIALS, allow_private_network=True,
        settings={**SETTINGS, "accounting_base_url": prism_xero_accounting, "sales_account_code": "200"},
        acting_user=None,
    )
    kind = connection_kind(connection)
    draft = {**INVOICE, "issue_date": "2026-04-30", "due_date": "2026-05-30", "extra": {
        "billing_key": "ACME-042:2026-04", "lines": [
            {"description": "Website, 2026-04: Ann Lee", "quantity": "11.50", "unit_price": "150.00"},
            {"description": "Website, 2026-04: expenses, Travel", "quantity": "1", "unit_price": "120.00"}]}}
    payload = kind.from_canonical("invoices", draft, {"customer": CONTACT_ID})

    made = kind.write("invoices", payload, reference=INVOICE_REFERENCE, idempotency_key="k-draft")

    assert made.external_id and payload["Status"] == "DRAFT" and payload["Type"] == "ACCREC"
    assert [line["Quantity"] for line in payload["LineItems"]] == [11.5, 1.0]
