"""Time entries that wait together go to the real Tryton as one ``create`` call, each with its own ledger item, and
exactly once whatever happens to that call: a batch Tryton refuses for one bad line is split so the good lines land
and the bad one becomes its own failure; a batch whose answer was lost is looked up line by line until the write
window has passed. Calls are counted by a proxy in front of Tryton (``tests/tryton/proxy.py``)."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.utils import timezone

from apps.canonical.models import ExternalRef, TimeEntry
from apps.canonical.services import hub_upsert_all
from apps.common.objects import CanonicalInput, Ref
from apps.connectors.services import connection_kind
from apps.runs.engine import flow_run_request, run_execute
from apps.runs.models import Flow, FlowDirection, ItemOutcome, RunItem, RunStatus, Trigger, WriteAttempt
from apps.runs.outbound import new_records, outbound_plan
from tests.connectors.test_tryton_faults import CREATE_LINE, TIMEOUT, _connect, _entry_in_the_hub, _first_create_only
from tests.connectors.test_tryton_faults import _lines as lines_of
from tests.tryton.proxy import FaultProxy

ENTRIES = 6
FIND_LINE = "model.timesheet.line.search_read"
WORK_LOOKUP = "model.project.work.search_read"  # a project's timesheet work (TrytonSession.timesheet_work)


def _entries(tryton, connection, count: int = ENTRIES) -> list[TimeEntry]:
    first = _entry_in_the_hub(tryton, connection)  # person, project and their cross-references, and one entry
    hub_upsert_all(connection=first.source_connection, object_type="time_entry", records=[CanonicalInput(
        "time_entry", f"t{n}", {"date": f"2026-11-{n:02d}", "hours": "1", "notes": f"Batch {n}"},
        refs={"person": Ref.external("u1"), "project": Ref.external("p1")}) for n in range(2, count + 1)])
    return list(TimeEntry.objects.order_by("pk"))


def _send(tryton, proxy: FaultProxy, *, window: float = 20, bad_person: bool = False, new: bool = False,
          left_behind: dict | None = None):
    connection = _connect(tryton, proxy, write_window_seconds=window)
    entries = _entries(tryton, connection)
    if left_behind is not None:  # a create of the first entry an earlier sender left in doubt
        WriteAttempt.objects.create(connection=connection, object_type="time_entry", canonical_id=entries[0].pk,
                                    **left_behind)
    if bad_person:  # the third entry's person stands for an employee Tryton does not have
        other = _other_person(entries[0].source_connection)
        TimeEntry.objects.filter(pk=entries[2].pk).update(person=other)
        ExternalRef.objects.create(connection=connection, object_type="person", canonical_id=other.pk,
                                   external_id="987654")
    flow = Flow.objects.create(name="Time to Tryton", slug="time-to-tryton", direction=FlowDirection.OUTBOUND,
                               object_type="time_entry", connection=connection, object_name="timesheet_lines",
                               on_schedule=False)
    run = flow_run_request(flow=flow, trigger=Trigger.MANUAL, enqueue=False, acting_user=None)
    with new_records("time_entry", [entry.pk for entry in entries] if new else []):
        return entries, run_execute(run_id=run.pk)


def _other_person(source):
    from apps.canonical.models import Person

    hub_upsert_all(connection=source, object_type="person",
                   records=[CanonicalInput("person", "u2", {"code": "bo-batch", "name": "Bo Builder"})])
    return Person.objects.get(code="bo-batch")


def _calls(proxy: FaultProxy, method: str) -> int:
    return sum(1 for called, _ in proxy.arrivals if called == method)


def test_entries_waiting_together_are_created_with_one_call_and_each_has_its_ledger_item(in_alpha, tryton):
    with FaultProxy(tryton.url) as proxy:
        entries, run = _send(tryton, proxy)

    assert run.status == RunStatus.SUCCEEDED and run.counts == {ItemOutcome.CREATED: ENTRIES}
    assert _calls(proxy, CREATE_LINE) == 1  # one create for the batch
    assert _calls(proxy, FIND_LINE) == 1  # one look-up for the batch: none of them is in Tryton yet
    items = {item.canonical_id: item for item in RunItem.objects.filter(run=run)}
    for entry in entries:
        (line,) = lines_of(tryton, entry)
        assert items[entry.pk].outcome == ItemOutcome.CREATED and items[entry.pk].target_external_id == str(line)
        assert items[entry.pk].target_response["batch"] == ENTRIES
    assert not WriteAttempt.objects.exists()  # settled with the ledger


def test_entries_the_hub_created_in_the_posting_task_are_created_without_a_look_up(in_alpha, tryton):
    """A webhook's new entries are posted by the task that stored them: no earlier send can exist, so one call."""
    with FaultProxy(tryton.url) as proxy:
        entries, run = _send(tryton, proxy, new=True)

    assert run.counts == {ItemOutcome.CREATED: ENTRIES}
    assert (_calls(proxy, CREATE_LINE), _calls(proxy, FIND_LINE)) == (1, 0)
    for entry in entries:
        assert len(lines_of(tryton, entry)) == 1


