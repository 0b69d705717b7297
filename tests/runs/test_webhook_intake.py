"""The webhook intake's short way (apps/runs/middleware.py): a new, authentic event is stored by one statement and
answered 202 without the API stack; what it remembers per process (the host's customer, the connection's secret)
is never honoured after a change; with the ORM broker the event's task is written by the same statement, and an
idle cluster wakes on its announcement instead of at its next poll."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ
from django_q.signing import SignedPackage
from django_tenants.utils import schema_context

from apps.connectors import services as connector_services
from apps.runs import events
from apps.runs import services as run_services
from apps.runs.api.views import InboundWebhookApi
from apps.runs.models import InboundEvent
from apps.runs.queue import WAKE_CHANNEL, OrderedOrmBroker
from apps.runs.recovery import work_recover
from apps.tenants import selectors as tenant_selectors
from apps.tenants.tasks import tenant_task_run
from apps.tenants.usage import usage_api_call_tally
from tests.portal.test_usage import counters
from tests.runs.test_webhooks import EVENT, OTHER_SECRET, deliver, hooks_connection, stored

Status = InboundEvent.Status


@pytest.fixture
def handlers(monkeypatch):
    monkeypatch.setattr(events, "HANDLERS", {})
    return events.HANDLERS


@pytest.fixture
def fresh_memos(monkeypatch):
    monkeypatch.setattr(tenant_selectors, "_ROUTES", {})
    monkeypatch.setattr(run_services, "_SIGNERS", {})


@pytest.fixture
def api_view_calls(monkeypatch):
    """How many requests reached the API view (the full path)."""
    calls = []
    original = InboundWebhookApi.post

    def counted(self, request, connection_slug):
        calls.append(connection_slug)
        return original(self, request, connection_slug)

    monkeypatch.setattr(InboundWebhookApi, "post", counted)
    return calls


def test_a_new_event_is_stored_and_processed_without_the_api_stack(cast, fresh_memos, api_view_calls, handlers,
                                                                   django_capture_on_commit_callbacks):
    seen = []
    handlers["timesheet.approved"] = lambda event: seen.append(event.payload)
    hooks_connection()
    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(cast.alpha)

    assert (response.status_code, response.json()) == (202, {"status": "accepted", "event": "evt_1"})
    assert api_view_calls == []
    [event] = stored()
    assert (event.event_id, event.payload, event.deliveries, event.status) == ("evt_1", EVENT, 1, Status.PROCESSED)
    assert seen == [EVENT]


def test_refusals_and_redeliveries_take_the_full_path_and_answer_as_before(cast, fresh_memos, api_view_calls):
    hooks_connection()
    assert deliver(cast.alpha).status_code == 202
    assert deliver(cast.alpha).status_code == 200  # a re-delivery: counted by the full path
    assert deliver(cast.alpha, {**EVENT, "id": "evt_2"}, secret=OTHER_SECRET).status_code == 401
    assert deliver(cast.alpha, b'{"id": "evt_3"}').status_code == 400
    assert len(api_view_calls) == 3
    [event] = stored()
    assert event.deliveries == 2


def test_a_rotated_secret_or_a_disabled_connection_is_honoured_at_once(cast, fresh_memos):
    hooks = hooks_connection()
    assert deliver(cast.alpha).status_code == 202  # the secret is now remembered by this process
    with schema_context("alpha"):
        connector_services.connection_update(connection=hooks, changes={},
                                             credentials={"signing_secret": OTHER_SECRET}, acting_user=None)
    assert deliver(cast.alpha, {**EVENT, "id": "evt_old_secret"}).status_code == 401
    assert deliver(cast.alpha, {**EVENT, "id": "evt_new_secret"}, secret=OTHER_SECRET).status_code == 202
    with schema_context("alpha"):
        hooks.refresh_from_db()
        connector_services.connection_update(connection=hooks, changes={"is_enabled": False}, acting_user=None)
    assert deliver(cast.alpha, {**EVENT, "id": "evt_disabled"}, secret=OTHER_SECRET).status_code == 401
    assert [e.event_id for e in stored()] == ["evt_1", "evt_new_secret"]


def test_a_deactivated_customer_gets_nothing_stored_through_the_remembered_host(cast, fresh_memos):
    hooks_connection()
    assert deliver(cast.alpha).status_code == 202  # the host's customer is now remembered
    cast.alpha.is_active = False
    cast.alpha.save(update_fields=["is_active"])
    assert deliver(cast.alpha, {**EVENT, "id": "evt_after"}).status_code == 404
    assert [e.event_id for e in stored()] == ["evt_1"]


def test_events_stay_in_their_own_tenant_with_both_hosts_remembered(cast, fresh_memos):
    hooks_connection("alpha")
    hooks_connection("beta", secret=OTHER_SECRET)
    for _ in range(2):  # the second round runs on remembered routes and secrets
        assert deliver(cast.alpha, {**EVENT, "id": f"a{_}"}).status_code == 202
        assert deliver(cast.beta, {**EVENT, "id": f"b{_}"}, secret=OTHER_SECRET).status_code == 202
        assert deliver(cast.beta, {**EVENT, "id": f"x{_}"}).status_code == 401  # alpha's secret on beta's host
    assert [e.event_id for e in stored("alpha")] == ["a0", "a1"]
    assert [e.event_id for e in stored("beta")] == ["b0", "b1"]


def test_with_the_orm_broker_an_event_and_its_streams_task_are_stored_as_one(cast, fresh_memos, handlers, monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", False)
    seen = []
    handlers["timesheet.approved"] = lambda event: seen.append(event.event_id)
    hooks = hooks_connection()
    queued_before = OrmQ.objects.count()

    assert deliver(cast.alpha).status_code == 202
    assert deliver(cast.alpha, {**EVENT, "id": "evt_2"}).status_code == 202  # its stream's task is waiting already

    [task_row] = OrmQ.objects.order_by("-id")[:1]
    assert OrmQ.objects.count() == queued_before + 1
    task = SignedPackage.loads(task_row.payload)
    assert task["args"] == ("alpha", "apps.runs.tasks.inbound_stream_process", hooks.pk, "timesheet.approved")
    assert [e.status for e in stored()] == [Status.RECEIVED] * 2
    tenant_task_run(*task["args"])  # what a worker does with it
    assert seen == ["evt_1", "evt_2"] and {e.status for e in stored()} == {Status.PROCESSED}
    tenant_task_run(*task["args"])  # a second delivery of the task does nothing
    assert seen == ["evt_1", "evt_2"]
    assert deliver(cast.alpha, {**EVENT, "id": "evt_3"}).status_code == 202  # the task started: the next one queues
    assert OrmQ.objects.count() == queued_before + 2


def test_webhook_calls_are_counted_in_the_months_usage(cast, fresh_memos):
    hooks_connection()
    before = counters(cast.alpha)
    assert deliver(cast.alpha).status_code == 202
    usage_api_call_tally(schema_name="beta")  # another customer's call is not alpha's
    assert counters(cast.alpha)[2] == before[2] + 1


def test_an_idle_broker_wakes_on_an_announcement_not_at_its_poll(db, monkeypatch):
    monkeypatch.setattr(Conf, "POLL", 5.0)
    broker = OrderedOrmBroker()
    params = {k: v for k, v in connection.get_connection_params().items()
              if k in {"host", "port", "user", "password", "dbname"}}
    monkeypatch.setattr(broker, "get_connection", lambda list_key=None: OrmQ.objects.none())  # an empty queue

    def announce():
        time.sleep(0.3)
        with psycopg.connect(**params, autocommit=True) as other:
            other.execute("SELECT pg_notify(%s, '')", [WAKE_CHANNEL])

    broker._listener = broker._listen()  # listening before the announcement, as an idle pusher is
    sender = threading.Thread(target=announce)
    started = time.monotonic()
    sender.start()
    assert broker.dequeue() is None
    waited = time.monotonic() - started
    sender.join()
    broker._listener.close()
    assert 0.2 < waited < 2.0


def test_the_recovery_sweep_sees_the_intakes_task_and_queues_no_second(cast, fresh_memos, monkeypatch):
    monkeypatch.setattr(Conf, "SYNC", False)
    hooks_connection()
    assert deliver(cast.alpha).status_code == 202
    with schema_context("alpha"):
        InboundEvent.objects.update(received_at=timezone.now() - timedelta(hours=1))  # long waiting for a worker
    queued_before = OrmQ.objects.count()
    assert work_recover()["events"] == 0
    assert OrmQ.objects.count() == queued_before
    OrmQ.objects.all().delete()  # the task lost (a queue emptied by hand): now the sweep queues the event again
    assert work_recover()["events"] == 1
