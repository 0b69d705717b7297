"""Partners, their customer firms (the tenants), domains, people and memberships: the public schema."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.fields import ArrayField
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_tenants.models import DomainMixin, TenantMixin

from apps.common.history import History
from apps.common.models import TimeStampedModel
from apps.tenants.choices import CUSTOMER_ROLES, PARTNER_ROLES, CustomerKind, Feature, Role, SlaStatus
from apps.tenants.validators import (
    validate_currency,
    validate_hex_colour,
    validate_hostname,
    validate_logo,
    validate_plain_text,
    validate_schema_slug,
    validate_slug,
)


class Partner(TimeStampedModel):
    """An ERP partner, integrator or MSP that runs Weft under its own brand for its customers."""

    name = models.CharField(max_length=120, unique=True, validators=[validate_plain_text])
    slug = models.SlugField(max_length=48, unique=True, validators=[validate_slug])
    display_name = models.CharField(
        max_length=120, validators=[validate_plain_text], help_text="The brand name customers see."
    )
    logo = models.ImageField(upload_to="partner-logos/", blank=True, validators=[validate_logo])
    primary_colour = models.CharField(max_length=7, default="#1F3A5F", validators=[validate_hex_colour])
    accent_colour = models.CharField(max_length=7, default="#E07A1F", validators=[validate_hex_colour])
    support_email = models.EmailField()
    email_sender_name = models.CharField(max_length=120, validators=[validate_plain_text])
    domain_suffix = models.CharField(
        max_length=253, unique=True, validators=[validate_hostname],
        help_text="The partner site is served here; customers get <slug>.<suffix> by default.",
    )
    history = History()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def customer_domain(self, slug: str) -> str:
        return f"{slug}.{self.domain_suffix}"


class Plan(TimeStampedModel):
    """What a partner sells a customer: a monthly price, included volumes and features.

    Volumes left blank are unlimited. Usage beyond them is the partner's to invoice (see ``UsageMonth``).
    """

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="plans")
    name = models.CharField(max_length=80, validators=[validate_plain_text])
    slug = models.SlugField(max_length=48, validators=[validate_slug])
    monthly_price = models.DecimalField(max_digits=10, decimal_places=2, validators=[MinValueValidator(0)])
    currency = models.CharField(max_length=3, default="EUR", validators=[validate_currency])
    included_records = models.PositiveIntegerField(null=True, blank=True, help_text="Records synced per month; "
                                                   "blank: unlimited.")
    included_runs = models.PositiveIntegerField(null=True, blank=True, help_text="Runs per month; blank: unlimited.")
    included_api_calls = models.PositiveIntegerField(null=True, blank=True, help_text="API calls per month; "
                                                     "blank: unlimited.")
    features = ArrayField(models.CharField(max_length=32, choices=Feature.choices), default=list, blank=True)
    is_active = models.BooleanField(default=True, help_text="Retired plans stay on their customers but are not "
                                                            "offered to new ones.")
    history = History()

    class Meta:
        ordering = ["partner", "monthly_price", "name"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "slug"], name="one_plan_slug_per_partner"),
            models.UniqueConstraint(fields=["partner", "name"], name="one_plan_name_per_partner"),
        ]

    def __str__(self) -> str:
        return self.name

    def includes(self, feature: str) -> bool:
        return feature in self.features

    def feature_labels(self) -> list[str]:
        return [Feature(f).label for f in self.features if f in Feature.values]

    def clean(self) -> None:
        unknown = set(self.features) - set(Feature.values)
        if unknown:
            raise ValidationError({"features": f"Unknown feature(s): {', '.join(sorted(unknown))}."})
        self.features = sorted(set(self.features))


class CustomerQuerySet(models.QuerySet):
    def firms(self) -> CustomerQuerySet:
        return self.filter(kind=CustomerKind.FIRM)


class Customer(TenantMixin, TimeStampedModel):
    """A professional-services firm served by a partner: one PostgreSQL schema of its own."""

    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, related_name="customers", null=True, blank=True
    )
    name = models.CharField(max_length=120, validators=[validate_plain_text])
    slug = models.SlugField(max_length=48, unique=True, validators=[validate_slug, validate_schema_slug])
    kind = models.CharField(max_length=16, choices=CustomerKind.choices, default=CustomerKind.FIRM)
    is_active = models.BooleanField(default=True)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, null=True, blank=True, related_name="customers",
                             help_text="Blank: not on a plan (nothing is gated).")
    history = History()

    auto_create_schema = True
    auto_drop_schema = False  # a schema is a customer's data: dropping it is never a side effect

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind=CustomerKind.FIRM, partner__isnull=False) | ~Q(kind=CustomerKind.FIRM),
                name="customer_firm_has_partner",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @staticmethod
    def schema_for_slug(slug: str) -> str:
        return slug.replace("-", "_")

    def clean(self) -> None:
        super().clean()
        if self.plan_id and self.plan.partner_id != self.partner_id:
            raise ValidationError({"plan": "Choose one of this customer's partner's plans."})


class Domain(DomainMixin):
    """A host name that selects a customer's schema (``acme.northwind.example``)."""

    history = History()

    def __str__(self) -> str:
        return self.domain


