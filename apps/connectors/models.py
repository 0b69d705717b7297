"""Connections: configured instances of a connector kind, in a customer's schema."""

from __future__ import annotations

from django.db import models
from simple_history.models import HistoricalRecords

from apps.common.models import TimeStampedModel


class HealthStatus(models.TextChoices):
    UNKNOWN = "unknown", "Not tested"
    OK = "ok", "Healthy"
    FAILING = "failing", "Failing"


class Connection(TimeStampedModel):
    """One configured link to a customer's system (their Harvest account, their ERP, a drop folder).

    Secrets live only in ``credentials_token`` (a Fernet token); they are never shown again after
    entry, never logged and never copied into history.
    """

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=60, unique=True, help_text="Names the connection in webhook URLs and commands.")
    kind = models.CharField(max_length=40, help_text="The connector kind, from the registry.")
    description = models.TextField(blank=True)
    is_enabled = models.BooleanField(default=True)
    settings = models.JSONField(default=dict, blank=True, help_text="Non-secret settings: base URL, paths, options.")
    allow_private_network = models.BooleanField(
        default=False, help_text="Allow calls to private, loopback and link-local addresses (on-premises systems)."
    )
    credentials_token = models.TextField(blank=True, editable=False)
    credentials_updated_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Operational state, written with QuerySet.update() (no history): health checks and the circuit.
    health_status = models.CharField(max_length=16, choices=HealthStatus.choices, default=HealthStatus.UNKNOWN)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_check_message = models.TextField(blank=True)
    # The circuit: after repeated transient failures, flows using this connection pause until a probe succeeds.
    consecutive_failures = models.PositiveIntegerField(default=0)
    circuit_open_until = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords(
        excluded_fields=["credentials_token", "health_status", "last_checked_at", "last_check_message",
                         "consecutive_failures", "circuit_open_until"]
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_credentials(self) -> bool:
        return bool(self.credentials_token)

    def circuit_is_open(self, now) -> bool:
        return self.circuit_open_until is not None and self.circuit_open_until > now


class ApiCallWindow(models.Model):
    """Calls made to a connection's system in one fixed time window: the shared rate-limit counter.

    Every worker process counts here, so vendor limits (Xero 60/min and 5,000/day, Harvest 100 per
    15 s) hold across the whole cluster; the daily windows double as the API-usage record.
    """

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="call_windows")
    window_seconds = models.PositiveIntegerField()
    window_start = models.DateTimeField()
    calls = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "window_seconds", "window_start"], name="one_counter_per_window"
            )
        ]

    def __str__(self) -> str:
        return f"{self.connection_id}: {self.calls} calls in {self.window_seconds} s from {self.window_start}"
