"""Runs and the ledger: every item that moves, what happened to it, and why."""

from __future__ import annotations

from django.db import models

from apps.common.models import TimeStampedModel
from apps.common.objects import ObjectType
from apps.connectors.models import Connection


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Finished with failures"
    FAILED = "failed", "Failed"


class Trigger(models.TextChoices):
    SCHEDULE = "schedule", "Schedule"
    WEBHOOK = "webhook", "Webhook event"
    HUB_CHANGE = "hub_change", "Change in the hub"
    MANUAL = "manual", "Manual"
    REPLAY = "replay", "Replay"


class ItemOutcome(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    UNCHANGED = "unchanged", "Unchanged"
    SKIPPED = "skipped", "Skipped"
    DELETED = "deleted", "Deleted / reversed"
    CONFLICT = "conflict", "Conflict"
    FAILED = "failed", "Failed"


class Run(TimeStampedModel):
    """One execution: reading a connection's object into the hub, or a flow moving records to a target."""

    connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="runs")
    object_name = models.CharField(max_length=60)
    object_type = models.CharField(max_length=24, choices=ObjectType.choices)
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.MANUAL)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    cursor_start = models.TextField(blank=True)
    cursor_end = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True)
    error_message = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["connection", "object_name", "-created_at"])]

    def __str__(self) -> str:
        return f"Run {self.pk} {self.connection} {self.object_name} ({self.status})"

    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class RunItem(TimeStampedModel):
    """One record's trace through a run: its outcome, payloads, the target's answer and the error."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="items")
    object_type = models.CharField(max_length=24, choices=ObjectType.choices)
    external_id = models.CharField(max_length=255, blank=True)
    canonical_id = models.BigIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=ItemOutcome.choices)
    error_category = models.CharField(max_length=24, blank=True)
    error_field = models.CharField(max_length=120, blank=True)
    error_message = models.TextField(blank=True)
    payload_before = models.JSONField(null=True, blank=True)
    payload_after = models.JSONField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=1)

    class Meta:
        indexes = [models.Index(fields=["run", "outcome"]), models.Index(fields=["object_type", "external_id"])]

    def __str__(self) -> str:
        return f"{self.object_type} {self.external_id}: {self.outcome}"


class SyncCursor(models.Model):
    """Where the last good read of a connection's object ended, so the next read resumes there."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="cursors")
    object_name = models.CharField(max_length=60)
    value = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "object_name"], name="one_cursor_per_object")]

    def __str__(self) -> str:
        return f"{self.connection_id}/{self.object_name} at {self.value or 'start'}"


class InboundEvent(models.Model):
    """A webhook event, stored durably before we answer 2xx; the event id makes re-deliveries no-ops."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"
        IGNORED = "ignored", "Ignored"

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="inbound_events")
    event_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=120, blank=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    processed_at = models.DateTimeField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    deliveries = models.PositiveIntegerField(default=1, help_text="How many times the sender delivered it.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "event_id"], name="one_event_per_id")]
        indexes = [models.Index(fields=["status", "received_at"])]

    def __str__(self) -> str:
        return f"{self.connection_id}: event {self.event_id} ({self.status})"
