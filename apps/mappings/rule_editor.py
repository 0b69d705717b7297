"""The rule set editor's rows: from stored rules, from a submitted form, and into ``RuleInput`` for the service.

A row is a rule's kind, order, message, active flag and its kind's own settings (``rule_fields.RULE_PARAMS``)
as text boxes; the page is plain HTML (no JSON to type). A blank "add a rule" kind adds a row of that kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from apps.mappings.models import RuleKind
from apps.mappings.rule_fields import Param, param_shown, rule_params, rule_params_clean
from apps.mappings.services import RuleInput

MAX_RULES = 100  # more rows than any rule set needs: a form claiming more is refused, not looped over


@dataclass
class Row:
    kind: str
    order: int
    message: str = ""
    is_active: bool = True
    pk: int | None = None
    remove: bool = False
    values: dict[str, str] = field(default_factory=dict)

    @property
    def kind_label(self) -> str:
        return RuleKind(self.kind).label if self.kind in RuleKind.values else self.kind

    @property
    def fields(self) -> list[tuple[Param, str]]:
        return [(param, self.values.get(param.name, "")) for param in rule_params(self.kind)]


def rows_from_rules(rules) -> list[Row]:
    return [Row(kind=r.kind, order=n, message=r.message, is_active=r.is_active, pk=r.pk,
                values={p.name: param_shown(p, r.params) for p in rule_params(r.kind)})
            for n, r in enumerate(rules, start=1)]


def rows_from_post(post) -> list[Row]:
    """The rows as submitted (in their new order), plus a new row if a kind to add was chosen."""
    rows = []
    for n in range(min(_int(post.get("rule-count"), 0), MAX_RULES)):
        prefix = f"rule-{n}-"
        kind = post.get(prefix + "kind", "")
        if kind not in RuleKind.values:
            continue
        rows.append(Row(kind=kind, order=_int(post.get(prefix + "order"), n + 1),
                        message=post.get(prefix + "message", ""), is_active=bool(post.get(prefix + "active")),
                        pk=_int(post.get(prefix + "pk"), None),
                        remove=bool(post.get(prefix + "remove")),
                        values={p.name: post.get(prefix + p.name, "") for p in rule_params(kind)}))
    rows.sort(key=lambda row: row.order)  # stable: equal numbers keep the page's order
    if post.get("add_kind") in RuleKind.values:
        kind = post["add_kind"]
        rows.append(Row(kind=kind, order=len(rows) + 1,
                        values={p.name: param_shown(p, {}) for p in rule_params(kind)}))
    return rows


def rule_inputs(rows: list[Row]) -> list[RuleInput]:
    """The rows kept, as the service takes them; a new row's blank required setting is an error there."""
    return [RuleInput(kind=row.kind, params=rule_params_clean(row.kind, row.values), message=row.message.strip(),
                      is_active=row.is_active, pk=row.pk) for row in rows if not row.remove]


def _int(value, default):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
