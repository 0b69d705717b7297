"""Accelerator "approved time → ERP", end to end: Harvest time entries (stateful, spec-checked fake) and a CSV
time export go through the hub to timesheet lines in the real Tryton. Only approved entries post, and only
for people and projects Tryton knows; an approval webhook posts one entry at once and records how long it
took from approval; un-approving reverses the line; re-runs post nothing twice. Tryton is counted by our
reference tag in each line's description."""

from __future__ import annotations

import datetime as dt
import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client

from apps.canonical.models import TimeEntry
from apps.connectors.kinds.webhook import sign
from apps.connectors.services import connection_create, connection_files_root
from apps.runs.models import Flow, InboundEvent, ItemOutcome, RunItem
from tests.conftest import host
from tests.e2e.support import (
    SIGNING_SECRET,
    approved_time_chain,
    canonical_id,
    entry_reference,
    lines_tagged,
    run_flow,
)

pytestmark = pytest.mark.usefixtures("templates", "fanout")


@pytest.fixture
def chain(in_alpha, tryton, harvest):
    return approved_time_chain(in_alpha, tryton, harvest)


def posted(chain, tryton, entry: dict) -> list[dict]:
    """Tryton's lines for a Harvest time entry, found by our reference."""
    return lines_tagged(tryton, entry_reference(canonical_id(chain.harvest, "time_entry", entry["id"])))


def test_only_approved_time_for_people_and_projects_tryton_knows_is_posted_once(chain, tryton, harvest):
    project = chain.harvest_project
    workshop = harvest.add_time_entry(chain.user("ann"), project, spent_date="2026-03-02", hours=7.5,
                                      approved=True, notes="Workshop")
    draft = harvest.add_time_entry(chain.user("ann"), project, spent_date="2026-03-03", hours=2, approved=False)
    stranger = harvest.add_time_entry(chain.user("zoe"), project, spent_date="2026-03-02", hours=4, approved=True)
    review = harvest.add_time_entry(chain.user("bo"), project, spent_date="2026-03-03", hours=3, approved=True,
                                    task="Review")

    time_in = run_flow("time-in")

    assert time_in.counts == {"created": 4}
    [line] = posted(chain, tryton, workshop)
    assert line["employee"] == chain.people["ann"]["employee"] and line["date"] == dt.date(2026, 3, 2)
    assert line["duration"] == dt.timedelta(hours=7.5)
    assert line["description"].endswith("] Development: Workshop")
    (work,) = tryton.client.read("timesheet.work", [line["work"]], ["origin"])
    assert work["origin"] == f"project.work,{chain.project_id}"
    assert [(r["employee"], r["duration"]) for r in posted(chain, tryton, review)] == [
        (chain.people["bo"]["employee"], dt.timedelta(hours=3))]
    assert posted(chain, tryton, draft) == [] and posted(chain, tryton, stranger) == []
    refused = RunItem.objects.get(run__flow__slug="time-to-erp", canonical_id=canonical_id(
        chain.harvest, "time_entry", stranger["id"]))
    assert refused.outcome == ItemOutcome.FAILED and refused.error_category == "validation"
    assert refused.error_message == "The person Zoe Example is not known to the target system yet."

    again = [run_flow(slug) for slug in ("time-in", "time-to-erp")]

    assert [run.counts for run in again] == [{"unchanged": 4}, {"skipped": 1, "failed": 1}]
    for entry, count in ((workshop, 1), (review, 1), (draft, 0), (stranger, 0)):
        assert len(posted(chain, tryton, entry)) == count


def test_a_csv_time_export_posts_to_tryton_by_person_and_project_code(chain, tryton):
    export = connection_create(name="Time export", slug="time-export", kind="csv", settings={"settle_seconds": 0},
                               acting_user=None)
    Flow.objects.create(name="CSV time in", slug="csv-time-in", direction="inbound", object_type="time_entry",
                        connection=export, object_name="time_entries", on_schedule=False)
    project_code = TimeEntry._meta.get_field("project").related_model.objects.get(
        pk=canonical_id(chain.tryton, "project", chain.project_id)).code
    inbox = connection_files_root(export) / "inbox"
    inbox.mkdir(parents=True)
    rows = ("id,person,project,date,hours,approval_status,notes\n"
            f"x1,{chain.people['bo']['code']},{project_code},2026-03-04,2.25,approved,Training\n"
            f"x2,{chain.people['bo']['code']},{project_code},2026-03-05,1,submitted,Not yet\n")
    (inbox / "time-2026-03.csv").write_text(rows)
    first = run_flow("csv-time-in")
    (inbox / "time-2026-03-resent.csv").write_text(rows)  # the same export, dropped again
    again = run_flow("csv-time-in")

    assert first.counts == {"created": 2} and again.counts == {"unchanged": 2}
    [line] = lines_tagged(tryton, entry_reference(canonical_id(export, "time_entry", "x1")))
    assert line["employee"] == chain.people["bo"]["employee"] and line["duration"] == dt.timedelta(hours=2.25)
    assert line["description"].endswith("] Training")
    assert lines_tagged(tryton, entry_reference(canonical_id(export, "time_entry", "x2"))) == []


