"""Escalation policies: rules on age, severity, kind and money at risk that raise severity, reassign and notify.

The customer's own active policy applies, else its partner's default, else none. A rule fires once per
exception and cycle (an ``EscalationMark``): it does not fire again until the exception reopens. Every
tick gathers what fired into one digest per recipient (an email per address, one webhook POST), held
until quiet hours end in the policy's time zone. ``now`` is passed in, so tests control the clock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q

from apps.exceptions import webhooks
from apps.exceptions.choices import ACTIVE_STATUSES
from apps.exceptions.defaults.models import PartnerEscalationPolicy
from apps.exceptions.errors import PolicyInvalid, TriageRefused
from apps.exceptions.models import EscalationMark, EscalationPolicy, IntegrationException
from apps.exceptions.notify import digests_queue
from apps.exceptions.policies import Rule, parse_rules
from apps.exceptions.services import current_customer, exception_assign, exception_set_severity
from apps.tenants.choices import Feature
from apps.tenants.models import Customer, User
from apps.tenants.plans import plan_allows

logger = logging.getLogger(__name__)


def effective_policy(customer: Customer | None):
    """The customer's own active policy, else its partner's default, else None."""
    own = EscalationPolicy.objects.filter(is_active=True).order_by("pk").first()
    if own is not None or customer is None or customer.partner_id is None:
        return own
    return PartnerEscalationPolicy.objects.filter(partner_id=customer.partner_id, is_active=True).first()


def policy_key(policy) -> str:
    return f"{'customer' if isinstance(policy, EscalationPolicy) else 'partner'}:{policy.pk}"


# --- the tick ----------------------------------------------------------------------------------------
@dataclass
class Fired:
    exception: IntegrationException
    rules: list[str] = field(default_factory=list)


def escalation_tick(*, now: datetime) -> list[Fired]:
    """Apply the effective policy's rules to active exceptions; digest and queue notifications for what fired."""
    customer = current_customer()
    policy = effective_policy(customer)
    if policy is None or not plan_allows(customer, Feature.ESCALATION):
        return []  # no policy, or the customer's plan does not include escalation
    try:
        rules = parse_rules(policy.rules)
    except PolicyInvalid as error:  # saved before validation existed, or edited in the database
        logger.error("escalation policy %s is invalid, skipped: %s", policy, error.message)
        return []
    fired: dict[int, Fired] = {}
    active = IntegrationException.objects.filter(status__in=ACTIVE_STATUSES).select_related("owner", "flow")
    for exception in active.order_by("-severity", "opened_at"):
        for rule in rules:
            if rule.matches(exception, now) and _mark(exception, f"{policy_key(policy)}:{rule.name}", now):
                exception = _apply(exception, rule, customer)
                if rule.notify:
                    fired.setdefault(exception.pk, Fired(exception)).rules.append(rule.name)
    if fired:
        digests_queue(policy=policy, customer=customer, fired=list(fired.values()), now=now)
    for item in fired.values():  # and to endpoints subscribed to exception.escalated, if any
        webhooks.event_publish(event_type="exception.escalated", now=now,
                               data=webhooks.exception_event(item.exception, rules=item.rules))
    return list(fired.values())


def _mark(exception: IntegrationException, rule_key: str, now: datetime) -> bool:
    """True the first time this rule fires for this exception in its current cycle."""
    try:
        with transaction.atomic():
            EscalationMark.objects.create(exception=exception, rule_key=rule_key[:200], cycle=exception.cycle,
                                          fired_at=now)
    except IntegrityError:
        return False
    return True


def _apply(exception: IntegrationException, rule: Rule, customer) -> IntegrationException:
    if rule.raise_to is not None and rule.raise_to > exception.severity:
        exception = exception_set_severity(exception=exception, severity=rule.raise_to, acting_user=None,
                                           reason=f"Escalated by rule {rule.name!r}")
    if rule.assign_to:
        wanted = Q(username=rule.assign_to) | Q(email__iexact=rule.assign_to)
        owner = User.objects.filter(wanted, is_active=True).first()
        if owner is not None and owner.pk != exception.owner_id:
            try:
                exception = exception_assign(exception=exception, owner=owner, acting_user=None, customer=customer)
            except TriageRefused as error:  # an owner who cannot see the customer: keep escalating, say why
                logger.warning("rule %s could not assign %s: %s", rule.name, owner, error)
    return exception
