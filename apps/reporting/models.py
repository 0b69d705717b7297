"""Reporting's own configuration, per customer: the go-live date and the assumptions behind the ROI figures."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from apps.common.history import History
from apps.common.models import TimeStampedModel


class TimeBasis(models.TextChoices):
    """Which time entries utilization and margin count (live and not rejected either way)."""

    APPROVED = "approved", "Approved time only"
    ALL = "all", "Approved and submitted time"


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
    time_basis = models.CharField(max_length=12, choices=TimeBasis.choices, default=TimeBasis.APPROVED, help_text=(
        "Which time utilization and project margin count: approved time only (what a finance lead signs), or "
        "submitted time too (earlier, but it may still be rejected). A page can ask for the other with ?time=."))
    history = History()

    class Meta:
        verbose_name = verbose_name_plural = "reporting settings"

    def __str__(self) -> str:
        return "Reporting settings"

    @classmethod
    def current(cls) -> ReportingSettings:
        """The stored settings, or unsaved defaults (reads never write)."""
        return cls.objects.order_by("pk").first() or cls()


class Numeric(models.Field):
    """PostgreSQL ``numeric`` without precision or scale: a stored sum keeps the exact value and scale it was
    computed with, so figures summed from stored rows print exactly as the live ones (``14.00``, not ``14``)."""

    description = "Exact number as computed"
    # Sums of hours and money: a few dozen digits. Lets the schema editor store these tables inline, without a
    # TOAST table in every customer (config.postgresql_backend.schema).
    max_bytes = 64

    def db_type(self, connection) -> str:
        return "numeric"


class Snapshot(models.Model):
    """When the stored figures below were last refreshed (one row per snapshot name), and what they cover.

    ``config_hash`` fingerprints what stored amounts depend on besides the time entries (rates, project
    currencies, enabled outbound flows); a change means a full refresh. ``full_at``: the last full
    refresh (one is done at least daily, see ``services.reporting_refresh``). ``flow_ids``: the outbound
    time flows stored. ``parts``: entry ranges the last refresh recomputed (None: all of them).
    ``plan_hash``: fingerprint of the assignments ``PlanWeek`` was computed from.
    """

    name = models.CharField(max_length=40, unique=True)
    refreshed_at = models.DateTimeField()
    took_ms = models.PositiveIntegerField(default=0)
    config_hash = models.CharField(max_length=32, blank=True)
    full_at = models.DateTimeField(null=True, blank=True)
    flow_ids = models.JSONField(default=list, blank=True)
    parts = models.IntegerField(null=True, blank=True)
    plan_hash = models.CharField(max_length=32, blank=True)
    # A finished run sets it and queues a refresh only if it was clear; the refresh clears it as it starts, so a
    # burst of runs (one per webhook event) queues one refresh, not one each.
    refresh_pending = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.name} at {self.refreshed_at:%Y-%m-%d %H:%M:%S}"


class UnpostedEntry(models.Model):
    """Stored answer of "which approved time has an outbound flow not posted?" (one row per flow and entry).

    Finding it means comparing every approved entry with the cross-reference: seconds on a million
    entries. ``services.reporting_refresh`` stores the answer after every finished run (the only way
    posting state changes, besides edits in the admin) and the figures read these few rows. Amounts as
    computed (``Numeric``), so stored and live figures print alike.
    """

    flow_id = models.BigIntegerField()
    time_entry_id = models.BigIntegerField()
    project_id = models.BigIntegerField()
    person_id = models.BigIntegerField()
    work_date = models.DateField()
    approved_day = models.DateField()
    hours = Numeric()
    billable_hours = Numeric()
    value = Numeric()
    unrated_hours = Numeric()
    currency = models.CharField(max_length=3, blank=True)

    class Meta:
        indexes = [models.Index(fields=["project_id", "approved_day"]), models.Index(fields=["time_entry_id"])]

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


class TimeWeek(models.Model):
    """Stored per person, project and week-within-a-month: live, not rejected time (what utilization, margin and
    assignment vs actual add up). ``day`` is the first day of that piece of the week (its Monday, or the 1st
    when a month starts mid-week), so months and ISO weeks are both whole sums of rows.

    Sums are as ``apps.reporting.store.time_segments_sql`` computes them live; NULL where no entry
    qualified (no billable hours, say). ``part`` = time entry id // ``store.PART``: a refresh recomputes
    only the parts whose entries changed.
    """

    part = models.IntegerField()
    person_id = models.BigIntegerField()
    project_id = models.BigIntegerField()
    day = models.DateField()
    week = models.DateField()
    month = models.DateField()
    hours = Numeric()
    billable_hours = Numeric(null=True)
    billable_value = Numeric(null=True)
    cost = Numeric(null=True)
    uncosted_hours = Numeric(null=True)
    approved = models.BooleanField(default=False, help_text="Approved entries' sums (else submitted ones').")

    class Meta:
        indexes = [models.Index(fields=["day"]), models.Index(fields=["part"])]

    def __str__(self) -> str:
        return f"person {self.person_id}, project {self.project_id}, from {self.day}"


class ReconciliationWeek(models.Model):
    """Stored per outbound time flow, person, project and ISO week of the hub's entries: approved time in the hub
    (``source_*``) and what the flow's target has of it (``target_*``), as ``store.reconciliation_rows_sql``
    computes them live. The target side is reported under the project and week it was posted with
    (``report_project_id``, ``report_week``), which differ from the hub's only for entries changed since.
    NULL sums: that side has nothing there.
    """

    flow_id = models.BigIntegerField()
    part = models.IntegerField()
    person_id = models.BigIntegerField()
    project_id = models.BigIntegerField()
    week = models.DateField()
    report_project_id = models.BigIntegerField()
    report_week = models.DateField()
    source_hours = Numeric(null=True)
    source_amount = Numeric(null=True)
    target_hours = Numeric(null=True)
    target_amount = Numeric(null=True)

    class Meta:
        indexes = [models.Index(fields=["flow_id", "week"]), models.Index(fields=["part"])]

    def __str__(self) -> str:
        return f"flow {self.flow_id}, project {self.project_id}, week of {self.week}"


class PlanWeek(models.Model):
    """Stored per person, project and ISO week: hours the assignments plan (``selectors.planned_by_week``), to the
    cent. Recomputed whole when the assignments change (``store.plan_hash``)."""

    person_id = models.BigIntegerField()
    project_id = models.BigIntegerField()
    week = models.DateField(db_index=True)
    hours = Numeric()

    def __str__(self) -> str:
        return f"person {self.person_id}, project {self.project_id}, week of {self.week}: {self.hours} h planned"


class ActualWeek(models.Model):
    """Stored per person, project and ISO week: the ``TimeWeek`` hours added up (``store.actual_weeks_sql``), so
    assignment vs actual reads one row per pair. Recomputed for the weeks whose ``TimeWeek`` rows changed."""

    person_id = models.BigIntegerField()
    project_id = models.BigIntegerField()
    week = models.DateField(db_index=True)
    hours = Numeric()

    def __str__(self) -> str:
        return f"person {self.person_id}, project {self.project_id}, week of {self.week}: {self.hours} h booked"


class ReviewPage(models.Model):
    """A closed month's monthly review as rendered (its figure sections, the rows the page shows), one row per month.

    ``key`` is what the rendering depends on: the fingerprint of the data the figures read
    (``selectors.generation.figures_generation``), the figures the plan shows and the brand's colours. A read whose
    key differs renders afresh and replaces the row, so a late change to the month (which moves the fingerprint) is
    in the next read. Stored in the tenant's schema, so every web process reads it and tenants never share one; the
    refresh after a run prepares last month's (``apps.portal.tasks.review_prepare``) so a first read is a look-up.
    """

    month = models.DateField(primary_key=True)  # one row a month; no id and index beside it
    key = models.CharField(max_length=200)
    html = models.TextField()
    rendered_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"review of {self.month:%Y-%m} rendered at {self.rendered_at:%Y-%m-%d %H:%M:%S}"
