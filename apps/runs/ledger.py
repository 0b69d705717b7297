"""Writing the ledger in bulk: a page's run items go to the database with one COPY.

An inbound page is thousands of items, each with two JSON payloads. ``bulk_create`` renders them all
into one INSERT statement, quoting every value in Python; COPY streams the same values in the
server's own text format, at a fraction of the cost. Values are stored as ``bulk_create`` would
store them: text, numbers and keys as they are, every other field through its own
``get_db_prep_save`` (JSON through the field's encoder), the timestamps set once for the page. Each
item gets its primary key, as with ``bulk_create``; no signals are sent (``bulk_create`` sends none).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

import orjson
from django.db import connection, models
from django.utils import timezone

from apps.common.models import keys_reserve
from apps.common.objects import CanonicalInput
from apps.runs.models import RunItem

# Fields whose Python values PostgreSQL takes as they are: no preparation to repeat per value.
_AS_IS = (models.CharField, models.TextField, models.IntegerField, models.ForeignKey)


def run_items_write(items: list[RunItem]) -> None:
    """Store new ``items`` with one COPY, inside the caller's transaction."""
    if not items:
        return
    meta = RunItem._meta
    columns, values = _columns()
    now = timezone.now()
    ids = keys_reserve(RunItem, len(items))
    with connection.cursor() as cursor, cursor.cursor.copy(
            f"COPY {meta.db_table} ({meta.pk.column}, {columns}) FROM STDIN") as copy:
        for pk, item in zip(ids, items, strict=True):
            item.pk = pk
            copy.write_row([pk, *(value(item, now) for value in values)])
    for item in items:
        item._state.adding, item._state.db = False, connection.alias


class LedgerRow:
    """A run item to store whose id nobody needs (a run's records, as the engine traces them): its fields by
    attname, RunItem's defaults for the rest. Building a model instance per record cost more than writing it."""

    def __init__(self, **fields):
        self.__dict__.update(_defaults())
        self.__dict__.update(fields)


@cache
def _defaults() -> dict[str, Any]:
    return {field.attname: field.get_default() for field in RunItem._meta.concrete_fields if not field.primary_key}


def run_item_rows_write(rows: list[LedgerRow]) -> None:
    """``run_items_write`` for rows nobody needs the ids of: one COPY, the ids from the table's own default."""
    if not rows:
        return
    columns, values = _columns()
    now = timezone.now()
    with connection.cursor() as cursor, cursor.cursor.copy(
            f"COPY {RunItem._meta.db_table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([value(row, now) for value in values])


@cache
def _columns() -> tuple[str, tuple[Callable[[RunItem, Any], Any], ...]]:
    fields = [field for field in RunItem._meta.concrete_fields if not field.primary_key]
    return ", ".join(connection.ops.quote_name(field.column) for field in fields), tuple(map(_value, fields))


def _value(field: models.Field) -> Callable[[RunItem, Any], Any]:
    attname = field.attname
    if isinstance(field, models.DateTimeField) and (field.auto_now or field.auto_now_add):
        def stamp(item, now):
            setattr(item, attname, now)
            return now
        return stamp
    if isinstance(field, _AS_IS):
        return lambda item, now: getattr(item, attname)
    if isinstance(field, models.JSONField) and field.encoder is None:
        return lambda item, now: _json_text(getattr(item, attname))
    return lambda item, now: field.get_db_prep_save(getattr(item, attname), connection)


def _json_text(value: Any) -> str | None:
    """JSON as the column stores it (orjson: several times the stdlib's speed on the ledger's payloads)."""
    if value is None:
        return None
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # what orjson refuses (an integer past 64 bits) the stdlib may still write
        return json.dumps(value)


def canonical_payload(canonical: CanonicalInput | None) -> dict | None:
    """What the engine tried to store, kept on the ledger item (exceptions read business context from it)."""
    if canonical is None:
        return None
    refs = {name: (f"{ref.by}:{ref.value}" if ref else None) for name, ref in canonical.refs.items()}
    return {"fields": {k: str(v) if v is not None else None for k, v in canonical.fields.items()}, "refs": refs,
            "deleted": canonical.deleted}
