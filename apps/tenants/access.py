"""Who may do what, on which tenant: the one authorization module. Every decision is made here.

Two tables decide everything (docs/security.md prints both):

- ``ROLE_CAPABILITIES``: what each role grants. Partner roles reach every customer of their partner;
  customer roles reach their own firm only; the platform operator (a superuser) reaches everything.
- ``ACTIONS``: what each action needs (any one of its capabilities allows it), and on what: a
  customer, a partner, or the platform.

Callers only ask: the admin's ``has_*_permission`` and scoped querysets, the API's permission class,
the portal and partner-site decorators, and every service that changes state, which calls
``check(acting_user, action, ...)`` before it acts (``acting_user=None`` is the system itself: the
engine, tasks, management commands; views never pass it). Lookups for something a person may not see
answer exactly like lookups for something that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection as db
from django.db.models import Q, QuerySet

from apps.tenants.choices import PARTNER_ROLES, Capability, CustomerKind, Role
from apps.tenants.errors import AccessDenied, NotVisible
from apps.tenants.models import Customer, Membership, Partner, User

C = Capability
# Roles × capabilities: the whole authorization model is this table and ACTIONS below.
ROLE_CAPABILITIES: dict[str, frozenset[str]] = {
    Role.PARTNER_ADMIN: frozenset(Capability.values),
    Role.INTEGRATION_ENGINEER: frozenset({C.VIEW, C.INSPECT, C.COMMENT, C.OPERATE, C.CONFIGURE}),
    Role.ANALYST: frozenset({C.VIEW, C.INSPECT, C.COMMENT}),
    Role.CUSTOMER_ADMIN: frozenset({C.VIEW, C.INSPECT, C.COMMENT, C.APPROVE, C.AUTHORIZE}),
    Role.FINANCE_APPROVER: frozenset({C.VIEW, C.COMMENT, C.APPROVE}),
    Role.VIEWER: frozenset({C.VIEW}),
}
_ALL = frozenset(Capability.values)

CUSTOMER, PARTNER, PLATFORM = "customer", "partner", "platform"


@dataclass(frozen=True)
class Rule:
    """An action needs any one of ``needs`` on its ``scope`` (platform actions: the operator only)."""

    needs: frozenset[str]
    scope: str
    says: str


def _rule(scope: str, says: str, *needs: str) -> Rule:
    return Rule(frozenset(needs), scope, says)


ACTIONS: dict[str, Rule] = {
    # On one customer (its portal, its tenant admin, its API; the partner site's customer pages)
    "customer.view": _rule(CUSTOMER, "See the portal, reports, exceptions, runs and the API's reads", C.VIEW),
    "console.enter": _rule(CUSTOMER, "Open the tenant admin and read configuration, ledger and history", C.INSPECT),
    "exception.comment": _rule(CUSTOMER, "Comment on an exception", C.COMMENT),
    "exception.acknowledge": _rule(CUSTOMER, "Acknowledge an exception (approve: the business knows)",
                                   C.APPROVE, C.OPERATE),
    "exception.assign": _rule(CUSTOMER, "Assign an exception", C.OPERATE),
    "exception.severity": _rule(CUSTOMER, "Change an exception's severity", C.OPERATE),
    "exception.resolve": _rule(CUSTOMER, "Resolve an exception", C.OPERATE),
    "exception.ignore": _rule(CUSTOMER, "Ignore an exception, with a reason", C.OPERATE),
    "exception.reopen": _rule(CUSTOMER, "Reopen an exception", C.OPERATE),
    "exception.edit_payload": _rule(CUSTOMER, "Edit a failed record's source payload", C.OPERATE),
    "exception.replay": _rule(CUSTOMER, "Replay an exception's records", C.OPERATE),
    "run.start": _rule(CUSTOMER, "Start a flow's run now", C.OPERATE),
    "run.replay": _rule(CUSTOMER, "Replay ledger items", C.OPERATE),
    "records.store": _rule(CUSTOMER, "Store records and reference data in bulk through the API", C.OPERATE),
    "connection.test": _rule(CUSTOMER, "Test a connection (records its health)", C.OPERATE),
    "connection.connect": _rule(CUSTOMER, "Connect a connection to the customer's system (OAuth2 sign-in)",
                                C.AUTHORIZE, C.CONFIGURE),
    "event.reprocess": _rule(CUSTOMER, "Process a stored inbound event again", C.OPERATE),
    "health.refresh": _rule(CUSTOMER, "Recompute a customer's health summary now", C.OPERATE),
    "configuration.change": _rule(CUSTOMER, "Change connections, credentials, mappings, rules, flows, ownership, "
                                            "escalation policies, reporting settings", C.CONFIGURE),
    "template.install": _rule(CUSTOMER, "Install an accelerator", C.CONFIGURE),
    "bi.grant": _rule(CUSTOMER, "Give BI tools read access to the reporting schema (a new password), "
                                "set Parquet snapshots", C.AUTHORIZE, C.ADMINISTER),
    "ledger.delete": _rule(CUSTOMER, "Delete runs, ledger items, events and notifications in the admin",
                           C.ADMINISTER),
    "customer.plan": _rule(CUSTOMER, "Put a customer on a plan", C.ADMINISTER),
    "customer.domain": _rule(CUSTOMER, "Serve a customer on another domain", C.ADMINISTER),
    # On a partner (the partner site, the partner's rows in the public admin)
    "partner.view": _rule(PARTNER, "See the partner site and the partner's rows in the admin", C.VIEW),
    "partner.change": _rule(PARTNER, "Change the brand, customers' names and domains, escalation defaults",
                            C.ADMINISTER),
    "customer.onboard": _rule(PARTNER, "Onboard a customer", C.ADMINISTER),
    "plan.manage": _rule(PARTNER, "Create and change plans and prices", C.ADMINISTER),
    "people.manage": _rule(PARTNER, "Create people and grant or change their roles", C.ADMINISTER),
    # The platform (the operator only)
    "platform.manage": _rule(PLATFORM, "Create and delete partners and customers, grant operator rights, "
                                       "see the task queue"),
}


# --- who holds what ---------------------------------------------------------------------------------
def memberships_of(user: User) -> list[Membership]:
    """The user's memberships, loaded once per user object (that is, once per request)."""
    cached = getattr(user, "_weft_memberships", None)
    if cached is None:
        cached = list(Membership.objects.filter(user_id=user.pk).select_related("partner", "customer"))
        user._weft_memberships = cached
    return cached