def deliver(customer, event: dict):
    """A signed webhook POST, as Harvest's relay would send it."""
    raw, stamp = json.dumps(event).encode(), str(int(time.time()))
    return Client(enforce_csrf_checks=True).post(
        "/api/v1/hooks/harvest-hooks/", data=raw, content_type="application/json", HTTP_HOST=host(customer),
        headers={"X-Weft-Timestamp": stamp, "X-Weft-Signature": sign(SIGNING_SECRET, stamp, raw)})


def test_an_approval_webhook_posts_the_entry_at_once_and_unapproval_reverses_it(chain, tryton, harvest, cast,
                                                                                 django_capture_on_commit_callbacks):
    entry = harvest.add_time_entry(chain.user("ann"), chain.harvest_project, spent_date="2026-03-06", hours=5,
                                   approved=False, notes="Go-live")
    run_flow("time-in")
    assert posted(chain, tryton, entry) == []

    harvest.approve(entry, at=datetime.now(UTC) - timedelta(seconds=3))  # approved three seconds ago
    with django_capture_on_commit_callbacks(execute=True):
        accepted = deliver(cast.alpha, {"id": "evt-approve", "type": "record.changed",
                                        "data": {"object": "time_entries", "record": entry}})

    assert accepted.status_code == 202
    [line] = posted(chain, tryton, entry)
    assert line["duration"] == dt.timedelta(hours=5)
    item = RunItem.objects.get(run__flow__slug="time-to-erp", outcome=ItemOutcome.CREATED)
    assert 3000 <= item.latency_ms < 60_000  # approval → posted, on the ledger
    assert InboundEvent.objects.get(event_id="evt-approve").status == InboundEvent.Status.PROCESSED

    with django_capture_on_commit_callbacks(execute=True):
        deliver(cast.alpha, {"id": "evt-approve", "type": "record.changed",  # the relay sends it again
                             "data": {"object": "time_entries", "record": entry}})
        harvest.approve(entry, approved=False)
        deliver(cast.alpha, {"id": "evt-reopen", "type": "record.changed",
                             "data": {"object": "time_entries", "record": entry}})

    assert posted(chain, tryton, entry) == []
    reversal = RunItem.objects.get(run__flow__slug="time-to-erp", outcome=ItemOutcome.DELETED)
    assert reversal.target_external_id == str(line["id"]) and "Not approved" in reversal.error_message
    assert RunItem.objects.filter(run__flow__slug="time-to-erp", outcome=ItemOutcome.CREATED).count() == 1
    assert TimeEntry.objects.get(pk=item.canonical_id).hours == Decimal("5.00")


def test_approvals_waiting_together_are_stored_as_one_page_and_posted_with_one_create(
        chain, tryton, harvest, cast, django_capture_on_commit_callbacks):
    entries = [harvest.add_time_entry(chain.user("ann"), chain.harvest_project, spent_date=f"2026-04-0{n}", hours=2,
                                      approved=True, notes=f"Waiting {n}") for n in range(1, 5)]
    with django_capture_on_commit_callbacks() as queued:  # four events arrive; no worker has taken one yet
        for n, entry in enumerate(entries):
            assert deliver(cast.alpha, {"id": f"evt-wait-{n}", "type": "record.changed",
                                        "data": {"object": "time_entries", "record": entry}}).status_code == 202
    with django_capture_on_commit_callbacks(execute=True):
        for task in queued:  # the first task takes all four; the others find their events done
            task()

    events = InboundEvent.objects.filter(event_id__startswith="evt-wait-")
    assert {e.status for e in events} == {InboundEvent.Status.PROCESSED} and len(events) == 4
    (posting,) = {item.run_id for item in RunItem.objects.filter(run__flow__slug="time-to-erp")}
    items = RunItem.objects.filter(run_id=posting, outcome=ItemOutcome.CREATED)
    assert len(items) == 4 and {item.target_response["batch"] for item in items} == {4}  # one create for four
    for entry in entries:
        assert len(posted(chain, tryton, entry)) == 1


