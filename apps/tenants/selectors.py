"""Reads about partners, customers and domains, shared by middleware, admin, pages and tasks."""

from __future__ import annotations

import threading
import time
from typing import NamedTuple

from django.db.models import QuerySet
from django_tenants.utils import get_public_schema_name

from apps.tenants.choices import CustomerKind
from apps.tenants.models import Customer, Domain, Partner


def customer_for_host(hostname: str) -> Customer | None:
    """The active customer firm served on ``hostname``, with its partner loaded."""
    domain = (
        Domain.objects.select_related("tenant__partner")
        .filter(domain=hostname, tenant__kind=CustomerKind.FIRM, tenant__is_active=True)
        .first()
    )
    return domain.tenant if domain else None


class FirmRoute(NamedTuple):
    """Where a customer's host leads: enough to write into its schema without loading the customer."""

    customer_id: int
    schema_name: str


_ROUTES: dict[str, tuple[FirmRoute, float]] = {}
_ROUTES_LOCK = threading.Lock()
ROUTE_TTL_SECONDS, ROUTES_KEPT = 60.0, 10_000


def firm_route_for_host(hostname: str) -> FirmRoute | None:
    """``customer_for_host`` remembered per process for a minute, for the webhook intake's hot path.

    A remembered route may be stale (the customer deactivated, the domain moved): its one caller re-checks
    both inside the statement that writes, and forgets the route (``firm_route_forget``) when that check
    fails, so a stale entry costs a slower answer, never a write into the wrong schema.
    """
    now = time.monotonic()
    cached = _ROUTES.get(hostname)
    if cached is not None and cached[1] > now:
        return cached[0]
    customer = customer_for_host(hostname)
    if customer is None:
        return None
    route = FirmRoute(customer.pk, customer.schema_name)
    with _ROUTES_LOCK:
        if len(_ROUTES) >= ROUTES_KEPT:
            _ROUTES.clear()
        _ROUTES[hostname] = (route, now + ROUTE_TTL_SECONDS)
    return route


def firm_route_forget(hostname: str) -> None:
    _ROUTES.pop(hostname, None)


def partner_for_host(hostname: str) -> Partner | None:
    return Partner.objects.filter(domain_suffix=hostname).first()


def platform_tenant() -> Customer:
    """The row that stands for the public schema (django-tenants wants a tenant on every request)."""
    return Customer.objects.get(schema_name=get_public_schema_name())


def active_firm_schemas() -> QuerySet:
    """Schema names of every active customer firm, for tasks that run once per tenant."""
    return (
        Customer.objects.firms().filter(is_active=True).order_by("schema_name").values_list("schema_name", flat=True)
    )


def primary_domain(customer: Customer) -> str | None:
    domain = customer.domains.filter(is_primary=True).first() or customer.domains.first()
    return domain.domain if domain else None


def firm_schemas() -> QuerySet:
    """Schema names of every customer firm, active or not (maintenance such as key rotation)."""
    return Customer.objects.firms().order_by("schema_name").values_list("schema_name", flat=True)
