"""Outbound webhooks: events POSTed to subscribed endpoints, signed the Standard Webhooks way, with retries.

A subscription names an endpoint URL and the event types it wants (``EVENT_TYPES``); its secret is made here,
shown once, and kept sealed. ``event_publish`` stores one ``WebhookDelivery`` per matching subscription (a
message: one ``webhook-id`` for every attempt, so receivers can drop repeats) and queues its first attempt
after commit. ``delivery_attempt`` claims the delivery, POSTs it signed with the ``standardwebhooks`` library,
records the attempt, and on failure waits ``RETRY_SCHEDULE[n]`` before the next one (a django-q2 schedule at
that time; the exceptions tick picks up any that a stopped cluster missed) until the schedule runs out.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import connection as db
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_q.models import Schedule
from standardwebhooks.webhooks import Webhook

from apps.common.errors import ExternalSystemError
from apps.common.history import save_attributed
from apps.common.http import OutboundClient, RetryPolicy
from apps.connectors.crypto import seal, unseal
from apps.exceptions.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookSubscription
from apps.tenants import access
from apps.tenants.tasks import TENANT_TASK, tenant_task_enqueue

logger = logging.getLogger(__name__)

EVENT_TYPES = {
    "exception.opened": "An exception was opened (a new failure, or one that came back)",
    "exception.escalated": "An escalation policy's rule fired for an exception",
    "exception.resolved": "An exception was resolved (by a person, or because its records now pass)",
    "run.failed": "A flow's run failed",
    "run.finished": "A flow's run finished (succeeded, partial or failed)",
}
# Seconds to wait after attempt n (1-based) failed before attempt n + 1; after the last, the delivery is given up.
RETRY_SCHEDULE = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600)
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1
TIMEOUT_SECONDS = 15.0
LEASE = timedelta(minutes=2)  # a claimed attempt that never settled (the worker died) may be tried again after this
TASK = "apps.exceptions.tasks.webhook_deliver"
transport = None  # tests may put an httpx transport here; None sends for real

_EXCEPTION = {"id": 42, "kind": "validation", "severity": "high", "status": "open", "title": "Hours over the limit",
              "flow": "time-to-journal", "open_records": 3, "amount_at_risk": "1250.00", "currency": "EUR",
              "hours_at_risk": "12.5"}
_RUN = {"id": 981, "flow": "time-to-journal", "status": "failed", "trigger": "schedule",
        "counts": {"created": 120, "failed": 3}, "error_message": "Tryton refused the login.",
        "started_at": "2026-12-05T06:00:00Z", "finished_at": "2026-12-05T06:00:09Z"}
EVENT_EXAMPLES = {name: {"type": name, "timestamp": "2026-12-05T06:00:10Z", "customer": "acme",
                         "data": _RUN if name.startswith("run.") else
                         {**_EXCEPTION, **({"rules": ["Over 1,000 at risk for an hour"]}
                                           if name == "exception.escalated" else {})}}
                  for name in EVENT_TYPES}


# --- subscriptions ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IssuedSubscription:
    """A new subscription and its signing secret: the only time the secret is handed out."""

    subscription: WebhookSubscription
    secret: str


def _check_event_types(event_types) -> list[str]:
    if not isinstance(event_types, list) or not event_types or not all(isinstance(e, str) for e in event_types):
        raise ValidationError({"event_types": "Give at least one event type."})
    unknown = sorted(set(event_types) - set(EVENT_TYPES))
    if unknown:
        raise ValidationError({"event_types": f"Unknown event types: {', '.join(unknown)}."})
    return [e for e in EVENT_TYPES if e in event_types]


@transaction.atomic
def subscription_create(*, url: str, event_types: list[str], acting_user, description: str = "",
                        is_active: bool = True, allow_private_network: bool = False) -> IssuedSubscription:
    """Subscribe ``url`` to ``event_types``; the returned secret (``whsec_...``) is shown once."""
    access.check(acting_user, "configuration.change")
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    subscription = WebhookSubscription(
        url=url, event_types=_check_event_types(event_types), description=description, is_active=is_active,
        allow_private_network=allow_private_network, secret_sealed=seal({"secret": secret}),
        created_by=acting_user if getattr(acting_user, "pk", None) else None)
    save_attributed(subscription, acting_user=acting_user, reason="Webhook subscription created")
    return IssuedSubscription(subscription, secret)


SUBSCRIPTION_FIELDS = ("url", "event_types", "description", "is_active", "allow_private_network")


@transaction.atomic
def subscription_update(*, subscription: WebhookSubscription, acting_user, **values) -> WebhookSubscription:
    access.check(acting_user, "configuration.change")
    subscription = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
    if "event_types" in values:
        values["event_types"] = _check_event_types(values["event_types"])
    for name, value in values.items():
        if name in SUBSCRIPTION_FIELDS:
            setattr(subscription, name, value)
    return save_attributed(subscription, acting_user=acting_user, reason="Webhook subscription edited")


@transaction.atomic
def subscription_delete(*, subscription: WebhookSubscription, acting_user) -> None:
    """Remove the subscription and its deliveries (history keeps the subscription)."""
    access.check(acting_user, "configuration.change")
    subscription._history_user, subscription._change_reason = acting_user, "Webhook subscription deleted"
    subscription.delete()


# --- events ----------------------------------------------------------------------------------------------------
def event_publish(*, event_type: str, data: dict, now: datetime | None = None) -> list[WebhookDelivery]:
    """One delivery per active subscription to ``event_type``, each queued after commit. Cheap when none."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"Unknown event type {event_type!r}")
    subscriptions = [s for s in WebhookSubscription.objects.filter(is_active=True) if event_type in s.event_types]
    if not subscriptions:
        return []
    now = now or timezone.now()
    customer = access.current_customer()
    payload = {"type": event_type, "timestamp": now.isoformat().replace("+00:00", "Z"),
               "customer": customer.slug if customer else db.schema_name, "data": data}
    deliveries = [WebhookDelivery.objects.create(subscription=s, message_id=f"msg_{uuid.uuid4().hex}",
                                                 event_type=event_type, payload=payload, next_attempt_at=now)
                  for s in subscriptions]
    for delivery in deliveries:
        tenant_task_enqueue(db.schema_name, TASK, delivery.pk)
    return deliveries


