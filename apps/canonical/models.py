"""The hub: one canonical professional-services model every system maps into, plus the cross-reference.

N systems need N mappings, not N². Every canonical record keeps a content hash of its business fields
(so unchanged re-deliveries and our own echoes are skipped), the connection it last came from, and an
``extra`` JSON field for customer-specific fields.
"""

from __future__ import annotations

from django.db import models

from apps.common.history import History
from apps.common.models import TimeStampedModel
from apps.common.objects import ObjectType
from apps.connectors.models import Connection


class ApprovalStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class CanonicalRecord(TimeStampedModel):
    """Fields every hub record has."""

    extra = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64, blank=True, db_index=False)
    source_connection = models.ForeignKey(
        Connection, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="Deleted or voided at the source.")

    # The business fields, in order, that the content hash covers (set per model).
    HASHED_FIELDS: tuple[str, ...] = ()

    class Meta:
        abstract = True


class Customer(CanonicalRecord):
    """A client of the firm (usually owned by the ERP)."""

    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=255)
    parent = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children")
    currency = models.CharField(max_length=3, blank=True)
    payment_terms = models.CharField(max_length=64, blank=True)
    tax_id = models.CharField(max_length=64, blank=True)
    is_active = models.BooleanField(default=True)

    HASHED_FIELDS = ("code", "name", "parent_id", "currency", "payment_terms", "tax_id", "is_active", "extra")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class RateCard(CanonicalRecord):
    """Bill and cost rates for a role, in a currency, over a period: the firm's, or (``project`` set) one line of a
    project's rate card, as a won deal's line item agreed it (``extra.hours``: the hours it sold)."""

    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=255)
    role = models.CharField(max_length=120, blank=True)
    currency = models.CharField(max_length=3)
    bill_rate = models.DecimalField(max_digits=12, decimal_places=2)
    cost_rate = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    effective_from = models.DateField(null=True, blank=True)
    effective_to = models.DateField(null=True, blank=True)
    project = models.ForeignKey("Project", on_delete=models.CASCADE, null=True, blank=True, related_name="rates")

    HASHED_FIELDS = ("code", "name", "role", "currency", "bill_rate", "cost_rate", "effective_from", "effective_to",
                     "project_id", "extra")

    def __str__(self) -> str:
        return self.code


class Person(CanonicalRecord):
    """An employee or contractor whose time and cost Weft moves."""

    class Employment(models.TextChoices):
        EMPLOYEE = "employee", "Employee"
        CONTRACTOR = "contractor", "Contractor"

    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=255)
    email = models.EmailField(blank=True)
    employment = models.CharField(max_length=16, choices=Employment.choices, default=Employment.EMPLOYEE)
    practice = models.CharField(max_length=120, blank=True)
    capacity_hours_per_week = models.DecimalField(max_digits=5, decimal_places=2, default=40)
    cost_rate = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    cost_currency = models.CharField(max_length=3, blank=True)
    is_active = models.BooleanField(default=True)

    HASHED_FIELDS = ("code", "name", "email", "employment", "practice", "capacity_hours_per_week", "cost_rate",
                     "cost_currency", "is_active", "extra")

    class Meta:
        verbose_name_plural = "people"

    def __str__(self) -> str:
        return self.name


class PersonCostRate(TimeStampedModel):
    """A person's cost rate from a date: margin reports use the rate in force on the day worked."""

    # No index of its own: one_cost_rate_per_day starts with it.
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="cost_rates", db_index=False)
    effective_from = models.DateField()
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["person", "effective_from"], name="one_cost_rate_per_day")]


