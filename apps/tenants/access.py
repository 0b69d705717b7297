"""Who may see and change what, on which tenant. Every user-scoped lookup goes through here.

Partner staff reach every customer of their own partner; customer users reach their own firm only;
the platform operator (a superuser) reaches everything. Lookups for something a person may not see
answer exactly like lookups for something that does not exist.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from apps.tenants.choices import ROLE_CAPABILITIES, Capability, CustomerKind
from apps.tenants.models import Customer, Membership, Partner, User

_ALL = frozenset(Capability.values)


def memberships_of(user: User) -> list[Membership]:
    """The user's memberships, loaded once per user object (that is, once per request)."""
    cached = getattr(user, "_weft_memberships", None)
    if cached is None:
        cached = list(Membership.objects.filter(user_id=user.pk).select_related("partner", "customer"))
        user._weft_memberships = cached
    return cached


def _is_live(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active)


def roles_on_customer(user: User, customer: Customer | None) -> set[str]:
    if not _is_live(user) or customer is None or customer.kind != CustomerKind.FIRM:
        return set()
    return {
        m.role
        for m in memberships_of(user)
        if (m.partner_id and m.partner_id == customer.partner_id) or m.customer_id == customer.pk
    }


def capabilities_on_customer(user: User, customer: Customer | None) -> frozenset[str]:
    if _is_live(user) and user.is_superuser:
        return _ALL
    granted: set[str] = set()
    for role in roles_on_customer(user, customer):
        granted |= ROLE_CAPABILITIES[role]
    return frozenset(granted)


def user_can(user: User, customer: Customer | None, capability: str) -> bool:
    """The tenant-aware permission check: may ``user`` do ``capability`` on ``customer``?"""
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


def is_partner_staff(user: User) -> bool:
    return _is_live(user) and (user.is_superuser or any(m.partner_id for m in memberships_of(user)))


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


def customer_for_user(user: User, slug: str, capability: str = Capability.VIEW) -> Customer:
    """The customer with ``slug`` if the user may ``capability`` on it; 404 alike for missing and not yours."""
    customer = customers_for_user(user).filter(slug=slug).first()
    if customer is None or not user_can(user, customer, capability):
        raise Http404("No such customer.")
    return customer


def partners_administered_by(user: User) -> QuerySet[Partner]:
    """Partners where the user may onboard customers and manage people (partner admins, operators)."""
    allowed = [p.pk for p in partners_for_user(user) if user_can_on_partner(user, p, Capability.ADMINISTER)]
    return Partner.objects.filter(pk__in=allowed)
