"""Billing readiness's revenue inputs reach the ERP, end to end: per project and month, billable value, cost, hours
and percent complete become one draft manual journal accruing unbilled revenue in Xero Accounting (stateful fake,
every request and answer checked against Xero's OpenAPI document), and one draft accrual move plus the project's
progress in the real Tryton. Each project-month is sent once; a recomputed month updates its draft, never adds a
second; a refusal (a missing account setting, an entry the controller posted) is an exception, and a replay
sends what was refused once it is fixed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from apps.canonical.models import RevenueSchedule
from apps.connectors.models import Connection
from apps.connectors.services import connection_create, connection_update
from apps.exceptions.models import ExceptionRecord
from apps.runs import replay
from apps.runs.models import ItemOutcome, Run, RunItem
from apps.runs.outbound import record_reference
from tests.e2e.support import XERO_TENANT, approved_time_chain, connect_harvest, install, run_flow, run_to_end
from tests.e2e.vendors import stamp

pytestmark = pytest.mark.usefixtures("templates", "fanout")
READS = ("time-clients-in", "time-projects-in", "time-people-in", "time-in", "expenses-in", "xero-contacts-in")


def schedule(code: str, month: str) -> RevenueSchedule:
    return RevenueSchedule.objects.get(project__code=code, period=f"{month}-01", kind=RevenueSchedule.Kind.FORECAST)


def open_exceptions(object_type: str = "revenue_schedule") -> dict[int, str]:
    return {r.canonical_id: r.exception.message for r in ExceptionRecord.objects.filter(
        object_type=object_type, is_open=True).select_related("exception")}


def replay_failed(run: Run) -> Run:
    [again] = replay.replay_request(items=RunItem.objects.filter(run=run, outcome=ItemOutcome.FAILED),
                                    acting_user=None)
    return run_to_end(again)


def set_settings(slug: str, **settings) -> None:
    connection = Connection.objects.get(slug=slug)
    connection_update(connection=connection, changes={"settings": {**connection.settings, **settings}},
                      acting_user=None)


# --- Xero ------------------------------------------------------------------------------------------------------
def read_everything() -> None:
    for slug in READS:
        assert run_flow(slug).status == "succeeded", slug


def test_revenue_inputs_become_one_draft_manual_journal_per_project_month_in_xero(in_alpha, harvest,
                                                                                  xero_accounting):
    acme = harvest.add_client("Acme Ltd")
    xero_accounting.add_contact("Acme Ltd", f"HARVEST-{acme['id']}")
    web = harvest.add_project(acme, "Website", "ACME-042", budget_by="project", budget=100.0)
    ann = harvest.add_user("Ann", "Lee", "ann.lee@example.com")
    connect_harvest()
    connection_create(name="Xero", slug="xero", kind="xero", credentials={"access_token": "xero-token"},
                      settings={"tenant_id": XERO_TENANT, "sales_account_code": "200"}, acting_user=None)
    install(in_alpha, "billing-readiness", bill_from="2026-04-01")
    harvest.add_time_entry(ann, web, spent_date="2026-04-06", hours=10, approved=True)
    harvest.add_time_entry(ann, web, spent_date="2026-04-14", hours=15, approved=True)
    harvest.add_time_entry(ann, web, spent_date="2026-05-04", hours=5, approved=True)
    read_everything()

    # Refused while the connection lacks the account to debit: an exception per project-month, nothing in Xero.
    refused = run_flow("revenue-to-xero")
    assert refused.counts == {"failed": 2} and xero_accounting.journals == {}
    april, may_schedule = schedule("ACME-042", "2026-04"), schedule("ACME-042", "2026-05")
    assert set(open_exceptions()) == {april.pk, may_schedule.pk}
    assert "set unbilled_account_code on the Xero connection" in open_exceptions()[april.pk]

    set_settings("xero", unbilled_account_code="630", project_tracking_category="Project")
    replayed = replay_failed(refused)

    assert replayed.counts == {"created": 2} and open_exceptions() == {}
    journals = {j["Narration"].split(" (")[0]: j for j in xero_accounting.journals.values()}
    sent = journals["Unbilled revenue ACME-042 2026-04"]
    assert sent["Narration"] == ("Unbilled revenue ACME-042 2026-04 (Website, Acme Ltd): billable value EUR "
                                 "3750.00, cost EUR 1375.00, 25.00 h, 25.0 % complete "
                                 f"[{record_reference('revenue_schedule', april.pk)}]")
    assert (sent["Status"], sent["Date"], sent["LineAmountTypes"]) == ("DRAFT", "/Date(1777507200000+0000)/", "NoTax")
    assert [(line["AccountCode"], line["LineAmount"], line["Tracking"]) for line in sent["JournalLines"]] == [
        ("630", 3750.0, [{"Name": "Project", "Option": "ACME-042"}]),
        ("200", -3750.0, [{"Name": "Project", "Option": "ACME-042"}])]
    assert "750.00, cost EUR 275.00, 5.00 h, 30.0 % complete" in journals["Unbilled revenue ACME-042 2026-05"][
        "Narration"]

    assert run_flow("revenue-to-xero").counts == {}  # each project-month sent once
    assert len(xero_accounting.calls("PUT")) == 2

    # More approved April time: April's value and May's percent complete change; the same drafts are updated.
    harvest.add_time_entry(ann, web, spent_date="2026-04-28", hours=2, approved=True)
    read_everything()
    assert run_flow("revenue-to-xero").counts == {"updated": 2}
    assert len(xero_accounting.journals) == 2 and len(xero_accounting.calls("PUT")) == 2
    assert xero_accounting.journals[sent["ManualJournalID"]]["JournalLines"][0]["LineAmount"] == 4050.0

    # The controller posts April; a later recomputation of April is refused, never changed.
    xero_accounting.post_journal(sent["ManualJournalID"])
    harvest.add_time_entry(ann, web, spent_date="2026-04-29", hours=1, approved=True)
    read_everything()
    conflict = run_flow("revenue-to-xero")
    assert conflict.counts == {"failed": 1, "updated": 1}
    assert f"Xero manual journal {sent['ManualJournalID']}" in open_exceptions()[april.pk]
    assert "is POSTED" in open_exceptions()[april.pk]
    assert xero_accounting.journals[sent["ManualJournalID"]]["JournalLines"][0]["LineAmount"] == 4050.0

    # Someone deletes May's draft in Xero; May's next recomputation accrues it again as a new draft.
    first_may = journals["Unbilled revenue ACME-042 2026-05"]["ManualJournalID"]
    xero_accounting.journals[first_may]["Status"] = "DELETED"
    harvest.add_time_entry(ann, web, spent_date="2026-05-05", hours=1, approved=True)
    read_everything()
    again = run_flow("revenue-to-xero")
    assert again.counts == {"updated": 1, "failed": 1}  # the engine counts a write to a known record as an update
    (may_journal,) = [j["ManualJournalID"] for j in xero_accounting.journals.values()
                      if j["Status"] == "DRAFT" and "2026-05" in j["Narration"]]
    assert may_journal != first_may
    assert again.items.get(outcome=ItemOutcome.UPDATED).target_external_id == may_journal

    # May's work turns out not to be billable: nothing to accrue, so its draft is deleted.
    for entry in harvest.time_entries.values():
        if entry["spent_date"].startswith("2026-05"):
            entry.update(billable=False, updated_at=stamp(datetime.now(UTC) + timedelta(seconds=2)))
    read_everything()
    withdrawn = run_flow("revenue-to-xero")
    assert withdrawn.counts == {"deleted": 1, "failed": 1}
    assert xero_accounting.journals[may_journal]["Status"] == "DELETED"


# --- Tryton ----------------------------------------------------------------------------------------------------
def tryton_moves(tryton, reference: str) -> list[dict]:
    found = tryton.client.search_read("account.move", [["description", "ilike", f"%[{reference}]%"]],
                                      ["state", "date", "description", "lines", "journal.type"])
    for move in found:
        lines = tryton.client.read("account.move.line", move["lines"], ["account.code", "debit", "credit"])
        move["lines"] = [(line["account."]["code"], line["debit"], line["credit"]) for line in lines]
        move["lines"].sort(key=lambda line: -line[1])
    return found


def progress(tryton, project_id: int) -> float:
    return tryton.client.read("project.work", [project_id], ["progress"])[0]["progress"]


def test_revenue_inputs_become_draft_accrual_moves_and_project_progress_in_tryton(in_alpha, tryton, harvest):
    chain = approved_time_chain(in_alpha, tryton, harvest)
    tryton.client.write("project.work", [chain.project_id], {"effort_duration": timedelta(hours=40)})
    assert run_flow("erp-projects-in").status == "succeeded"  # the budget: 40 h
    install(in_alpha, "billing-readiness-tryton", bill_from="2026-03-01", open_from="2026-03-01")
    project, ann, bo = chain.harvest_project, chain.user("ann"), chain.user("bo")
    harvest.add_time_entry(ann, project, spent_date="2026-03-02", hours=6, approved=True)
    harvest.add_time_entry(bo, project, spent_date="2026-03-10", hours=4, approved=True)
    april_work = harvest.add_time_entry(ann, project, spent_date="2026-04-07", hours=2, approved=True)
    run_flow("time-in")

    refused = run_flow("revenue-to-tryton")
    assert refused.counts == {"failed": 2}
    assert "Set unbilled_account_code on the Tryton connection" in refused.items.first().error_message
    set_settings("tryton", unbilled_account_code="1.4.2")  # Accrued Income, in Tryton's universal chart
    assert replay_failed(refused).counts == {"created": 2} and open_exceptions() == {}

    code = RevenueSchedule.objects.get(period="2026-03-01").project.code
    march, april = schedule(code, "2026-03"), schedule(code, "2026-04")
    march_ref = record_reference("revenue_schedule", march.pk)
    (move,) = tryton_moves(tryton, march_ref)
    revenue = tryton.client.read("account.account", [tryton.seed["account_revenue_id"]], ["code"])[0]["code"]
    assert (move["state"], str(move["date"]), move["journal."]["type"]) == ("draft", "2026-03-31", "general")
    assert move["lines"] == [("1.4.2", Decimal("1500.00"), Decimal("0")), (revenue, Decimal("0"), Decimal("1500.00"))]
    assert move["description"].startswith(f"[{march_ref}] Unbilled revenue {code} 2026-03 (")
    assert move["description"].endswith("billable value EUR 1500.00, cost EUR 550.00, 10.00 h, 25.0 % complete")
    assert progress(tryton, chain.project_id) == 0.3  # April's: 12 h of 40

    assert run_flow("revenue-to-tryton").counts == {}  # each project-month sent once

    # A billable March expense: March is recomputed and its draft updated; progress stays April's.
    harvest.add_expense(ann, project, spent_date="2026-03-12", total_cost=120.0, approved=True)
    assert run_flow("expenses-in").status == "succeeded"
    assert run_flow("revenue-to-tryton").counts == {"updated": 1}
    (move,) = tryton_moves(tryton, march_ref)
    assert move["lines"][0][1] == Decimal("1620.00") and progress(tryton, chain.project_id) == 0.3

    # Someone posts March in Tryton: March is refused from then on; April still updates.
    tryton.client.execute("account.move", "post", [move["id"]])
    harvest.add_time_entry(bo, project, spent_date="2026-03-20", hours=1, approved=True)
    run_flow("time-in")
    conflict = run_flow("revenue-to-tryton")
    assert conflict.counts == {"failed": 1, "updated": 1}
    assert "is posted: the revenue inputs were changed since" in open_exceptions()[march.pk]
    (move,) = tryton_moves(tryton, march_ref)
    assert move["state"] == "posted" and move["lines"][0][1] == Decimal("1620.00")
    assert progress(tryton, chain.project_id) == 0.325  # 13 h of 40
    april_ref = record_reference("revenue_schedule", april.pk)
    assert len(tryton_moves(tryton, april_ref)) == 1

    # April's only work turns out not to be billable: nothing to accrue, so its draft move is deleted.
    april_work.update(billable=False, updated_at=stamp(datetime.now(UTC) + timedelta(seconds=2)))
    run_flow("time-in")
    assert run_flow("revenue-to-tryton").counts == {"deleted": 1, "failed": 1}  # March: still posted
    assert tryton_moves(tryton, april_ref) == [] and len(tryton_moves(tryton, march_ref)) == 1


def test_a_fixed_fee_project_accrues_its_fee_by_percent_complete_in_tryton(in_alpha, tryton, harvest):
    """A Tryton project invoiced by progress is fixed fee: its fee is its effort at its list price (what
    project_invoice bills), and each month accrues the fee x the percent complete gained, never past the fee."""
    chain = approved_time_chain(in_alpha, tryton, harvest)
    tryton.client.write("project.work", [chain.project_id], {
        "project_invoice_method": "progress", "effort_duration": timedelta(hours=40), "list_price": Decimal("200")})
    assert run_flow("erp-projects-in").status == "succeeded"  # fee: 40 h at 200.00 = 8000.00
    install(in_alpha, "billing-readiness-tryton", bill_from="2026-03-01", open_from="2026-03-01")
    set_settings("tryton", unbilled_account_code="1.4.2")
    project, ann, bo = chain.harvest_project, chain.user("ann"), chain.user("bo")
    for day, person in (("02", ann), ("03", bo), ("04", ann)):
        harvest.add_time_entry(person, project, spent_date=f"2026-03-{day}", hours=10, approved=True)  # 30 h: 75 %
    for day, person in (("06", ann), ("07", bo)):
        harvest.add_time_entry(person, project, spent_date=f"2026-04-{day}", hours=10, approved=True)  # 10 h past
    run_flow("time-in")

    assert run_flow("revenue-to-tryton").counts == {"created": 2}
    code = RevenueSchedule.objects.get(period="2026-03-01").project.code
    march, april = schedule(code, "2026-03"), schedule(code, "2026-04")
    assert (march.method, march.extra["fee"]) == ("percent_complete", "8000.00")
    (march_move,) = tryton_moves(tryton, record_reference("revenue_schedule", march.pk))
    (april_move,) = tryton_moves(tryton, record_reference("revenue_schedule", april.pk))
    # Billable value would have been 4500.00 and 3000.00 (Harvest's 150.00 an hour); the fee's share is accrued.
    assert march_move["lines"][0][1:] == (Decimal("6000.00"), Decimal("0"))
    assert april_move["lines"][0][1:] == (Decimal("2000.00"), Decimal("0"))
    assert "fixed fee EUR 8000.00, 75.0 % to 100.0 % complete: EUR 2000.00 recognised" in april_move["description"]
    assert "billable value EUR 3000.00" in april_move["description"]
    assert progress(tryton, chain.project_id) == 1.0

    # More approved hours after the budget is used up: percent complete stays at 100, nothing more accrues.
    harvest.add_time_entry(ann, project, spent_date="2026-04-20", hours=5, approved=True)
    run_flow("time-in")
    run_flow("revenue-to-tryton")
    (april_move,) = tryton_moves(tryton, record_reference("revenue_schedule", april.pk))
    assert april_move["lines"][0][1] == Decimal("2000.00")
    assert "billable value EUR 3750.00" in april_move["description"]
