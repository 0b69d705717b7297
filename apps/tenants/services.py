"""Writes for partners, customers, people and memberships."""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.validators import validate_email
from django.db import connection, transaction
from django_tenants.models import TenantMixin
from django_tenants.signals import post_schema_sync
from django_tenants.utils import get_public_schema_name, schema_exists

from apps.common.history import save_attributed  # noqa: F401  (used by callers too)
from apps.common.tenancy import in_customer_schemas
from apps.tenants import access
from apps.tenants.choices import CUSTOMER_ROLES, PARTNER_ROLES, CustomerKind, Role
from apps.tenants.errors import OnboardingError, TemplateSchemaError
from apps.tenants.migration_executor import missing_migrations
from apps.tenants.models import Customer, Domain, Membership, Partner, User
from apps.tenants.schema_copy import template_copy
from apps.tenants.validators import validate_hostname

ONBOARDING_LOCK = 0x5745_4654  # "WEFT": one onboarding at a time; cloning rewrites shared helpers
SPARE_PREFIX = "spare_"  # schemas cloned ahead of onboarding (spare_schemas_fill); never a customer's name


@dataclass
class OnboardingResult:
    customer: Customer
    created: bool
    admin_user: User
    admin_password: str | None = None  # only when a new admin login was made, to hand over once
    messages: list[str] = field(default_factory=list)


def partner_create(*, acting_user: User | None, **fields) -> Partner:
    access.check(acting_user, "platform.manage")
    return save_attributed(Partner(**fields), acting_user=acting_user, reason="Partner created")


def user_create(*, username: str, email: str, password: str | None, acting_user: User | None, **extra) -> User:
    """A new login. Operator rights (``is_superuser``, ``is_staff``) only from the platform operator."""
    elevated = extra.get("is_superuser") or extra.get("is_staff")
    access.check(acting_user, "platform.manage" if elevated else "people.manage")
    return _user_save(username=username, email=email, password=password, acting_user=acting_user, **extra)


def _user_save(*, username: str, email: str, password: str | None, acting_user: User | None, **extra) -> User:
    user = User(username=username, email=email, **extra)
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    return save_attributed(user, acting_user=acting_user, reason="User created")


def user_delete(*, user: User, acting_user: User | None) -> None:
    """Delete a login, with what every customer schema holds of them: who commented, edited, published, owns, or
    changed a thing (history rows too) becomes nobody ("system"), and the customer admin's log of them goes.

    Customer schemas name people without a foreign-key constraint into the public schema (each would hang two
    triggers on ``tenants_user`` per customer; docs/scale.md), so neither PostgreSQL nor Django's deletion
    (which sees only the public schema) would reach those rows. One round trip a schema; every table naming a
    user is locked until the end of the transaction (≈ 24 a customer)."""
    access.check(acting_user, "platform.manage")
    with transaction.atomic():
        _user_references_clear(user.pk)
        user.delete()


def _user_references_clear(user_id: int) -> None:
    columns = _user_columns_in_customers()
    by_schema: dict[str, list[str]] = defaultdict(list)
    with connection.cursor() as cursor:
        cursor.execute("SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                       " WHERE c.relname = ANY(%s) AND c.relkind IN ('r', 'p') AND n.nspname <> %s ORDER BY 1, 2",
                       [list(columns), get_public_schema_name()])
        for schema, table in cursor.fetchall():
            by_schema[schema].append(table)
        quote, user_id = connection.ops.quote_name, int(user_id)
        for schema, tables in by_schema.items():
            statements = [
                f"UPDATE {quote(schema)}.{quote(table)} SET {quote(column)} = NULL WHERE {quote(column)} = {user_id}"
                if nullable else f"DELETE FROM {quote(schema)}.{quote(table)} WHERE {quote(column)} = {user_id}"
                for table in tables for column, nullable in columns[table]]
            cursor.execute(";\n".join(statements))


def _user_columns_in_customers() -> dict[str, list[tuple[str, bool]]]:
    """Per table of the customer schemas: its columns naming a user, and whether each may be NULL (the one that
    may not, the admin log's, loses its rows as in the public schema)."""
    user_model = apps.get_model(settings.AUTH_USER_MODEL)
    columns: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for model in apps.get_models():
        if in_customer_schemas(model):
            for f in model._meta.concrete_fields:
                if f.is_relation and f.related_model is user_model:
                    columns[model._meta.db_table].append((f.column, f.null))
    return columns


