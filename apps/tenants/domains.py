"""Custom domains: a customer may be served on its own host names besides ``<slug>.<partner suffix>``."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from apps.common.history import save_attributed
from apps.tenants import access
from apps.tenants.errors import DomainError
from apps.tenants.models import Customer, Domain, Partner, User
from apps.tenants.validators import validate_hostname


def domain_problem(domain: str, *, customer: Customer) -> str | None:
    """Why ``domain`` cannot serve ``customer``, or None. A host under another partner's suffix would let
    one partner's customer answer on another partner's site, so it is refused like a taken one."""
    if domain in settings.WEFT_PUBLIC_HOSTS:
        return f"{domain} serves the platform itself."
    if Domain.objects.filter(domain=domain).exists():
        return f"{domain} already serves a customer."
    for suffix in Partner.objects.exclude(pk=customer.partner_id).values_list("domain_suffix", flat=True):
        if domain == suffix or domain.endswith(f".{suffix}"):
            return f"{domain} belongs to another partner's site."
    if domain == customer.partner.domain_suffix:
        return f"{domain} is the partner site."
    return None


def customer_domain_add(*, customer: Customer, domain: str, make_primary: bool = False,
                        acting_user: User | None) -> Domain:
    """Serve ``customer`` on ``domain`` too (the DNS and TLS for it are the partner's to arrange)."""
    access.check(acting_user, "customer.domain", customer=customer)
    domain = domain.strip().lower().rstrip(".")
    try:
        validate_hostname(domain)
    except Exception as error:  # ValidationError: the message is safe to show
        raise DomainError(" ".join(getattr(error, "messages", [str(error)])))
    problem = domain_problem(domain, customer=customer)
    if problem:
        raise DomainError(problem)
    with transaction.atomic():
        if make_primary:
            for old in customer.domains.filter(is_primary=True):
                old.is_primary = False
                save_attributed(old, acting_user=acting_user, reason=f"{domain} made primary")
        new = Domain(domain=domain, tenant=customer, is_primary=make_primary)
        return save_attributed(new, acting_user=acting_user, reason="Custom domain added")
