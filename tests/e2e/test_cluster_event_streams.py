"""One task per stream of webhook events, not one per event (issue 18): the intake queues a stream's task only when
none is waiting, and no event is left without a task that will see it. The races are played with the real
services on their own database connections (threads), so what each one commits is what the others see (``live``):
an event stored while the stream's task is starting, and one stored while the task is already working; through the
full path (``_event_store``) and through the intake's short way (``inbound_event_receive_fast``), which stores the
event with one message of two statements: the stream's intake lock, then the event and the stamp."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.db import connection, transaction
from django_q.models import OrmQ
from django_q.signing import SignedPackage
from django_tenants.utils import schema_context

from apps.connectors.kinds.webhook import sign
from apps.runs import events
from apps.runs import services as run_services
from apps.runs.models import InboundEvent, InboundStream
from apps.tenants import selectors as tenant_selectors
from apps.tenants.tasks import tenant_task_run
from tests.conftest import host
from tests.e2e import support
from tests.runs.test_webhooks import EVENT, SECRET, hooks_connection

pytestmark = [pytest.mark.cluster, pytest.mark.django_db]
TYPE = EVENT["type"]


@pytest.fixture
def handlers(monkeypatch):
    monkeypatch.setattr(events, "HANDLERS", {})
    return events.HANDLERS


@pytest.fixture
def fresh_memos(monkeypatch):
    monkeypatch.setattr(tenant_selectors, "_ROUTES", {})
    monkeypatch.setattr(run_services, "_SIGNERS", {})


class InAlpha(support.InAlpha):
    def wait_blocked(self, timeout: float = 10) -> None:
        """Until this thread's statement waits for a lock another session holds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with connection.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND pid = %s", [self.pid])
                if self.pid is not None and cursor.fetchone()[0]:
                    return
            assert self.is_alive(), self.error
            time.sleep(0.02)
        raise AssertionError("the thread never waited for a lock")


def _store(hooks, event_id: str):
    return run_services._event_store(hooks, event_id, TYPE, {**EVENT, "id": event_id})


def _deliver(customer, event_id: str):
    """What the intake middleware does with a new, authentic delivery: the short way, autocommitted unless the
    caller holds a transaction open."""
    body = json.dumps({**EVENT, "id": event_id}).encode()
    stamp = str(int(time.time()))
    return run_services.inbound_event_receive_fast(host=host(customer), connection_slug="hooks", timestamp=stamp,
                                                   signature=sign(SECRET, stamp, body), body=body)


def _stream_tasks() -> list[tuple]:
    return [args for args in (SignedPackage.loads(row.payload)["args"] for row in OrmQ.objects.order_by("id"))
            if args[1] == run_services.STREAM_TASK]


def _statuses() -> dict[str, str]:
    return dict(InboundEvent.objects.order_by("pk").values_list("event_id", "status"))


def test_a_burst_queues_one_task_which_processes_every_event_once(live, handlers):
    seen = []
    handlers[TYPE] = lambda event: seen.append(event.event_id)
    with schema_context("alpha"):
        hooks = hooks_connection()
        for n in range(5):
            _store(hooks, f"e{n}")
        run_services._event_store(hooks, "other", "timesheet.deleted", {"id": "other", "type": "timesheet.deleted"})
        tasks = _stream_tasks()
        assert tasks == [("alpha", run_services.STREAM_TASK, hooks.pk, TYPE),
                         ("alpha", run_services.STREAM_TASK, hooks.pk, "timesheet.deleted")]

        tenant_task_run(*tasks[0])
        tenant_task_run(*tasks[0])  # delivered twice: nothing more happens
    assert seen == [f"e{n}" for n in range(5)]
    with schema_context("alpha"):
        assert set(_statuses().values()) == {"processed", "received"}  # the other type's task has not run yet
        assert InboundStream.objects.get(event_type=TYPE).dispatch_queued_at is None


def test_an_event_stored_while_the_streams_task_starts_is_processed_by_that_task(live, handlers):
    """The lost wake-up race: the intake stores an event and sees the stream's task waiting (so queues none) at the
    moment the task starts. The task's first step, clearing the stream's stamp, waits for the intake's commit, and
    only then does it look for events: it finds the new one."""
    seen = []
    handlers[TYPE] = lambda event: seen.append(event.event_id)
    with schema_context("alpha"):
        hooks = hooks_connection()
        _store(hooks, "e1")
    assert len(_stream_tasks()) == 1
    stored, release = threading.Event(), threading.Event()

    def intake():  # the second event's store, its transaction held open
        with transaction.atomic():
            _store(hooks, "e2")
            stored.set()
            assert release.wait(10)

    sender = InAlpha(intake)
    assert stored.wait(10)
    assert len(_stream_tasks()) == 1  # a task is waiting: the second event queued none
    worker = InAlpha(lambda: run_services.inbound_stream_process(connection_id=hooks.pk, event_type=TYPE))
    worker.wait_blocked()  # clearing the stamp waits for the intake's transaction
    release.set()
    sender.outcome()
    assert worker.outcome() == 2
    assert seen == ["e1", "e2"]
    with schema_context("alpha"):
        assert _statuses() == {"e1": "processed", "e2": "processed"}


