"""Reads about partners, customers and domains, shared by middleware, admin, pages and tasks."""

from __future__ import annotations

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
