"""The gathering window of webhook events (issue 18): a worker that takes an approval waits a bounded time for more
of its stream, so approvals arriving close together reach the real Tryton in one ``create`` even when the cluster
keeps up; a second worker that takes one of them meanwhile leaves it to the first; a lone approval is not held
past the window. Workers are threads of this process calling the task's service, as the cluster's would, each on
its own database connection, so the data is committed (``live``); Harvest is the spec-checked fake."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from apps.accelerators.services import templates_sync_builtin
from apps.runs.models import InboundEvent, ItemOutcome, Run, RunItem, Trigger
from apps.runs.services import inbound_event_process
from tests.e2e.support import InAlpha, approved_time_chain, canonical_id, entry_reference, lines_tagged
from tests.e2e.test_tryton_approved_time import deliver

pytestmark = [pytest.mark.cluster, pytest.mark.django_db, pytest.mark.usefixtures("fanout")]


class Worker(InAlpha):
    """One cluster worker running the task of one event, in the customer's schema, on its own connection."""

    outcome_timeout = 120.0

    def __init__(self, event_id: int):
        self.event_id = event_id
        super().__init__(lambda: inbound_event_process(event_id=event_id))

    def wait_gathering(self, timeout: float = 30) -> None:
        """Until this worker holds its event's lock and its stream's (two advisory locks): it is gathering."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = %s",
                               [self.pid])
                if self.pid is not None and cursor.fetchone()[0] >= 2:
                    return
            assert self.is_alive() or self.error is None, self.error
            time.sleep(0.02)
        raise AssertionError("the worker never started gathering")


@pytest.fixture
def chain(live, tryton, harvest):
    with schema_context("alpha"):
        templates_sync_builtin()
        yield approved_time_chain(live["alpha"], tryton, harvest)


def _approve(chain, harvest, live, day: int, event_id: str) -> InboundEvent:
    entry = harvest.add_time_entry(chain.user("ann"), chain.harvest_project, spent_date=f"2026-06-{day:02d}", hours=1,
                                   approved=True, notes=f"Gathered {day}")
    answer = deliver(live["alpha"], {"id": event_id, "type": "record.changed",
                                     "data": {"object": "time_entries", "record": entry}})
    assert answer.status_code == 202
    return InboundEvent.objects.get(event_id=event_id)


def _store_started(event: InboundEvent):
    """When the worker stopped gathering: the start of the webhook run that stored ``event``'s entry."""
    return Run.objects.get(trigger=Trigger.WEBHOOK, items__external_id=str(event.payload["data"]["record"]["id"])
                           ).started_at


def test_approvals_arriving_while_a_worker_gathers_go_to_tryton_in_one_create(live, chain, harvest, tryton, settings):
    settings.WEFT_EVENT_GATHER_SECONDS, settings.WEFT_EVENT_GATHER_COUNT = 6.0, 4
    with schema_context("alpha"):
        first_event = _approve(chain, harvest, live, 1, "evt-gather-1")
        first = Worker(first_event.pk)  # takes the first approval and waits for more of its stream
        first.wait_gathering()
        second_event = _approve(chain, harvest, live, 2, "evt-gather-2")
        second = Worker(second_event.pk)  # another worker takes the next task meanwhile
        events = [first_event, second_event, *(_approve(chain, harvest, live, day, f"evt-gather-{day}")
                                               for day in (3, 4))]

        assert first.outcome().status == InboundEvent.Status.PROCESSED
        assert second.outcome() is None  # it waited for the first worker's turn, which took its event along
        for event in events[2:]:  # their own tasks find them done
            assert inbound_event_process(event_id=event.pk) is None
        assert set(InboundEvent.objects.filter(pk__in=[e.pk for e in events]).values_list("status", flat=True)) == {
            InboundEvent.Status.PROCESSED}
        # Four waiting ended the wait, well before the six-second window.
        stored = _store_started(first_event)
        assert events[-1].received_at <= stored < first_event.received_at + timedelta(seconds=5)
        items = RunItem.objects.filter(run__flow__slug="time-to-erp", outcome=ItemOutcome.CREATED)
        assert len(items) == 4 and {item.target_response["batch"] for item in items} == {4}  # one create for four
        assert len({item.run_id for item in items}) == 1
        for item in items:
            assert len(lines_tagged(tryton, entry_reference(item.canonical_id))) == 1


def test_a_lone_approval_waits_out_the_window_and_no_longer(live, chain, harvest, tryton, settings):
    settings.WEFT_EVENT_GATHER_SECONDS, settings.WEFT_EVENT_GATHER_COUNT = 1.5, 20
    with schema_context("alpha"):
        event = _approve(chain, harvest, live, 9, "evt-alone")
        started = time.monotonic()
        assert Worker(event.pk).outcome().status == InboundEvent.Status.PROCESSED
        taken = time.monotonic() - started

        stored = _store_started(event)
        assert event.received_at + timedelta(seconds=1.4) <= stored <= event.received_at + timedelta(seconds=2.5)
        assert taken >= 1.0  # it did wait for company (the receipt came a little before the worker started)
        (item,) = RunItem.objects.filter(run__flow__slug="time-to-erp", outcome=ItemOutcome.CREATED)
        assert (item.target_response or {}).get("batch", 1) == 1
        entry_id = event.payload["data"]["record"]["id"]
        assert len(lines_tagged(tryton, entry_reference(canonical_id(chain.harvest, "time_entry", entry_id)))) == 1