class Project(CanonicalRecord):
    """A client engagement (owned by the ERP or the PSA)."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        ON_HOLD = "on_hold", "On hold"
        CLOSED = "closed", "Closed"

    class BillingType(models.TextChoices):
        TIME_AND_MATERIALS = "tm", "Time and materials"
        FIXED = "fixed", "Fixed fee"
        MILESTONE = "milestone", "Milestone"
        NON_BILLABLE = "non_billable", "Non-billable"

    code = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=255)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="projects")
    manager = models.ForeignKey(Person, on_delete=models.SET_NULL, null=True, blank=True, related_name="managed")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    billing_type = models.CharField(max_length=16, choices=BillingType.choices, default=BillingType.TIME_AND_MATERIALS)
    budget_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    budget_hours = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    rate_card = models.ForeignKey(RateCard, on_delete=models.SET_NULL, null=True, blank=True, related_name="projects")
    default_bill_rate = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)

    HASHED_FIELDS = ("code", "name", "customer_id", "manager_id", "status", "start_date", "end_date", "billing_type",
                     "budget_amount", "budget_hours", "currency", "rate_card_id", "default_bill_rate", "extra")

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Assignment(CanonicalRecord):
    """A person planned onto a project (owned by the resource tool)."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="assignments")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments")
    role = models.CharField(max_length=120, blank=True)
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    planned_hours = models.DecimalField(max_digits=10, decimal_places=2, null=True, blank=True)
    bill_rate_override = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)

    HASHED_FIELDS = ("person_id", "project_id", "role", "start_date", "end_date", "planned_hours",
                     "bill_rate_override", "extra")


class TimeEntry(CanonicalRecord):
    """Hours a person worked on a project on a day (owned by the time system)."""

    # No single-column indexes on person and project: (person, date) and (project, date) below serve those
    # lookups, and every index costs each of the hundreds of thousands of rows a load writes.
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="time_entries", db_index=False)
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="time_entries", db_index=False)
    task = models.CharField(max_length=255, blank=True)
    date = models.DateField()
    hours = models.DecimalField(max_digits=7, decimal_places=2)
    billable = models.BooleanField(default=True)
    approval_status = models.CharField(max_length=16, choices=ApprovalStatus.choices, default=ApprovalStatus.SUBMITTED)
    approved_at = models.DateTimeField(null=True, blank=True)
    approver = models.CharField(max_length=255, blank=True)
    bill_rate = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    cost_rate = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    notes = models.TextField(blank=True)

    HASHED_FIELDS = ("person_id", "project_id", "task", "date", "hours", "billable", "approval_status",
                     "approved_at", "approver", "bill_rate", "cost_rate", "currency", "notes", "extra", "deleted_at")

    class Meta:
        verbose_name_plural = "time entries"
        indexes = [
            models.Index(fields=["project", "date"]),
            models.Index(fields=["person", "date"]),
            models.Index(fields=["approval_status", "date"]),
        ]


class Expense(CanonicalRecord):
    """Money a person spent on a project (owned by the time and expense system)."""

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="expenses")
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="expenses",
                                db_index=False)  # (project, date) below serves it
    date = models.DateField()
    category = models.CharField(max_length=120, blank=True)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    billable = models.BooleanField(default=True)
    approval_status = models.CharField(max_length=16, choices=ApprovalStatus.choices, default=ApprovalStatus.SUBMITTED)
    approved_at = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True)

    HASHED_FIELDS = ("person_id", "project_id", "date", "category", "amount", "currency", "billable",
                     "approval_status", "approved_at", "notes", "extra", "deleted_at")

    class Meta:
        indexes = [models.Index(fields=["project", "date"])]


class Invoice(CanonicalRecord):
    """An invoice or billing event (owned by the ERP), with lines linked to what they bill."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SENT = "sent", "Sent"
        PAID = "paid", "Paid"
        VOID = "void", "Void"

    class Kind(models.TextChoices):
        INVOICE = "invoice", "Invoice"
        BILLING_EVENT = "billing_event", "Billing event"

    number = models.CharField(max_length=64, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.INVOICE)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    project = models.ForeignKey(Project, on_delete=models.SET_NULL, null=True, blank=True, related_name="invoices")
    issue_date = models.DateField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    currency = models.CharField(max_length=3)
    amount_net = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    amount_tax = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    amount_total = models.DecimalField(max_digits=14, decimal_places=2, default=0)

    HASHED_FIELDS = ("number", "kind", "customer_id", "project_id", "issue_date", "due_date", "status", "currency",
                     "amount_net", "amount_tax", "amount_total", "extra", "deleted_at")


class InvoiceLine(TimeStampedModel):
    """One invoice line; ``time_entries`` and ``expenses`` are what it bills."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    position = models.PositiveIntegerField(default=1)
    description = models.CharField(max_length=500, blank=True)
    quantity = models.DecimalField(max_digits=12, decimal_places=2, default=1)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    amount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    time_entries = models.ManyToManyField(TimeEntry, blank=True, related_name="invoice_lines")
    expenses = models.ManyToManyField(Expense, blank=True, related_name="invoice_lines")

    class Meta:
        ordering = ["invoice", "position"]


