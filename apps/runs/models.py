"""Runs and the ledger: every item that moves, what happened to it, and why."""

from __future__ import annotations

from django.db import models

from apps.common.history import History
from apps.common.models import TimeStampedModel
from apps.common.objects import ObjectType
from apps.connectors.models import Connection
from apps.mappings.models import Mapping, MappingVersion, RuleSet


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    PARTIAL = "partial", "Finished with failures"
    FAILED = "failed", "Failed"
    PAUSED = "paused", "Paused"  # why (disabled, or failing: circuit open) is in the message


FINISHED = (RunStatus.SUCCEEDED, RunStatus.PARTIAL, RunStatus.FAILED, RunStatus.PAUSED)
FAILED_OUTCOMES = ("failed", "conflict")


def finished_status(counts: dict[str, int]) -> str:
    """How a run that ran to its end went, from its counts: failed when every item failed (nothing was done but
    fail), partial when some did, succeeded when none did (an empty run too)."""
    failures = sum(counts.get(outcome, 0) for outcome in FAILED_OUTCOMES)
    if not failures:
        return RunStatus.SUCCEEDED
    return RunStatus.FAILED if failures == sum(counts.values()) else RunStatus.PARTIAL


class Trigger(models.TextChoices):
    SCHEDULE = "schedule", "Schedule"
    WEBHOOK = "webhook", "Webhook event"
    HUB_CHANGE = "hub_change", "Change in the hub"
    MANUAL = "manual", "Manual"
    REPLAY = "replay", "Replay"
    AFTER_FLOW = "after_flow", "After another flow created records"


class ItemOutcome(models.TextChoices):
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    UNCHANGED = "unchanged", "Unchanged"
    SKIPPED = "skipped", "Skipped"
    DELETED = "deleted", "Deleted / reversed"
    CONFLICT = "conflict", "Conflict"
    FAILED = "failed", "Failed"


# The records a run wrote (created, updated, deleted or reversed): what usage meters as "records synced" and
# customer health counts. The one definition; SQL that needs it builds its list from here.
SYNCED_OUTCOMES = (ItemOutcome.CREATED, ItemOutcome.UPDATED, ItemOutcome.DELETED)
# A run did work (and is billed) when it wrote, or tried to write, at least one record: idle polls (nothing read,
# nothing changed), paused runs and runs that only skipped records are not billed.
WORK_OUTCOMES = (*SYNCED_OUTCOMES, ItemOutcome.FAILED, ItemOutcome.CONFLICT)


class FlowDirection(models.TextChoices):
    INBOUND = "inbound", "Source → hub"
    OUTBOUND = "outbound", "Hub → target"


class Flow(TimeStampedModel):
    """A trigger, a source or target connection and object, a mapping and rules: one leg of an integration.

    Inbound flows read a system into the hub; outbound flows write hub records to a system. A template
    ("accelerator") installs several flows that chain through the hub: a change an inbound flow makes
    triggers the outbound flows of that object type that listen to hub changes.
    """

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    direction = models.CharField(max_length=16, choices=FlowDirection.choices)
    object_type = models.CharField(max_length=24, choices=ObjectType.choices)
    connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="flows",
                                   help_text="The source (inbound) or target (outbound).")
    object_name = models.CharField(max_length=60, help_text="The object as the connection's kind names it.")
    mapping = models.ForeignKey(Mapping, on_delete=models.PROTECT, null=True, blank=True, related_name="flows",
                                help_text="Blank: the connector kind's default translation.")
    rule_set = models.ForeignKey(RuleSet, on_delete=models.PROTECT, null=True, blank=True, related_name="flows")
    on_schedule = models.BooleanField(default=True)
    schedule_cron = models.CharField(max_length=120, blank=True, help_text="Cron expression; blank: every N minutes.")
    schedule_minutes = models.PositiveIntegerField(default=15)
    on_webhook = models.BooleanField(default=False, help_text="Inbound: events for this object trigger it.")
    on_hub_change = models.BooleanField(default=False, help_text="Outbound: hub changes to this object trigger it.")
    after_flow = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="followers",
        help_text="Outbound: runs for the records this other outbound flow has just created in its target.")
    write_back = models.BooleanField(default=False, help_text=(
        "Outbound: writes to the connection the records came from, updating only the record each came from (never "
        "creating one), once the after-flow's target holds it: e.g. the ERP's project code written back to the CRM "
        "deal. The ledger keeps what was written; the same values are not written twice."))
    variables = models.JSONField(default=dict, blank=True)
    batch_size = models.PositiveIntegerField(default=200)
    is_enabled = models.BooleanField(default=True)
    installed_from = models.CharField(max_length=120, blank=True, help_text="Template slug@version, if any.")
    history = History()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Run(TimeStampedModel):
    """One execution: reading a connection's object into the hub, or a flow moving records to a target."""

    flow = models.ForeignKey(Flow, on_delete=models.PROTECT, null=True, blank=True, related_name="runs")
    record_ids = models.JSONField(null=True, blank=True, help_text="Only these canonical records (events, replay).")
    replay_payloads = models.BooleanField(default=False, help_text="Inbound replay: re-map stored source payloads.")
    mapping_version = models.ForeignKey(MappingVersion, on_delete=models.SET_NULL, null=True, blank=True,
                                        related_name="+", help_text="Replay with this version instead of the "
                                                                    "published one.")
    # No index of its own: the (connection, ...) index starts with it.
    connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="runs", db_index=False)
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
    error_category = models.CharField(max_length=24, blank=True, help_text="What kind of failure stopped the run.")
    operation_id = models.PositiveIntegerField(null=True, blank=True, help_text=(
        "The long operation (apps.tenants.operations, e.g. a bulk replay) whose progress this run reports."))

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["connection", "object_name", "-created_at"]),
                   models.Index(fields=["operation_id"], condition=models.Q(operation_id__isnull=False),
                                name="run_operation")]

    def __str__(self) -> str:
        return f"Run {self.pk} {self.connection} {self.object_name} ({self.status})"

    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None

    def records_synced(self) -> int:
        """The records this run wrote (``SYNCED_OUTCOMES``), from its counts."""
        return sum(int(self.counts.get(outcome, 0)) for outcome in SYNCED_OUTCOMES)

    def is_billable(self) -> bool:
        """Whether the run counts as a billed run: it wrote or tried to write a record (``WORK_OUTCOMES``)."""
        return any(int((self.counts or {}).get(outcome, 0)) for outcome in WORK_OUTCOMES)