def membership_grant(
    *, user: User, role: str, partner: Partner | None = None, customer: Customer | None = None,
    acting_user: User | None,
) -> Membership:
    """Give ``user`` a role at a partner or a customer; granting an existing role changes nothing."""
    access.check(acting_user, "people.manage", partner=partner or (customer.partner if customer else None))
    return _membership_save(user=user, role=role, partner=partner, customer=customer, acting_user=acting_user)


def _membership_save(*, user: User, role: str, partner: Partner | None, customer: Customer | None,
                     acting_user: User | None) -> Membership:
    if (role in PARTNER_ROLES) != (partner is not None) or (role in CUSTOMER_ROLES) != (customer is not None):
        raise ValidationError("Partner roles belong to a partner, customer roles to a customer.")
    existing = Membership.objects.filter(user=user, partner=partner, customer=customer).first()
    if existing and existing.role == role:
        return existing
    membership = existing or Membership(user=user, partner=partner, customer=customer)
    membership.role = role
    return save_attributed(membership, acting_user=acting_user, reason=f"Role set to {role}")


def template_pending_migrations() -> list[str]:
    """Migrations the schema template still lacks (cloning it then would make broken tenants)."""
    template = settings.TENANT_BASE_SCHEMA
    if not schema_exists(template):
        return ["(schema missing)"]
    # Its django_migrations rows against the code's migrations: a migration plan would introspect the catalogue
    # (every customer's tables), which took 0.4 s of an onboarding at 1,000 customers and grew with them.
    missing = missing_migrations([template]).get(template, frozenset())
    if missing is None:
        return ["(no migration table)"]
    return sorted(f"{app}.{name}" for app, name in missing)


def tenant_template_ensure(*, verbosity: int = 0) -> bool:
    """Create or migrate the template schema new tenants are cloned from; True if anything changed."""
    template = Customer.objects.filter(kind=CustomerKind.TEMPLATE).first()
    if template is None:
        template = Customer(
            schema_name=settings.TENANT_BASE_SCHEMA, slug="weft-template", name="Schema template",
            kind=CustomerKind.TEMPLATE, is_active=False,
        )
        template.save(verbosity=verbosity)  # no template yet, so django-tenants migrates this one
        return True
    if not template_pending_migrations():
        return False
    call_command("migrate_schemas", schema_name=template.schema_name, interactive=False, verbosity=verbosity)
    return True


def customer_onboard(
    *, partner: Partner, slug: str, name: str, domain: str | None = None, admin_email: str,
    admin_username: str | None = None, admin_password: str | None = None, acting_user: User | None,
) -> OnboardingResult:
    """Create a customer's schema, domain and first customer admin; running it again changes nothing.

    Everything happens in one transaction, so a refusal or failure leaves nothing half-made.
    """
    access.check(acting_user, "customer.onboard", partner=partner)
    domain = (domain or partner.customer_domain(slug)).strip().lower()
    existing = Customer.objects.filter(slug=slug).select_related("partner").first()
    if existing is not None:
        return _already_onboarded(existing, partner=partner, name=name, domain=domain, admin_email=admin_email)
    _validate_new_customer(partner=partner, slug=slug, name=name, domain=domain, admin_email=admin_email)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ONBOARDING_LOCK])
        if template_pending_migrations():
            raise TemplateSchemaError(
                "The tenant template schema is not fully migrated; run `manage.py migrate_schemas` first."
            )
        customer = Customer(
            partner=partner, slug=slug, name=name, schema_name=Customer.schema_for_slug(slug), kind=CustomerKind.FIRM
        )
        customer.full_clean(exclude=["domain_url"])
        customer._history_user, customer._change_reason = acting_user, "Customer onboarded"
        customer.auto_create_schema = False  # _schema_clone makes the schema
        customer.save(verbosity=0)
        _schema_clone(customer)
        save_attributed(Domain(domain=domain, tenant=customer, is_primary=True), acting_user=acting_user)
        admin, password = _customer_admin(
            admin_username or admin_email, admin_email, admin_password, acting_user=acting_user
        )
        # The customer's first admin is part of onboarding (allowed above; integration engineers onboard too),
        # not a separate grant that needs people.manage; history still names the acting person.
        _membership_save(user=admin, role=Role.CUSTOMER_ADMIN, partner=None, customer=customer,
                         acting_user=acting_user)
    # A database session that cloned schemas keeps their catalog entries, and each later clone in it is
    # slower (1.2 s to 5 s within a dozen onboardings here): the next one starts with a fresh session.
    transaction.on_commit(connection.close)
    return OnboardingResult(
        customer=customer, created=True, admin_user=admin, admin_password=password,
        messages=[f"Onboarded {name} ({slug}) at {domain}; customer admin {admin.username}."],
    )


