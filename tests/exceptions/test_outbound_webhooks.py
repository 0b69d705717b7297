"""Outbound webhooks, end to end against a real HTTP receiver on this machine: an endpoint subscribed over the
API gets the events it asked for, signed the Standard Webhooks way (verified here with the ``standardwebhooks``
library and the secret shown once); a failing receiver is retried on the published schedule with the same
``webhook-id``, every attempt recorded, until it answers or the schedule runs out; escalations and finished runs
go out the same way."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django_q.models import Schedule
from django_tenants.utils import schema_context
from standardwebhooks.webhooks import Webhook

from apps.exceptions import webhooks
from apps.exceptions.choices import Kind, Source
from apps.exceptions.escalation import escalation_tick
from apps.exceptions.models import DeliveryStatus, EscalationPolicy, WebhookDelivery, WebhookSubscription
from apps.exceptions.services import RecordAtRisk, exception_raise, exception_resolve
from apps.runs.models import Run
from apps.runs.signals import run_finished
from apps.tenants import apikeys
from apps.tenants.choices import Role
from tests.conftest import host, member

T0 = datetime(2026, 11, 5, 6, 0, tzinfo=ZoneInfo("UTC"))


class Receiver:
    """A real HTTP endpoint on 127.0.0.1: records each POST and answers the next status in ``answers``
    (then 200)."""

    def __init__(self, answers: list[int] | None = None):
        self.answers, self.received = list(answers or []), []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers.items()), body))
                self.send_response(receiver.answers.pop(0) if receiver.answers else 200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/weft"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(answers=None) -> Receiver:
        made.append(Receiver(answers))
        return made[-1]

    yield make
    for r in made:
        r.close()


@pytest.fixture
def subscribe(cast):
    """Subscribe over the API with a customer key; the loopback address is allowed as the admin would."""
    admin = member(Role.PARTNER_ADMIN, partner=cast.xpartner)
    token = apikeys.apikey_create(name="hooks", customer=cast.alpha, scopes=["configuration:write"],
                                  acting_user=admin).token

    def call(url: str, event_types: list[str]) -> tuple[WebhookSubscription, str]:
        answer = Client().post("/api/v1/webhook-subscriptions/", {"url": url, "event_types": event_types},
                               content_type="application/json", HTTP_HOST=host(cast.alpha),
                               HTTP_AUTHORIZATION=f"Bearer {token}")
        assert answer.status_code == 201, answer.content
        with schema_context("alpha"):
            subscription = WebhookSubscription.objects.get(pk=answer.json()["id"])
            WebhookSubscription.objects.filter(pk=subscription.pk).update(allow_private_network=True)
        return subscription, answer.json()["secret"]

    return call


def mismatch(project: str = "ACME-042", amount: str = "1500", now=T0):
    return exception_raise(kind=Kind.RECONCILIATION, source=Source.RECONCILIATION, scope=f"recon:{project}",
                           message=f"{project}: totals differ", now=now,
                           records=[RecordAtRisk(key=project, amount=Decimal(amount), currency="EUR")])


def verified(secret: str, received) -> dict:
    headers, body = received
    return Webhook(secret).verify(body, {k.lower(): v for k, v in headers.items()})


def test_an_opened_exception_reaches_the_subscribed_endpoint_signed_and_verified(
        cast, subscribe, receiver, django_capture_on_commit_callbacks):
    endpoint = receiver()
    subscription, secret = subscribe(endpoint.url, ["exception.opened", "exception.resolved"])
    assert secret.startswith("whsec_")
    listed = Client().get("/api/v1/webhook-subscriptions/", HTTP_HOST=host(cast.alpha))
    assert secret not in listed.content.decode()
    with schema_context("alpha"):
        with django_capture_on_commit_callbacks(execute=True):  # the queued task runs (sync cluster in tests)
            exception = mismatch(now=datetime.now(tz=ZoneInfo("UTC")))
        [received] = endpoint.received
        event = verified(secret, received)
        assert event["type"] == "exception.opened" and event["customer"] == "alpha"
        assert event["data"]["id"] == exception.pk and event["data"]["amount_at_risk"] == "1500.00"
        delivery = WebhookDelivery.objects.get(subscription=subscription)
        assert delivery.status == DeliveryStatus.DELIVERED and received[0]["webhook-id"] == delivery.message_id
        assert [(a.number, a.status_code) for a in delivery.attempt_rows.all()] == [(1, 200)]

        exception_resolve(exception=exception, acting_user=None, reason="fixed in the ERP")
        resolved = WebhookDelivery.objects.get(subscription=subscription, event_type="exception.resolved")
        webhooks.delivery_attempt(delivery_id=resolved.pk)
    assert verified(secret, endpoint.received[1])["data"]["status"] == "resolved"
    with pytest.raises(Exception, match="No matching signature"):
        Webhook("whsec_" + "A" * 44).verify(endpoint.received[1][1], endpoint.received[1][0])


def test_a_failing_receiver_is_retried_on_the_schedule_with_the_same_webhook_id(cast, subscribe, receiver):
    endpoint = receiver(answers=[500, 503])
    subscription, secret = subscribe(endpoint.url, ["exception.opened"])
    with schema_context("alpha"):
        mismatch()
        delivery = WebhookDelivery.objects.get(subscription=subscription)
        t0 = delivery.next_attempt_at  # due from when the event was published
        first = webhooks.delivery_attempt(delivery_id=delivery.pk, now=t0)
        assert first.status == DeliveryStatus.RETRYING and first.next_attempt_at == t0 + timedelta(seconds=5)
        assert Schedule.objects.filter(name__startswith=f"alpha:webhook-{delivery.pk}-").count() == 1
        assert webhooks.delivery_attempt(delivery_id=delivery.pk, now=t0 + timedelta(seconds=4)) is None  # not due
        second = webhooks.delivery_attempt(delivery_id=delivery.pk, now=t0 + timedelta(seconds=5))
        assert second.status == DeliveryStatus.RETRYING and second.next_attempt_at == t0 + timedelta(seconds=305)
        third = webhooks.delivery_attempt(delivery_id=delivery.pk, now=t0 + timedelta(seconds=305))
        assert third.status == DeliveryStatus.DELIVERED and third.attempts == 3
        attempts = [(a.number, a.status_code, bool(a.error)) for a in third.attempt_rows.all()]
    assert attempts == [(1, 500, True), (2, 503, True), (3, 200, False)]
    ids = {headers["webhook-id"] for headers, _ in endpoint.received}
    stamps = [headers["webhook-timestamp"] for headers, _ in endpoint.received]
    assert ids == {delivery.message_id} and len(set(stamps)) == 3
    verified(secret, endpoint.received[0])  # signed when it was sent: fresh
    for headers, body in endpoint.received:  # each attempt signed for its own moment
        signed_at = datetime.fromtimestamp(int(headers["webhook-timestamp"]), tz=ZoneInfo("UTC"))
        assert Webhook(secret).sign(headers["webhook-id"], signed_at, body) == headers["webhook-signature"]


def test_a_receiver_that_never_answers_well_is_given_up_after_the_whole_schedule(cast, subscribe, receiver):
    endpoint = receiver(answers=[500] * 10)
    subscription, _ = subscribe(endpoint.url, ["exception.opened"])
    with schema_context("alpha"):
        mismatch()
        delivery = WebhookDelivery.objects.get(subscription=subscription)
        now, waits = delivery.next_attempt_at, []
        while (delivery := webhooks.delivery_attempt(delivery_id=delivery.pk, now=now)).next_attempt_at:
            waits.append(int((delivery.next_attempt_at - now).total_seconds()))
            now = delivery.next_attempt_at
        assert delivery.status == DeliveryStatus.GAVE_UP and delivery.attempts == webhooks.MAX_ATTEMPTS == 7
    assert waits == [5, 300, 1800, 7200, 18000, 36000] == list(webhooks.RETRY_SCHEDULE)
    assert len(endpoint.received) == 7


def test_escalations_and_failed_runs_go_out_to_their_subscribers(cast, subscribe, receiver):
    endpoint = receiver()
    subscription, secret = subscribe(endpoint.url, ["exception.escalated", "run.failed"])
    with schema_context("alpha"):
        EscalationPolicy.objects.create(name="Money", rules=[{"name": "big", "min_amount": "1000",
                                                              "raise_to": "high"}])
        exception = mismatch()
        escalation_tick(now=T0)
        run = Run.objects.create(connection_id=exception.connection_id or _connection(), object_name="x",
                                 object_type="time_entry", status="failed", error_message="Login refused.")
        run_finished.send(sender=Run, run=run)
        for delivery in WebhookDelivery.objects.filter(subscription=subscription).order_by("pk"):
            webhooks.delivery_attempt(delivery_id=delivery.pk)
    events = [json.loads(body) for _, body in endpoint.received]
    assert [e["type"] for e in events] == ["exception.escalated", "run.failed"]
    assert events[0]["data"]["rules"] == ["big"] and events[0]["data"]["severity"] == "high"
    assert events[1]["data"]["error_message"] == "Login refused."
    assert all(verified(secret, r) for r in endpoint.received)


def _connection() -> int:
    from apps.connectors.services import connection_create

    return connection_create(name="Src", slug="src", kind="csv", acting_user=None).pk


def test_the_document_describes_inbound_and_outbound_webhooks(cast):
    document = Client().get("/api/v1/schema/", HTTP_HOST=host(cast.alpha), HTTP_ACCEPT="application/json").json()
    hooks = document["webhooks"]
    assert {"inbound.record.changed", "inbound.record.deleted", *webhooks.EVENT_TYPES} == set(hooks)
    inbound = hooks["inbound.record.changed"]["post"]
    assert {p["name"] for p in inbound["parameters"]} >= {"X-Weft-Signature", "webhook-id", "webhook-signature"}
    outbound = hooks["exception.escalated"]["post"]
    assert "5 s, 5 min, 30 min, 2 h, 5 h, 10 h" in outbound["description"]
    assert outbound["requestBody"]["content"]["application/json"]["examples"]["event"]["value"]["type"] == \
        "exception.escalated"


def test_the_admin_pauses_a_subscription_or_allows_a_private_address_with_history(cast, subscribe, client):
    subscription, _ = subscribe("https://hooks.partner.example/weft", ["run.failed"])
    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner, username="eng")
    client.force_login(engineer)
    url = f"/admin/exceptions/webhooksubscription/{subscription.pk}/change/"
    page = client.get(url, HTTP_HOST=host(cast.alpha))
    assert page.status_code == 200 and "secret" not in page.content.decode().lower()
    saved = client.post(url, {"url": subscription.url, "event_types": '["run.failed"]', "description": "",
                              "allow_private_network": "on"}, HTTP_HOST=host(cast.alpha))
    assert saved.status_code == 302, saved.content[:2000]
    with schema_context("alpha"):
        subscription.refresh_from_db()
        assert subscription.is_active is False and subscription.allow_private_network is True
        last = subscription.history.order_by("-history_id").first()
        assert last.history_user_id == engineer.pk and last.history_change_reason == "Webhook subscription edited"
    assert client.get("/admin/exceptions/webhooksubscription/add/", HTTP_HOST=host(cast.alpha)).status_code == 403
