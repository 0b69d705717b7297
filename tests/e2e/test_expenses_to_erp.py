"""Accelerator "expenses to the ERP", end to end: approved Harvest expenses (a stateful fake checked against
Harvest's OpenAPI document) become draft supplier invoices in the real Tryton and bills in Xero (a stateful fake
checked against Xero's Accounting document), each once. Bad rows (an unknown person or project, a receipt
without an amount, another currency) become exceptions with the money at stake."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.connectors.models import Connection
from apps.connectors.services import connection_update
from apps.exceptions.models import IntegrationException
from apps.runs.models import ItemOutcome, RunItem, RunStatus
from apps.runs.outbound import record_reference
from apps.runs.services import pull_run
from tests.e2e.support import (
    XERO_TENANT,
    canonical_id,
    connect_harvest,
    connect_tryton,
    install,
    run_flow,
    tryton_employee,
)
from tests.e2e.vendors_payroll import XERO_ACCOUNTING_URL, FakeXeroBills
from tests.tryton.conftest_plugin import unique

pytestmark = pytest.mark.usefixtures("templates", "fanout")


@pytest.fixture
def bills(routes):
    fake = FakeXeroBills()
    routes.vendors[XERO_ACCOUNTING_URL] = fake
    yield fake
    fake.transport.assert_clean()


@pytest.fixture
def setup(in_alpha, tryton, harvest, bills):
    acme = harvest.add_client("Acme Ltd")  # EUR, the account's currency
    project = harvest.add_project(acme, "Website", "ACME-042")
    us_project = harvest.add_project(harvest.add_client("Globex Inc", currency="USD"), "Rollout", "GLX-7")
    email = f"{unique('ann')}@example.com"
    ann = harvest.add_user("Ann", "Lee", email)
    employee = tryton_employee(tryton, code=email, name="Ann Lee")
    erp, connection = connect_tryton(tryton), connect_harvest()
    install(in_alpha, "expenses-to-erp", currency="EUR", open_from="2026-03-01")
    connection_update(connection=Connection.objects.get(slug="xero"), credentials={"access_token": "xero-token"},
                      changes={"is_enabled": True, "settings": {"tenant_id": XERO_TENANT,
                                                                "expense_account_code": "493"}}, acting_user=None)
    for name in ("clients", "projects"):
        assert pull_run(connection=connection, object_name=name).status == RunStatus.SUCCEEDED
    for slug in ("erp-employees-in", "time-people-in"):
        assert run_flow(slug).status == RunStatus.SUCCEEDED
    return {"harvest": connection, "erp": erp, "project": project, "us_project": us_project, "ann": ann,
            "employee": employee}


def supplier_invoices(tryton, reference: str) -> list[dict]:
    rows = tryton.client.search_read("account.invoice", [["type", "=", "in"], ["reference", "=", reference]],
                                     ["state", "party", "currency.code", "total_amount", "description", "lines"])
    for row in rows:
        row["lines"] = tryton.client.read("account.invoice.line", row["lines"], ["description", "unit_price",
                                                                                "quantity", "account.type.expense"])
    return rows


def test_approved_expenses_go_once_to_tryton_and_xero(setup, tryton, harvest, bills):
    train = harvest.add_expense(setup["ann"], setup["project"], spent_date="2026-04-07", total_cost=86.40,
                                approved=True, category="Travel", notes="Train to the client")
    harvest.add_expense(setup["ann"], setup["project"], spent_date="2026-04-08", total_cost=12.00, approved=False)

    first = run_flow("expenses-in")

    assert first.counts == {"created": 2}
    expense_id = canonical_id(setup["harvest"], "expense", train["id"])
    reference = record_reference("expense", expense_id)
    [invoice] = supplier_invoices(tryton, reference)
    (party,) = tryton.client.read("company.employee", [setup["employee"]], ["party"])
    assert (invoice["state"], invoice["party"], invoice["currency."]["code"], invoice["total_amount"]) == (
        "draft", party["party"], "EUR", Decimal("86.40"))
    [line] = invoice["lines"]
    assert line["description"] == "Travel — Train to the client (ACME-042, 2026-04-07)" and line["quantity"] == 1
    assert line["account."]["type."]["expense"]
    [bill] = bills.live()
    assert (bill["Type"], bill["Contact"], bill["Reference"], bill["Total"], bill["CurrencyCode"]) == (
        "ACCPAY", {"Name": "Ann Lee"}, reference, 86.4, "EUR")
    assert bill["Status"] == "AUTHORISED" and bill["LineItems"][0]["AccountCode"] == "493"

    for slug in ("expenses-to-tryton", "expenses-to-xero"):  # the schedules' catch-up sends nothing twice
        assert run_flow(slug).counts.get("created", 0) == 0
    assert len(supplier_invoices(tryton, reference)) == 1 and len(bills.bills) == 1
    assert len([r for r in bills.requests if r.method == "PUT"]) == 1

    harvest.approve(train, approved=False)  # reopened in Harvest: taken back while still a draft
    run_flow("expenses-in")

    assert supplier_invoices(tryton, reference) == [] and bills.live() == []
    assert set(RunItem.objects.filter(outcome=ItemOutcome.DELETED).values_list("run__flow__slug", flat=True)) == {
        "expenses-to-tryton", "expenses-to-xero"}


def test_bad_rows_become_exceptions_with_the_money_at_stake(setup, tryton, harvest, bills):
    stranger = harvest.add_user("Zoe", "Stranger", "zoe@example.com")  # never read into the hub
    harvest.add_expense(stranger, setup["project"], spent_date="2026-04-07", total_cost=40.00, approved=True)
    ghost = harvest.add_project(setup["project"]["client"], "Pitch", "ACME-099")  # made after the hub last read
    harvest.add_expense(setup["ann"], ghost, spent_date="2026-04-08", total_cost=18.50, approved=True)
    harvest.add_expense(setup["ann"], setup["project"], spent_date="2026-04-07", total_cost=None, approved=True,
                        notes="Receipt lost")
    dollars = harvest.add_expense(setup["ann"], setup["us_project"], spent_date="2026-04-09", total_cost=250.00,
                                  approved=True, category="Hotel")
    early = harvest.add_expense(setup["ann"], setup["project"], spent_date="2026-02-20", total_cost=30.00,
                                approved=True)

    run = run_flow("expenses-in")

    assert run.counts == {"created": 2, "failed": 3}  # stranger, unknown project, no amount: stopped at the door
    assert supplier_invoices(tryton, record_reference("expense", canonical_id(
        setup["harvest"], "expense", dollars["id"]))) == [] and bills.live() == []
    unknown = IntegrationException.objects.get(flow__slug="expenses-in",
                                               message__contains=f"no person with Harvest id {stranger['id']}")
    assert unknown.amount_at_risk == Decimal("40.00") and unknown.currency == "EUR"
    assert IntegrationException.objects.filter(flow__slug="expenses-in",
                                               message__contains="total_cost is missing").exists()
    project = IntegrationException.objects.get(flow__slug="expenses-in",
                                               message__contains=f"no project with Harvest id {ghost['id']}")
    assert project.amount_at_risk == Decimal("18.50") and project.currency == "EUR"
    for slug in ("expenses-to-tryton", "expenses-to-xero"):
        currency = IntegrationException.objects.get(flow__slug=slug, message__contains="not in EUR")
        assert currency.amount_at_risk == Decimal("250.00") and currency.currency == "USD"
        assert currency.people == ["Ann Lee"] and currency.projects == ["GLX-7"]
        closed = IntegrationException.objects.get(flow__slug=slug, message__contains="closed period")
        assert closed.amount_at_risk == Decimal("30.00") and early
