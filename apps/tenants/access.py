"""Who may do what, on which tenant: the one authorization module. Every decision is made here.

Two tables decide everything (docs/security.md prints both):

- ``ROLE_CAPABILITIES``: what each role grants. Partner roles reach every customer of their partner;
  customer roles reach their own firm only; the platform operator (a superuser) reaches everything.
- ``ACTIONS``: what each action needs (any one of its capabilities allows it), and on what: a
  customer, a partner, or the platform; and which API key scope allows it (``KEY_AREAS``).

An API key (``apps.tenants.apikeys``) is a principal of its own: its scopes are its role. It reaches one
customer (a customer key) or every customer of one partner and the partner itself (a partner key), and may
do an action only with the scope for the action's area (``<area>:read`` or ``<area>:write``; write implies
read). Actions with no area (the admin, people, keys, the platform) are never a key's.

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


# What API keys may be granted: read or write per area. Reads of ``customer.view`` take the area of the
# endpoint asked (``api_area`` on the API view); every other action names its own area below.
KEY_AREAS: dict[str, str] = {
    "records": "Hub records (customers, projects, people, time, expenses, invoices) and bulk reference data",
    "runs": "Flows, runs, the ledger and replay",
    "exceptions": "Exceptions: list, triage, payload edits, replay",
    "configuration": "Connections, mappings, rules, templates and escalation policies",
    "reports": "Report figures and exports, customer health",
    "customers": "Partner keys: the partner's customers, onboarding, plans, usage",
}
PARTNER_ONLY_AREAS = frozenset({"customers"})
ANY_AREA = "*"  # an endpoint that shows no area's data (the API root's list of links): any scope reads it
READ, WRITE = "read", "write"


@dataclass(frozen=True)
class Rule:
    """An action needs any one of ``needs`` on its ``scope`` (platform actions: the operator only).

    ``area`` and ``mode`` say which API key scope allows it (no area: no key may)."""

    needs: frozenset[str]
    scope: str
    says: str
    area: str | None = None
    mode: str = WRITE


def _rule(scope: str, says: str, *needs: str, area: str | None = None, mode: str = WRITE) -> Rule:
    return Rule(frozenset(needs), scope, says, area, mode)


ACTIONS: dict[str, Rule] = {
    # On one customer (its portal, its tenant admin, its API; the partner site's customer pages)
    "customer.view": _rule(CUSTOMER, "See the portal, reports, exceptions, runs and the API's reads", C.VIEW,
                           mode=READ),
    "console.enter": _rule(CUSTOMER, "Open the tenant admin and read configuration, ledger and history", C.INSPECT),
    "exception.comment": _rule(CUSTOMER, "Comment on an exception", C.COMMENT, area="exceptions"),
    "exception.acknowledge": _rule(CUSTOMER, "Acknowledge an exception (approve: the business knows)",
                                   C.APPROVE, C.OPERATE, area="exceptions"),
    "exception.assign": _rule(CUSTOMER, "Assign an exception", C.OPERATE, area="exceptions"),
    "exception.severity": _rule(CUSTOMER, "Change an exception's severity", C.OPERATE, area="exceptions"),
    "exception.resolve": _rule(CUSTOMER, "Resolve an exception", C.OPERATE, area="exceptions"),
    "exception.ignore": _rule(CUSTOMER, "Ignore an exception, with a reason", C.OPERATE, area="exceptions"),
    "exception.reopen": _rule(CUSTOMER, "Reopen an exception", C.OPERATE, area="exceptions"),
    "exception.edit_payload": _rule(CUSTOMER, "Edit a failed record's source payload", C.OPERATE, area="exceptions"),
    "exception.replay": _rule(CUSTOMER, "Replay an exception's records", C.OPERATE, area="exceptions"),
    "run.start": _rule(CUSTOMER, "Start a flow's run now", C.OPERATE, area="runs"),
    "run.replay": _rule(CUSTOMER, "Replay ledger items", C.OPERATE, area="runs"),
    "records.store": _rule(CUSTOMER, "Store records and reference data in bulk through the API", C.OPERATE,
                           area="records"),
    "connection.test": _rule(CUSTOMER, "Test a connection (records its health)", C.OPERATE, area="configuration"),
    "connection.connect": _rule(CUSTOMER, "Connect a connection to the customer's system (OAuth2 sign-in)",
                                C.AUTHORIZE, C.CONFIGURE),
    "event.reprocess": _rule(CUSTOMER, "Process a stored inbound event again", C.OPERATE, area="runs"),
    "health.refresh": _rule(CUSTOMER, "Recompute a customer's health summary now", C.OPERATE, area="reports"),
    "configuration.change": _rule(CUSTOMER, "Change connections, credentials, mappings, rules, flows, ownership, "
                                            "escalation policies, reporting settings", C.CONFIGURE,
                                   area="configuration"),
    "template.install": _rule(CUSTOMER, "Install an accelerator", C.CONFIGURE, area="configuration"),
    "bi.grant": _rule(CUSTOMER, "Give BI tools read access to the reporting schema (a new password), "
                                "set Parquet snapshots", C.AUTHORIZE, C.ADMINISTER),
    "ledger.delete": _rule(CUSTOMER, "Delete runs, ledger items, events and notifications in the admin",
                           C.ADMINISTER),
    "customer.plan": _rule(CUSTOMER, "Put a customer on a plan", C.ADMINISTER, area="customers"),
    "customer.domain": _rule(CUSTOMER, "Serve a customer on another domain", C.ADMINISTER),
    "apikey.customer": _rule(CUSTOMER, "Create and revoke API keys for this customer only (customer admins, in "
                                       "the portal)", C.AUTHORIZE, C.ADMINISTER),
    # On a partner (the partner site, the partner's rows in the public admin)
    "partner.view": _rule(PARTNER, "See the partner site and the partner's rows in the admin", C.VIEW,
                          area="customers", mode=READ),
    "partner.change": _rule(PARTNER, "Change the brand, customers' names and domains, escalation defaults",
                            C.ADMINISTER),
    "customer.onboard": _rule(PARTNER, "Onboard a customer (the setup wizard, the onboarding form)", C.ADMINISTER,
                              C.CONFIGURE, area="customers"),
    "template.upgrade": _rule(PARTNER, "Upgrade a template in every customer of the partner that runs an older "
                                       "version (each customer also needs template.install)", C.CONFIGURE,
                              area="configuration"),
    "plan.manage": _rule(PARTNER, "Create and change plans and prices", C.ADMINISTER),
    "people.manage": _rule(PARTNER, "Create people and grant or change their roles", C.ADMINISTER),
    "apikey.manage": _rule(PARTNER, "Create and revoke API keys for the partner and its customers", C.ADMINISTER),
    # The platform (the operator only)
    "platform.manage": _rule(PLATFORM, "Create and delete partners and customers, grant operator rights, "
                                       "see the task queue"),
}


# --- who holds what ---------------------------------------------------------------------------------
def memberships_of(user: User) -> list[Membership]:
    """The user's memberships, loaded once per user object (that is, once per request). A key holds none."""
    cached = getattr(user, "_weft_memberships", None)
    if cached is None and api_key_of(user) is not None:
        cached = user._weft_memberships = []
    if cached is None:
        cached = list(Membership.objects.filter(user_id=user.pk).select_related("partner", "customer"))
        user._weft_memberships = cached
    return cached


