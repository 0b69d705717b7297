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
