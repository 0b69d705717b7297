"""Reporting's own configuration, per customer: the go-live date and the assumptions behind the ROI figures."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from simple_history.models import HistoricalRecords

from apps.common.models import TimeStampedModel


class ReportingSettings(TimeStampedModel):
    """One row per customer schema (absent: the defaults). The ROI figure shows every value it used.

    ``go_live_date`` splits "before" from "after" for invoice-cycle days; left blank, the day of the first
    successful outbound run stands in. The other fields are the assumptions of the reconciliation-hours
    estimate, which Weft cannot measure by itself: what manual reconciliation cost before, and what each
    difference Weft flags still costs to look into.
    """

    go_live_date = models.DateField(null=True, blank=True)
    manual_reconciliation_hours_per_week = models.DecimalField(
        max_digits=6, decimal_places=2, default=Decimal("6"),
        help_text="Hours finance and PMO spent each week reconciling systems by hand before Weft.",
    )
    minutes_per_flagged_difference = models.DecimalField(
        max_digits=6, decimal_places=2, default=Decimal("15"),
        help_text="Minutes someone still spends on each project-week difference reconciliation flags.",
    )
    hourly_cost = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("60"),
                                      help_text="Loaded cost of an hour of finance/PMO time.")
    currency = models.CharField(max_length=3, default="EUR")
    history = HistoricalRecords()

    class Meta:
        verbose_name = verbose_name_plural = "reporting settings"

    def __str__(self) -> str:
        return "Reporting settings"

    @classmethod
    def current(cls) -> ReportingSettings:
        """The stored settings, or unsaved defaults (reads never write)."""
        return cls.objects.order_by("pk").first() or cls()


class Snapshot(models.Model):
    """When the stored figures below were last refreshed (one row per snapshot name)."""

    name = models.CharField(max_length=40, unique=True)
    refreshed_at = models.DateTimeField()
    took_ms = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} at {self.refreshed_at:%Y-%m-%d %H:%M:%S}"


class UnpostedEntry(models.Model):
    """Stored answer of "which approved time has an outbound flow not posted?" (one row per flow and entry).

    Finding it means comparing every approved entry with the cross-reference: seconds on a million
    entries. ``services.reporting_refresh`` stores the answer after every finished run (the only way
    posting state changes, besides edits in the admin) and the figures read these few rows.
    """

    flow_id = models.BigIntegerField()
    time_entry_id = models.BigIntegerField()
    project_id = models.BigIntegerField()
    person_id = models.BigIntegerField()
    work_date = models.DateField()
    approved_day = models.DateField()
    hours = models.DecimalField(max_digits=9, decimal_places=2)
    billable_hours = models.DecimalField(max_digits=9, decimal_places=2)
    value = models.DecimalField(max_digits=16, decimal_places=4)
    unrated_hours = models.DecimalField(max_digits=9, decimal_places=2)
    currency = models.CharField(max_length=3, blank=True)

    class Meta:
        indexes = [models.Index(fields=["project_id", "approved_day"])]

    def __str__(self) -> str:
        return f"time entry {self.time_entry_id} not posted by flow {self.flow_id}"


class InvoiceCycle(models.Model):
    """Stored per invoice: days from the last approval of the time it bills to its issue date (for ROI)."""

    invoice_id = models.BigIntegerField(unique=True)
    project_id = models.BigIntegerField(null=True)
    customer_id = models.BigIntegerField()
    issue_date = models.DateField(db_index=True)
    days = models.IntegerField()

    def __str__(self) -> str:
        return f"invoice {self.invoice_id}: {self.days} days"
