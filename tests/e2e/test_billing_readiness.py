"""Accelerator "billing readiness", end to end: approved billable Harvest time and expenses become one draft sales
invoice per project and month in Xero Accounting (both vendors stateful fakes, every request and answer checked
against their published OpenAPI documents), each created once however often the flow runs; every draft that
cannot go out says why, with hours and money at stake, as an exception the blocked-invoices report shows; revenue
inputs per project and month go to the ERP's import file."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from apps.canonical.models import Invoice
from apps.connectors.models import Connection
from apps.connectors.services import connection_create, connection_kind
from apps.exceptions.models import ExceptionRecord
from apps.reporting.filters import ReportFilters
from apps.reporting.selectors import blocked_invoices
from apps.runs.models import ItemOutcome, RunItem, RunStatus
from apps.runs.outbound import record_reference
from tests.e2e.support import XERO_TENANT, connect_harvest, install, run_flow
from tests.e2e.vendors import stamp

pytestmark = pytest.mark.usefixtures("templates", "fanout")
READS = ("time-clients-in", "time-projects-in", "time-people-in", "time-in", "expenses-in", "xero-contacts-in")


def connect_xero_accounting() -> Connection:
    return connection_create(name="Xero", slug="xero", kind="xero", credentials={"access_token": "xero-token"},
                             settings={"tenant_id": XERO_TENANT, "sales_account_code": "200"}, acting_user=None)


@pytest.fixture
def firm(in_alpha, harvest, xero_accounting):
    """Two Harvest clients, one of them a Xero contact (account number = its hub code); four projects."""
    acme, globex = harvest.add_client("Acme Ltd"), harvest.add_client("Globex")
    xero_accounting.add_contact("Acme Ltd", f"HARVEST-{acme['id']}")
    projects = {
        "web": harvest.add_project(acme, "Website", "ACME-042"),
        "audit": harvest.add_project(acme, "Audit", "ACME-050", hourly_rate=None),
        "globex": harvest.add_project(globex, "Rollout", "GLX-001"),
    }
    ann = harvest.add_user("Ann", "Lee", "ann.lee@example.com")
    connect_harvest()
    connect_xero_accounting()
    install(in_alpha, "billing-readiness", bill_from="2026-03-01", open_from="2026-04-01")
    Connection.objects.filter(slug="revenue-export").update(is_enabled=True)
    return {"projects": projects, "ann": ann, "acme": acme, "globex": globex}


def read_everything() -> None:
    for slug in READS:
        run = run_flow(slug)
        assert run.status == RunStatus.SUCCEEDED, (slug, list(run.items.values_list("error_message", flat=True)))


def draft(code: str, period: str) -> Invoice:
    return Invoice.objects.get(extra__billing_key=f"{code}:{period}")


def test_drafts_go_to_xero_once_and_every_blocked_draft_says_why_with_money_at_stake(firm, harvest,
                                                                                   xero_accounting):
    ann, (web, audit, globex) = firm["ann"], (firm["projects"][name] for name in ("web", "audit", "globex"))
    harvest.add_time_entry(ann, web, spent_date="2026-04-01", hours=7.5, approved=True)
    harvest.add_time_entry(ann, web, spent_date="2026-04-20", hours=4, approved=True)
    harvest.add_expense(ann, web, spent_date="2026-04-21", total_cost=120.0, approved=True, category="Travel")
    harvest.add_time_entry(ann, web, spent_date="2026-03-30", hours=2, approved=True)  # before the open period
    unrated = harvest.add_time_entry(ann, audit, spent_date="2026-04-02", hours=3, approved=True)
    unrated.update(billable_rate=None)
    waiting = harvest.add_time_entry(ann, audit, spent_date="2026-04-03", hours=2, approved=False)
    waiting.update(billable_rate=90.0)
    harvest.add_time_entry(ann, globex, spent_date="2026-04-07", hours=5, approved=True)
    read_everything()

    first = run_flow("invoices-to-xero")

    assert first.counts == {"created": 1, "failed": 3}
    (sent,) = xero_accounting.invoices.values()
    april = draft("ACME-042", "2026-04")
    assert sent["Reference"] == record_reference("invoice", april.pk)
    assert (sent["Type"], sent["Status"], sent["CurrencyCode"], sent["Total"]) == ("ACCREC", "DRAFT", "EUR", 1845.0)
    assert [(line["Description"], line["Quantity"], line["UnitAmount"], line.get("AccountCode"))
            for line in sent["LineItems"]] == [
        ("Website, 2026-04: Ann Lee", 11.5, 150.0, "200"), ("Website, 2026-04: expenses, Travel", 1.0, 120.0, "200")]
    assert april.lines.get(position=1).time_entries.count() == 2 and april.lines.get(position=2).expenses.count() == 1

    failed = {item.canonical_id: item.error_message for item in RunItem.objects.filter(
        run=first, outcome=ItemOutcome.FAILED)}
    audit_april, globex_april, march = draft("ACME-050", "2026-04"), draft("GLX-001", "2026-04"), draft(
        "ACME-042", "2026-03")
    assert failed[audit_april.pk].startswith("Missing rate: 3.00 h of approved billable time on ACME-050 in 2026-04")
    assert "Unapproved time: 2.00 h of billable time on ACME-050 in 2026-04 still wait for approval (EUR 180.00 " \
           "at stake)" in failed[audit_april.pk]
    assert failed[globex_april.pk].startswith(f"Unmapped project: GLX-001's customer HARVEST-{firm['globex']['id']} "
                                              "has no record in Xero")
    assert failed[march.pk].startswith("Closed period: 2026-03 starts before the open period (2026-04-01)")

    # Exceptions on the invoices, with the business context: project, hours and the money at stake.
    records = {r.canonical_id: r for r in ExceptionRecord.objects.filter(object_type="invoice", is_open=True)}
    assert set(records) == {audit_april.pk, globex_april.pk, march.pk}
    assert (records[globex_april.pk].hours, records[globex_april.pk].amount) == (Decimal("5.00"), Decimal("750.00"))
    assert (records[audit_april.pk].hours, records[audit_april.pk].amount) == (Decimal("3.00"), Decimal("180.00"))
    assert records[march.pk].context["project"] == "ACME-042" and records[march.pk].amount == Decimal("300.00")
    report = blocked_invoices(filters=ReportFilters())
    assert sorted((row["project"], row["amount"]) for row in report.rows) == [
        ("ACME-042", Decimal("300.00")), ("ACME-050", Decimal("0.00")), ("GLX-001", Decimal("750.00"))]
    assert report.summary["amount"] == {"EUR": Decimal("1050.00")}

    # Posting status back to Harvest: each entry the sent draft bills names the Xero invoice; blocked ones wait.
    linked = run_flow("posting-status-to-time")
    assert linked.counts.get("created") == 1 and not linked.counts.get("failed")
    patched = sorted(int(r.url.path.rsplit("/", 1)[1]) for r in harvest.requests if r.method == "PATCH")
    billed = sorted(e["id"] for e in harvest.time_entries.values()
                    if e["project"]["id"] == web["id"] and e["spent_date"].startswith("2026-04"))
    assert patched == billed and len(billed) == 2
    assert {str(harvest.time_entries[i]["external_reference"]) for i in billed} == {str({
        "id": sent["InvoiceID"], "group_id": "ACME-042:2026-04", "account_id": "xero", "permalink": None})}
    assert run_flow("posting-status-to-time").counts.get("created", 0) == 0  # written back once

    # A re-run creates nothing: the draft is already in Xero with this content.
    again = run_flow("invoices-to-xero")
    assert again.counts.get("created", 0) == 0 and len(xero_accounting.invoices) == 1
    assert len(xero_accounting.calls("PUT")) == 1

    # More approved April time and Globex linked in Xero: the same draft is updated, Globex's is created.
    harvest.add_time_entry(ann, web, spent_date="2026-04-28", hours=1, approved=True)
    xero_accounting.add_contact("Globex", f"HARVEST-{firm['globex']['id']}")
    read_everything()
    third = run_flow("invoices-to-xero")

    assert third.counts == {"created": 1, "updated": 1, "failed": 2}
    assert len(xero_accounting.invoices) == 2 and len(xero_accounting.calls("PUT")) == 2
    assert xero_accounting.invoices[sent["InvoiceID"]]["Total"] == 1995.0
    assert not ExceptionRecord.objects.get(object_type="invoice", canonical_id=globex_april.pk).is_open
    relinked = run_flow("posting-status-to-time")  # the updated draft's three entries, and Globex's one
    assert relinked.counts == {"created": 1, "updated": 1, "skipped": 2}  # two drafts still blocked
    assert len([r for r in harvest.requests if r.method == "PATCH"]) == 2 + 3 + 1
    assert sorted(row["project"] for row in blocked_invoices(filters=ReportFilters()).rows) == ["ACME-042",
                                                                                                "ACME-050"]

    # Globex's only entry turns out not to be billable: its draft is withdrawn, and deleted in Xero (a draft).
    (rollout,) = [e for e in harvest.time_entries.values() if e["project"]["id"] == globex["id"]]
    rollout.update(billable=False, updated_at=stamp(datetime.now(UTC) + timedelta(seconds=2)))
    read_everything()
    withdrawn = run_flow("invoices-to-xero")
    assert withdrawn.counts == {"deleted": 1, "failed": 2}
    globex_april.refresh_from_db()
    assert globex_april.deleted_at is not None
    sent_globex = RunItem.objects.get(run=third, canonical_id=globex_april.pk).target_external_id
    assert xero_accounting.invoices[sent_globex]["Status"] == "DELETED"
    assert run_flow("posting-status-to-time").counts.get("failed", 0) == 0  # its entry keeps the old link


def test_weekly_drafts_and_revenue_inputs_reach_the_erp_export(in_alpha, harvest, xero_accounting):
    acme = harvest.add_client("Acme Ltd")
    xero_accounting.add_contact("Acme Ltd", f"HARVEST-{acme['id']}")
    web = harvest.add_project(acme, "Website", "ACME-042", budget_by="project", budget=100.0)
    ann = harvest.add_user("Ann", "Lee", "ann.lee@example.com")
    connect_harvest()
    connect_xero_accounting()
    install(in_alpha, "billing-readiness", period="week", bill_from="2026-04-01", open_from="2026-01-01")
    Connection.objects.filter(slug="revenue-export").update(is_enabled=True)
    harvest.add_time_entry(ann, web, spent_date="2026-04-06", hours=10, approved=True)  # ISO week 15
    harvest.add_time_entry(ann, web, spent_date="2026-04-14", hours=15, approved=True)  # week 16
    harvest.add_time_entry(ann, web, spent_date="2026-05-04", hours=5, approved=True)
    read_everything()

    assert run_flow("invoices-to-xero").counts == {"created": 3}
    assert sorted(i.extra["period"] for i in Invoice.objects.all()) == ["2026-W15", "2026-W16", "2026-W19"]
    exported = run_flow("revenue-to-export")

    assert exported.counts == {"created": 2}
    outbox = Connection.objects.get(slug="revenue-export")
    files = sorted(connection_kind(outbox).folders.outbox.glob("revenue-*.csv"))
    rows = [row for path in files for row in csv.DictReader(path.open())]
    assert [(r["period"], r["project"], r["billable_value"], r["cost"], r["hours"], r["percent_complete"])
            for r in rows] == [("2026-04", "ACME-042", "3750.00", "1375.00", "25.00", "25.0"),
                               ("2026-05", "ACME-042", "750.00", "275.00", "5.00", "30.0")]
    # Time and materials: the month accrues its billable value; the fee and its note are for fixed-fee projects.
    assert [(r["method"], r["amount"], r["fee"], r["note"]) for r in rows] == [("tm", "3750.00", "", ""),
                                                                           ("tm", "750.00", "", "")]
    assert run_flow("revenue-to-export").counts.get("created", 0) == 0  # sent once