def _is_live(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


# --- API keys: the key's reach and scopes, never its principal's memberships --------------------------
def api_key_of(user):
    """The API key a request authenticated with (set on its principal by the API's authentication)."""
    return getattr(user, "weft_api_key", None)


def key_scopes(*, partner_key: bool) -> list[str]:
    """Every scope a key may hold (``area:read``, ``area:write``); customer keys have no partner areas."""
    areas = [a for a in KEY_AREAS if partner_key or a not in PARTNER_ONLY_AREAS]
    return [f"{area}:{mode}" for area in areas for mode in (READ, WRITE)]


def grantable_scopes(user, *, partner_key: bool, customer: Customer | None = None,
                     partner: Partner | None = None) -> list[str]:
    """The scopes ``user`` may give a key: never more than the person may do. Every area's read; an area's
    write only when the person may do every write action in it (a customer admin, who may neither operate
    nor configure, makes keys that read, comment and approve through the portal only)."""
    held = capabilities_on_partner(user, partner) if partner_key else capabilities_on_customer(user, customer)
    granted = []
    for scope in key_scopes(partner_key=partner_key):
        area, mode = scope.split(":")
        writes = [r for r in ACTIONS.values()
                  if r.area == area and r.mode == WRITE and (partner_key or r.scope == CUSTOMER)]
        if mode == READ or all(r.needs & held for r in writes):
            granted.append(scope)
    return granted


def key_reaches(key, *, customer: Customer | None = None, partner: Partner | None = None) -> bool:
    """A customer key reaches its firm; a partner key its partner and every firm of it."""
    if not key.is_usable():
        return False
    if partner is not None:
        return key.partner_id is not None and key.partner_id == partner.pk
    if customer is None or customer.kind != CustomerKind.FIRM:
        return False
    return customer.pk == key.customer_id or (key.partner_id is not None and customer.partner_id == key.partner_id)


def key_allows(key, rule: Rule, area: str | None) -> bool:
    """Does the key hold the scope for ``rule`` (its own area, else the endpoint's ``area``)?"""
    area = rule.area or area
    if area is None or rule.scope == PLATFORM:
        return False
    if area == ANY_AREA:
        return rule.mode == READ and bool(key.scopes)
    held = set(key.scopes)
    return f"{area}:{WRITE}" in held or (rule.mode == READ and f"{area}:{READ}" in held)


def _key_can(key, rule: Rule, customer, partner, area) -> bool:
    if rule.scope == PARTNER:
        partner = partner or (key.partner if key.partner_id else None)
        return key_reaches(key, partner=partner) and key_allows(key, rule, area)
    return key_reaches(key, customer=customer or current_customer()) and key_allows(key, rule, area)


def is_operator(user) -> bool:
    """The platform operator: a live superuser."""
    return _is_live(user) and user.is_superuser and api_key_of(user) is None


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


def can(user, action: str, *, customer: Customer | None = None, partner: Partner | None = None,
        area: str | None = None) -> bool:
    """May ``user`` do ``action`` (a key of ``ACTIONS``)?

    Customer actions are asked of ``customer`` (default: the customer whose schema is active).
    Partner actions are asked of ``partner``; with none given, of any partner the user belongs to.
    ``area`` is the API endpoint's, for an API key's reads (``customer.view`` names no area of its own).
    """
    rule = ACTIONS[action]
    key = api_key_of(user)
    if key is not None:
        return _live_principal(user) and _key_can(key, rule, customer, partner, area)
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
    if _sees(acting_user, ACTIONS[action].scope, customer, partner):
        raise AccessDenied(f"Your role does not allow this ({ACTIONS[action].says.lower()}).")
    raise NotVisible("Not found.")


def _sees(user, scope: str, customer, partner) -> bool:
    """Whether the refusal is a 403 (the caller sees the customer or partner) or a 404 (it does not)."""
    if scope == PLATFORM:
        return False
    key = api_key_of(user)
    if key is not None:
        target = {"partner": partner} if scope == PARTNER else {"customer": customer or current_customer()}
        return _live_principal(user) and key_reaches(key, **target)
    return can(user, "customer.view" if scope == CUSTOMER else "partner.view", customer=customer, partner=partner)


def _live_principal(user) -> bool:
    return bool(user.is_active)


# --- scoped lookups --------------------------------------------------------------------------------
def is_partner_staff(user: User) -> bool:
    return is_operator(user) or (_is_live(user) and any(m.partner_id for m in memberships_of(user)))


def partners_for_user(user: User) -> QuerySet[Partner]:
    if not _is_live(user):
        return Partner.objects.none()
    key = api_key_of(user)
    if key is not None:
        return Partner.objects.filter(pk=key.partner_id) if key.is_usable() else Partner.objects.none()
    if user.is_superuser:
        return Partner.objects.all()
    return Partner.objects.filter(memberships__user=user).distinct()


def customers_for_user(user: User) -> QuerySet[Customer]:
    """Customer firms the user may see: their partner's firms, or their own firm."""
    firms = Customer.objects.firms().select_related("partner")
    if not _is_live(user):
        return firms.none()
    key = api_key_of(user)
    if key is not None:
        if not key.is_usable():
            return firms.none()
        return firms.filter(partner_id=key.partner_id) if key.partner_id else firms.filter(pk=key.customer_id)
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
    lines = ["| action | on | needs | " + " | ".join(r.label for r in roles) + " | API key scope |",
             "|---|---|---|" + "---|" * len(roles) + "---|"]
    for name, rule in ACTIONS.items():
        needs = " or ".join(sorted(rule.needs)) if rule.needs else "operator"
        marks = ["✓" if _grants(r, rule) else "" for r in roles]
        lines.append(f"| `{name}` | {rule.scope} | {needs} | " + " | ".join(marks) + f" | {_key_scope(rule)} |")
    lines += ["", *(f"- `{name}`: {rule.says}" for name, rule in ACTIONS.items())]
    return "\n".join(lines)


def _key_scope(rule: Rule) -> str:
    if rule.area is None:
        return "the endpoint's area, `:read`" if rule.mode == READ and rule.scope != PLATFORM else "none"
    return f"`{rule.area}:{rule.mode}`"


def key_area_table_markdown() -> str:
    lines = ["| area | covers | keys |", "|---|---|---|"]
    for area, says in KEY_AREAS.items():
        lines.append(f"| `{area}` | {says} | {'partner' if area in PARTNER_ONLY_AREAS else 'customer, partner'} |")
    return "\n".join(lines)