def test_an_entry_deleted_in_harvest_after_posting_is_taken_back_from_tryton(chain, tryton, harvest, cast,
                                                                            django_capture_on_commit_callbacks):
    entry = harvest.add_time_entry(chain.user("bo"), chain.harvest_project, spent_date="2026-03-09", hours=6,
                                   approved=True, notes="Entered twice")
    run_flow("time-in")
    [line] = posted(chain, tryton, entry)

    with django_capture_on_commit_callbacks(execute=True):
        deleted = deliver(cast.alpha, {"id": "evt-delete", "type": "record.deleted",
                                       "data": {"object": "time_entries", "record": {"id": entry["id"]}}})

    assert deleted.status_code == 202
    assert posted(chain, tryton, entry) == []
    reversal = RunItem.objects.get(run__flow__slug="time-to-erp", outcome=ItemOutcome.DELETED)
    assert reversal.target_external_id == str(line["id"]) and reversal.error_message == "Deleted at the source."
    assert TimeEntry.objects.get(pk=reversal.canonical_id).deleted_at is not None


def test_reconciliation_reads_tryton_back_and_flags_a_line_deleted_there_by_hand(chain, tryton, harvest):
    """What Weft posted agrees with the hub; only reading Tryton back shows that someone deleted a line there."""
    from apps.exceptions.models import IntegrationException
    from apps.reporting.filters import ReportFilters
    from apps.reporting.services import reconciliation_check

    project = chain.harvest_project
    kept = harvest.add_time_entry(chain.user("ann"), project, spent_date="2026-03-02", hours=6, approved=True)
    gone = harvest.add_time_entry(chain.user("bo"), project, spent_date="2026-03-03", hours=2.5, approved=True)
    run_flow("time-in")
    weeks = ReportFilters(start=dt.date(2026, 3, 4), end=dt.date(2026, 3, 8))  # mid-week: the whole week counts
    later = datetime(2026, 3, 20, tzinfo=UTC)

    agreed = reconciliation_check(filters=weeks, read_back=True, now=later)
    assert (agreed.compared, agreed.flagged) == (1, 0)

    [line] = posted(chain, tryton, gone)
    tryton.client.delete("timesheet.line", [line["id"]])  # a clerk removes it in Tryton
    assert len(posted(chain, tryton, kept)) == 1

    as_posted = reconciliation_check(filters=weeks, now=later)  # Weft's own record still says 8.5 h
    assert as_posted.flagged == 0
    read_back = reconciliation_check(filters=weeks, read_back=True, now=later)
    assert read_back.flagged == 1
    exception = IntegrationException.objects.get(pk=read_back.raised[0])
    assert exception.kind == "reconciliation" and exception.hours_at_risk == Decimal("2.50")
    assert "the hub has 8.50 h" in exception.message and "has 6.00 h (differs)" in exception.message


def test_reconciliation_finds_a_line_tryton_holds_twice_under_one_reference_and_clears_it_once_gone(
        chain, tryton, harvest):
    """A write made twice (a reply lost before Weft knew of writes in doubt): the ledger knows one line, Tryton
    holds two under the same reference. Reading Tryton back raises a duplicate naming both; deleting the extra
    one clears it."""
    from apps.exceptions.models import IntegrationException
    from apps.reporting.filters import ReportFilters
    from apps.reporting.services import reconciliation_check

    entry = harvest.add_time_entry(chain.user("ann"), chain.harvest_project, spent_date="2026-03-02", hours=6,
                                   approved=True, notes="Workshop")
    run_flow("time-in")
    [line] = posted(chain, tryton, entry)
    (copy,) = tryton.client.create("timesheet.line", [{
        "company": tryton.company_id, "employee": line["employee"], "work": line["work"], "date": line["date"],
        "duration": line["duration"], "description": line["description"]}])
    weeks = ReportFilters(start=dt.date(2026, 3, 4), end=dt.date(2026, 3, 8))
    later = datetime(2026, 3, 20, tzinfo=UTC)

    found = reconciliation_check(filters=weeks, read_back=True, now=later)

    assert found.duplicates == 1
    exception = IntegrationException.objects.get(kind="duplicate", source="reconciliation")
    reference = entry_reference(canonical_id(chain.harvest, "time_entry", entry["id"]))
    assert exception.title.startswith(f"Tryton ERP holds 2 timesheet lines under Weft reference {reference} "
                                      f"(ids {line['id']}, {copy}): the same record was written more than once.")
    assert f"Weft knows id {line['id']}; delete {copy} there." in exception.message
    assert exception.status == "open" and exception.pk in found.raised

    tryton.client.delete("timesheet.line", [copy])
    again = reconciliation_check(filters=weeks, read_back=True, now=later)

    assert again.duplicates == 0 and exception.pk in again.cleared
    exception.refresh_from_db()
    assert exception.status == "resolved"