def spare_schemas_fill(*, count: int | None = None) -> int:
    """Keep ``count`` (``WEFT_SPARE_SCHEMAS``) spare schemas cloned from the template, so onboarding renames one
    (instant) instead of cloning (a second or more, growing with the catalogue); spares that miss a migration
    (made before a deploy) are dropped and made again. Returns how many were made."""
    wanted = settings.WEFT_SPARE_SCHEMAS if count is None else count
    made = 0
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ONBOARDING_LOCK])
            if template_pending_migrations():
                return 0
            spares, ready = _spares()
            for stale in set(spares) - set(ready):
                cursor.execute(f'DROP SCHEMA "{stale}" CASCADE')
        for _ in range(wanted - len(ready)):
            template_copy(f"{SPARE_PREFIX}{secrets.token_hex(6)}", Customer.clone_mode)
            made += 1
        connection.set_schema_to_public()
        transaction.on_commit(connection.close)  # cloning leaves the session's catalogue cache large
    return made


def _spares() -> tuple[list[str], list[str]]:
    """Every spare schema, and those holding every migration (fit to become a customer's)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s) ORDER BY 1", [SPARE_PREFIX])
        spares = [row[0] for row in cursor.fetchall()]
    missing = missing_migrations(spares)
    return spares, [s for s in spares if s not in missing]


def _schema_clone(customer: Customer) -> None:
    """Give the customer a copy of the template schema: a spare renamed when one is ready, else a clone. Either
    way: tables, rows, and the ``django_migrations`` rows of every migration the template has (it was checked
    fully migrated under the onboarding lock).

    django-tenants would follow the clone with ``migrate_schemas --fake``, which records those same
    migrations again and re-runs post-migrate hooks whose rows (content types, permissions) came with
    the clone: a quarter of a second per tenant for nothing.
    """
    _, ready = _spares()
    if ready:
        with connection.cursor() as cursor:
            cursor.execute(f'ALTER SCHEMA "{ready[0]}" RENAME TO "{customer.schema_name}"')
    else:
        template_copy(customer.schema_name, customer.clone_mode)
    connection.set_schema_to_public()
    post_schema_sync.send(sender=TenantMixin, tenant=customer.serializable_fields())


def _validate_new_customer(*, partner: Partner, slug: str, name: str, domain: str, admin_email: str) -> None:
    problems: list[str] = []
    for check in (
        lambda: Customer(partner=partner, slug=slug, name=name, schema_name=Customer.schema_for_slug(slug))
        .full_clean(exclude=["domain_url"]),
        lambda: validate_hostname(domain),
        lambda: validate_email(admin_email),
    ):
        try:
            check()
        except ValidationError as error:
            problems.extend(error.messages)
    if problems:
        raise OnboardingError(f"Cannot onboard {slug!r}: {'; '.join(problems)}")
    if Domain.objects.filter(domain=domain).exists():
        raise OnboardingError(f"The domain {domain} already serves another customer.")
    if Customer.objects.filter(schema_name=Customer.schema_for_slug(slug)).exists():
        raise OnboardingError(f"The slug {slug!r} is already in use.")


def _already_onboarded(
    customer: Customer, *, partner: Partner, name: str, domain: str, admin_email: str
) -> OnboardingResult:
    if customer.partner_id != partner.pk:
        raise OnboardingError(f"The slug {customer.slug!r} is already in use.")
    differences = []
    if customer.name != name:
        differences.append(f"name is {customer.name!r}")
    if not customer.domains.filter(domain=domain).exists():
        differences.append(f"domain {domain} is not one of its domains")
    if differences:
        raise OnboardingError(
            f"{customer.slug} is already onboarded and differs ({'; '.join(differences)}); change it in the admin."
        )
    admin = (
        User.objects.filter(memberships__customer=customer, memberships__role=Role.CUSTOMER_ADMIN)
        .order_by("pk")
        .first()
    )
    return OnboardingResult(
        customer=customer, created=False, admin_user=admin,
        messages=[f"{name} ({customer.slug}) is already onboarded at {domain}; nothing changed."],
    )


def _customer_admin(
    username: str, email: str, password: str | None, *, acting_user: User | None
) -> tuple[User, str | None]:
    existing = User.objects.filter(username=username).first()
    if existing is not None:
        return existing, None
    password = password or secrets.token_urlsafe(12)
    return _user_save(username=username, email=email, password=password, acting_user=acting_user), password