def test_a_batch_refused_for_one_bad_line_lands_the_good_lines_and_fails_the_bad_one(in_alpha, tryton):
    with FaultProxy(tryton.url) as proxy:
        entries, run = _send(tryton, proxy, bad_person=True)

    bad = entries[2]
    assert run.status == RunStatus.PARTIAL
    assert run.counts == {ItemOutcome.CREATED: ENTRIES - 1, ItemOutcome.FAILED: 1}
    assert lines_of(tryton, bad) == []
    for entry in entries:
        if entry != bad:
            assert len(lines_of(tryton, entry)) == 1
    (failed,) = RunItem.objects.filter(run=run, outcome=ItemOutcome.FAILED)
    assert failed.canonical_id == bad.pk and failed.error_message
    assert _calls(proxy, CREATE_LINE) <= 2 * ENTRIES  # split in halves, not one call per line and more
    assert not WriteAttempt.objects.exists()


def test_a_batch_whose_answer_was_lost_is_looked_up_line_by_line_and_each_recorded_created_once(in_alpha, tryton):
    with FaultProxy(tryton.url, hold=_first_create_only(), seconds=TIMEOUT + 2) as proxy:
        entries, run = _send(tryton, proxy, window=15)

        assert proxy.settled() == [CREATE_LINE]  # the batch reached Tryton after the client gave up
    assert run.status == RunStatus.SUCCEEDED and run.counts == {ItemOutcome.CREATED: ENTRIES}
    assert _calls(proxy, CREATE_LINE) == 1  # found, every one: none created again
    for entry in entries:
        (line,) = lines_of(tryton, entry)
        (item,) = RunItem.objects.filter(canonical_id=entry.pk, object_type="time_entry")
        assert item.outcome == ItemOutcome.CREATED and item.target_external_id == str(line)
        assert "may have been carried out" in item.target_response["in_doubt"]


def test_a_line_tryton_already_holds_under_our_reference_is_found_by_the_batch_look_up_not_created_again(
        in_alpha, tryton):
    """A cross-reference lost (a database restored from before the write): the line is in Tryton, its id is not."""
    from apps.runs.outbound import record_reference

    with FaultProxy(tryton.url) as proxy:
        connection = _connect(tryton, proxy)
        entries = _entries(tryton, connection)
        project = ExternalRef.objects.get(connection=connection, object_type="project").external_id
        (work,) = tryton.client.read("project.work", [int(project)], ["timesheet_works"])
        reference = record_reference("time_entry", entries[1].pk)
        (held,) = tryton.client.create("timesheet.line", [{
            "company": tryton.company_id, "employee": tryton.employee_ids[0], "work": work["timesheet_works"][0],
            "date": dt.date(2026, 11, 2), "duration": dt.timedelta(hours=1), "description": f"[{reference}] Batch 2"}])
        flow = Flow.objects.create(name="Time to Tryton", slug="time-to-tryton", direction=FlowDirection.OUTBOUND,
                                   object_type="time_entry", connection=connection, object_name="timesheet_lines",
                                   on_schedule=False)
        run = run_execute(run_id=flow_run_request(flow=flow, trigger=Trigger.MANUAL, enqueue=False,
                                                  acting_user=None).pk)

    assert run.status == RunStatus.SUCCEEDED and run.counts == {ItemOutcome.CREATED: ENTRIES}
    assert lines_of(tryton, entries[1]) == [held]  # found and brought up to date, not created twice
    for entry in entries:
        assert len(lines_of(tryton, entry)) == 1
    assert _calls(proxy, CREATE_LINE) == 1  # the other five in one create


def test_a_project_written_in_another_process_is_looked_up_again_at_this_process_s_next_batch(in_alpha, tryton):
    """Each process remembers projects' timesheet works; a project written through the connection by any process
    bumps the connection's stamp, which every process reads once a batch. The other process is played by saving
    this process's memo before the write and putting it back after (the writer forgets its own at once)."""
    import copy

    from apps.connectors.kinds.tryton import kind as tryton_kind
    from apps.connectors.models import LookupStamp
    from apps.connectors.services import connection_kind
    from apps.runs.outbound import record_reference

    def post(entry) -> None:
        run = flow_run_request(flow=flow, trigger=Trigger.HUB_CHANGE, record_ids=[entry.pk], enqueue=False,
                               acting_user=None)
        assert run_execute(run_id=run.pk).counts == {ItemOutcome.CREATED: 1}

    with FaultProxy(tryton.url) as proxy:
        connection = _connect(tryton, proxy)
        entries = _entries(tryton, connection, count=3)
        flow = Flow.objects.create(name="Time to Tryton", slug="time-to-tryton", direction=FlowDirection.OUTBOUND,
                                   object_type="time_entry", connection=connection, object_name="timesheet_lines",
                                   on_schedule=False)
        post(entries[0])
        post(entries[1])
        assert _calls(proxy, WORK_LOOKUP) == 1  # looked up once, then remembered

        remembered = copy.deepcopy(tryton_kind._WORKS)  # this process's memo, before another one writes
        project = ExternalRef.objects.get(connection=connection, object_type="project").external_id
        connection_kind(connection).write("projects", {"name": "Website, renamed"}, external_id=project,
                                          reference=record_reference("project", entries[0].project_id))
        tryton_kind._WORKS.clear()
        tryton_kind._WORKS.update(remembered)  # as a process that did not write holds it
        assert LookupStamp.objects.get(connection=connection, name=tryton_kind.WORK_LOOKUP).version == 1

        post(entries[2])
        assert _calls(proxy, WORK_LOOKUP) == 2  # the stamp moved: looked up again at the next batch
        assert [len(lines_of(tryton, entry)) for entry in entries] == [1, 1, 1]


