"""Connections: configured instances of a connector kind, in a customer's schema."""

from __future__ import annotations

from django.db import models

from apps.common.history import History
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
    history = History(
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

    # No index of its own: one_counter_per_window starts with it.
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="call_windows", db_index=False)
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


class LookupStamp(models.Model):
    """How often something a kind remembers per process (a Tryton project's timesheet work) was written through this
    connection. A process's memo of it holds while the stamp reads what it read when the memo was filled; the worker
    that writes the thing bumps it, so every other process drops its memo at its next batch. Operational: no history.
    """

    # No index of its own: one_stamp_per_lookup starts with it.
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="lookup_stamps", db_index=False)
    name = models.CharField(max_length=60)
    version = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "name"], name="one_stamp_per_lookup")]

    def __str__(self) -> str:
        return f"{self.connection_id}: {self.name} v{self.version}"


class GrantStatus(models.TextChoices):
    CONNECTED = "connected", "Connected"
    REAUTHORIZE = "reauthorize", "Re-authorization needed"


class OAuthGrant(models.Model):
    """A connection's OAuth2 grant: who connected it and whether the vendor still honours it.

    The tokens themselves are credentials (sealed in ``Connection.credentials_token``); this row holds only what
    people and monitors need to see. Operational state: written with QuerySet.update(), no history.
    """

    connection = models.OneToOneField(Connection, on_delete=models.CASCADE, related_name="oauth_grant")
    status = models.CharField(max_length=16, choices=GrantStatus.choices, default=GrantStatus.CONNECTED)
    connected_at = models.DateTimeField(null=True, blank=True)
    connected_by = models.CharField(max_length=150, blank=True, help_text="Who clicked Connect (user name).")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="When the current access token expires.")
    refreshed_at = models.DateTimeField(null=True, blank=True)
    message = models.TextField(blank=True, help_text="Why re-authorization is needed.")

    def __str__(self) -> str:
        return f"{self.connection}: {self.get_status_display()}"


class ConnectorManifest(TimeStampedModel):
    """A REST connector manifest (a vendor's API described as data), versioned like mappings: drafts are
    edited and tried, one version is published, published versions never change."""

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    openapi_document = models.JSONField(null=True, blank=True, editable=False,
                                        help_text="The OpenAPI document it was built from (for live validation).")
    history = History(excluded_fields=["openapi_document"])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def published_version(self) -> ManifestVersion | None:
        return self.versions.filter(status="published").first()


class ManifestVersion(TimeStampedModel):
    """One version of a manifest's document (``document`` is the manifest as JSON)."""

    # No index of its own: one_manifest_version_number starts with it.
    manifest = models.ForeignKey(ConnectorManifest, on_delete=models.CASCADE, related_name="versions", db_index=False)
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=16, default="draft", choices=[
        ("draft", "Draft"), ("published", "Published"), ("superseded", "Superseded")])
    document = models.JSONField()
    notes = models.TextField(blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    history = History()

    class Meta:
        ordering = ["manifest", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["manifest", "number"], name="one_manifest_version_number"),
            models.UniqueConstraint(fields=["manifest"], condition=models.Q(status="published"),
                                    name="one_published_manifest_version"),
        ]

    def __str__(self) -> str:
        return f"{self.manifest} v{self.number} ({self.status})"

    @property
    def is_editable(self) -> bool:
        return self.status == "draft"
