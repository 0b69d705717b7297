"""Connections: configured instances of a connector kind, in a customer's schema."""

from django.db import models
from simple_history.models import HistoricalRecords

from apps.common.models import TimeStampedModel


class Connection(TimeStampedModel):
    """One configured link to a customer's system (their Harvest account, their ERP, a drop folder)."""

    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=40, help_text="The connector kind, from the registry.")
    description = models.TextField(blank=True)
    is_enabled = models.BooleanField(default=True)
    settings = models.JSONField(default=dict, blank=True, help_text="Non-secret settings: base URL, paths, options.")
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
