"""Vocabularies of integration exceptions: kinds, severities, statuses, sources and notification channels."""

from django.db import models


class Kind(models.TextChoices):
    """What went wrong, classified from the error (``apps.exceptions.classify``)."""

    VALIDATION = "validation", "Validation"
    MAPPING = "mapping", "Mapping"
    MISSING_REFERENCE = "missing_reference", "Missing reference"
    TRANSPORT = "transport", "Transport"
    RATE_LIMIT = "rate_limit", "Rate limit"
    AUTH = "auth", "Authentication"
    TOO_LARGE = "too_large", "Too large"
    PARSE = "parse", "Parse"
    DUPLICATE = "duplicate", "Duplicate"
    CONFLICT = "conflict", "Conflict"
    RECONCILIATION = "reconciliation", "Reconciliation"
    CONFIGURATION = "configuration", "Configuration"
    # Raised by monitors, not by a failed record:
    MISSED_RUN = "missed_run", "Expected run missed"
    CONNECTION_HEALTH = "connection_health", "Connection failing its health check"
    BACKLOG = "backlog", "Backlog too old"
    QUOTA = "quota", "API quota nearly spent"


MONITOR_KINDS = frozenset({Kind.MISSED_RUN, Kind.CONNECTION_HEALTH, Kind.BACKLOG, Kind.QUOTA})


class Severity(models.IntegerChoices):
    """Ordered, so rules can say "at least high" and lists sort the worst first."""

    LOW = 10, "Low"
    MEDIUM = 20, "Medium"
    HIGH = 30, "High"
    CRITICAL = 40, "Critical"


SEVERITY_BY_NAME = {s.name.lower(): s for s in Severity}

DEFAULT_SEVERITY = {
    Kind.AUTH: Severity.HIGH,
    Kind.MISSED_RUN: Severity.HIGH,
    Kind.CONNECTION_HEALTH: Severity.HIGH,
    Kind.QUOTA: Severity.MEDIUM,
}


class Status(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"
    IGNORED = "ignored", "Ignored"


ACTIVE_STATUSES = (Status.OPEN, Status.ACKNOWLEDGED)


class Source(models.TextChoices):
    LEDGER = "ledger", "Failed ledger items"
    RUN = "run", "Failed run"
    WEBHOOK = "webhook", "Inbound webhook event"
    MONITOR = "monitor", "Monitor"
    RECONCILIATION = "reconciliation", "Reconciliation"


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    WEBHOOK = "webhook", "Outbound webhook"


class NotificationStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (will retry)"
    GAVE_UP = "gave_up", "Gave up"
