"""Escalation policy rules: parsing and checking them, and quiet hours. Plain functions over a policy's fields,
used by the policy models' field validators and by the escalation tick and notifications (no model import, so
the models, escalation and notify all depend on this module and on nothing of each other's)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from apps.exceptions.choices import ACTIVE_STATUSES, SEVERITY_BY_NAME, Kind, Status
from apps.exceptions.errors import PolicyInvalid

if TYPE_CHECKING:
    from apps.exceptions.models import IntegrationException

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
    for name in ("kinds", "statuses"):
        if not isinstance(entry.get(name) or [], list) or not all(isinstance(v, str) for v in entry.get(name) or []):
            raise PolicyInvalid(f"{where}: {name} must be a list of names.")
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


# Field validators (the model's fields run them in ``full_clean``, so forms show the reason at the field).
def validate_rules(value) -> None:
    """The rules parse: ``parse_rules`` says which rule and what is wrong."""
    try:
        parse_rules(value)
    except PolicyInvalid as error:
        raise ValidationError(error.message) from None


def validate_email_recipients(value) -> None:
    if not isinstance(value, list):
        raise ValidationError("Email recipients must be a list of addresses.")
    for address in value:
        if not isinstance(address, str):
            raise ValidationError("Email recipients must be a list of addresses.")
        try:
            validate_email(address)
        except ValidationError:
            raise ValidationError(f"{address!r} is not an email address.") from None


def validate_timezone(value) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"{value!r} is not a time zone (use a name like Europe/Berlin).") from None


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