class RevenueSchedule(CanonicalRecord):
    """Revenue for a project in a period, forecast or recognised (owned by the ERP)."""

    class Method(models.TextChoices):
        TIME_AND_MATERIALS = "tm", "Time and materials"
        PERCENT_COMPLETE = "percent_complete", "Percent complete"
        STRAIGHT_LINE = "straight_line", "Straight line"
        MILESTONE = "milestone", "Milestone"

    class Kind(models.TextChoices):
        FORECAST = "forecast", "Forecast"
        RECOGNISED = "recognised", "Recognised"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="revenue_schedules")
    method = models.CharField(max_length=24, choices=Method.choices, default=Method.TIME_AND_MATERIALS)
    period = models.DateField(help_text="First day of the month.")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.FORECAST)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)

    HASHED_FIELDS = ("project_id", "method", "period", "kind", "amount", "currency", "extra")


OBJECT_MODELS: dict[str, type[CanonicalRecord]] = {
    ObjectType.CUSTOMER: Customer,
    ObjectType.PROJECT: Project,
    ObjectType.PERSON: Person,
    ObjectType.ASSIGNMENT: Assignment,
    ObjectType.TIME_ENTRY: TimeEntry,
    ObjectType.EXPENSE: Expense,
    ObjectType.INVOICE: Invoice,
    ObjectType.REVENUE_SCHEDULE: RevenueSchedule,
    ObjectType.RATE_CARD: RateCard,
}


class ExternalRef(models.Model):
    """Which external record is which: Harvest project 8812 is Tryton project 31 is canonical ``ACME-042``.

    ``last_synced_hash`` is the canonical content hash as of the last read from, or write to, that
    connection: an inbound record with that hash is unchanged (or our own write echoing back).
    ``last_input_key`` fingerprints the input last read from that connection together with
    ``last_synced_hash`` (see ``apps.canonical.services``): the same input read again is known to be
    unchanged without converting and hashing it; any write that moves ``last_synced_hash`` voids it.
    ``origin_file`` and ``origin_row`` say where a record keyed by its content was first read: a later file
    holding the same key holds a duplicate (docs/data-quality.md).
    """

    object_type = models.CharField(max_length=24, choices=ObjectType.choices)
    canonical_id = models.BigIntegerField()
    # The unique constraints below start with connection: they serve its lookups and cascades.
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="external_refs",
                                   db_index=False)
    external_id = models.CharField(max_length=255)
    last_synced_hash = models.CharField(max_length=64, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_input_key = models.CharField(max_length=64, blank=True)
    origin_file = models.CharField(max_length=255, blank=True, help_text=(
        "Records keyed by their content (files without ids): the file the record was first read from."))
    origin_row = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "object_type", "external_id"], name="one_ref_per_external_id"
            ),
            models.UniqueConstraint(fields=["connection", "object_type", "canonical_id"], name="one_ref_per_record"),
        ]
        indexes = [models.Index(fields=["object_type", "canonical_id"])]

    def __str__(self) -> str:
        return f"{self.object_type} {self.canonical_id} = {self.connection_id}:{self.external_id}"


# Field groups an object's ownership can be split by; an Ownership without a group owns every field.
FIELD_GROUPS: dict[str, dict[str, tuple[str, ...]]] = {
    ObjectType.PROJECT: {
        "financial": ("billing_type", "budget_amount", "budget_hours", "currency", "rate_card", "default_bill_rate",
                      "customer"),
        "delivery": ("status", "start_date", "end_date", "manager"),
    },
    ObjectType.PERSON: {
        "cost": ("cost_rate", "cost_currency"),
        "capacity": ("capacity_hours_per_week", "practice"),
    },
}


class Ownership(TimeStampedModel):
    """Which connection is the system of record for an object type (optionally one field group of it).

    A non-owner's change to owned fields is a conflict, never a silent overwrite.
    """

    object_type = models.CharField(max_length=24, choices=ObjectType.choices)
    field_group = models.CharField(max_length=40, blank=True, help_text="Blank: every field of the object.")
    connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="ownerships")
    history = History()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["object_type", "field_group"], name="one_owner_per_field_group")
        ]

    def __str__(self) -> str:
        group = f" ({self.field_group})" if self.field_group else ""
        return f"{self.get_object_type_display()}{group} owned by {self.connection}"
