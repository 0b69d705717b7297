"""Turning loosely typed incoming values into the hub's typed fields, with errors that name the field."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from django.db import models
from django.utils.dateparse import parse_date, parse_datetime

from apps.canonical.models import OBJECT_MODELS


class FieldValueError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class FieldPlan:
    name: str
    attname: str
    column: str
    convert: Callable[[Any], Any]
    required: bool
    default: Any
    target_type: str | None  # for foreign keys: the canonical object type they point to


_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f", ""}


def _decimal(field: models.DecimalField) -> Callable[[Any], Decimal | None]:
    limit = Decimal(10) ** (field.max_digits - field.decimal_places)
    exponent = Decimal(1).scaleb(-field.decimal_places)

    def parse(value):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(f"{value!r} is not a number") from None
        if not number.is_finite():
            raise ValueError(f"{value!r} is not a finite number")
        quantized = number.quantize(exponent)
        if abs(quantized) >= limit:
            raise ValueError(f"{value} is out of range")
        return quantized

    return _cached_for_text(parse)


def _cached_for_text(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``parse`` with its results for text remembered: loads repeat the same few hundred values (dates,
    hours, amounts) hundreds of thousands of times. Only immutable results are cached; the cache is
    bounded and starts over when full."""
    cache: dict[str, Any] = {}

    def convert(value):
        if value is None or value == "":
            return None
        if type(value) is not str:
            return parse(value)
        found = cache.get(value)
        if found is None:
            found = parse(value)  # raises for bad values, which are never cached
            if len(cache) >= 20_000:
                cache.clear()
            cache[value] = found
        return found

    return convert


def _parse_date(value):
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    parsed = parse_date(str(value).strip()[:10]) if isinstance(value, str) else None
    if parsed is None:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)")
    return parsed


_date = _cached_for_text(_parse_date)


def _datetime(value):
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        text = str(value).strip().replace("Z", "+00:00")
        parsed = parse_datetime(text)
        if parsed is None:
            day = parse_date(text)
            if day is None:
                raise ValueError(f"{value!r} is not a date-time (ISO 8601)")
            parsed = datetime(day.year, day.month, day.day)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _bool(value):
    if isinstance(value, bool):
        return value
    if value is None:
        return None
    lowered = str(value).strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{value!r} is not yes/no")


def _text(field: models.CharField | models.TextField):
    max_length = getattr(field, "max_length", None)
    choices = {c[0] for c in field.choices} if field.choices else None

    def convert(value):
        if value is None:
            return ""
        text = value if isinstance(value, str) else str(value)
        text = text.strip()
        if max_length and len(text) > max_length:
            raise ValueError(f"is {len(text)} characters; at most {max_length}")
        if choices and text and text not in choices:
            raise ValueError(f"{text!r} is not one of {', '.join(c[0] for c in field.choices)}")
        if "\x00" in text:  # PostgreSQL cannot store it: one such value would fail the whole batch
            raise ValueError("contains a NUL character")
        return text

    return convert


def _json(value):
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("is not valid JSON") from None
    if not isinstance(value, dict):
        raise ValueError("must be an object")
    return value


def _identity(value):
    return value


def _converter(field: models.Field):
    if isinstance(field, models.DecimalField):
        return _decimal(field)
    if isinstance(field, models.DateTimeField):
        return _datetime
    if isinstance(field, models.DateField):
        return _date
    if isinstance(field, models.BooleanField):
        return _bool
    if isinstance(field, models.CharField | models.TextField):
        return _text(field)
    if isinstance(field, models.JSONField):
        return _json
    return _identity


SYSTEM_FIELDS = {"id", "created_at", "updated_at", "content_hash", "source_connection"}


@cache
def field_plans(object_type: str) -> dict[str, FieldPlan]:
    """How to convert each business field of ``object_type``, keyed by field name."""
    model = OBJECT_MODELS[object_type]
    type_of_model = {m: t for t, m in OBJECT_MODELS.items()}
    plans = {}
    for field in model._meta.concrete_fields:
        if field.name in SYSTEM_FIELDS:
            continue
        target = type_of_model.get(field.related_model) if field.is_relation else None
        has_default = field.has_default() or field.null or getattr(field, "blank", False)
        plans[field.name] = FieldPlan(
            name=field.name, attname=field.attname, column=field.column,
            convert=_identity if field.is_relation else _converter(field),
            required=not has_default and field.name not in {"deleted_at"},
            default=field.get_default() if field.has_default() else (None if field.null else ""),
            target_type=target,
        )
    return plans


@dataclass(frozen=True)
class RecordPlan:
    """``field_plans`` arranged for converting one record after another with as little work as possible."""

    converters: dict[str, tuple[str, Callable[[Any], Any]]]  # field name -> (attname, convert); no relations
    defaults: dict[str, Any]  # attname -> value, for the optional fields a record leaves out
    required: tuple[tuple[str, str], ...]  # (name, attname) of required fields that are not relations
    relations: tuple[tuple[str, str, str, bool], ...]  # (name, attname, target type, required)
    relation_names: frozenset[str]


@cache
def record_plan(object_type: str) -> RecordPlan:
    plans = field_plans(object_type).values()
    return RecordPlan(
        converters={p.name: (p.attname, p.convert) for p in plans if not p.target_type},
        defaults={p.attname: p.default for p in plans if not p.target_type and not p.required},
        required=tuple((p.name, p.attname) for p in plans if not p.target_type and p.required),
        relations=tuple((p.name, p.attname, p.target_type, p.required) for p in plans if p.target_type),
        relation_names=frozenset(p.name for p in plans if p.target_type),
    )