class User(AbstractUser):
    """One login per person, whatever partner or customer they work for."""

    email = models.EmailField("email address")
    history = History(excluded_fields=["password", "last_login"])


class MembershipQuerySet(models.QuerySet):
    def for_partner_staff(self) -> MembershipQuerySet:
        return self.filter(partner__isnull=False)


class Membership(TimeStampedModel):
    """A person's role at a partner (reaching all its customers) or at one customer firm."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, related_name="memberships", null=True, blank=True
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="memberships", null=True, blank=True
    )
    role = models.CharField(max_length=32, choices=Role.choices)
    history = History()

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(partner__isnull=False, customer__isnull=True, role__in=sorted(PARTNER_ROLES))
                    | Q(partner__isnull=True, customer__isnull=False, role__in=sorted(CUSTOMER_ROLES))
                ),
                name="membership_scope_matches_role",
                violation_error_message="Partner roles belong to a partner, customer roles to a customer.",
            ),
            models.UniqueConstraint(
                fields=["user", "partner"], condition=Q(partner__isnull=False), name="one_membership_per_partner"
            ),
            models.UniqueConstraint(
                fields=["user", "customer"], condition=Q(customer__isnull=False), name="one_membership_per_customer"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} at {self.partner or self.customer}"

    @property
    def is_partner_role(self) -> bool:
        return self.partner_id is not None


class UsageMonth(models.Model):
    """One customer's metered use in one calendar month (UTC), for the partner's own invoicing.

    The counters are operational fields: they are bumped by single upsert statements (no history, no
    ``save()``), from the engine's ``run_finished`` signal and the API usage middleware. ``plan`` is the
    plan in force for the month (set when the month's row is made, and when the plan changes).
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="usage_months")
    month = models.DateField(help_text="The first day of the month.")
    plan = models.ForeignKey(Plan, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    records_synced = models.BigIntegerField(default=0)
    runs = models.BigIntegerField(default=0)
    api_calls = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-month", "customer"]
        constraints = [models.UniqueConstraint(fields=["customer", "month"], name="one_usage_row_per_month")]

    def __str__(self) -> str:
        return f"{self.customer} {self.month:%Y-%m}"


class CustomerHealth(models.Model):
    """A customer's health in a few numbers, kept in the public schema.

    The partner overview reads this table alone, so a page about hundreds of customers never switches
    through their schemas. The engine refreshes a customer's row after its runs finish and a periodic
    task refreshes every row; ``stale`` says a refresh is queued (so finishing runs queue only one).
    """

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, primary_key=True, related_name="health")
    open_exceptions = models.PositiveIntegerField(default=0)
    money_at_risk = models.DecimalField(max_digits=14, decimal_places=2, default=0,
                                        help_text="In money_at_risk_currency (the largest, if several).")
    money_at_risk_currency = models.CharField(max_length=3, blank=True)
    money_at_risk_amounts = models.JSONField(default=dict, blank=True, help_text=(
        "Every currency: {currency: amount as a string}, each source record once."))
    unposted_hours = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    unposted_value = models.DecimalField(max_digits=14, decimal_places=2, default=0,
                                         help_text="In unposted_currency (the largest, if several).")
    unposted_currency = models.CharField(max_length=3, blank=True)
    unposted_values = models.JSONField(default=dict, blank=True, help_text="Every currency: {currency: amount}.")
    failed_runs_24h = models.PositiveIntegerField(default=0)
    last_good_sync_at = models.DateTimeField(null=True, blank=True, help_text="The oldest of the flows' last "
                                             "successful runs: how far behind the laggard is.")
    flows = models.JSONField(default=list, blank=True, help_text="Per flow: slug, name, last status, last success.")
    sla_status = models.CharField(max_length=16, choices=SlaStatus.choices, default=SlaStatus.UNKNOWN)
    sla_reason = models.CharField(max_length=255, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    stale = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "customer health"

    def __str__(self) -> str:
        return f"{self.customer}: {self.get_sla_status_display()}"


class ApiKey(TimeStampedModel):
    """A secret an integration sends as ``Authorization: Bearer``: for one customer firm (a customer key) or
    for a partner and all its firms (a partner key), limited to its scopes (``apps.tenants.access``).

    Only a SHA-256 of the secret is kept: the secret is 256 random bits, so no slow hash is needed to resist
    guessing, and a call costs microseconds instead of the hundreds of milliseconds a password hash takes.
    ``principal`` is a user row of its own with no memberships and no password, so audit rows and history
    name the key (never the person who made it) and a key never borrows a person's roles.
    """

    name = models.CharField(max_length=100, validators=[validate_plain_text])
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="api_keys", null=True, blank=True)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="api_keys", null=True, blank=True)
    principal = models.OneToOneField(User, on_delete=models.PROTECT, related_name="api_key")
    prefix = models.CharField(max_length=16, unique=True, editable=False,
                              help_text="The public part of the key, shown in lists and logs.")
    secret_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list, help_text="Granted scopes, such as runs:read or exceptions:write.")
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: does not expire.")
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    rate_limit_per_minute = models.PositiveIntegerField(default=600, validators=[MinValueValidator(1)])
    created_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                   editable=False)
    # Operational fields, written by one conditional UPDATE per call (no history): apps.tenants.apikeys.
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    window_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    window_calls = models.PositiveIntegerField(default=0, editable=False)
    history = History(excluded_fields=["secret_hash", "last_used_at", "window_started_at", "window_calls"])

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(partner__isnull=False, customer__isnull=True)
                | Q(partner__isnull=True, customer__isnull=False),
                name="api_key_for_partner_or_customer",
                violation_error_message="A key belongs to a partner or to one customer.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    def is_usable(self, now=None) -> bool:
        """Not revoked, not expired."""
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    @property
    def owner(self):
        return self.partner or self.customer


