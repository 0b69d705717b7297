"""Faults between Weft and the real Tryton, made by a proxy in front of it (``tests/tryton/proxy.py``).

Writes in doubt: the proxy holds a timesheet line's create back until the client has given up waiting, then
passes it on: Tryton creates the line after Weft's time-out, exactly what a busy server does. Weft must look
the line up by its reference until Tryton's write window has passed, and only then create it.

A login that fails half-way (Tryton accepts the password, then answers the preferences call with a 500) is a
transient failure that says so, is tried again, and counts toward the connection's circuit breaker.
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
from tests.tryton.proxy import FaultProxy

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
    (party,) = tryton.client.create("party.party", [{"name": unique("Acme Consulting"), "code": unique("C")}])
    (work,) = tryton.client.create("project.work", [{  # whole, as other tests reading every project expect
        "name": unique("Website"), "type": "project", "company": tryton.company_id, "timesheet_available": True,
        "party": party, "list_price": Decimal("150")}])
    for object_type, canonical, external in (("person", entry.person_id, tryton.employee_ids[0]),
                                             ("project", entry.project_id, work)):
        ExternalRef.objects.create(connection=tryton_connection, object_type=object_type, canonical_id=canonical,
                                   external_id=str(external))
    return entry


def _connect(tryton, proxy: FaultProxy, **settings):
    return connection_create(
        name="Tryton", kind="tryton", allow_private_network=True, acting_user=None,
        settings={"base_url": proxy.url, "database": tryton.database, "timeout_seconds": TIMEOUT, **settings},
        credentials={"username": tryton.username, "password": tryton.password})


def _send(tryton, *, proxy: FaultProxy, window: float = 20) -> tuple[TimeEntry, object]:
    connection = _connect(tryton, proxy, write_window_seconds=window)
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
    with FaultProxy(tryton.url, hold=_first_create_only(), seconds=TIMEOUT + 3) as proxy:
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
    with FaultProxy(tryton.url, hold=_first_create_only(), seconds=TIMEOUT + 1, drop=True) as proxy:
        entry, run = _send(tryton, proxy=proxy, window=5)

    assert proxy.held == [CREATE_LINE] and proxy.delivered == []
    first, second = [at for method, at in proxy.arrivals if method == CREATE_LINE]
    assert second - first >= 5  # not created again before the window had passed
    assert run.status == RunStatus.SUCCEEDED and run.counts == {ItemOutcome.CREATED: 1}
    (line,) = _lines(tryton, entry)
    (item,) = RunItem.objects.filter(canonical_id=entry.pk, object_type="time_entry")
    assert item.outcome == ItemOutcome.CREATED and item.target_external_id == str(line) and item.attempts == 2


# --- a login that fails half-way -------------------------------------------------------------------------------
PREFERENCES = "model.res.user.get_preferences"


def test_a_server_error_loading_the_preferences_at_login_is_tried_again_and_the_line_written(in_alpha, tryton):
    answered: list[str] = []

    def once(method: str) -> int | None:  # the first preferences call of the login answers 500
        if method == PREFERENCES and not answered:
            answered.append(method)
            return 500
        return None

    with FaultProxy(tryton.url, fail=once) as proxy:
        entry, run = _send(tryton, proxy=proxy)

    assert proxy.failed == [PREFERENCES]
    assert run.status == RunStatus.SUCCEEDED and run.counts == {ItemOutcome.CREATED: 1}
    (item,) = RunItem.objects.filter(canonical_id=entry.pk, object_type="time_entry")
    assert item.attempts == 2 and item.target_external_id == str(_lines(tryton, entry)[0])


def test_a_login_that_keeps_failing_fails_the_run_as_transient_says_why_and_counts_toward_the_circuit(
        in_alpha, tryton):
    with FaultProxy(tryton.url, fail=lambda method: 500 if method == PREFERENCES else None) as proxy:
        connection = _connect(tryton, proxy)
        flow = Flow.objects.create(name="Time from Tryton", slug="time-from-tryton", direction=FlowDirection.INBOUND,
                                   object_type="time_entry", connection=connection, object_name="timesheet_lines",
                                   on_schedule=False)
        run = run_execute(run_id=flow_run_request(flow=flow, trigger=Trigger.MANUAL, enqueue=False,
                                                  acting_user=None).pk)

    assert run.status == RunStatus.FAILED and run.error_category == "transport"
    assert run.error_message.startswith(
        f"Tryton accepted the login of {tryton.username!r} to {tryton.database!r} but failed to load the user's "
        "preferences (company, language): Tryton answered model.res.user.get_preferences with HTTP 500")
    assert "has no company" not in run.error_message
    connection.refresh_from_db()
    assert connection.consecutive_failures == 1