def test_an_event_stored_while_the_streams_task_works_queues_the_next_task(live, handlers):
    """Once a stream's task has started, an event stored meanwhile queues another task (which may run beside it);
    whichever reaches the event first processes it, and the other does nothing."""
    seen, working, go_on = [], threading.Event(), threading.Event()

    def handle(event):
        seen.append(event.event_id)
        working.set()
        assert go_on.wait(10)

    handlers[TYPE] = handle
    with schema_context("alpha"):
        hooks = hooks_connection()
        _store(hooks, "e1")
    [task] = _stream_tasks()
    OrmQ.objects.all().delete()  # handed to the worker below
    worker = InAlpha(lambda: tenant_task_run(*task))
    assert working.wait(10)
    with schema_context("alpha"):
        _store(hooks, "e2")
    assert _stream_tasks() == [task]  # the next task, queued while the first one works
    go_on.set()
    worker.outcome()
    with schema_context("alpha"):
        tenant_task_run(*task)
        assert _statuses() == {"e1": "processed", "e2": "processed"}
    assert seen == ["e1", "e2"]


def test_deliveries_the_short_way_while_the_streams_task_starts_are_processed_by_that_task(live, handlers,
                                                                                           fresh_memos):
    """The same race through the intake's short way: deliveries of a stream do not wait for one another (each holds
    the stream's intake lock shared), and the task's clear waits for the one still open."""
    seen = []
    handlers[TYPE] = lambda event: seen.append(event.event_id)
    with schema_context("alpha"):
        hooks = hooks_connection()
    assert _deliver(live["alpha"], "e1") == ("alpha", "e1")
    assert len(_stream_tasks()) == 1
    stored, release = threading.Event(), threading.Event()

    def intake():  # the second delivery, its transaction held open
        with transaction.atomic():
            assert _deliver(live["alpha"], "e2") == ("alpha", "e2")
            stored.set()
            assert release.wait(10)

    sender = InAlpha(intake)
    assert stored.wait(10)
    assert InAlpha(lambda: _deliver(live["alpha"], "e3")).outcome(timeout=5) == ("alpha", "e3")  # not held up by e2
    assert len(_stream_tasks()) == 1  # a task is waiting: neither delivery queued another
    worker = InAlpha(lambda: run_services.inbound_stream_process(connection_id=hooks.pk, event_type=TYPE))
    worker.wait_blocked()  # clearing the stamp waits for e2's transaction
    release.set()
    sender.outcome()
    assert worker.outcome() == 3
    assert seen == ["e1", "e2", "e3"]


@pytest.mark.parametrize("short_way", [True, False], ids=["short way", "full path"])
def test_a_delivery_while_the_task_clears_the_stamp_queues_the_next_task(live, handlers, fresh_memos, short_way):
    """The other order: the task has cleared the stamp and not yet committed when a delivery comes. The delivery's
    first statement waits for the clear's commit, and its second reads the stamp only then (a snapshot of its own),
    finds it cleared and queues the next task; read in the first statement's snapshot, the stamp would still look
    fresh, and the event would have no task while the first task's look may already have passed it."""
    seen = []
    handlers[TYPE] = lambda event: seen.append(event.event_id)
    with schema_context("alpha"):
        hooks = hooks_connection()
    assert _deliver(live["alpha"], "e1") == ("alpha", "e1")
    [task] = _stream_tasks()
    cleared, release = threading.Event(), threading.Event()

    def clear():  # the task's first step, its commit held back
        with transaction.atomic():
            run_services._stream_clear(hooks.pk, TYPE)
            cleared.set()
            assert release.wait(10)

    worker = InAlpha(clear)
    assert cleared.wait(10)
    sender = InAlpha(lambda: _deliver(live["alpha"], "e2") if short_way else _store(hooks, "e2").created)
    sender.wait_blocked()
    release.set()
    worker.outcome()
    assert sender.outcome() == (("alpha", "e2") if short_way else True)  # stored, as new
    assert _stream_tasks() == [task, task]  # e2 queued the next task
    tenant_task_run(*task)
    assert seen == ["e1", "e2"]