class RunItem(TimeStampedModel):
    """One record's trace through a run: its outcome, payloads, the target's answer and the error."""

    # No index of its own: the (run, ...) index starts with it.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="items", db_index=False)
    # Kept for the trace (and sent to the target); never looked up, so not indexed: the index cost each load's
    # ledger rows more than any other (issue 18, hub load profile).
    idempotency_key = models.CharField(max_length=64, blank=True)
    object_type = models.CharField(max_length=24, choices=ObjectType.choices)
    external_id = models.CharField(max_length=255, blank=True)
    canonical_id = models.BigIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=ItemOutcome.choices)
    error_category = models.CharField(max_length=24, blank=True)
    error_field = models.CharField(max_length=120, blank=True)
    error_message = models.TextField(blank=True)
    payload_before = models.JSONField(null=True, blank=True)
    payload_after = models.JSONField(null=True, blank=True)
    target_external_id = models.CharField(max_length=255, blank=True)
    target_response = models.JSONField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=1)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.BigIntegerField(null=True, blank=True, help_text="Approved at the source → posted.")

    class Meta:
        # Each index is kept for the reads that need it (every load writes one item per record, so each costs):
        # (run, outcome) for a run's items and counts; (outcome, created_at) for failures and synced records by date
        # (replay lists, reporting's refresh, usage); canonical_id for a hub record's trace (ids come from one
        # sequence per schema, so the object type need not lead); external_id for a source record's trace (API).
        indexes = [
            models.Index(fields=["run", "outcome"]),
            models.Index(fields=["external_id"]),
            models.Index(fields=["canonical_id"]),
            models.Index(fields=["outcome", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.object_type} {self.external_id}: {self.outcome}"


class SyncCursor(models.Model):
    """Where the last good read of a connection's object ended, so the next read resumes there."""

    # No index of its own: one_cursor_per_object starts with it.
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="cursors", db_index=False)
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

    # No index of its own: one_event_per_id starts with it.
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="inbound_events", db_index=False)
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


class InboundStream(models.Model):
    """A connection's webhook events of one type, as the task queue sees them: ``dispatch_queued_at`` is set while a
    task to process the stream's events is queued and not yet started (``services.inbound_stream_dispatch``).

    The intake queues a stream's task only when none is waiting, so a burst of events costs one task, not one each;
    the task clears the stamp before it looks for events, so an event stored after that look queues the next task (a
    transaction advisory lock per stream, not this row's lock, orders deliveries and the clear).
    Operational rows: written with plain INSERT/UPDATE, no history."""

    # Covered by the unique constraint, which starts with it: no index of its own.
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+", db_index=False)
    event_type = models.CharField(max_length=120, blank=True)
    dispatch_queued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "event_type"], name="one_stream_per_type")]

    def __str__(self) -> str:
        return f"{self.connection_id}: {self.event_type} events"


class WriteAttempt(models.Model):
    """A create the engine is about to send (or sent without learning the answer): made durable before the
    request leaves, removed in the transaction that records the outcome.

    One left behind means a worker died (or lost the answer) with the create in flight, so the target may hold the
    record, or may still create it until its write window has passed. Whoever sends the record next looks for it by
    reference first, and keeps looking until ``sent_at`` plus the window (``outbound._find_in_doubt``); a record
    with no attempt left behind was never sent, and is created without asking the target first. Operational rows:
    written with plain INSERT/DELETE, no history."""

    # Covered by the unique constraint, which starts with it: no index of its own.
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="+", db_index=False)
    object_type = models.CharField(max_length=24, choices=ObjectType.choices)
    canonical_id = models.BigIntegerField()
    run = models.ForeignKey(Run, on_delete=models.SET_NULL, null=True, related_name="+")
    sent_at = models.DateTimeField()
    # When the next sender first found this attempt left behind: its write window counts from here, however
    # often that sender is itself stopped while it waits (a start taken afresh at each try would never end).
    doubt_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "object_type", "canonical_id"],
                                               name="one_write_attempt_per_record")]

    def __str__(self) -> str:
        return f"{self.object_type} {self.canonical_id} sent {self.sent_at:%Y-%m-%d %H:%M:%S}"