class IdempotentRequest(models.Model):
    """A POST to the API sent with an ``Idempotency-Key``, and the first answer to it (Stripe's scheme): a retry
    with the same key, from the same caller, on the same customer, gets that answer again instead of doing
    the work twice. Kept in the public schema, scoped by the customer's schema (``scope``); rows older than
    ``apps.tenants.idempotency.KEEP`` are answered as new and overwritten."""

    scope = models.CharField(max_length=100, help_text="The schema of the customer the request was sent to.")
    caller = models.CharField(max_length=64, help_text="SHA-256 of the credentials that sent it.")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the method, address and body.")
    status_code = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Empty: still being answered.")
    content_type = models.CharField(max_length=100, blank=True)
    body = models.BinaryField(default=bytes)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "caller", "key"],
                                               name="one_answer_per_idempotency_key")]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"


class OperationState(models.TextChoices):
    QUEUED = "queued", "Waiting for a worker"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Done"
    FAILED = "failed", "Failed"


class Operation(models.Model):
    """The progress of one long piece of work a person started (a bulk replay, a template install, an
    onboarding): done of total, errors, the current step, and where to go when it is over. Written only by
    ``apps.tenants.operations`` (counters with ``QuerySet.update()``: operational fields, no history); pages
    poll it. Public schema, so work that creates a customer can report before the customer exists."""

    kind = models.CharField(max_length=40, help_text="replay, template_install, onboarding, …")
    title = models.CharField(max_length=200)
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    started_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    state = models.CharField(max_length=16, choices=OperationState.choices, default=OperationState.QUEUED)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(null=True, blank=True, help_text="Empty: not known (yet).")
    errors = models.PositiveIntegerField(default=0)
    error_messages = models.JSONField(default=list, blank=True, help_text="The latest errors, newest last.")
    step = models.CharField(max_length=300, blank=True, help_text="What it is doing now, or how it ended.")
    result_url = models.CharField(max_length=500, blank=True, help_text="Where to go next (a run, a customer).")
    result_label = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["customer", "-created_at"], name="operation_customer_recent")]

    def __str__(self) -> str:
        return f"{self.title} ({self.state})"

    @property
    def finished(self) -> bool:
        return self.state in (OperationState.SUCCEEDED, OperationState.FAILED)

    def elapsed_seconds(self) -> float:
        return ((self.finished_at or timezone.now()) - self.created_at).total_seconds()

    def percent(self) -> int | None:
        """Done as a whole percentage of the total, or None when the total is not known."""
        if not self.total:
            return 100 if self.finished and self.total == 0 else None
        return min(100, self.done * 100 // self.total)