def _is_live(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def is_operator(user) -> bool:
    """The platform operator: a live superuser."""
    return _is_live(user) and user.is_superuser


def roles_on_customer(user: User, customer: Customer | None) -> set[str]:
    if not _is_live(user) or customer is None or customer.kind != CustomerKind.FIRM:
        return set()
    return {
        m.role
        for m in memberships_of(user)
        if (m.partner_id and m.partner_id == customer.partner_id) or m.customer_id == customer.pk
    }


def capabilities_on_customer(user: User, customer: Customer | None) -> frozenset[str]:
    if is_operator(user):
        return _ALL
    granted: set[str] = set()
    for role in roles_on_customer(user, customer):
        granted |= ROLE_CAPABILITIES[role]
    return frozenset(granted)


def user_can(user: User, customer: Customer | None, capability: str) -> bool:
    """May ``user`` exercise ``capability`` on ``customer``? (Prefer ``can`` with an action.)"""
    return capability in capabilities_on_customer(user, customer)


def capabilities_on_partner(user: User, partner: Partner | None) -> frozenset[str]:
    if not _is_live(user) or partner is None:
        return frozenset()
    if user.is_superuser:
        return _ALL
    granted: set[str] = set()
    for m in memberships_of(user):
        if m.partner_id == partner.pk:
            granted |= ROLE_CAPABILITIES[m.role]
    return frozenset(granted)


def user_can_on_partner(user: User, partner: Partner | None, capability: str) -> bool:
    return capability in capabilities_on_partner(user, partner)


# --- the one question: may this person do this action here? ----------------------------------------
def current_customer() -> Customer | None:
    """The customer whose schema is active: the request's tenant, or (in tasks) looked up by schema."""
    tenant = getattr(db, "tenant", None)
    if isinstance(tenant, Customer) and tenant.schema_name == db.schema_name:
        return tenant
    return Customer.objects.select_related("partner").filter(schema_name=db.schema_name).first()


def can(user, action: str, *, customer: Customer | None = None, partner: Partner | None = None) -> bool:
    """May ``user`` do ``action`` (a key of ``ACTIONS``)?

    Customer actions are asked of ``customer`` (default: the customer whose schema is active).
    Partner actions are asked of ``partner``; with none given, of any partner the user belongs to.
    """
    rule = ACTIONS[action]
    if is_operator(user):
        return True
    if rule.scope == PLATFORM:
        return False
    if rule.scope == PARTNER:
        partners = [partner] if partner is not None else list(partners_for_user(user))
        return any(rule.needs & capabilities_on_partner(user, p) for p in partners)
    return bool(rule.needs & capabilities_on_customer(user, customer or current_customer()))


def check(acting_user, action: str, *, customer: Customer | None = None, partner: Partner | None = None) -> None:
    """Refuse unless ``acting_user`` may do ``action``; services call this before they change anything.

    ``acting_user=None`` is the system (engine, tasks, commands) and is always allowed; requests always
    pass their user, anonymous included. Someone who cannot see the customer or partner at all gets
    ``NotVisible`` (404, like a missing object); someone who can see it but not do this, ``AccessDenied``.
    """
    if acting_user is None or can(acting_user, action, customer=customer, partner=partner):
        return
    scope = ACTIONS[action].scope
    visible = scope != PLATFORM and can(acting_user, "customer.view" if scope == CUSTOMER else "partner.view",
                                        customer=customer, partner=partner)
    if visible:
        raise AccessDenied(f"Your role does not allow this ({ACTIONS[action].says.lower()}).")
    raise NotVisible("Not found.")


# --- scoped lookups --------------------------------------------------------------------------------
def is_partner_staff(user: User) -> bool:
    return is_operator(user) or (_is_live(user) and any(m.partner_id for m in memberships_of(user)))


def partners_for_user(user: User) -> QuerySet[Partner]:
    if not _is_live(user):
        return Partner.objects.none()
    if user.is_superuser:
        return Partner.objects.all()
    return Partner.objects.filter(memberships__user=user).distinct()


def customers_for_user(user: User) -> QuerySet[Customer]:
    """Customer firms the user may see: their partner's firms, or their own firm."""
    firms = Customer.objects.firms().select_related("partner")
    if not _is_live(user):
        return firms.none()
    if user.is_superuser:
        return firms
    partner_ids = [m.partner_id for m in memberships_of(user) if m.partner_id]
    customer_ids = [m.customer_id for m in memberships_of(user) if m.customer_id]
    return firms.filter(Q(partner_id__in=partner_ids) | Q(pk__in=customer_ids))


def customer_for_user(user: User, slug: str, action: str = "customer.view") -> Customer:
    """The customer with ``slug`` if the user may do ``action`` on it; 404 alike for missing and not yours."""
    customer = customers_for_user(user).filter(slug=slug).first()
    if customer is None or not can(user, action, customer=customer):
        raise NotVisible("No such customer.")
    return customer


def partners_administered_by(user: User, action: str = "partner.change") -> QuerySet[Partner]:
    """Partners where the user may do ``action`` (a partner action; by default, change the partner's rows)."""
    allowed = [p.pk for p in partners_for_user(user) if can(user, action, partner=p)]
    return Partner.objects.filter(pk__in=allowed)


# --- the tables as documentation (docs/security.md holds this output; a test keeps them equal) --------
def role_table_markdown() -> str:
    capabilities = list(Capability)
    lines = ["| role | " + " | ".join(c.value for c in capabilities) + " |",
             "|---|" + "---|" * len(capabilities)]
    for role in Role:
        granted = ROLE_CAPABILITIES[role]
        lines.append(f"| {role.label} | " + " | ".join("✓" if c in granted else "" for c in capabilities) + " |")
    lines += ["", *(f"- `{c.value}`: {c.label}" for c in capabilities)]
    return "\n".join(lines)


def _grants(role: str, rule: Rule) -> bool:
    """Does ``role`` allow ``rule``? Partner actions need a partner role (customer roles hold no partner)."""
    if rule.scope == PARTNER and role not in PARTNER_ROLES:
        return False
    return bool(rule.needs & ROLE_CAPABILITIES[role])


def action_table_markdown() -> str:
    roles = list(Role)
    lines = ["| action | on | needs | " + " | ".join(r.label for r in roles) + " |",
             "|---|---|---|" + "---|" * len(roles)]
    for name, rule in ACTIONS.items():
        needs = " or ".join(sorted(rule.needs)) if rule.needs else "operator"
        marks = ["✓" if _grants(r, rule) else "" for r in roles]
        lines.append(f"| `{name}` | {rule.scope} | {needs} | " + " | ".join(marks) + " |")
    lines += ["", *(f"- `{name}`: {rule.says}" for name, rule in ACTIONS.items())]
    return "\n".join(lines)
