"""Validation rules, run over a batch before anything is written: into the hub (the door) or to a target.

Each rule kind takes ``params``; a failing record gets the rule's ``message`` (or a generated one
that names the record's values). ``on_fail`` is ``"fail"`` (the default: a failed ledger item and an
exception) or ``"skip"`` (the record is not for this flow, e.g. time not yet approved).

At the door (inbound flows and pulls) the rules see each record as it would be stored: its canonical
fields, and its references as ``{"code": ...}`` (or ``external_id``, ``name``, ``email``), before anything
lands. Every inbound record of a type in ``DOOR_DEFAULTS`` gets those checks; a rule of the same kind in the
flow's own rule set replaces the default one (``with_defaults``). Outbound, ``OUTBOUND_BASELINE`` guards
records that reached the hub before the door checked them. See docs/data-quality.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Sum

import apps.common.lookups  # noqa: F401  (registers __any)
from apps.canonical.models import ExternalRef, TimeEntry
from apps.canonical.selectors import plain
from apps.common.objects import CanonicalInput, ObjectType
from apps.mappings.errors import ExpressionError
from apps.mappings.expressions import evaluate_many
from apps.mappings.models import RuleKind, ValidationRule
from apps.mappings.rules import _MISSING, get_path


@dataclass
class Verdict:
    """Per record: ``skip`` (not for this flow) and ``failures`` (messages), both empty when it may go."""

    skip: str = ""
    failures: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)  # the field each failure is about ("" when no one field)

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
                verdict.fields.append(rule.params.get("field", RULE_FIELDS.get(rule.kind, "")))
    return verdicts


def with_defaults(defaults: tuple[RuleSpec, ...], configured: list[RuleSpec]) -> list[RuleSpec]:
    """The default checks, except those whose kind the configured rules name (theirs replace them), then those."""
    named = {rule.kind for rule in configured}
    return [rule for rule in defaults if rule.kind not in named] + list(configured)


def rule_set_specs(rule_set_id: int | None) -> list[RuleSpec]:
    """A rule set's active rules, in order."""
    if rule_set_id is None:
        return []
    rules = ValidationRule.objects.filter(rule_set_id=rule_set_id, is_active=True).order_by("position", "pk")
    return [RuleSpec(r.kind, r.params, r.message) for r in rules]


