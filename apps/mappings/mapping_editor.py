"""The mapping editor's rows: from a version's rules, from a submitted form, and back into rules for the service.

A row is one field rule: its target (an inbound mapping's targets are the canonical object's fields, offered as a
list; an outbound mapping's are the target payload's, typed), how its value is found (a field of the source
record chosen in the field picker, a constant, an expression, a related record, or a target-system id), a
transform, a default and the required flag. Keys the page does not show (``value_map``) ride along unchanged in
a hidden field, so editing a row never drops them. The page is plain HTML: nobody types JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from apps.canonical.fields import field_plans
from apps.common.objects import ObjectType
from apps.mappings.rules import INBOUND_SPECIAL_TARGETS, TRANSFORMS

MAX_ROWS = 200  # more rules than any mapping needs: a form claiming more is refused, not looped over
SHOWN = {"target", "source", "constant", "expression", "ref", "lookup", "transform", "default", "required"}
HOW_LABELS = {"source": "Source field", "constant": "Fixed value", "expression": "Expression",
              "ref": "Related record", "lookup": "Id in the target system"}
PICKED = {"source", "ref", "lookup"}  # ways whose value is a path in the source record, chosen in the picker
REF_BY = [("external", "its id in this system"), ("code", "its code"), ("email", "e-mail"), ("name", "name")]


@dataclass
class Row:
    target: str = ""
    how: str = "source"
    value: str = ""  # the source path, the fixed value, or the expression
    ref_by: str = "external"
    lookup_object: str = ""
    transform: str = ""
    default: str = ""
    required: bool = False
    extra: dict = field(default_factory=dict)
    remove: bool = False
    unseen: str = ""  # a source path the recent records do not have (kept selectable in the picker)
    unknown_target: str = ""  # a target the canonical object has no field for (kept, and flagged by the check)

    @property
    def extra_json(self) -> str:
        return json.dumps(self.extra) if self.extra else ""


def hows(direction: str) -> list[tuple[str, str]]:
    """The ways a rule may find its value, for this direction (refs are inbound, lookups outbound)."""
    drop = "lookup" if direction == "inbound" else "ref"
    return [(key, label) for key, label in HOW_LABELS.items() if key != drop]


def target_choices(object_type: str) -> list[tuple[str, str]]:
    """An inbound mapping's targets: the record's key, the deletion flag and every field of the canonical object."""
    choices = [("external_id", "external_id: the record's id in the source (required)"),
               ("deleted", "deleted: the source deleted it")]
    for name, plan in field_plans(object_type).items():
        label = name + (f": → {plan.target_type.replace('_', ' ')} (related record)" if plan.target_type else "")
        choices.append((name, label + (" (required)" if plan.required else "")))
    return [c for c in choices if c[0] not in {"id"}]


def reference_fields(object_type: str) -> set[str]:
    return {name for name, plan in field_plans(object_type).items() if plan.target_type}


def rows_from_rules(rules: list[dict]) -> list[Row]:
    return [_row(rule) for rule in rules if isinstance(rule, dict)]


def _row(rule: dict) -> Row:
    how = next((key for key in HOW_LABELS if key in rule), "source")
    spec = rule.get(how)
    row = Row(target=str(rule.get("target", "")), how=how, transform=str(rule.get("transform", "")),
              default=_shown(rule["default"]) if "default" in rule else "", required=bool(rule.get("required")),
              extra={k: v for k, v in rule.items() if k not in SHOWN})
    if how == "ref":
        row.value, row.ref_by = str(spec.get("source", "")), str(spec.get("by", "external"))
        row.extra |= {"ref": {k: v for k, v in spec.items() if k not in {"source", "by"}}} if len(spec) > 2 else {}
    elif how == "lookup":
        row.value, row.lookup_object = str(spec.get("source", "")), str(spec.get("object", ""))
    else:
        row.value = _shown(spec) if how == "constant" else str(spec or "")
    return row


def rows_from_post(post) -> list[Row]:
    """The rows as submitted, in their new order (the order boxes), plus a blank row when "add" was pressed."""
    numbered = []
    for n in range(min(_int(post.get("map-count"), 0), MAX_ROWS)):
        prefix = f"map-{n}-"
        how = post.get(prefix + "how", "source")
        how = how if how in HOW_LABELS else "source"
        picked = how in PICKED and post.get(prefix + "path", "") != ""  # the field picker, else the text box
        row = Row(target=post.get(prefix + "target", "").strip(), how=how,
                  value=(post.get(prefix + "path") if picked else post.get(prefix + "text", "")).strip(),
                  ref_by=post.get(prefix + "ref_by", "external"),
                  lookup_object=post.get(prefix + "lookup_object", ""), transform=post.get(prefix + "transform", ""),
                  default=post.get(prefix + "default", ""), required=bool(post.get(prefix + "required")),
                  extra=_extra(post.get(prefix + "extra", "")), remove=bool(post.get(prefix + "remove")))
        numbered.append((_int(post.get(prefix + "order"), n + 1), n, row))
    rows = [row for _, _, row in sorted(numbered, key=lambda t: (t[0], t[1]))]
    if post.get("action") == "add":
        rows.append(Row())
    return rows


def rules_from_rows(rows: list[Row]) -> list[dict]:
    """The rows kept, as field rules (``apps.mappings.rules``); checking them is the service's job."""
    rules = []
    for row in rows:
        if row.remove or not (row.target or row.value):
            continue  # a blank row added and left empty is not a rule
        rule: dict = {"target": row.target}
        if row.how == "ref":
            rule["ref"] = {"by": row.ref_by or "external", "source": row.value, **row.extra.get("ref", {})}
        elif row.how == "lookup":
            rule["lookup"] = {"object": row.lookup_object, "source": row.value}
        else:
            rule[row.how] = _parsed(row.value) if row.how == "constant" else row.value
        if row.transform in TRANSFORMS:
            rule["transform"] = row.transform
        if row.default != "":
            rule["default"] = _parsed(row.default)
        if row.required:
            rule["required"] = True
        rules.append(rule | {k: v for k, v in row.extra.items() if k != "ref"})
    return rules


def rows_mark_unknown(rows: list[Row], *, paths: list[str], targets: list[str]) -> list[Row]:
    """Flag values the lists do not offer, so the page still shows (and keeps) them."""
    for row in rows:
        row.unseen = row.value if row.how in PICKED and row.value and row.value not in paths else ""
        row.unknown_target = row.target if targets and row.target and row.target not in targets else ""
    return rows


def editor_choices(*, direction: str, object_type: str) -> dict:
    """What the page's lists offer: targets, ways to find a value, transforms, objects for lookups."""
    return {"hows": hows(direction), "transforms": sorted(TRANSFORMS), "ref_by": REF_BY,
            "targets": target_choices(object_type) if direction == "inbound" else [],
            "reference_fields": sorted(reference_fields(object_type)) if direction == "inbound" else [],
            "objects": ObjectType.choices, "special_targets": sorted(INBOUND_SPECIAL_TARGETS)}


def _shown(value) -> str:
    """A fixed value as the box shows it: text as it is, numbers and true/false as written in a rule."""
    return value if isinstance(value, str) else json.dumps(value)


def _parsed(text: str):
    """What a box means: a number, true/false or null when it reads as one, else the text itself."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, int | float | bool) or value is None else text


def _extra(text: str) -> dict:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return {k: v for k, v in value.items() if k not in SHOWN or k == "ref"} if isinstance(value, dict) else {}


def _int(value, default):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
