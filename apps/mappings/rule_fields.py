"""What each validation rule kind takes, declared once: the rule set editor builds its typed fields from this
and ``rule_params_clean`` turns what a person typed into a rule's ``params`` (see ``apps.mappings.validation``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from apps.mappings.errors import MappingError
from apps.mappings.models import RuleKind


@dataclass(frozen=True)
class Param:
    """One setting of a rule kind. ``type``: text, list (comma-separated), decimal, date, bool or on_fail."""

    name: str
    label: str
    type: str = "text"
    help: str = ""
    required: bool = False
    default: Any = None


ON_FAIL = Param("on_fail", "When a record fails", "on_fail",
                "fail: a failed item and an exception; skip: the record is not for this flow")

RULE_PARAMS: dict[str, tuple[Param, ...]] = {
    RuleKind.REQUIRED: (Param("fields", "Fields", "list", "Canonical fields that must have a value, e.g. "
                                                         "person, project, date, hours", required=True),),
    RuleKind.REFERENCE_EXISTS: (
        Param("object", "Object", help="What the reference names in the target: project, person, customer",
              required=True),
        Param("source", "Field", help="The field holding the reference, e.g. project.code", required=True),
        Param("label", "Called", help="How messages name it, e.g. project"),
        Param("display", "Shown as", help="The field messages quote (defaults to the field above)"),
    ),
    RuleKind.APPROVAL_STATUS: (
        Param("field", "Field", default="approval_status"),
        Param("allowed", "Allowed statuses", "list", "e.g. approved", default=["approved"]),
    ),
    RuleKind.OPEN_PERIOD: (
        Param("field", "Date field", default="date"),
        Param("open_from", "Open from", "date", "The first day of the open accounting period", required=True),
        Param("open_until", "Open until", "date", "Blank: open to the future"),
    ),
    RuleKind.DAILY_HOURS_LIMIT: (Param("limit", "Hours per person per day", "decimal", default="24"),),
    RuleKind.HOURS_RANGE: (
        Param("field", "Field", default="hours"),
        Param("max", "Most hours per entry", "decimal", default="24"),
        Param("allow_zero", "Allow 0 h", "bool", default=False),
        Param("correction_field", "Correction marker", help="A field that marks corrections (may be negative)"),
    ),
    RuleKind.AMOUNT_RANGE: (
        Param("field", "Field", default="amount"),
        Param("min", "At least", "decimal"),
        Param("max", "At most", "decimal"),
    ),
    RuleKind.EXPRESSION: (Param("expression", "Check", help="A JSONata expression true for good records, e.g. "
                                                           "hours <= 12", required=True),),
    RuleKind.BILLING_READY: (Param("reasons", "Blocking reasons", "list",
                                   "Which blockers hold a draft back: missing_rate, unapproved_time, unmapped_project, "
                                   "closed_period (blank: all)"),
                             Param("posted_to", "Posted to (connection slug)",
                                   help="Pass only drafts this connection holds as they stand (posting status)")),
}


def rule_params(kind: str) -> tuple[Param, ...]:
    """The kind's own settings, then "when a record fails"."""
    return (*RULE_PARAMS.get(kind, ()), ON_FAIL)


def rule_params_clean(kind: str, typed: dict[str, Any]) -> dict:
    """``params`` for a rule of ``kind`` from typed values (text as a person entered it); blank settings are left
    out (the check's default applies). Raises ``MappingError`` naming the setting that is wrong."""
    if kind not in RULE_PARAMS:
        raise MappingError(f"Unknown rule kind {kind!r}.")
    params = {}
    for param in rule_params(kind):
        value = _clean(param, typed.get(param.name))
        if value in (None, "", []) or value is False:
            if param.required:
                raise MappingError(f"{RuleKind(kind).label}: {param.label} is required.")
            continue
        params[param.name] = value
    return params


def _clean(param: Param, value: Any) -> Any:
    if param.type == "bool":
        return bool(value) and value not in ("false", "0", "off")
    text = value if isinstance(value, str) else ("" if value is None else value)
    if isinstance(text, str):
        text = text.strip()
    if param.type == "list":
        if not isinstance(text, str | list | tuple):
            raise MappingError(f"{param.label}: give a list of names (or text separated by commas).")
        return [part.strip() for part in text.split(",") if part.strip()] if isinstance(text, str) else list(text)
    if param.type in ("text", "on_fail") and not isinstance(text, str | int | float):
        raise MappingError(f"{param.label}: give text.")
    if text == "":
        return None
    if param.type == "decimal":
        try:
            return str(Decimal(str(text)))
        except InvalidOperation:
            raise MappingError(f"{param.label}: {text!r} is not a number.") from None
    if param.type == "date":
        try:
            return date.fromisoformat(str(text)).isoformat()
        except ValueError:
            raise MappingError(f"{param.label}: {text!r} is not a date (YYYY-MM-DD).") from None
    if param.type == "on_fail" and text not in ("fail", "skip"):
        raise MappingError(f"{param.label}: choose fail or skip.")
    return text


def param_shown(param: Param, params: dict) -> str:
    """A setting's value as the editor shows it in a text box."""
    value = params.get(param.name, param.default)
    if param.type == "list":
        return ", ".join(str(v) for v in value or [])
    if param.type == "bool":
        return "on" if value else ""
    return "" if value is None else str(value)