def test_a_create_left_in_doubt_is_waited_for_from_when_it_was_first_found_not_from_each_new_try(in_alpha, tryton):
    """A worker took over a create left in doubt, started waiting out the write window and was itself stopped (a
    task time-out, a restart). The next try waits out only what is left: a window started afresh at each try
    would never end once it is longer than the task time-out."""
    now = timezone.now()
    with FaultProxy(tryton.url) as proxy:
        entries, run = _send(tryton, proxy, window=5, left_behind={
            "sent_at": now - dt.timedelta(seconds=30), "doubt_since": now - dt.timedelta(seconds=6)})

    assert run.status == RunStatus.SUCCEEDED and run.counts == {ItemOutcome.CREATED: ENTRIES}
    # The entry left in doubt is looked for once (its window had passed), not polled for five seconds; the rest
    # are looked for together before their batch is created.
    assert _calls(proxy, FIND_LINE) == 2
    for entry in entries:
        assert len(lines_of(tryton, entry)) == 1
    assert not WriteAttempt.objects.exists()


def test_the_first_sender_to_find_a_create_left_in_doubt_stamps_when_its_window_starts(in_alpha, tryton):
    with FaultProxy(tryton.url) as proxy:
        connection = _connect(tryton, proxy)
        entry = _entries(tryton, connection, count=1)[0]
        sent_at = timezone.now() - dt.timedelta(seconds=30)
        WriteAttempt.objects.create(connection=connection, object_type="time_entry", canonical_id=entry.pk,
                                    sent_at=sent_at)
        flow = Flow.objects.create(name="Time to Tryton", slug="time-to-tryton", direction=FlowDirection.OUTBOUND,
                                   object_type="time_entry", connection=connection, object_name="timesheet_lines",
                                   on_schedule=False)
        run = flow_run_request(flow=flow, trigger=Trigger.MANUAL, enqueue=False, acting_user=None)
        kind = connection_kind(connection, run=run)

        (first,) = outbound_plan(run, kind, [entry.pk])
        stamped = WriteAttempt.objects.get(canonical_id=entry.pk).doubt_since
        (again,) = outbound_plan(run, kind, [entry.pk])

    assert sent_at < stamped <= timezone.now()  # the sender that sent it is gone by now: the window starts here
    assert first.doubt_since == again.doubt_since == stamped  # a later try keeps it


def test_a_try_stopped_while_it_waits_for_a_create_in_doubt_leaves_that_creates_mark_as_it_found_it(
        in_alpha, tryton):
    """django-q stops a task past its time-out by raising inside it, here while it waits between two look-ups for a
    create an earlier sender left in doubt. The mark must still say when that window started (and that the old
    create may be in flight): the next try waits out only the rest, instead of taking the record for a new send."""
    from django_q.exceptions import TimeoutException

    sent_at = timezone.now() - dt.timedelta(seconds=30)
    with FaultProxy(tryton.url) as proxy:
        connection = _connect(tryton, proxy, write_window_seconds=60)
        entries = _entries(tryton, connection)
        WriteAttempt.objects.create(connection=connection, object_type="time_entry", canonical_id=entries[0].pk,
                                    sent_at=sent_at)
        flow = Flow.objects.create(name="Time to Tryton", slug="time-to-tryton", direction=FlowDirection.OUTBOUND,
                                   object_type="time_entry", connection=connection, object_name="timesheet_lines",
                                   on_schedule=False)
        run = flow_run_request(flow=flow, trigger=Trigger.MANUAL, enqueue=False, acting_user=None)
        stopped = TimeoutException("Task exceeded maximum timeout value (8 seconds)")
        with mock.patch("apps.runs.outbound.run_heartbeat", side_effect=stopped), pytest.raises(TimeoutException):
            run_execute(run_id=run.pk)  # the wait renews the run's lease after each look-up: stopped there

    (attempt,) = WriteAttempt.objects.filter(canonical_id=entries[0].pk)
    assert attempt.sent_at == sent_at and attempt.doubt_since is not None
    assert sent_at < attempt.doubt_since <= timezone.now()
    assert _calls(proxy, CREATE_LINE) == 0 and lines_of(tryton, entries[0]) == []
