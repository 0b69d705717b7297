"""Integration exceptions: work items made from failed ledger items, failed runs, webhook events and monitors.

One ``IntegrationException`` per fingerprint (the same failure grouped, with a growing count); its
``ExceptionRecord`` rows are the records involved (one per record, open while it still fails), and
``ExceptionItem`` links every ledger item that was counted. Triage changes are saved with history
(django-simple-history, naming the person); counters and totals are operational and written with
``QuerySet.update()`` (no history rows).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.db import models

from apps.common.history import History
from apps.common.models import TimeStampedModel
from apps.common.objects import ObjectType
from apps.connectors.models import Connection
from apps.exceptions.choices import (
    ACTIVE_STATUSES,
    Channel,
    Kind,
    NotificationStatus,
    Severity,
    Source,
    Status,
)
from apps.exceptions.policies import validate_email_recipients, validate_rules, validate_timezone
from apps.runs.models import Flow, Run, RunItem

# Operational fields: written by ingestion with QuerySet.update(), kept out of history.
COUNTER_FIELDS = [
    "message", "occurrences", "last_seen", "open_records", "records_total", "hours_at_risk", "amount_at_risk",
    "currency", "amounts", "customers", "projects", "people", "period_start", "period_end", "updated_at",
]


class IntegrationException(TimeStampedModel):
    """One failure, grouped by fingerprint, as a work item: who owns it, how bad it is, what is at risk."""

    fingerprint = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=24, choices=Kind.choices)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.LEDGER)
    title = models.CharField(max_length=300, help_text="The failure with what varies per record taken out.")
    message = models.TextField(blank=True, help_text="The latest full message, as the system said it.")
    error_field = models.CharField(max_length=120, blank=True)
    # No index of its own: the (flow, ...) index starts with it.
    flow = models.ForeignKey(Flow, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False)
    connection = models.ForeignKey(Connection, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    object_type = models.CharField(max_length=24, choices=ObjectType.choices, blank=True)
    severity = models.PositiveSmallIntegerField(choices=Severity.choices, default=Severity.MEDIUM)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    status_reason = models.TextField(blank=True, help_text="Why it was ignored or resolved.")
    # People live in the public schema: no constraint into it from a customer's (each would hang two triggers on
    # the shared user table), and the public schema's deletion never reaches in here (services.user_delete does).
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    opened_at = models.DateTimeField(help_text="Start of the current cycle (first seen, or reopened).")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    cycle = models.PositiveIntegerField(default=1, help_text="Goes up each time it reopens.")
    occurrences = models.PositiveIntegerField(default=0)
    open_records = models.PositiveIntegerField(default=0)
    records_total = models.PositiveIntegerField(default=0)
    hours_at_risk = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("0"))
    amount_at_risk = models.DecimalField(max_digits=16, decimal_places=2, default=Decimal("0"))
    currency = models.CharField(max_length=3, blank=True, help_text="Of amount_at_risk (the largest if mixed).")
    amounts = models.JSONField(default=dict, blank=True, help_text="Open amounts by currency.")
    customers = models.JSONField(default=list, blank=True)
    projects = models.JSONField(default=list, blank=True)
    people = models.JSONField(default=list, blank=True)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    last_replay_at = models.DateTimeField(null=True, blank=True)
    last_replay_runs = models.JSONField(default=list, blank=True)
    history = History(excluded_fields=COUNTER_FIELDS)

    class Meta:
        ordering = ["-severity", "-last_seen"]
        indexes = [
            models.Index(fields=["status", "-severity", "-last_seen"]),
            models.Index(fields=["kind", "status"]),
            models.Index(fields=["flow", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.title[:80]}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def age(self, now: datetime) -> timedelta:
        """How long the current cycle has been open."""
        return now - self.opened_at


class ExceptionRecord(models.Model):
    """One record involved in an exception: open while it still fails, closed when a later item succeeds."""

    # No index of its own: one_row_per_record starts with it.
    exception = models.ForeignKey(IntegrationException, on_delete=models.CASCADE, related_name="records",
                                  db_index=False)
    record_key = models.CharField(max_length=255, help_text="Which record, within the flow (or connection).")
    object_type = models.CharField(max_length=24, blank=True)
    external_id = models.CharField(max_length=255, blank=True)
    canonical_id = models.BigIntegerField(null=True, blank=True)
    last_item = models.ForeignKey(RunItem, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    is_open = models.BooleanField(default=True)
    occurrences = models.PositiveIntegerField(default=1)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    cleared_at = models.DateTimeField(null=True, blank=True, help_text="When it stopped counting as failing.")
    cleared_by = models.CharField(max_length=16, blank=True, help_text=(
        "success (a later item succeeded), moved (it fails for another reason now), person (resolved by hand), "
        "monitor (the condition cleared)."))
    hours = models.DecimalField(max_digits=9, decimal_places=2, null=True, blank=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    context = models.JSONField(default=dict, blank=True, help_text="customer, project, person, date as labels.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["exception", "record_key"], name="one_row_per_record")]
        indexes = [models.Index(fields=["record_key", "is_open"])]

    def __str__(self) -> str:
        return f"{self.record_key} ({'open' if self.is_open else 'cleared'})"


class ExceptionItem(models.Model):
    """A ledger item counted in an exception (each item counts once, however often it is ingested)."""

    # No index of its own: one_link_per_item starts with it.
    exception = models.ForeignKey(IntegrationException, on_delete=models.CASCADE, related_name="items", db_index=False)
    record = models.ForeignKey(ExceptionRecord, on_delete=models.CASCADE, related_name="items")
    run_item = models.ForeignKey(RunItem, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["exception", "run_item"], name="one_link_per_item")]

    def __str__(self) -> str:
        return f"item {self.run_item_id} in exception {self.exception_id}"


class ExceptionComment(models.Model):
    """A note on an exception; separate rows, so two people commenting at once never overwrite each other."""

    exception = models.ForeignKey(IntegrationException, on_delete=models.CASCADE, related_name="comments")
    # Who wrote or edited what is shown, never searched by: no index (a user's deletion scans these small tables).
    # No constraint into the public schema either (see ``IntegrationException.owner``).
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+", db_index=False,
                               on_delete=models.DO_NOTHING, db_constraint=False)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.author or 'system'}: {self.body[:60]}"


class PayloadEdit(models.Model):
    """An edited source payload of a failed inbound item, with the original kept (the ledger item is changed)."""

    exception = models.ForeignKey(IntegrationException, on_delete=models.CASCADE, related_name="payload_edits")
    record = models.ForeignKey(ExceptionRecord, on_delete=models.CASCADE, related_name="payload_edits")
    run_item = models.ForeignKey(RunItem, on_delete=models.CASCADE, related_name="+")
    before = models.JSONField(null=True)
    after = models.JSONField()
    edited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+",
                                  db_index=False,  # shown, never searched by
                                  on_delete=models.DO_NOTHING, db_constraint=False)  # as IntegrationException.owner
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"payload of item {self.run_item_id} edited by {self.edited_by or 'system'}"


class RunIngest(models.Model):
    """Marks a finished run as turned into exceptions, so the signal and the sweep never count it twice."""

    run = models.OneToOneField(Run, on_delete=models.CASCADE, related_name="+")
    ingested_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"run {self.run_id} ingested"


class PolicyFields(models.Model):
    """An escalation policy: rules (JSON, checked by ``apps.exceptions.policies.parse_rules``), channels,
    quiet hours. Customers have their own (``EscalationPolicy``); partners set defaults for customers that
    have none (``apps.exceptions.defaults.PartnerEscalationPolicy``)."""

    name = models.CharField(max_length=120)
    is_active = models.BooleanField(default=True)
    rules = models.JSONField(default=list, blank=True, validators=[validate_rules], help_text=(
        'A list of rules: {"name": "...", "min_age_minutes": 60, "min_severity": "medium", "kinds": ["auth"], '
        '"min_amount": "1000", "min_hours": "8", "raise_to": "high", "assign_to": "username", "notify": true}.'))
    email_recipients = models.JSONField(default=list, blank=True, validators=[validate_email_recipients],
                                        help_text="Email addresses for digests.")
    notify_owner = models.BooleanField(default=True, help_text="Also mail the exception's owner.")
    webhook_url = models.URLField(blank=True, help_text="POSTed a JSON digest; blank: no webhook.")
    webhook_allow_private_network = models.BooleanField(default=False)
    quiet_start = models.TimeField(null=True, blank=True, help_text="No notifications from (local time).")
    quiet_end = models.TimeField(null=True, blank=True, help_text="…until (local time).")
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone],
                                help_text="IANA name, for quiet hours.")

    class Meta:
        abstract = True

    def clean(self) -> None:
        # Two fields that only make sense together; the rules, addresses and time zone are checked by their fields.
        if (self.quiet_start is None) != (self.quiet_end is None):
            raise ValidationError("Quiet hours need both a start and an end.")


class EscalationPolicy(PolicyFields, TimeStampedModel):
    """The customer's own escalation policy; the first active one applies (else the partner's default)."""

    history = History()

    class Meta:
        verbose_name_plural = "escalation policies"

    def __str__(self) -> str:
        return self.name


class EscalationMark(models.Model):
    """A rule fired for an exception in a cycle: the same rule does not fire (or notify) again until it reopens."""

    # No index of its own: one_mark_per_cycle starts with it.
    exception = models.ForeignKey(IntegrationException, on_delete=models.CASCADE, related_name="marks", db_index=False)
    rule_key = models.CharField(max_length=200)
    cycle = models.PositiveIntegerField()
    fired_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["exception", "rule_key", "cycle"], name="one_mark_per_cycle")]

    def __str__(self) -> str:
        return f"{self.rule_key} fired for {self.exception_id} (cycle {self.cycle})"


class Notification(TimeStampedModel):
    """One digest to one recipient (an email address or a webhook URL); failed sends are retried by the tick."""

    channel = models.CharField(max_length=16, choices=Channel.choices)
    recipient = models.CharField(max_length=500)
    subject = models.CharField(max_length=300, blank=True)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True)
    payload = models.JSONField(null=True, blank=True, help_text="Webhook body.")
    # The exceptions a digest named, as they were when it went out: shown in the admin, never joined, so ids
    # rather than a link table of its own in every customer (issue 20).
    exception_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    status = models.CharField(max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    send_after = models.DateTimeField(help_text="Held until then (quiet hours, retry back-off).")
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    allow_private_network = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "send_after"])]

    def __str__(self) -> str:
        return f"{self.channel} to {self.recipient}: {self.status}"


class WebhookSubscription(TimeStampedModel):
    """An endpoint a partner or the customer's own system subscribed to events (``apps.exceptions.webhooks``).
    Weft signs every POST with ``secret`` the Standard Webhooks way; the secret is shown once, when made, and
    kept sealed (``apps.connectors.crypto``), never in history."""

    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list, help_text="Event types to send (see docs/api.md).")
    secret_sealed = models.TextField(editable=False)
    is_active = models.BooleanField(default=True)
    allow_private_network = models.BooleanField(default=False, help_text="Allow an endpoint on a private address.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+",
                                   db_index=False,  # shown, never searched by
                                   on_delete=models.DO_NOTHING, db_constraint=False)  # as IntegrationException.owner
    history = History(excluded_fields=["secret_sealed"])

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.url} ({', '.join(self.event_types)})"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    RETRYING = "retrying", "Failed (will retry)"
    GAVE_UP = "gave_up", "Gave up"


class WebhookDelivery(models.Model):
    """One event to one subscription: a message with one ``message_id`` (the ``webhook-id`` of every attempt).
    Status, attempts and the next attempt's time are operational (``QuerySet.update``, no history)."""

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    message_id = models.CharField(max_length=64, unique=True)
    event_type = models.CharField(max_length=64)
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-pk"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"{self.event_type} {self.message_id} to {self.subscription_id}: {self.status}"


class WebhookAttempt(models.Model):
    """One POST of a delivery: when, what came back (status, the start of the body) or what went wrong."""

    # No index of its own: one_attempt_number starts with it.
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_rows",
                                 db_index=False)
    number = models.PositiveIntegerField()
    attempted_at = models.DateTimeField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    response_body = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [models.UniqueConstraint(fields=["delivery", "number"], name="one_attempt_number")]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}: {self.status_code or self.error[:40]}"
