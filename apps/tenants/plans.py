"""Plans a partner sells, the plan each customer is on, and the one feature check UI and API share."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from apps.common.history import save_attributed
from apps.tenants.choices import Feature
from apps.tenants.errors import PlanError
from apps.tenants.models import Customer, Partner, Plan, User
from apps.tenants.usage import usage_plan_note


def plan_allows(customer: Customer | None, feature: str) -> bool:
    """May ``customer`` use ``feature``? A customer not on a plan is not gated; no customer, no feature.

    The plan is read from ``customer.plan`` (load it with ``select_related("plan")`` in lists).
    """
    if feature not in Feature.values:
        raise ValueError(f"Unknown plan feature {feature!r}.")
    if customer is None or customer.kind != "firm":
        return False
    plan = customer.plan if customer.plan_id else None
    return plan is None or plan.includes(feature)


# URLs owned by other apps that need a plan feature: (view name with namespace, URL kwargs) -> feature.
_GATED_ROUTES: dict[tuple[str, frozenset], str] = {}


def plan_gate_route(*, route: str, feature: str, **kwargs: str) -> None:
    """Gate a URL another app owns by a plan feature, e.g. ``route="api:report", name="reconciliation"``.

    ``PlanAllows`` reads these for views that declare no feature themselves, so the catalogue of which
    figure needs which feature can live in one place (the portal registers its reports' features)."""
    if feature not in Feature.values:
        raise ValueError(f"Unknown plan feature {feature!r}.")
    _GATED_ROUTES[(route, frozenset(kwargs.items()))] = feature


def route_feature(match) -> str | None:
    """The feature a resolved URL (``request.resolver_match``) needs, if one was registered."""
    if match is None:
        return None
    kwargs = {(k, str(v)) for k, v in match.kwargs.items()}
    for (route, needed), feature in _GATED_ROUTES.items():
        if route == match.view_name and needed <= kwargs:
            return feature
    return None


def plan_denied_message(customer: Customer, feature: str) -> str:
    """What to tell a person who met a gated feature (names the plan, never Weft)."""
    label = Feature(feature).label
    return f"{label} is not part of the {customer.plan.name} plan. Ask your provider about upgrading."


def plan_create(
    *, partner: Partner, name: str, slug: str, monthly_price: Decimal, currency: str,
    included_records: int | None = None, included_runs: int | None = None, included_api_calls: int | None = None,
    features: list[str] | None = None, acting_user: User | None,
) -> Plan:
    plan = Plan(partner=partner, name=name, slug=slug, monthly_price=monthly_price, currency=currency,
                included_records=included_records, included_runs=included_runs,
                included_api_calls=included_api_calls, features=list(features or []))
    return save_attributed(plan, acting_user=acting_user, reason="Plan created")


PLAN_FIELDS = ("name", "monthly_price", "currency", "included_records", "included_runs", "included_api_calls",
               "features", "is_active")


def plan_update(*, plan: Plan, changes: dict, acting_user: User | None, reason: str = "") -> Plan:
    """Change a plan's price, volumes, features or name; the history row keeps the old values."""
    unknown = set(changes) - set(PLAN_FIELDS)
    if unknown:
        raise PlanError(f"These plan fields cannot be changed here: {', '.join(sorted(unknown))}.")
    for name, value in changes.items():
        setattr(plan, name, value)
    return save_attributed(plan, acting_user=acting_user, reason=reason or "Plan changed")


def customer_plan_set(*, customer: Customer, plan: Plan | None, acting_user: User | None, reason: str = "") -> Customer:
    """Put ``customer`` on ``plan`` (one of its partner's active plans), from this month on."""

    if plan is not None and plan.partner_id != customer.partner_id:
        raise PlanError("That plan belongs to another partner.")
    if plan is not None and not plan.is_active and plan.pk != customer.plan_id:
        raise PlanError(f"The plan {plan.name} is retired; choose an active plan.")
    with transaction.atomic():
        customer.plan = plan
        save_attributed(customer, acting_user=acting_user, reason=reason or f"Plan set to {plan or 'none'}")
        usage_plan_note(customer=customer)
    return customer


def plans_for_partner(partner: Partner, *, active_only: bool = False):
    plans = Plan.objects.filter(partner=partner)
    return plans.filter(is_active=True) if active_only else plans