def door_view(record: CanonicalInput) -> dict:
    """A record at the door as rules see it: canonical fields (plain values), references by what names them."""
    view = {name: plain(value) for name, value in record.fields.items()}
    view["external_id"] = record.external_id
    for name, ref in record.refs.items():
        view[name] = {ref.by if ref.by != "external" else "external_id": ref.value} if ref is not None else None
    return view


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
        value = get_path(view, field_name)
        day = _as_date(value)
        if value in (_MISSING, None, ""):
            results.append(None)  # a missing date is the "required" rule's (and the hub's) to report
        elif day is None:
            results.append(f"{field_name} {value!r} is not a real date (YYYY-MM-DD).")
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
    rows = (TimeEntry.objects.filter(person_id__any=list(people), date__any=list(days), deleted_at__isnull=True)
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


_MARKED = {"true", "1", "yes", "y", "t", "x", "correction", "reversal", "adjustment"}
CORRECTION_FIELD = "extra.correction"


def is_marked(value: Any) -> bool:
    """Whether a correction marker's value says "this entry is a correction" (yes, true, 1, x, correction...)."""
    return value is True or (isinstance(value, str | int) and not isinstance(value, bool)
                             and str(value).strip().lower() in _MARKED)


def _hours_range(params, views, **_) -> list[str | None]:
    """Hours in (0, max]; a correction (the source marks it at ``correction_field``) may be negative, to -max."""
    field_name = params.get("field", "hours")
    high = Decimal(str(params.get("max", 24)))
    allow_zero = bool(params.get("allow_zero", False))
    marker = params.get("correction_field", CORRECTION_FIELD)
    results = []
    for view in views:
        raw = get_path(view, field_name)
        if raw in (_MISSING, None, ""):
            results.append(None)  # the "required" rule (and the hub) reports a missing value
            continue
        try:
            hours = Decimal(str(raw).strip())
        except InvalidOperation:
            hours = None
        if hours is None or not hours.is_finite():
            results.append(f"{field_name}: {raw!r} is not a number")  # as the hub says it
        elif hours < 0 and not is_marked(get_path(view, marker)):
            results.append(f"{hours} h is negative: only an entry its source marks as a correction may take hours "
                           "back.")
        elif abs(hours) > high:
            results.append(f"{hours} h in one entry is beyond the {high} h limit.")
        elif hours == 0 and not allow_zero:
            results.append("0 h: an entry without hours.")
        else:
            results.append(None)
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


def _billing_ready(params, views, **_) -> list[str | None]:
    """Invoice drafts made by billing readiness (``apps.canonical.billing``) carry what blocks them in
    ``extra.blocked``; ``reasons`` limits the check to some of them (default: every one). With ``posted_to`` (a
    connection slug) a draft passes only once that system holds it as it stands (for writing posting status back
    to the source, with ``on_fail: skip``)."""
    reasons = set(params.get("reasons") or ())
    posted_to = params.get("posted_to")
    posted = set()
    if posted_to:  # only drafts that system holds as they stand now (writing their posting status back)
        posted = set(ExternalRef.objects.filter(
            connection__slug=posted_to, object_type=ObjectType.INVOICE,
            canonical_id__in=[v.get("id") for v in views]).values_list("canonical_id", "last_synced_hash"))
    results = []
    for view in views:
        blocked = get_path(view, "extra.blocked")
        found = [b.get("message") or b.get("reason") for b in (blocked if isinstance(blocked, list) else [])
                 if isinstance(b, dict) and (not reasons or b.get("reason") in reasons)]
        if not found and posted_to and (view.get("id"), view.get("content_hash")) not in posted:
            found = [f"Not in {posted_to} as it stands yet."]
        results.append(" ".join(found) if found else None)
    return results


CHECKS = {
    RuleKind.REQUIRED: _required,
    RuleKind.REFERENCE_EXISTS: _reference_exists,
    RuleKind.APPROVAL_STATUS: _approval,
    RuleKind.OPEN_PERIOD: _open_period,
    RuleKind.DAILY_HOURS_LIMIT: _daily_hours,
    RuleKind.HOURS_RANGE: _hours_range,
    RuleKind.AMOUNT_RANGE: _amount_range,
    RuleKind.EXPRESSION: _expression,
    RuleKind.BILLING_READY: _billing_ready,
}

# The field a failing rule of each kind is about, unless its params name another.
RULE_FIELDS = {RuleKind.OPEN_PERIOD: "date", RuleKind.HOURS_RANGE: "hours", RuleKind.AMOUNT_RANGE: "amount",
               RuleKind.APPROVAL_STATUS: "approval_status"}

# Checked at the door for every inbound record of these types (docs/data-quality.md, "Checked at the door").
# Person, project and customer references are checked by the hub as the record is stored, in the same step.
DOOR_DEFAULTS: dict[str, tuple[RuleSpec, ...]] = {
    ObjectType.TIME_ENTRY: (RuleSpec(RuleKind.HOURS_RANGE, {}), RuleSpec(RuleKind.OPEN_PERIOD, {"field": "date"})),
    ObjectType.EXPENSE: (RuleSpec(RuleKind.OPEN_PERIOD, {"field": "date"}),),
}
# Checked on the way out even where a flow's rules do not: records that reached the hub before the door did.
OUTBOUND_BASELINE: dict[str, tuple[RuleSpec, ...]] = {
    ObjectType.TIME_ENTRY: (RuleSpec(RuleKind.HOURS_RANGE, {}),),
}
