"""Field rules: how a mapping version turns one record into another.

A rule is a small JSON object::

    {"target": "hours", "source": "hours"}                          copy a value found at a dotted path
    {"target": "currency", "constant": "EUR"}                       a fixed value
    {"target": "notes", "expression": "$substring(notes, 0, 200)"}  a sandboxed JSONata expression
    {"target": "project", "ref": {"by": "external", "source": "project.id"}}   inbound: a related record
    {"target": "work", "lookup": {"object": "project", "source": "project.id"}}  outbound: that record's id
                                                                                  in the target system

and may add ``value_map`` (``{"true": "approved"}``; on a ``ref`` rule it maps the key looked up, e.g. a
retired project code to the current one), ``transform`` (see ``TRANSFORMS``), ``default`` and
``required``. Expressions run in a sandbox over a whole batch at once; every rule's failure is reported
against the record with the rule's target named.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from apps.canonical.fields import field_plans
from apps.common.objects import CanonicalInput, Ref
from apps.mappings.expressions import ExpressionError, Result, compile_check, evaluate_many

SOURCES = ("source", "constant", "expression", "ref", "lookup")
INBOUND_SPECIAL_TARGETS = {"external_id", "deleted"}
_MISSING = object()


def _decimal(value):
    try:
        return str(Decimal(str(value)))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None


def _hours(divisor: int) -> Callable[[Any], str]:
    def convert(value):
        return str((Decimal(str(value)) / divisor).quantize(Decimal("0.01")))

    return convert


TRANSFORMS: dict[str, Callable[[Any], Any]] = {
    "upper": lambda v: str(v).upper(),
    "lower": lambda v: str(v).lower(),
    "trim": lambda v: str(v).strip(),
    "str": str,
    "int": lambda v: int(Decimal(str(v))),
    "decimal": _decimal,
    "bool": lambda v: str(v).strip().lower() in {"1", "true", "yes", "y", "t"},
    "date": lambda v: str(v)[:10],
    "minutes_to_hours": _hours(60),
    "seconds_to_hours": _hours(3600),
    "hours_to_seconds": lambda v: int(Decimal(str(v)) * 3600),
}


@dataclass
class RuleError:
    target: str
    message: str


@dataclass
class Mapped:
    """One record after mapping: ``value`` when every rule succeeded, else ``errors``."""

    source: dict
    value: Any = None
    errors: list[RuleError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def get_path(data: Any, path: str) -> Any:
    """The value at a dotted path (``project.id``, ``lines.0.amount``), or ``_MISSING``."""
    current = data
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def set_path(data: dict, path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        data = data.setdefault(part, {})
    data[parts[-1]] = value


_SHAPES = {"source": str, "expression": str, "ref": dict, "lookup": dict, "value_map": dict, "transform": str,
           "required": bool}


def rules_shape_problems(rules) -> list[str]:
    """What would stop ``apply_rules`` from running ``rules`` at all (not a list of objects, a rule without a
    target or a source, values of the wrong type, an unknown transform): a draft must at least have this shape."""
    if not isinstance(rules, list):
        return ["Rules must be a list."]
    problems = []
    for position, rule in enumerate(rules, start=1):
        where = f"rule {position}"
        if not isinstance(rule, dict) or not isinstance(rule.get("target"), str) or not rule["target"].strip():
            problems.append(f"{where}: must be an object with a target (text).")
            continue
        if not any(k in rule for k in SOURCES):
            problems.append(f"{where}: give one of {', '.join(SOURCES)}.")
        wrong = [name for name, kind in _SHAPES.items() if name in rule and not isinstance(rule[name], kind)]
        problems += [f"{where}: {name} must be {_SHAPES[name].__name__.replace('str', 'text')}." for name in wrong]
        for name, needs in (("ref", ("source",)), ("lookup", ("object", "source"))):
            if isinstance(rule.get(name), dict) and not all(isinstance(rule[name].get(k), str) for k in needs):
                problems.append(f"{where}: {name} needs {' and '.join(needs)} (text).")
        if isinstance(rule.get("transform"), str) and rule["transform"] not in TRANSFORMS:
            problems.append(f"{where}: unknown transform {rule['transform']!r}.")
    return problems


def rules_check(rules: list[dict], *, direction: str, object_type: str) -> list[str]:
    """Problems with a version's rules, so a broken draft can't be published."""
    problems = []
    if not isinstance(rules, list):
        return ["Rules must be a list."]
    plans = field_plans(object_type)
    targets = set()
    for position, rule in enumerate(rules, start=1):
        where = f"rule {position}"
        if not isinstance(rule, dict) or not rule.get("target"):
            problems.append(f"{where}: needs a target.")
            continue
        target = rule["target"]
        where = f"rule {position} ({target})"
        kinds = [k for k in SOURCES if k in rule]
        if len(kinds) != 1:
            problems.append(f"{where}: give exactly one of {', '.join(SOURCES)}.")
        if target in targets:
            problems.append(f"{where}: target set twice.")
        targets.add(target)
        if direction == "inbound":
            plan = plans.get(target)
            if plan is None and target not in INBOUND_SPECIAL_TARGETS:
                problems.append(f"{where}: {object_type} has no field {target!r}.")
            elif "ref" in rule and (plan is None or not plan.target_type):
                problems.append(f"{where}: only reference fields take a ref.")
            elif plan is not None and plan.target_type and "ref" not in rule:
                problems.append(f"{where}: {target} is a reference; use a ref rule.")
        elif "ref" in rule:
            problems.append(f"{where}: ref rules are for inbound mappings; use lookup.")
        if "lookup" in rule and direction == "inbound":
            problems.append(f"{where}: lookup rules are for outbound mappings; use ref.")
        if "transform" in rule and rule["transform"] not in TRANSFORMS:
            problems.append(f"{where}: unknown transform {rule['transform']!r}.")
        if "expression" in rule:
            try:
                compile_check(rule["expression"])
            except ExpressionError as error:
                problems.append(f"{where}: {error.message}")
    if direction == "inbound" and "external_id" not in targets:
        problems.append("An inbound mapping needs a rule for external_id.")
    return problems


def apply_rules(
    rules: list[dict], records: list[dict], *, variables: dict | None = None,
    lookup: Callable[[str, Any], str | None] | None = None, evaluated: Evaluated | None = None,
) -> list[Mapped]:
    """Apply ``rules`` to every record; expressions are evaluated once per rule over the batch (or were already:
    ``evaluated``, from ``expressions_start`` over these records)."""
    results = [Mapped(source=record, value={}) for record in records]
    for position, rule in enumerate(rules):
        if evaluated is not None and position in evaluated:
            values = _evaluated_values(rule, evaluated[position], len(records))
        else:
            values = _rule_values(rule, records, variables or {}, lookup, results)
        for result, value in zip(results, values, strict=True):
            if isinstance(value, RuleError):
                result.errors.append(value)
            else:
                result.value[rule["target"]] = value
    return results


# A rule's expression over a batch of records: a result per record, or the error that refused the expression.
Evaluated = dict[int, "list[Result] | ExpressionError"]
_EARLY: tuple[int, ThreadPoolExecutor] | None = None


def _early_executor() -> ThreadPoolExecutor:
    """This process's threads for ``expressions_start``: a process forked from one that used them (a cluster's
    worker) must not inherit an executor whose threads did not come along."""
    global _EARLY
    if _EARLY is None or _EARLY[0] != os.getpid():
        _EARLY = (os.getpid(), ThreadPoolExecutor(max_workers=2, thread_name_prefix="weft-expressions"))
    return _EARLY[1]


def expressions_start(rules: list[dict], records: list[dict], *, variables: dict | None = None) -> Future:
    """Start evaluating the expression rules of ``rules`` over ``records`` in the sandbox, in the background: the
    engine plans a batch's other work (its queries) meanwhile, instead of waiting for the sandbox after it. The
    future's result is ``apply_rules``'s ``evaluated`` for these records (or a subset: ``evaluated_subset``)."""
    bound = {"vars": variables or {}}

    def evaluate() -> Evaluated:
        done: Evaluated = {}
        for position, rule in enumerate(rules):
            if "expression" in rule:
                try:
                    done[position] = evaluate_many(rule["expression"], records, variables=bound)
                except ExpressionError as error:
                    done[position] = error
        return done

    return _early_executor().submit(evaluate)


def evaluated_subset(evaluated: Evaluated, positions: list[int]) -> Evaluated:
    """``evaluated`` for the records at ``positions`` of the records it was made for, in that order."""
    return {rule: outcomes if isinstance(outcomes, ExpressionError) else [outcomes[i] for i in positions]
            for rule, outcomes in evaluated.items()}


def _evaluated_values(rule: dict, outcomes: list[Result] | ExpressionError, count: int) -> list[Any]:
    target = rule["target"]
    if isinstance(outcomes, ExpressionError):  # the expression itself is refused: every record fails alike
        return [RuleError(target, outcomes.message)] * count
    return [_finish(rule, RuleError(target, o.error.message) if o.error else o.value) for o in outcomes]


def _rule_values(rule, records, variables, lookup, results) -> list[Any]:
    target = rule["target"]
    if "expression" in rule:
        raw = []
        try:
            outcomes = evaluate_many(rule["expression"], records, variables={"vars": variables})
        except ExpressionError as error:  # the expression itself is refused: every record fails alike
            return [RuleError(target, error.message)] * len(records)
        for outcome in outcomes:
            raw.append(RuleError(target, outcome.error.message) if outcome.error else outcome.value)
    elif "constant" in rule:
        raw = [rule["constant"]] * len(records)
    elif "ref" in rule:
        spec = rule["ref"]
        raw = [_ref_value(spec, record, rule.get("value_map") or {}) for record in records]
    elif "lookup" in rule:
        spec = rule["lookup"]
        raw = []
        for record in records:
            key = get_path(record, spec["source"])
            if key in (_MISSING, None, ""):
                raw.append(None)
                continue
            found = lookup(spec["object"], key) if lookup else None
            raw.append(found if found is not None else RuleError(
                target, f"{spec['object'].replace('_', ' ')} {key} is not known to the target system yet."))
    else:
        raw = [get_path(record, rule["source"]) for record in records]
    return [_finish(rule, value) for value in raw]


def _ref_value(spec: dict, record: dict, value_map: dict) -> Any:
    value = get_path(record, spec["source"])
    if value in (_MISSING, None, ""):
        return None
    return Ref(spec.get("by", "external"), str(value_map.get(str(value), value)))


def _finish(rule: dict, value: Any) -> Any:
    if isinstance(value, RuleError):
        return value
    target = rule["target"]
    if value is _MISSING:
        value = None
    if "value_map" in rule and value is not None and not isinstance(value, Ref):
        key = str(value).lower() if isinstance(value, bool) else str(value)
        value = rule["value_map"].get(key, rule.get("default") if "default" in rule else value)
    if value in (None, "") and "default" in rule:
        value = rule["default"]
    if "transform" in rule and value not in (None, ""):
        try:
            value = TRANSFORMS[rule["transform"]](value)
        except (ValueError, TypeError, InvalidOperation, ArithmeticError) as error:
            return RuleError(target, f"{rule['transform']} of {value!r} failed: {error}")
    if rule.get("required") and value in (None, ""):
        return RuleError(target, "is required but came out empty.")
    return value


def to_canonical_input(object_type: str, mapped: Mapped) -> CanonicalInput:
    """An inbound mapping's result as the hub's input shape."""
    values = dict(mapped.value)
    external_id = values.pop("external_id", None)
    deleted = bool(values.pop("deleted", False))
    plans = field_plans(object_type)
    refs = {name: values.pop(name) for name in list(values) if plans.get(name) and plans[name].target_type}
    return CanonicalInput(object_type, "" if external_id is None else str(external_id), values, refs=refs,
                          deleted=deleted)


def to_payload(mapped: Mapped) -> dict:
    """An outbound mapping's result as the nested payload the target expects (dotted targets nest)."""
    payload: dict = {}
    for target, value in mapped.value.items():
        set_path(payload, target, value)
    return payload
