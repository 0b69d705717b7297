"""Demo plans for ``make run``: two plans per demo partner, each demo customer on one, health computed."""

from __future__ import annotations

from decimal import Decimal

from django_tenants.utils import schema_context

from apps.reporting.health import customer_health_refresh
from apps.tenants.choices import Feature
from apps.tenants.models import Customer, Partner, Plan
from apps.tenants.plans import customer_plan_set, plan_create

PLANS = [  # slug, name, monthly price, included records / runs / API calls, features
    ("essentials", "Essentials", Decimal("490"), 5_000, 3_000, 10_000, [Feature.ESCALATION]),
    ("complete", "Complete", Decimal("1490"), 50_000, None, None, list(Feature.values)),
]
CUSTOMER_PLANS = {"acme": "complete", "globex": "essentials", "initech": "complete"}


def demo_portal_seed(partner_slugs: list[str], customer_slugs: list[str]) -> list[str]:
    """Create what is missing of the demo plans, put demo customers without a plan on theirs, and compute
    every demo customer's health summary now (the cluster keeps it current afterwards)."""
    lines = []
    for partner in Partner.objects.filter(slug__in=partner_slugs):
        for slug, name, price, records, runs, calls, features in PLANS:
            if not Plan.objects.filter(partner=partner, slug=slug).exists():
                plan_create(partner=partner, slug=slug, name=name, monthly_price=price, currency="EUR",
                            included_records=records, included_runs=runs, included_api_calls=calls,
                            features=features, acting_user=None)
    for customer in Customer.objects.firms().filter(slug__in=customer_slugs).select_related("partner"):
        if customer.plan_id is None and customer.slug in CUSTOMER_PLANS:
            plan = Plan.objects.get(partner=customer.partner, slug=CUSTOMER_PLANS[customer.slug])
            customer_plan_set(customer=customer, plan=plan, acting_user=None, reason="Demo plan")
            lines.append(f"{customer.name}: on the {plan.name} plan.")
        with schema_context(customer.schema_name):
            customer_health_refresh()
    return lines
