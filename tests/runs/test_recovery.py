"""The sweep for work no task will reach (apps/runs/recovery.py), and the worker-renewed task lease
(apps/runs/queue.py). The cluster-level proof is tests/e2e/test_cluster_kill_webhooks.py."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from apps.runs import events, recovery
from apps.runs.models import InboundEvent
from apps.runs.queue import OrderedOrmBroker
from apps.tenants.tasks import tenant_tasks_pending
from tests.runs.test_webhooks import EVENT, handlers, hooks_connection  # noqa: F401  (fixture)


def _stored_long_ago(event_id: str) -> InboundEvent:
    event = InboundEvent.objects.create(connection=hooks_connection(), event_id=event_id,
                                        event_type="timesheet.approved", payload=EVENT)
    InboundEvent.objects.filter(pk=event.pk).update(received_at=timezone.now() - timedelta(minutes=5))
    return event


def test_an_event_whose_task_was_lost_is_queued_again_and_handled_once(in_alpha, handlers):  # noqa: F811
    calls = []
    events.register_event_handler("timesheet.approved")(calls.append)
    event = _stored_long_ago("evt_lost")  # stored, but its task never ran (dropped after its attempts)

    assert recovery.work_recover() == {"events": 1}  # sync mode: the queued task runs at once
    assert recovery.work_recover() == {}
    event.refresh_from_db()
    assert event.status == InboundEvent.Status.PROCESSED and len(calls) == 1


def test_an_event_whose_task_still_waits_is_left_to_it(in_alpha, handlers, monkeypatch):  # noqa: F811
    event = _stored_long_ago("evt_waiting")
    monkeypatch.setattr(recovery, "tenant_tasks_pending",
                        lambda: {("alpha", recovery.EVENT_TASK, event.pk)})

    assert recovery.work_recover() == {}
    assert InboundEvent.objects.get(pk=event.pk).status == InboundEvent.Status.RECEIVED


def test_a_running_task_lease_is_renewed_and_a_queued_task_is_read_back(db):
    package = SignedPackage.dumps({"id": "t1", "func": "apps.tenants.tasks.tenant_task_run",
                                   "args": ("alpha", recovery.EVENT_TASK, 7), "kwargs": {}})
    row = OrmQ.objects.create(key="weft", payload=package, lock=timezone.now())
    broker = OrderedOrmBroker(list_key="weft")

    assert broker.renew(row.pk)
    row.refresh_from_db()
    assert row.lock > timezone.now() + timedelta(seconds=10), "leased for WEFT_Q_RETRY seconds from now"
    assert broker.pending_payloads() == [package]
    assert tenant_tasks_pending() == {("alpha", recovery.EVENT_TASK, 7)}


def test_the_run_list_says_how_many_events_wait_and_for_how_long(cast, client):
    from django_tenants.utils import schema_context

    from apps.tenants.choices import Role
    from tests.conftest import host, member

    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner, username="eng")
    client.force_login(engineer)
    with schema_context("alpha"):
        _stored_long_ago("evt_behind")
    page = client.get("/admin/runs/run/", HTTP_HOST=host(cast.alpha))
    assert page.status_code == 200
    assert "1 webhook event(s) queued for processing; the oldest arrived 5 min ago." in page.text
