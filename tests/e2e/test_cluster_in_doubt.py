"""A worker killed while its create is in flight to Tryton, and taken over well inside Tryton's write window.

A proxy in front of the real Tryton holds the first timesheet-line create back (a busy server's queue) and passes
it on seconds later; meanwhile the real django-q2 cluster that sent it is SIGKILLed, and a new cluster takes the
run over as soon as its heartbeat is one second old (``WEFT_RUN_STALE_SECONDS=1``, far shorter than the window).
The create the dead worker sent lands after the takeover. The new worker must not create the line again: the
attempt the dead worker recorded before sending (``WriteAttempt``) makes it look the line up by its reference
until the window has passed, and record the one line Tryton holds."""

from __future__ import annotations

import time

import pytest
from django_tenants.utils import schema_context

from apps.canonical.models import ExternalRef
from apps.runs.engine import flow_run_request
from apps.runs.models import Flow, FlowDirection, ItemOutcome, Run, RunItem, RunStatus, Trigger, WriteAttempt
from tests.cluster import Cluster, wait_for
from tests.connectors.test_tryton_faults import CREATE_LINE, _connect, _entry_in_the_hub, _first_create_only, _lines
from tests.tryton.proxy import FaultProxy

pytestmark = [pytest.mark.cluster, pytest.mark.django_db]
HELD_SECONDS = 10  # the dead worker's create reaches Tryton this long after it was sent
WINDOW_SECONDS = 25  # Tryton's write window for this connection: longer than the hold, far longer than the takeover


def test_a_worker_killed_with_a_create_in_flight_is_taken_over_without_a_second_line(live, tryton, settings):
    settings.WEFT_RUN_STALE_SECONDS = 1  # this process re-queues the abandoned run as soon as it looks abandoned
    env = {"WEFT_DATA_DIR": str(settings.WEFT_DATA_DIR), "WEFT_Q_WORKERS": "1", "WEFT_RUN_STALE_SECONDS": "1"}
    with FaultProxy(tryton.url, hold=_first_create_only(), seconds=HELD_SECONDS) as proxy:
        with schema_context("alpha"):
            connection = _connect(tryton, proxy, write_window_seconds=WINDOW_SECONDS, timeout_seconds=60)
            entry = _entry_in_the_hub(tryton, connection)
            flow = Flow.objects.create(name="Time to Tryton", slug="time-to-tryton", direction=FlowDirection.OUTBOUND,
                                       object_type="time_entry", connection=connection, object_name="timesheet_lines",
                                       on_schedule=False)
        first = Cluster(**env)
        try:
            with schema_context("alpha"):
                run = flow_run_request(flow=flow, trigger=Trigger.MANUAL, acting_user=None)
            wait_for(lambda: CREATE_LINE in proxy.held, timeout=60, interval=0.05, cluster=first)
            first.kill()  # the worker dies with its create held in the proxy, not yet carried out
        finally:
            first.stop()
            first.log_path.rename(first.log_path.with_suffix(".first.log"))
        sent = time.monotonic()
        with schema_context("alpha"):
            assert WriteAttempt.objects.filter(canonical_id=entry.pk).exists()  # recorded before it was sent
            time.sleep(1.5)  # the heartbeat ages past WEFT_RUN_STALE_SECONDS
            assert flow_run_request(flow=flow, trigger=Trigger.SCHEDULE, acting_user=None).pk == run.pk  # re-queued
        second = Cluster(**env)
        try:
            def finished() -> bool:
                with schema_context("alpha"):
                    return Run.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED

            wait_for(finished, timeout=WINDOW_SECONDS + 60, interval=0.5, cluster=second)
        finally:
            second.stop()
        assert proxy.delivered == [CREATE_LINE]  # the dead worker's create did land, after the takeover
        assert time.monotonic() - sent >= HELD_SECONDS - 1  # the new worker waited for it instead of creating

    with schema_context("alpha"):
        (line,) = _lines(tryton, entry)
        (item,) = RunItem.objects.filter(canonical_id=entry.pk, object_type="time_entry")
        assert item.outcome == ItemOutcome.CREATED and item.target_external_id == str(line)
        assert ExternalRef.objects.get(connection=connection, object_type="time_entry",
                                       canonical_id=entry.pk).external_id == str(line)
        assert not WriteAttempt.objects.filter(canonical_id=entry.pk).exists()
