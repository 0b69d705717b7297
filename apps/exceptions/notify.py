"""Notifications: partner-branded digest emails and outbound webhook posts, stored first and sent by the tick.

A notification is a row before it is a send, so a failing channel (SMTP down, a webhook answering
500) never loses the exception or blocks anything: the row records the error and the tick tries it
again later with back-off, up to ``MAX_ATTEMPTS``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from email.utils import formataddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import connection as db
from django.template.loader import render_to_string

from apps.common.http import OutboundClient, RetryPolicy
from apps.exceptions.at_risk import exceptions_at_risk
from apps.exceptions.choices import Channel, NotificationStatus
from apps.exceptions.models import IntegrationException, Notification
from apps.exceptions.policies import quiet_until
from apps.exceptions.services import current_customer
from apps.tenants.branding import brand_for_partner
from apps.tenants.selectors import primary_domain

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=5)  # a claimed send that never settled (a worker died) is tried again after this
webhook_transport = None  # tests put an httpx transport here; None sends for real


def digests_queue(*, policy, customer, fired: list, now: datetime) -> list[Notification]:
    """One email per recipient and one webhook post for everything that fired in this tick."""
    send_after = quiet_until(policy, now) or now
    exceptions = [f.exception for f in fired]
    by_recipient: dict[str, list[IntegrationException]] = {a.lower(): list(exceptions) for a in policy.email_recipients}
    if policy.notify_owner:
        for exception in exceptions:
            if exception.owner_id and exception.owner.email:
                listed = by_recipient.setdefault(exception.owner.email.lower(), [])
                if exception not in listed:
                    listed.append(exception)
    created = [_email(customer, address, items, send_after) for address, items in by_recipient.items() if items]
    if policy.webhook_url:
        created.append(_webhook(customer, policy, exceptions, send_after))
    return created


def _context(customer, exceptions: list[IntegrationException]) -> dict:
    brand = brand_for_partner(customer.partner if customer else None)
    base = console_url(customer)
    # Over the records, not the exceptions: an entry in two exceptions (a failed post and the gap it leaves)
    # is waiting and at risk once, as on the portal.
    at_risk = exceptions_at_risk(exceptions)
    return {
        "brand": brand, "customer": customer, "console_url": f"{base}/admin/exceptions/integrationexception/",
        "exceptions": [{"exception": e, "url": f"{base}/admin/exceptions/integrationexception/{e.pk}/change/"}
                       for e in exceptions],
        "count": len(exceptions), "open_records": at_risk.records,
        "hours": at_risk.hours,
        "amounts": [(currency, f"{amount:,.2f}") for currency, amount in at_risk.amounts.items()],
    }


def console_url(customer) -> str:
    domain = primary_domain(customer) if customer else None
    port = "" if settings.WEFT_SITE_PORT in (80, 443) else f":{settings.WEFT_SITE_PORT}"
    return f"{settings.WEFT_SITE_SCHEME}://{domain or 'localhost'}{port}"


def _email(customer, address: str, exceptions: list[IntegrationException], send_after: datetime) -> Notification:
    context = _context(customer, exceptions)
    notification = Notification.objects.create(
        channel=Channel.EMAIL, recipient=address, send_after=send_after,
        subject=" ".join(render_to_string("emails/exceptions_digest/subject.txt", context).split())[:300],
        body_text=render_to_string("emails/exceptions_digest/body.txt", context),
        body_html=render_to_string("emails/exceptions_digest/body.html", context),
        exception_ids=[e.pk for e in exceptions])
    return notification


def _webhook(customer, policy, exceptions: list[IntegrationException], send_after: datetime) -> Notification:
    context = _context(customer, exceptions)
    payload = {
        "type": "exceptions.escalated",
        "customer": {"slug": customer.slug, "name": customer.name} if customer else None,
        "partner": context["brand"].display_name, "count": len(exceptions),
        "open_records": context["open_records"], "hours_at_risk": str(context["hours"]),
        "amounts_at_risk": {c: a.replace(",", "") for c, a in context["amounts"]},
        "link": context["console_url"],
        "exceptions": [{"id": e.pk, "kind": e.kind, "severity": e.get_severity_display().lower(), "title": e.title,
                        "status": e.status, "flow": e.flow.slug if e.flow_id else None,
                        "occurrences": e.occurrences, "open_records": e.open_records,
                        "hours_at_risk": str(e.hours_at_risk), "amount_at_risk": str(e.amount_at_risk),
                        "currency": e.currency, "link": item["url"]}
                       for e, item in zip(exceptions, context["exceptions"], strict=True)],
    }
    notification = Notification.objects.create(
        channel=Channel.WEBHOOK, recipient=policy.webhook_url, send_after=send_after, payload=payload,
        subject=f"{len(exceptions)} exception(s) escalated", allow_private_network=policy.webhook_allow_private_network,
        exception_ids=[e.pk for e in exceptions])
    return notification


# --- sending -----------------------------------------------------------------------------------------
def notifications_deliver(*, now: datetime) -> dict[str, int]:
    """Send what is due; a failure is recorded on its row and retried later. Never raises."""
    due = Notification.objects.filter(status__in=[NotificationStatus.PENDING, NotificationStatus.FAILED],
                                      send_after__lte=now).order_by("send_after")
    counts = {"sent": 0, "failed": 0}
    for notification in due[:200]:
        if not _claim(notification, now):
            continue  # another worker has it
        try:
            _send(notification)
        except Exception as error:  # any channel failure is recorded, never raised into the tick
            _failed(notification, error, now)
            counts["failed"] += 1
        else:
            Notification.objects.filter(pk=notification.pk).update(status=NotificationStatus.SENT, sent_at=now,
                                                                   attempts=notification.attempts + 1, last_error="")
            counts["sent"] += 1
    return counts


def _claim(notification: Notification, now: datetime) -> bool:
    # Conditional UPDATE: only one worker moves send_after forward, so a digest is not sent twice.
    return Notification.objects.filter(pk=notification.pk, status=notification.status,
                                       send_after=notification.send_after).update(send_after=now + LEASE) == 1


def _failed(notification: Notification, error: Exception, now: datetime) -> None:
    attempts = notification.attempts + 1
    gave_up = attempts >= MAX_ATTEMPTS
    message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
    logger.warning("notification %s to %s failed (attempt %d): %s", notification.pk, notification.recipient,
                   attempts, message)
    Notification.objects.filter(pk=notification.pk).update(
        status=NotificationStatus.GAVE_UP if gave_up else NotificationStatus.FAILED, attempts=attempts,
        last_error=message[:2000], send_after=now + timedelta(minutes=min(2 ** attempts, 240)))


def _send(notification: Notification) -> None:
    if notification.channel == Channel.EMAIL:
        _send_email(notification)
    else:
        _send_webhook(notification)


def _send_email(notification: Notification) -> None:
    customer = current_customer()
    brand = brand_for_partner(customer.partner if customer else None)
    message = EmailMultiAlternatives(
        subject=notification.subject, body=notification.body_text, to=[notification.recipient],
        from_email=formataddr((brand.email_sender_name, settings.DEFAULT_FROM_EMAIL)), reply_to=[brand.support_email],
        headers={"X-Weft-Notification": f"{db.schema_name}-{notification.pk}"})
    message.attach_alternative(notification.body_html, "text/html")
    message.send(fail_silently=False)


def _send_webhook(notification: Notification) -> None:
    client = OutboundClient(base_url=notification.recipient, name="Escalation webhook", timeout=10.0,
                            retry=RetryPolicy(max_attempts=2, max_sleep=5.0), transport=webhook_transport,
                            allow_private_network=notification.allow_private_network)
    try:
        client.request("POST", notification.recipient, json_body=notification.payload,
                       headers={"Idempotency-Key": f"weft-{db.schema_name}-notification-{notification.pk}"})
    finally:
        client.close()
