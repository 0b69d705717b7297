"""The vendor mocks reject what Harvest and Xero would reject, and accept the request shapes connectors send.

Prism tests need Node (skipped with a reason without it); openapi-core tests run everywhere.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.vendor_mocks.openapi import (
    build_request,
    request_errors,
    response_errors,
    server_url,
    spec_checked_transport,
    spec_document,
    validate_request,
)

HARVEST_HEADERS = {
    "Authorization": "Bearer harvest-token", "Harvest-Account-Id": "123456", "User-Agent": "Weft (ops@example.com)",
}
XERO_HEADERS = {"Authorization": "Bearer xero-token", "xero-tenant-id": "9c2a8f4e-0000-4000-8000-000000000001"}
PROJECT_ID = "6b5e8d3a-0a4e-4c61-8d9c-2b1c4b6a0f11"
TIME_ENTRY = {
    "userId": "6b5e8d3a-0a4e-4c61-8d9c-2b1c4b6a0f12", "taskId": "6b5e8d3a-0a4e-4c61-8d9c-2b1c4b6a0f13",
    "dateUtc": "2024-03-11T09:00:00Z", "duration": 90, "description": "Workshop",
}
INVOICE = {
    "Type": "ACCREC", "Contact": {"ContactID": "430fa14a-f945-44d3-9f97-5df5e28441b8"}, "Date": "2024-03-11",
    "DueDate": "2024-04-10", "LineAmountTypes": "Exclusive", "Status": "DRAFT", "Reference": "WEFT-42",
    "LineItems": [{"Description": "Consulting, March", "Quantity": 7.5, "UnitAmount": 120.0, "AccountCode": "200"}],
}
BILL = {  # an approved expense as a bill payable to the person who spent it (expenses to the ERP)
    "Type": "ACCPAY", "Contact": {"Name": "Ann Lee"}, "Date": "2026-04-07", "DueDate": "2026-04-07",
    "LineAmountTypes": "Inclusive", "Status": "AUTHORISED", "CurrencyCode": "GBP", "Reference": "weft-alpha-expense-7",
    "LineItems": [{"Description": "Travel — train to client (ACME-042, 2026-04-07)", "Quantity": 1.0,
                   "UnitAmount": 86.4, "AccountCode": "493"}],
}
PAYROLL_HEADERS = {"Authorization": "Bearer xero-token", "Xero-Tenant-Id": "t-1"}
CALENDAR_ID = "216d80e6-af55-47b1-b718-9457c3f5d2fe"
EMPLOYEE_ID = "aad6b292-7b94-408b-93f6-e489867e3fb0"
TIMESHEET_ID = "88d2038a-06f7-4b8a-bdab-809804c0aa1d"
NEW_PROJECT = {"client_id": 5735776, "name": "Website", "is_billable": True, "bill_by": "Project",
               "budget_by": "project", "hourly_rate": 120.0}

# The request shapes a Harvest/Xero connector sends (spec name, method, path, headers, JSON body).
# Harvest marks `page` deprecated on clients/projects/users/*_assignments (cursor pagination: follow links.next);
# time_entries and expenses still take `page`.
CONNECTOR_REQUESTS = [
    ("harvest", "GET", "/clients?is_active=true&updated_since=2024-01-01T00:00:00Z&per_page=2000",
     HARVEST_HEADERS, None),
    ("harvest", "GET", "/projects?cursor=eyJhZnRlciI6eyJpZCI6MX19&per_page=2000", HARVEST_HEADERS, None),
    ("harvest", "GET", "/users?updated_since=2024-01-01T00:00:00Z", HARVEST_HEADERS, None),
    ("harvest", "GET", "/user_assignments?is_active=true", HARVEST_HEADERS, None),
    ("harvest", "GET", "/task_assignments?updated_since=2024-01-01T00:00:00Z", HARVEST_HEADERS, None),
    ("harvest", "GET", "/time_entries?updated_since=2024-01-01T00:00:00Z&from=2024-01-01&to=2024-01-31&page=1",
     HARVEST_HEADERS, None),
    ("harvest", "GET", "/expenses?updated_since=2024-01-01T00:00:00Z&page=2&per_page=2000", HARVEST_HEADERS, None),
    ("harvest", "POST", "/clients", HARVEST_HEADERS, {"name": "Acme Ltd", "currency": "EUR"}),
    ("harvest", "POST", "/projects", HARVEST_HEADERS, NEW_PROJECT),
    ("xero_accounting", "GET", "/Contacts?page=1&pageSize=100&includeArchived=true",
     {**XERO_HEADERS, "If-Modified-Since": "2024-01-01T00:00:00Z"}, None),
    ("xero_accounting", "PUT", "/Contacts?summarizeErrors=false", {**XERO_HEADERS, "Idempotency-Key": "c-1"},
     {"Contacts": [{"Name": "Acme Ltd", "EmailAddress": "ap@acme.example"}]}),
    ("xero_accounting", "POST", "/Contacts", XERO_HEADERS,
     {"Contacts": [{"ContactID": "430fa14a-f945-44d3-9f97-5df5e28441b8", "Name": "Acme Ltd"}]}),
    ("xero_accounting", "GET", "/Invoices?page=1&Statuses=DRAFT,AUTHORISED", XERO_HEADERS, None),
    ("xero_accounting", "PUT", "/Invoices?unitdp=4", {**XERO_HEADERS, "Idempotency-Key": "inv-42"},
     {"Invoices": [INVOICE]}),
    ("xero_accounting", "POST", "/Invoices", {**XERO_HEADERS, "Idempotency-Key": "inv-42b"}, {"Invoices": [INVOICE]}),
    ("xero_projects", "GET", "/Projects?page=1&pageSize=50&states=INPROGRESS",
     {"Authorization": "Bearer xero-token", "Xero-Tenant-Id": "t-1"}, None),
    ("xero_projects", "POST", f"/Projects/{PROJECT_ID}/Time",
     {"Authorization": "Bearer xero-token", "Xero-Tenant-Id": "t-1", "Idempotency-Key": "te-1"}, TIME_ENTRY),
    ("xero_accounting", "PUT", "/Invoices?summarizeErrors=false", {**XERO_HEADERS, "Idempotency-Key": "bill-7"},
     {"Invoices": [BILL]}),
    ("xero_payroll_uk", "GET", f"/PayRunCalendars/{CALENDAR_ID}", PAYROLL_HEADERS, None),
    ("xero_payroll_uk", "GET", f"/Timesheets?filter=employeeId=={EMPLOYEE_ID},payrollCalendarId=={CALENDAR_ID}"
     "&startDate=2026-04-06&endDate=2026-04-12&page=1", PAYROLL_HEADERS, None),
    ("xero_payroll_uk", "POST", "/Timesheets", {**PAYROLL_HEADERS, "Idempotency-Key": "ts-1"},
     {"payrollCalendarID": CALENDAR_ID, "employeeID": EMPLOYEE_ID, "startDate": "2026-04-06",
      "endDate": "2026-04-12"}),
    ("xero_payroll_uk", "POST", f"/Timesheets/{TIMESHEET_ID}/Lines", {**PAYROLL_HEADERS, "Idempotency-Key": "tl-1"},
     {"date": "2026-04-07", "earningsRateID": "87f5b43a-cf51-4b74-92de-94c819e82d27", "numberOfUnits": 7.5}),
]


def _prism_call(base_url: str, method: str, path: str, headers: dict, body=None) -> httpx.Response:
    return httpx.request(method, base_url + path, headers=headers, json=body, timeout=30)


def _violations(response: httpx.Response) -> str:
    """What Prism says was wrong: the sl-violations header, or the problem+json body."""
    return response.headers.get("sl-violations") or response.text


# --- openapi-core -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("spec_name", "method", "path", "headers", "body"), CONNECTOR_REQUESTS,
                         ids=[f"{r[0]}:{r[1]}:{r[2].split('?')[0]}" for r in CONNECTOR_REQUESTS])
def test_connector_request_shapes_conform_to_vendor_specs(spec_name, method, path, headers, body):
    validate_request(spec_name, method, path, headers, body)


def test_xero_invoice_with_wrong_types_is_rejected_where_prism_would_let_it_through():
    bad_line = {**INVOICE["LineItems"][0], "Quantity": "seven and a half"}
    bad = {"Invoices": [{**INVOICE, "LineItems": [bad_line], "Type": "INVOICE"}]}

    with pytest.raises(AssertionError) as failure:
        validate_request("xero_accounting", "PUT", "/Invoices", XERO_HEADERS, bad)

    message = str(failure.value)
    assert "Invoices/0/LineItems/0/Quantity: 'seven and a half' is not of type 'number'" in message
    assert "Invoices/0/Type: 'INVOICE' is not one of" in message


def test_harvest_page_that_is_not_an_integer_is_rejected():
    validate_request("harvest", "GET", "/time_entries?page=1", HARVEST_HEADERS)

    with pytest.raises(AssertionError, match="Query parameter error: page"):
        validate_request("harvest", "GET", "/time_entries?page=abc", HARVEST_HEADERS)


def test_harvest_without_account_id_header_is_rejected():
    headers = {"Authorization": "Bearer harvest-token"}
    with pytest.raises(AssertionError, match="Security not found"):
        validate_request("harvest", "GET", "/clients", headers)


def test_xero_needs_tenant_header_and_bearer_token():
    with pytest.raises(AssertionError, match="Missing required header parameter: xero-tenant-id"):
        validate_request("xero_accounting", "GET", "/Contacts", {"Authorization": "Bearer xero-token"})
    with pytest.raises(AssertionError, match="Authorization: Bearer"):
        validate_request("xero_accounting", "GET", "/Contacts", {"xero-tenant-id": "t-1"})


def test_xero_projects_paths_are_case_sensitive_like_the_spec():
    with pytest.raises(AssertionError, match="PathNotFound"):
        validate_request("xero_projects", "POST", f"/projects/{PROJECT_ID}/time", XERO_HEADERS, TIME_ENTRY)


# --- spec-checked fake server ----------------------------------------------------------------------------


def _clients_page(cursor: str | None, *, next_cursor: str | None) -> dict:
    base = server_url("harvest")
    return {
        "clients": [{"id": 100, "name": f"Client after {cursor}", "is_active": True, "currency": "EUR"}],
        "per_page": 1, "total_pages": 2, "total_entries": 2, "page": 1, "next_page": None, "previous_page": None,
        "links": {"first": f"{base}/clients?per_page=1", "last": f"{base}/clients?per_page=1",
                  "next": next_cursor and f"{base}/clients?cursor={next_cursor}&per_page=1", "previous": None},
    }


def test_fake_server_scripts_pages_rate_limits_and_html_errors_while_checking_requests():
    answers = iter([
        httpx.Response(429, headers={"Retry-After": "2"}, json={"message": "Too many requests"}),
        httpx.Response(200, json=_clients_page(None, next_cursor="c2")),
        httpx.Response(502, headers={"Content-Type": "text/html"}, text="<html>Bad gateway</html>"),
        httpx.Response(200, json=_clients_page("c2", next_cursor=None)),
    ])
    transport = spec_checked_transport("harvest", lambda request: next(answers))
    statuses, url = [], f"{server_url('harvest')}/clients?per_page=1"
    with httpx.Client(transport=transport, headers=HARVEST_HEADERS) as client:
        while url:
            response = client.get(url)
            statuses.append(response.status_code)
            if response.status_code == 200:
                url = response.json()["links"]["next"]

    assert statuses == [429, 200, 502, 200]
    assert [r.url.params.get("cursor") for r in transport.requests] == [None, None, "c2", "c2"]
    transport.assert_clean()


def test_fake_server_fails_a_request_the_vendor_would_reject_even_if_the_caller_swallows_it():
    transport = spec_checked_transport("harvest", lambda request: httpx.Response(201, json={"id": 1}))
    client = httpx.Client(transport=transport, base_url=server_url("harvest"), headers=HARVEST_HEADERS)
    with client, pytest.raises(AssertionError, match="'name' is a required property"):
        client.post("/clients", json={"currency": "EUR"})

    with pytest.raises(AssertionError, match="'name' is a required property"):
        transport.assert_clean()


def test_fake_server_fails_a_scripted_success_that_the_vendor_would_never_send():
    not_a_page = {"clients": [], "page": "one"}
    transport = spec_checked_transport("harvest", lambda request: httpx.Response(200, json=not_a_page))
    client = httpx.Client(transport=transport, base_url=server_url("harvest"), headers=HARVEST_HEADERS)
    with client, pytest.raises(AssertionError, match="scripted response 200") as failure:
        client.get("/clients")

    assert "'per_page' is a required property" in str(failure.value)
    assert "page: 'one' is not of type 'integer'" in str(failure.value)


def test_fake_server_checks_xero_invoice_bodies():
    transport = spec_checked_transport("xero_accounting", lambda request: httpx.Response(200, json={"Invoices": []}))
    base = server_url("xero_accounting")
    with httpx.Client(transport=transport, base_url=base, headers=XERO_HEADERS) as client:
        assert client.put("/Invoices", json={"Invoices": [INVOICE]}).status_code == 200
        with pytest.raises(AssertionError, match="UnitAmount: 'lots' is not of type 'number'"):
            client.post("/Invoices", json={"Invoices": [{**INVOICE, "LineItems": [{"UnitAmount": "lots"}]}]})


# --- Prism ----------------------------------------------------------------------------------------------


def test_prism_harvest_time_entries_page_is_spec_shaped(prism_harvest):
    path = "/time_entries?updated_since=2024-01-01T00:00:00Z&page=1"
    response = _prism_call(prism_harvest, "GET", path, HARVEST_HEADERS)

    assert response.status_code == 200, _violations(response)
    page = response.json()
    assert {"time_entries", "page", "per_page", "next_page", "total_pages", "links"} <= page.keys()
    assert page["time_entries"][0]["spent_date"]
    assert response_errors("harvest", build_request("harvest", "GET", path, HARVEST_HEADERS), response) == []


def test_prism_harvest_rejects_client_without_name(prism_harvest):
    accepted = _prism_call(prism_harvest, "POST", "/clients", HARVEST_HEADERS, {"name": "Acme Ltd"})
    rejected = _prism_call(prism_harvest, "POST", "/clients", HARVEST_HEADERS, {"currency": "EUR"})

    assert accepted.status_code == 201, _violations(accepted)
    assert rejected.status_code == 422
    assert "required property 'name'" in _violations(rejected)


def test_prism_harvest_rejects_missing_auth_headers_and_bad_page(prism_harvest):
    no_account = _prism_call(prism_harvest, "GET", "/clients", {"Authorization": "Bearer harvest-token"})
    bad_page = _prism_call(prism_harvest, "GET", "/clients?page=abc", HARVEST_HEADERS)

    assert no_account.status_code == 401
    assert bad_page.status_code == 422
    assert "page must be integer" in _violations(bad_page)


def test_prism_maps_harvest_paths_without_the_v2_server_prefix(prism_harvest):
    assert _prism_call(prism_harvest, "GET", "/clients", HARVEST_HEADERS).status_code == 200
    assert _prism_call(prism_harvest, "GET", "/v2/clients", HARVEST_HEADERS).status_code == 404


def test_prism_xero_contacts_need_the_tenant_header(prism_xero_accounting):
    path_parameters = spec_document("xero_accounting")["paths"]["/Contacts"]["parameters"]
    assert path_parameters == [{"$ref": "#/components/parameters/requiredHeader"}]
    assert spec_document("xero_accounting")["components"]["parameters"]["requiredHeader"]["required"] is True

    without = _prism_call(prism_xero_accounting, "GET", "/Contacts", {"Authorization": "Bearer xero-token"})
    with_header = _prism_call(prism_xero_accounting, "GET", "/Contacts", XERO_HEADERS)

    assert without.status_code == 422
    assert "xero-tenant-id" in _violations(without)
    assert with_header.status_code == 200, _violations(with_header)
    assert "Contacts" in with_header.json()


def test_prism_xero_projects_accepts_a_valid_time_entry_and_rejects_a_bad_one(prism_xero_projects):
    headers = {"Authorization": "Bearer xero-token", "Xero-Tenant-Id": "t-1"}
    path = f"/Projects/{PROJECT_ID}/Time"
    accepted = _prism_call(prism_xero_projects, "POST", path, headers, TIME_ENTRY)
    rejected = _prism_call(prism_xero_projects, "POST", path, headers, {**TIME_ENTRY, "duration": "1h30"})

    assert accepted.status_code == 200, _violations(accepted)
    assert accepted.json()["timeEntryId"]
    assert rejected.status_code == 400
    assert "duration must be integer" in _violations(rejected)


# Prism does not validate /Invoices bodies and takes ~2.5 s per /Invoices call: openapi-core covers those above.
PRISM_REQUESTS = [r for r in CONNECTOR_REQUESTS if not r[2].startswith("/Invoices")]


@pytest.mark.parametrize(("spec_name", "method", "path", "headers", "body"), PRISM_REQUESTS,
                         ids=[f"{r[0]}:{r[1]}:{r[2].split('?')[0]}" for r in PRISM_REQUESTS])
def test_prism_accepts_connector_request_shapes_and_answers_in_spec(
    request, spec_name, method, path, headers, body
):
    base_url = request.getfixturevalue(f"prism_{spec_name}")
    response = _prism_call(base_url, method, path, headers, body)

    assert response.status_code in (200, 201), _violations(response)
    vendor_request = build_request(spec_name, method, path, headers, body)
    assert request_errors(spec_name, vendor_request) == []
    assert response_errors(spec_name, vendor_request, response) == [], json.dumps(response.json())[:500]
