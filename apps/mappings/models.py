"""Mappings (versioned field rules between a system's records and the canonical model) and
validation rules. Published versions are immutable; rollback publishes an older one again."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.common.history import History
from apps.common.models import TimeStampedModel
from apps.common.objects import ObjectType


class Direction(models.TextChoices):
    INBOUND = "inbound", "Into the hub (source record → canonical)"
    OUTBOUND = "outbound", "Out of the hub (canonical → target payload)"


class Mapping(TimeStampedModel):
    """A named translation for one object of one connector kind, e.g. "Harvest time entry → hub"."""

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    direction = models.CharField(max_length=16, choices=Direction.choices)
    object_type = models.CharField(max_length=24, choices=ObjectType.choices)
    connector_kind = models.CharField(max_length=40, help_text="The kind whose records this mapping reads or writes.")
    description = models.TextField(blank=True)
    history = History()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def published_version(self) -> MappingVersion | None:
        return self.versions.filter(status=VersionStatus.PUBLISHED).first()


class VersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    SUPERSEDED = "superseded", "Superseded"


class MappingVersion(TimeStampedModel):
    """One version of a mapping's field rules. ``rules`` is a list of field rules (see ``apps.mappings.rules``)."""

    # No index of its own: one_version_number starts with it.
    mapping = models.ForeignKey(Mapping, on_delete=models.CASCADE, related_name="versions", db_index=False)
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=VersionStatus.choices, default=VersionStatus.DRAFT)
    rules = models.JSONField(default=list)
    notes = models.TextField(blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+",
                                     db_index=False,  # shown, never searched by: no index
                                     # No constraint into the public schema's users (two triggers on that shared
                                     # table per customer); their deletion is services.user_delete's (tenants).
                                     on_delete=models.DO_NOTHING, db_constraint=False)
    history = History()

    class Meta:
        ordering = ["mapping", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["mapping", "number"], name="one_version_number"),
            models.UniqueConstraint(fields=["mapping"], condition=Q(status="published"),
                                    name="one_published_version"),
        ]

    def __str__(self) -> str:
        return f"{self.mapping} v{self.number} ({self.status})"

    @property
    def is_editable(self) -> bool:
        return self.status == VersionStatus.DRAFT


class RuleSet(TimeStampedModel):
    """Validation rules a flow applies before anything is written to its target."""

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    object_type = models.CharField(max_length=24, choices=ObjectType.choices)
    history = History()

    def __str__(self) -> str:
        return self.name


class RuleKind(models.TextChoices):
    REQUIRED = "required", "Required fields"
    REFERENCE_EXISTS = "reference_exists", "Reference known to the target"
    APPROVAL_STATUS = "approval_status", "Approval status"
    OPEN_PERIOD = "open_period", "Date in an open period"
    DAILY_HOURS_LIMIT = "daily_hours_limit", "Hours per person per day"
    HOURS_RANGE = "hours_range", "Hours per entry (corrections may be negative)"
    AMOUNT_RANGE = "amount_range", "Amount range"
    EXPRESSION = "expression", "Custom expression"
    BILLING_READY = "billing_ready", "Invoice draft not blocked (billing readiness)"


class ValidationRule(TimeStampedModel):
    """One check. ``params`` depend on the kind (see ``apps.mappings.validation``); ``message`` is what a
    failing record's ledger entry and exception say."""

    rule_set = models.ForeignKey(RuleSet, on_delete=models.CASCADE, related_name="rules")
    kind = models.CharField(max_length=24, choices=RuleKind.choices)
    params = models.JSONField(default=dict, blank=True)
    message = models.CharField(max_length=300, blank=True)
    position = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    history = History()

    class Meta:
        ordering = ["rule_set", "position", "pk"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.params}"
