"""Writes in doubt against the real Tryton: a create whose reply is lost is never sent again blindly.

A fault proxy in front of Tryton holds a timesheet line's create back until the client has given up waiting,
then passes it on: Tryton creates the line after Weft's time-out, exactly what a busy server does. Weft must
look the line up by its reference until Tryton's write window has passed, and only then create it.
"""

from __future__ import annotations

from decimal import Decimal

from apps.canonical.models import ExternalRef, TimeEntry
from apps.canonical.services import hub_upsert_all
from apps.common.objects import CanonicalInput, Ref
from apps.connectors.services import connection_create
from apps.runs.engine import flow_run_request, run_execute
from apps.runs.models import Flow, FlowDirection, ItemOutcome, RunItem, RunStatus, Trigger
from apps.runs.outbound import record_reference
from tests.tryton.conftest_plugin import unique
from tests.tryton.proxy import DelayingProxy

CREATE_LINE = "model.timesheet.line.create"
TIMEOUT = 2  # seconds; generous enough for a login on a busy test machine


def _entry_in_the_hub(tryton, tryton_connection) -> TimeEntry:
    """A time entry whose person and project Tryton already has (their cross-references set)."""
    psa = connection_create(name="PSA", kind="webhook", acting_user=None)
    hub_upsert_all(connection=psa, object_type="person",
                   records=[CanonicalInput("person", "u1", {"code": unique("ann"), "name": "Ann Analyst"})])
    hub_upsert_all(connection=psa, object_type="customer",
                   records=[CanonicalInput("customer", "c1", {"code": unique("ACME"), "name": "Acme Consulting"})])
    hub_upsert_all(connection=psa, object_type="project", records=[CanonicalInput(
        "project", "p1", {"code": unique("WEB"), "name": "Website"}, refs={"customer": Ref.external("c1")})])
    hub_upsert_all(connection=psa, object_type="time_entry", records=[CanonicalInput(
        "time_entry", "t1", {"date": "2026-11-24", "hours": "3.5", "notes": "Build"},
        refs={"person": Ref.external("u1"), "project": Ref.external("p1")})])
    entry = TimeEntry.objects.get(notes="Build")
    (work,) = tryton.client.create("project.work", [{
        "name": unique("Website"), "type": "project", "company": tryton.company_id, "timesheet_available": True,
        "list_price": Decimal("150")}])
    for object_type, canonical, external in (("person", entry.person_id, tryton.employee_ids[0]),
                                             ("project", entry.project_id, work)):
        ExternalRef.objects.create(connection=tryton_connection, object_type=object_type, canonical_id=canonical,
                                   external_id=str(external))
    return entry


def _send(tryton, *, proxy: DelayingProxy, window: float) -> tuple[TimeEntry, object]:
    connection = connection_create(
        name="Tryton", kind="tryton", allow_private_network=True, acting_user=None,
        settings={"base_url": proxy.url, "database": tryton.database, "timeout_seconds": TIMEOUT,
                  "write_window_seconds": window},
        credentials={"username": tryton.username, "password": tryton.password})
    entry = _entry_in_the_hub(tryton, connection)
    flow = Flow.objects.create(name="Time to Tryton", slug="time-to-tryton", direction=FlowDirection.OUTBOUND,
                               object_type="time_entry", connection=connection, object_name="timesheet_lines",
                               on_schedule=False)
    run = run_execute(run_id=flow_run_request(flow=flow, trigger=Trigger.MANUAL, enqueue=False,
                                              acting_user=None).pk)
    return entry, run


def _lines(tryton, entry: TimeEntry) -> list[int]:
    return tryton.client.search("timesheet.line",
                                [["description", "like", f"[{record_reference('time_entry', entry.pk)}]%"]])


def _first_create_only():
    seen = []

    def hold(method: str) -> bool:
        seen.append(method)
        return method == CREATE_LINE and seen.count(CREATE_LINE) == 1

    return hold


def test_a_create_tryton_carries_out_after_the_client_gave_up_leaves_one_line_recorded_created_once(
        in_alpha, tryton):
    with DelayingProxy(tryton.url, hold=_first_create_only(), seconds=TIMEOUT + 3) as proxy:
        entry, run = _send(tryton, proxy=proxy, window=20)

        assert proxy.settled() == [CREATE_LINE]  # the held create did reach Tryton, after the client's time-out
    (line,) = _lines(tryton, entry)
    assert run.status == RunStatus.SUCCEEDED and run.counts == {ItemOutcome.CREATED: 1}
    (item,) = RunItem.objects.filter(canonical_id=entry.pk, object_type="time_entry")
    assert item.outcome == ItemOutcome.CREATED and item.target_external_id == str(line)
    assert "may have been carried out" in item.target_response["in_doubt"]
    assert ExternalRef.objects.get(connection=run.connection, object_type="time_entry",
                                   canonical_id=entry.pk).external_id == str(line)


def test_a_create_lost_on_the_way_is_created_once_the_write_window_has_passed(in_alpha, tryton):
    """The proxy holds the first create past the time-out and then drops it: Tryton never sees it. Weft looks
    for it until the window has passed, then creates it."""
    with DelayingProxy(tryton.url, hold=_first_create_only(), seconds=TIMEOUT + 1, drop=True) as proxy:
        entry, run = _send(tryton, proxy=proxy, window=5)

    assert proxy.held == [CREATE_LINE] and proxy.delivered == []
    first, second = [at for method, at in proxy.arrivals if method == CREATE_LINE]
    assert second - first >= 5  # not created again before the window had passed
    assert run.status == RunStatus.SUCCEEDED and run.counts == {ItemOutcome.CREATED: 1}
    (line,) = _lines(tryton, entry)
    (item,) = RunItem.objects.filter(canonical_id=entry.pk, object_type="time_entry")
    assert item.outcome == ItemOutcome.CREATED and item.target_external_id == str(line) and item.attempts == 2
