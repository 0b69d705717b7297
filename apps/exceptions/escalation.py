"""Escalation policies: rules on age, severity, kind and money at risk that raise severity, reassign and notify.

The customer's own active policy applies, else its partner's default, else none. A rule fires once per
exception and cycle (an ``EscalationMark``): it does not fire again until the exception reopens. Every
tick gathers what fired into one digest per recipient (an email per address, one webhook POST), held
until quiet hours end in the policy's time zone. ``now`` is passed in, so tests control the clock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q

from apps.exceptions.choices import ACTIVE_STATUSES, SEVERITY_BY_NAME, Kind, Status
from apps.exceptions.errors import PolicyInvalid, TriageRefused
from apps.exceptions.models import EscalationMark, EscalationPolicy, IntegrationException
from apps.exceptions.services import current_customer, exception_assign, exception_set_severity
from apps.tenants.choices import Feature
from apps.tenants.models import Customer, User
from apps.tenants.plans import plan_allows

logger = logging.getLogger(__name__)
RULE_KEYS = {"name", "min_age_minutes", "min_severity", "kinds", "min_amount", "min_hours", "raise_to", "assign_to",
             "notify", "statuses"}


@dataclass(frozen=True)
class Rule:
    """One escalation rule; every condition given must hold."""

    name: str
    min_age_minutes: int = 0
    min_severity: int | None = None
    kinds: frozenset[str] = frozenset()
    min_amount: Decimal | None = None
    min_hours: Decimal | None = None
    raise_to: int | None = None
    assign_to: str = ""
    notify: bool = True
    statuses: frozenset[str] = frozenset({Status.OPEN})

    def matches(self, exception: IntegrationException, now: datetime) -> bool:
        return (exception.status in self.statuses
                and exception.age(now) >= timedelta(minutes=self.min_age_minutes)
                and (self.min_severity is None or exception.severity >= self.min_severity)
                and (not self.kinds or exception.kind in self.kinds)
                and (self.min_amount is None or exception.amount_at_risk >= self.min_amount)
                and (self.min_hours is None or exception.hours_at_risk >= self.min_hours))


def parse_rules(raw) -> list[Rule]:
    """Rules from a policy's JSON, or ``PolicyInvalid`` saying which rule and what is wrong."""
    if not isinstance(raw, list):
        raise PolicyInvalid("Rules must be a list.")
    rules, names = [], set()
    for position, entry in enumerate(raw, start=1):
        rule = _parse_rule(entry, position)
        if rule.name in names:
            raise PolicyInvalid(f"Rule {position}: the name {rule.name!r} is used twice.")
        names.add(rule.name)
        rules.append(rule)
    return rules


def _parse_rule(entry, position: int) -> Rule:
    where = f"Rule {position}"
    if not isinstance(entry, dict) or not str(entry.get("name", "")).strip():
        raise PolicyInvalid(f"{where} must be an object with a name.")
    unknown = set(entry) - RULE_KEYS
    if unknown:
        raise PolicyInvalid(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}.")
    kinds = frozenset(entry.get("kinds") or [])
    if not kinds <= set(Kind.values):
        raise PolicyInvalid(f"{where}: unknown kind(s) {', '.join(sorted(kinds - set(Kind.values)))}.")
    statuses = frozenset(entry.get("statuses") or [Status.OPEN])
    if not statuses <= set(ACTIVE_STATUSES):
        raise PolicyInvalid(f"{where}: statuses may be open and acknowledged only.")
    try:
        age = int(entry.get("min_age_minutes") or 0)
    except (TypeError, ValueError):
        raise PolicyInvalid(f"{where}: min_age_minutes must be a whole number.") from None
    if age < 0:
        raise PolicyInvalid(f"{where}: min_age_minutes cannot be negative.")
    return Rule(name=str(entry["name"]).strip()[:100], min_age_minutes=age,
                min_severity=_severity(entry.get("min_severity"), where), kinds=kinds,
                min_amount=_amount(entry.get("min_amount"), where, "min_amount"),
                min_hours=_amount(entry.get("min_hours"), where, "min_hours"),
                raise_to=_severity(entry.get("raise_to"), where), assign_to=str(entry.get("assign_to") or ""),
                notify=bool(entry.get("notify", True)), statuses=statuses)


def _severity(value, where: str) -> int | None:
    if value in (None, ""):
        return None
    found = SEVERITY_BY_NAME.get(str(value).lower())
    if found is None:
        raise PolicyInvalid(f"{where}: severity {value!r} is not one of {', '.join(SEVERITY_BY_NAME)}.")
    return int(found)


def _amount(value, where: str, name: str) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise PolicyInvalid(f"{where}: {name} must be a number.") from None
    if not number.is_finite() or number < 0:
        raise PolicyInvalid(f"{where}: {name} must be a positive number.")
    return number


def check_policy(policy) -> None:
    """Everything a policy needs to work, checked when it is saved."""
    parse_rules(policy.rules)
    if not isinstance(policy.email_recipients, list):
        raise PolicyInvalid("Email recipients must be a list of addresses.")
    for address in policy.email_recipients:
        try:
            validate_email(address)
        except ValidationError:
            raise PolicyInvalid(f"{address!r} is not an email address.") from None
    try:
        ZoneInfo(policy.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise PolicyInvalid(f"{policy.timezone!r} is not a time zone (use a name like Europe/Berlin).") from None
    if (policy.quiet_start is None) != (policy.quiet_end is None):
        raise PolicyInvalid("Quiet hours need both a start and an end.")


def effective_policy(customer: Customer | None):
    """The customer's own active policy, else its partner's default, else None."""
    own = EscalationPolicy.objects.filter(is_active=True).order_by("pk").first()
    if own is not None or customer is None or customer.partner_id is None:
        return own
    from apps.exceptions.defaults.models import PartnerEscalationPolicy

    return PartnerEscalationPolicy.objects.filter(partner_id=customer.partner_id, is_active=True).first()


def policy_key(policy) -> str:
    return f"{'customer' if isinstance(policy, EscalationPolicy) else 'partner'}:{policy.pk}"


def quiet_until(policy, now: datetime) -> datetime | None:
    """When quiet hours end, if ``now`` is inside them (in the policy's time zone); None otherwise."""
    if policy.quiet_start is None or policy.quiet_end is None:
        return None
    local = now.astimezone(ZoneInfo(policy.timezone))
    start, end, clock = policy.quiet_start, policy.quiet_end, local.time()
    inside = (start <= clock < end) if start < end else (clock >= start or clock < end)
    if not inside:
        return None
    end_day = local.date() if clock < end else local.date() + timedelta(days=1)
    return datetime.combine(end_day, end, tzinfo=local.tzinfo).astimezone(now.tzinfo)


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
        from apps.exceptions.notify import digests_queue

        digests_queue(policy=policy, customer=customer, fired=list(fired.values()), now=now)
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
