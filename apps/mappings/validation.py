"""Validation rules, run over a batch before anything is written to a target.

Each rule kind takes ``params``; a failing record gets the rule's ``message`` (or a generated one
that names the record's values). ``on_fail`` is ``"fail"`` (the default: a failed ledger item and an
exception) or ``"skip"`` (the record is not for this flow, e.g. time not yet approved).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Sum

from apps.canonical.models import TimeEntry
from apps.mappings.errors import ExpressionError
from apps.mappings.expressions import evaluate_many
from apps.mappings.models import RuleKind
from apps.mappings.rules import _MISSING, get_path


@dataclass
class Verdict:
    """Per record: ``skip`` (not for this flow) and ``failures`` (messages), both empty when it may go."""

    skip: str = ""
    failures: list[str] = field(default_factory=list)

    @property
    def passes(self) -> bool:
        return not self.skip and not self.failures


@dataclass
class RuleSpec:
    kind: str
    params: dict
    message: str = ""


def validate(rules: list[RuleSpec], views: list[dict], *, lookup: Callable[[str, Any], str | None] | None = None,
             variables: dict | None = None) -> list[Verdict]:
    verdicts = [Verdict() for _ in views]
    for rule in rules:
        outcomes = CHECKS[rule.kind](rule.params, views, lookup=lookup, variables=variables or {})
        on_fail = rule.params.get("on_fail", "skip" if rule.kind == RuleKind.APPROVAL_STATUS else "fail")
        for verdict, problem in zip(verdicts, outcomes, strict=True):
            if problem is None:
                continue
            message = rule.message or problem
            if on_fail == "skip":
                verdict.skip = verdict.skip or message
            else:
                verdict.failures.append(message)
    return verdicts


def _required(params, views, **_) -> list[str | None]:
    fields = params.get("fields", [])
    results = []
    for view in views:
        missing = [f for f in fields if get_path(view, f) in (_MISSING, None, "")]
        results.append(f"Missing {', '.join(missing)}." if missing else None)
    return results


def _reference_exists(params, views, *, lookup, **_) -> list[str | None]:
    obj, source = params["object"], params["source"]
    label = params.get("label", obj.replace("_", " "))
    results = []
    for view in views:
        key = get_path(view, source)
        display = get_path(view, params.get("display", source))
        if key in (_MISSING, None, ""):
            results.append(f"No {label} given.")
        elif lookup is None or lookup(obj, key) is None:
            results.append(f"The {label} {display if display is not _MISSING else key} is not known to the target "
                           "system yet.")
        else:
            results.append(None)
    return results


def _approval(params, views, **_) -> list[str | None]:
    field_name = params.get("field", "approval_status")
    allowed = set(params.get("allowed", ["approved"]))
    results = []
    for view in views:
        status = get_path(view, field_name)
        results.append(None if status in allowed else f"Not approved (status {status or 'unknown'}).")
    return results


def _as_date(value) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _open_period(params, views, **_) -> list[str | None]:
    field_name = params.get("field", "date")
    open_from = _as_date(params.get("open_from"))
    open_until = _as_date(params.get("open_until")) if params.get("open_until") else None
    results = []
    for view in views:
        day = _as_date(get_path(view, field_name))
        if day is None:
            results.append(f"{field_name} is not a date.")
        elif open_from and day < open_from:
            results.append(f"{day} is in a closed period (open from {open_from}).")
        elif open_until and day > open_until:
            results.append(f"{day} is after the open period (until {open_until}).")
        else:
            results.append(None)
    return results


def _daily_hours(params, views, **_) -> list[str | None]:
    """Hours already in the hub for the person and day, plus this record's, must stay within the limit."""

    limit = Decimal(str(params.get("limit", 24)))
    keys = {(v.get("person_id"), str(v.get("date"))[:10]) for v in views}
    people = {p for p, _ in keys if p}
    days = {d for _, d in keys if d}
    totals: dict[tuple, Decimal] = defaultdict(Decimal)
    rows = (TimeEntry.objects.filter(person_id__in=people, date__in=days, deleted_at__isnull=True)
            .values("person_id", "date").annotate(total=Sum("hours")))
    for row in rows:
        totals[(row["person_id"], row["date"].isoformat())] = row["total"]
    results = []
    for view in views:
        total = totals[(view.get("person_id"), str(view.get("date"))[:10])]
        who = get_path(view, "person.name")
        results.append(
            f"{who if who is not _MISSING else 'This person'} has {total} h on {str(view.get('date'))[:10]}, "
            f"over the {limit} h limit." if total > limit else None
        )
    return results


def _amount_range(params, views, **_) -> list[str | None]:
    field_name = params.get("field", "amount")
    low = Decimal(str(params["min"])) if params.get("min") is not None else None
    high = Decimal(str(params["max"])) if params.get("max") is not None else None
    results = []
    for view in views:
        try:
            amount = Decimal(str(get_path(view, field_name)))
        except InvalidOperation:
            results.append(f"{field_name} is not an amount.")
            continue
        if (low is not None and amount < low) or (high is not None and amount > high):
            results.append(f"{field_name} {amount} is outside {low if low is not None else '…'}–"
                           f"{high if high is not None else '…'}.")
        else:
            results.append(None)
    return results


def _expression(params, views, *, variables, **_) -> list[str | None]:
    results = []
    try:
        outcomes = evaluate_many(params["expression"], views, variables={"vars": variables})
    except ExpressionError as error:
        return [f"Rule expression refused: {error.message}"] * len(views)
    for outcome in outcomes:
        if outcome.error:
            results.append(f"Rule expression failed: {outcome.error.message}")
        else:
            results.append(None if outcome.value else f"Failed the check {params['expression']}.")
    return results


CHECKS = {
    RuleKind.REQUIRED: _required,
    RuleKind.REFERENCE_EXISTS: _reference_exists,
    RuleKind.APPROVAL_STATUS: _approval,
    RuleKind.OPEN_PERIOD: _open_period,
    RuleKind.DAILY_HOURS_LIMIT: _daily_hours,
    RuleKind.AMOUNT_RANGE: _amount_range,
    RuleKind.EXPRESSION: _expression,
}