def exception_event(exception, **extra) -> dict:
    """An exception as events describe it."""
    return {"id": exception.pk, "kind": exception.kind, "severity": exception.get_severity_display().lower(),
            "status": exception.status, "title": exception.title, "flow": exception.flow.slug if exception.flow_id
            else None, "open_records": exception.open_records, "amount_at_risk": str(exception.amount_at_risk),
            "currency": exception.currency, "hours_at_risk": str(exception.hours_at_risk), **extra}


def run_event(run) -> dict:
    return {"id": run.pk, "flow": run.flow.slug if run.flow_id else None, "status": run.status,
            "trigger": run.trigger, "counts": {k: v for k, v in (run.counts or {}).items() if v},
            "error_message": run.error_message, "started_at": _iso(run.started_at),
            "finished_at": _iso(run.finished_at)}


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


# --- delivering --------------------------------------------------------------------------------------------------
def delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> WebhookDelivery | None:
    """POST the delivery once if it is due; record the attempt; on failure plan the next one or give up."""
    now = now or timezone.now()
    if not _claim(delivery_id, now):
        return None  # delivered, given up, not due yet, or another worker has it
    delivery = WebhookDelivery.objects.select_related("subscription").get(pk=delivery_id)
    number = delivery.attempts + 1
    status_code, error, body, took = _post(delivery, now)
    WebhookAttempt.objects.create(delivery=delivery, number=number, attempted_at=now, status_code=status_code,
                                  error=error[:2000], response_body=body[:500], duration_ms=took)
    if not error:
        changes = {"status": DeliveryStatus.DELIVERED, "delivered_at": now, "next_attempt_at": None, "last_error": ""}
    elif number >= MAX_ATTEMPTS:
        changes = {"status": DeliveryStatus.GAVE_UP, "next_attempt_at": None, "last_error": error[:2000]}
    else:
        changes = {"status": DeliveryStatus.RETRYING, "last_error": error[:2000],
                   "next_attempt_at": now + timedelta(seconds=RETRY_SCHEDULE[number - 1])}
    # Operational fields, no history: one UPDATE.
    WebhookDelivery.objects.filter(pk=delivery_id).update(attempts=number, **changes)
    if changes["status"] == DeliveryStatus.RETRYING:
        _schedule_retry(delivery_id, changes["next_attempt_at"])
    elif changes["status"] == DeliveryStatus.GAVE_UP:
        logger.warning("webhook delivery %s to %s given up after %d attempts: %s", delivery.message_id,
                       delivery.subscription.url, number, error)
    delivery.refresh_from_db()
    return delivery


def _claim(delivery_id: int, now: datetime) -> bool:
    # Conditional UPDATE: of two workers (a retry schedule and the tick's sweep) only one sends.
    due = Q(status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING], next_attempt_at__lte=now)
    return WebhookDelivery.objects.filter(due, pk=delivery_id).update(next_attempt_at=now + LEASE) == 1


def _post(delivery: WebhookDelivery, now: datetime) -> tuple[int | None, str, str, int]:
    """(status code, error or "", start of the body, milliseconds)."""
    subscription = delivery.subscription
    body = json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()
    signature = Webhook(unseal(subscription.secret_sealed)["secret"]).sign(
        msg_id=delivery.message_id, timestamp=now, data=body)
    headers = {"Content-Type": "application/json", "User-Agent": "Weft-Webhooks/1", "webhook-id": delivery.message_id,
               "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature}
    client = OutboundClient(base_url=subscription.url, name="Webhook", timeout=TIMEOUT_SECONDS,
                            retry=RetryPolicy(max_attempts=1), transport=transport,
                            allow_private_network=subscription.allow_private_network,
                            max_response_bytes=64 * 1024)
    started = time.monotonic()
    try:
        response = client.request("POST", subscription.url, content=body, headers=headers)
    except ExternalSystemError as failure:
        return failure.status, failure.message, "", _ms(started)
    finally:
        client.close()
    text = response.content.decode("utf-8", "replace")
    if not 200 <= response.status_code < 300:
        return response.status_code, f"Answered {response.status_code} (2xx expected).", text, _ms(started)
    return response.status_code, "", text, _ms(started)


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _schedule_retry(delivery_id: int, when: datetime) -> None:
    """A one-off django-q2 schedule for the next attempt (removed by django-q2 once it has run)."""
    Schedule.objects.create(name=f"{db.schema_name}:webhook-{delivery_id}-{int(when.timestamp())}"[:100],
                            func=TENANT_TASK, args=repr((db.schema_name, TASK, delivery_id))[1:-1],
                            schedule_type=Schedule.ONCE, repeats=-1, next_run=when)


def deliveries_due(*, now: datetime) -> int:
    """The tick's sweep: attempt deliveries whose time has come and whose task or schedule was lost."""
    overdue = WebhookDelivery.objects.filter(status__in=[DeliveryStatus.PENDING, DeliveryStatus.RETRYING],
                                             next_attempt_at__lte=now - timedelta(minutes=1))
    done = 0
    for delivery_id in overdue.order_by("next_attempt_at").values_list("pk", flat=True)[:100]:
        done += delivery_attempt(delivery_id=delivery_id, now=now) is not None
    return done
