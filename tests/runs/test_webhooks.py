"""Inbound webhooks: only signed, fresh events are stored; each event id once; handlers settle them."""

import json
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.common.errors import ConflictError
from apps.connectors import services as connector_services
from apps.connectors.kinds.webhook import sign
from apps.connectors.models import Connection
from apps.runs import events
from apps.runs import services as run_services
from apps.runs.models import InboundEvent
from tests.conftest import host

SECRET = "whsec-0123456789abcdef0123456789abcdef"
OTHER_SECRET = "whsec-fedcba9876543210fedcba9876543210"
EVENT = {"id": "evt_1", "type": "timesheet.approved", "data": {"timesheet": 8812, "hours": "7.5"}}
Status = InboundEvent.Status


def now() -> int:
    return int(time.time())


def hooks_connection(schema: str = "alpha", *, slug: str = "hooks", secret: str = SECRET, **kwargs) -> Connection:
    with schema_context(schema):
        return connector_services.connection_create(
            name=f"Hooks {slug}", slug=slug, kind="webhook", credentials={"signing_secret": secret}, acting_user=None,
            **kwargs)


def deliver(customer, body=EVENT, *, slug="hooks", secret=SECRET, timestamp=None, headers=None):
    """POST as a sender would: signed raw bytes, no session, CSRF checks on (they must not apply)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    stamp = str(now() if timestamp is None else timestamp)
    if headers is None:
        headers = {"X-Weft-Timestamp": stamp, "X-Weft-Signature": sign(secret, stamp, raw)}
    return Client(enforce_csrf_checks=True).post(
        f"/api/v1/hooks/{slug}/", data=raw, content_type="application/json", headers=headers,
        HTTP_HOST=host(customer),
    )


def stored(schema: str = "alpha") -> list[InboundEvent]:
    with schema_context(schema):
        return list(InboundEvent.objects.order_by("pk"))


@pytest.fixture
def handlers(monkeypatch):
    """An empty handler registry for the test; handlers registered in it vanish afterwards."""
    monkeypatch.setattr(events, "HANDLERS", {})
    return events.HANDLERS


# --- receiving ---------------------------------------------------------------------------------
def test_signed_event_is_stored_then_processed_after_commit(cast, django_capture_on_commit_callbacks):
    hooks_connection()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = deliver(cast.alpha)

    assert response.status_code == 202
    assert response.json() == {"status": "accepted", "event": "evt_1"}
    assert len(callbacks) == 1  # processing is queued only once the event is committed
    [event] = stored()
    assert (event.event_id, event.event_type, event.payload, event.deliveries) == ("evt_1", "timesheet.approved",
                                                                                   EVENT, 1)
    assert event.status == Status.IGNORED  # the queued task ran: no flow handles this type yet


def test_redelivery_is_answered_as_duplicate_and_only_counted(cast, django_capture_on_commit_callbacks):
    hooks_connection()
    with django_capture_on_commit_callbacks(execute=True):
        first = deliver(cast.alpha)
        again = deliver(cast.alpha, {**EVENT, "data": {"changed": True}})

    assert first.status_code == 202
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    [event] = stored()
    assert event.deliveries == 2
    assert event.payload == EVENT  # the first delivery is the one kept


def test_redelivery_requeues_an_event_whose_task_was_lost(cast, django_capture_on_commit_callbacks):
    hooks_connection()
    deliver(cast.alpha)  # its on-commit task never runs here: as if the process died after the commit
    with django_capture_on_commit_callbacks() as soon:
        deliver(cast.alpha)
    with schema_context("alpha"):
        InboundEvent.objects.update(received_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True) as later:
        assert deliver(cast.alpha).status_code == 200

    assert (len(soon), len(later)) == (0, 1)  # not while its first task may still be queued
    [event] = stored()
    assert (event.deliveries, event.status) == (3, Status.IGNORED)


def test_tolerance_setting_narrows_the_window(cast):
    hooks_connection(settings={"tolerance_seconds": "60"})
    assert deliver(cast.alpha, timestamp=now() - 120).status_code == 401
    assert deliver(cast.alpha, timestamp=now() - 30).status_code == 202


def disabled_connection() -> None:
    off = hooks_connection(slug="off")  # the right secret, but switched off
    with schema_context("alpha"):
        connector_services.connection_update(connection=off, changes={"is_enabled": False}, acting_user=None)


def _wrong_kind(schema: str) -> None:
    with schema_context(schema):  # a kind registered elsewhere; the row is enough to prove it is refused
        Connection.objects.create(name="ERP", slug="erp", kind="tryton", credentials_token="")


REFUSALS = {  # each makes the keyword arguments of deliver() at test time, so the clock is current
    "bad signature": lambda: dict(secret=OTHER_SECRET),
    "stale timestamp": lambda: dict(timestamp=now() - 310),
    "future timestamp": lambda: dict(timestamp=now() + 310),
    "no headers": lambda: dict(headers={}),
    "no signature": lambda: dict(headers={"X-Weft-Timestamp": str(now())}),
    "no timestamp": lambda: dict(headers={"X-Weft-Signature": sign(SECRET, str(now()), json.dumps(EVENT).encode())}),
    "timestamp not a number": lambda: dict(headers={"X-Weft-Timestamp": "now", "X-Weft-Signature": "sha256=00"}),
    "signature not hex": lambda: dict(headers={"X-Weft-Timestamp": str(now()), "X-Weft-Signature": "sha256=é"}),
    "unknown slug": lambda: dict(slug="nope"),
    "disabled connection": lambda: dict(slug="off"),
    "connection of another kind": lambda: dict(slug="erp"),
}


@pytest.mark.parametrize("case", REFUSALS)
def test_unauthenticated_requests_are_refused_and_store_nothing(cast, case):
    hooks_connection()
    disabled_connection()
    _wrong_kind("alpha")

    response = deliver(cast.alpha, **REFUSALS[case]())

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Weft-Signature")
    assert stored() == []


def test_probing_for_slugs_learns_nothing(cast):
    hooks_connection()
    disabled_connection()
    bad_signature = deliver(cast.alpha, secret=OTHER_SECRET)
    for slug in ["nope", "off"]:
        probe = deliver(cast.alpha, slug=slug, secret=OTHER_SECRET)
        assert (probe.status_code, probe.json()) == (bad_signature.status_code, bad_signature.json())
    # Even with a stale timestamp, an unknown slug gets the bad-signature answer: only a sender that
    # holds the secret is told its clock is off.
    stale = now() - 3600
    assert deliver(cast.alpha, slug="nope", timestamp=stale).json() == bad_signature.json()
    assert "clock" in deliver(cast.alpha, timestamp=stale).json()["detail"]


@pytest.mark.parametrize("body, message", [
    (b'{"id": "evt_1", "type": ', "not valid JSON"),
    (b"\xff\xfe{}", "UTF-8"),
    (b'["evt_1"]', "must be a JSON object"),
    (b'{"type": "timesheet.approved"}', '"id"'),
    (b'{"id": 42, "type": "timesheet.approved"}', '"id"'),
    (b'{"id": "' + b"x" * 256 + b'", "type": "t"}', '"id"'),
    (b'{"id": "evt_1"}', '"type"'),
    (b'{"id": "evt_1", "type": "t", "data": [1]}', '"data"'),
    (b'{"id": "evt_1", "type": "t", "data": {"hours": NaN}}', "not valid JSON"),
    (b'{"id": "evt_1", "type": "t", "data": {"hours": 1e400}}', "too large"),
    (b'{"id": "evt_1", "type": "t", "data": {"note": "a\\u0000b"}}', "NUL"),
    (b'{"id": "evt_1", "type": "t", "data": ' + b'{"a": ' * 100 + b"1" + b"}" * 101, "nested"),
    (b'{"id": "evt_1", "type": "t", "data": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested"),
])
def test_authentic_but_malformed_events_get_a_clear_400(cast, body, message):
    hooks_connection()
    response = deliver(cast.alpha, body)
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert stored() == []


@pytest.mark.parametrize("size", [1024 * 1024 + 1, 6 * 1024 * 1024])  # ours, then Django's request limit
def test_oversized_bodies_get_413(cast, size):
    hooks_connection()
    padding = "x" * (size - len(json.dumps({**EVENT, "pad": ""})))
    response = deliver(cast.alpha, {**EVENT, "pad": padding})
    assert response.status_code == 413
    assert stored() == []


def test_events_stay_in_the_tenant_whose_domain_received_them(cast):
    hooks_connection("alpha")
    hooks_connection("beta", secret=OTHER_SECRET)  # same slug, its own secret

    assert deliver(cast.alpha).status_code == 202
    assert deliver(cast.beta).status_code == 401  # alpha's secret means nothing on beta's domain
    assert deliver(cast.gamma).status_code == 401  # gamma has no such connection at all

    assert [e.event_id for e in stored("alpha")] == ["evt_1"]
    assert stored("beta") == [] and stored("gamma") == []


# --- processing --------------------------------------------------------------------------------
def test_a_handled_event_is_processed(cast, handlers, django_capture_on_commit_callbacks):
    seen = []

    @events.register_event_handler("timesheet.approved")
    def post_timesheet(event):
        seen.append((event.event_id, event.payload["data"]["timesheet"], event.connection.slug))

    hooks_connection()
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(cast.alpha).status_code == 202

    assert seen == [("evt_1", 8812, "hooks")]
    [event] = stored()
    assert event.status == Status.PROCESSED and event.processed_at is not None and event.error_message == ""


def test_an_unhandled_event_is_ignored_with_the_reason(cast, handlers, django_capture_on_commit_callbacks):
    hooks_connection()
    with django_capture_on_commit_callbacks(execute=True):
        deliver(cast.alpha, {"id": "evt_2", "type": "invoice.voided"})
    [event] = stored()
    assert event.status == Status.IGNORED
    assert event.error_message == "no flow handles invoice.voided events"


def test_a_failing_handler_fails_the_event_and_undoes_its_writes(cast, handlers, django_capture_on_commit_callbacks):
    @events.register_event_handler("timesheet.approved")
    def half_done(event):
        Connection.objects.filter(pk=event.connection_id).update(description="half written")
        raise RuntimeError("Harvest said no")

    connection = hooks_connection()
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver(cast.alpha).status_code == 202  # the sender is never told about our failures

    [event] = stored()
    assert (event.status, event.error_message) == (Status.FAILED, "Harvest said no")
    with schema_context("alpha"):
        assert Connection.objects.get(pk=connection.pk).description == ""


def test_failed_and_ignored_events_can_be_reprocessed(cast, handlers, django_capture_on_commit_callbacks):
    outcome = {"fail": True}

    @events.register_event_handler("timesheet.approved")
    def flaky(event):
        if outcome["fail"]:
            raise RuntimeError("target down")

    hooks_connection()
    with django_capture_on_commit_callbacks(execute=True):
        deliver(cast.alpha)
        deliver(cast.alpha, {"id": "evt_2", "type": "invoice.voided"})
    failed, ignored = stored()
    assert (failed.status, ignored.status) == (Status.FAILED, Status.IGNORED)

    outcome["fail"] = False
    events.register_event_handler("invoice.voided")(lambda event: None)
    with schema_context("alpha"), django_capture_on_commit_callbacks(execute=True):
        run_services.inbound_event_reprocess(event=failed, acting_user=None)
        run_services.inbound_event_reprocess(event=ignored, acting_user=None)

    assert [(e.status, e.error_message) for e in stored()] == [(Status.PROCESSED, ""), (Status.PROCESSED, "")]
    with schema_context("alpha"), pytest.raises(ConflictError, match="processed already"):
        run_services.inbound_event_reprocess(event=failed, acting_user=None)


def test_processing_twice_runs_the_handler_once(in_alpha, handlers):
    calls = []
    events.register_event_handler("timesheet.approved")(calls.append)
    event = InboundEvent.objects.create(connection=hooks_connection(), event_id="evt_1",
                                        event_type="timesheet.approved", payload=EVENT)

    assert run_services.inbound_event_process(event_id=event.pk).status == Status.PROCESSED
    assert run_services.inbound_event_process(event_id=event.pk) is None  # a duplicate task
    assert len(calls) == 1


def test_a_live_claim_is_respected_and_a_dead_workers_taken_over_at_once(in_alpha, handlers):
    """A worker holds the event's advisory lock on its own database session while it works; when it dies its
    session ends, the lock goes with it, and the re-delivered task takes the event over without waiting."""
    import psycopg
    from django.db import connection

    calls = []
    events.register_event_handler("timesheet.approved")(calls.append)
    event = InboundEvent.objects.create(connection=hooks_connection(), event_id="evt_1",
                                        event_type="timesheet.approved", payload=EVENT, processed_at=timezone.now())
    params = {k: v for k, v in connection.get_connection_params().items()
              if k in {"host", "port", "user", "password", "dbname"}}
    other_worker = psycopg.connect(**params, autocommit=True)
    other_worker.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [f"inbound-event:alpha:{event.pk}"])

    assert run_services.inbound_event_process(event_id=event.pk) is None  # another worker has it
    backend = other_worker.info.backend_pid
    other_worker.close()  # that worker died: its session, and the lock, end (the server needs a moment)
    with connection.cursor() as cursor:
        for _ in range(100):
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [backend])
            if not cursor.fetchone()[0]:
                break
            time.sleep(0.02)
    assert run_services.inbound_event_process(event_id=event.pk).status == Status.PROCESSED
    assert len(calls) == 1


def test_one_handler_per_event_type(handlers):
    events.register_event_handler("timesheet.approved")(print)
    with pytest.raises(ValueError, match="registered already"):
        events.register_event_handler("timesheet.approved")(repr)
