"""Tenants for benchmarks: the benchmark partner with one real customer, and customers that are public rows only."""

from __future__ import annotations

import random
from decimal import Decimal


def bench_partner_and_firm(slug: str, name: str):
    """The benchmark partner ("bench", on bench.test) and one onboarded customer (a real schema)."""
    from apps.tenants import services

    partner = services.partner_create(
        acting_user=None, name="Bench Partner", slug="bench", display_name="Bench",
        support_email="b@bench.example", email_sender_name="Bench", domain_suffix="bench.test")
    firm = services.customer_onboard(partner=partner, slug=slug, name=name, admin_email="admin@bench.example",
                                     acting_user=None).customer
    return partner, firm


def rows_only_customers(partner, size: int, *, host_suffix: str, plan=None) -> list:
    """Public rows (customer, primary domain, health with five flows) for customers **without a schema**, up to
    ``size`` customers of ``partner`` in all: a page that entered a customer's schema would fail on them."""
    from django.utils import timezone

    from apps.tenants.choices import SlaStatus
    from apps.tenants.models import Customer, CustomerHealth, Domain

    existing = Customer.objects.filter(partner=partner).count()
    rng, now = random.Random(size), timezone.now()
    new = Customer.objects.bulk_create([
        Customer(partner=partner, slug=f"rows-{n:04d}", name=f"Rows-only firm {n}", schema_name=f"rows_{n:04d}",
                 plan=plan) for n in range(existing, size)])
    Domain.objects.bulk_create([Domain(domain=f"{c.slug}.{host_suffix}", tenant=c, is_primary=True) for c in new])
    flows = [{"slug": f"flow-{i}", "name": f"Flow {i}", "enabled": True, "scheduled": True, "every_minutes": 15,
              "created_at": now.isoformat(), "last_status": "succeeded", "last_success_at": now.isoformat()}
             for i in range(5)]
    money = {c.pk: Decimal(rng.randint(0, 90_000)) for c in new}
    CustomerHealth.objects.bulk_create([CustomerHealth(
        customer=c, open_exceptions=rng.randint(0, 40), money_at_risk=money[c.pk], money_at_risk_currency="EUR",
        money_at_risk_amounts={"EUR": f"{money[c.pk]:.2f}"} if money[c.pk] else {},
        unposted_hours=Decimal(rng.randint(0, 900)), flows=flows, computed_at=now,
        sla_status=rng.choice(SlaStatus.values), sla_reason="bench") for c in new])
    return new
