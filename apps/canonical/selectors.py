"""Reads over the hub, shared by the engine, mappings previews, the API and reports."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import apps.common.lookups  # noqa: F401  (registers __any)
from apps.canonical.models import OBJECT_MODELS, ExternalRef

# Related records a view includes, as dotted paths of foreign keys, and the fields shown for each.
VIEW_RELATIONS: dict[str, tuple[str, ...]] = {
    "time_entry": ("person", "project", "project__customer"),
    "expense": ("person", "project", "project__customer"),
    "assignment": ("person", "project", "project__customer"),
    "project": ("customer", "manager", "rate_card"),
    "invoice": ("customer", "project"),
    "revenue_schedule": ("project", "project__customer"),
    "customer": ("parent",),
    "person": (),
    "rate_card": ("project", "project__customer"),
}
RELATED_FIELDS = ("id", "code", "name", "email", "currency", "number")


def plain(value: Any) -> Any:
    """JSON-friendly values for mapping input: decimals and dates as strings."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


# Values of these exact types are plain already: the views' hot loop skips the call for them.
_AS_IS = frozenset({str, int, bool, float, type(None)})


def canonical_views(object_type: str, ids: list[int]) -> dict[int, dict]:
    """Each record as a nested dict (``{"hours": "7.50", "project": {"code": …, "customer": {…}}}``)."""
    model = OBJECT_MODELS[object_type]
    own = [f.attname for f in model._meta.concrete_fields]
    related = []
    for relation in VIEW_RELATIONS.get(object_type, ()):
        target = model
        for part in relation.split("__"):
            target = target._meta.get_field(part).related_model
        names = {f.name for f in target._meta.concrete_fields}
        related += [f"{relation}__{name}" for name in RELATED_FIELDS if name in names]
    # The nesting is worked out once for the query, not once per value: tuples in, each related record's dict
    # built in one go (the engine builds a view per record it sends).
    groups: dict[tuple[str, ...], list[tuple[str, int]]] = {}
    for position, key in enumerate(related, start=len(own)):
        *path, leaf = key.split("__")
        groups.setdefault(tuple(path), []).append((leaf, position))
    shape = list(groups.items())
    id_at = own.index("id")
    views = {}
    for row in model.objects.filter(pk__any=ids).values_list(*own, *related):
        view: dict[str, Any] = {name: value if type(value) in _AS_IS else plain(value)
                                for name, value in zip(own, row, strict=False)}
        for path, leaves in shape:
            node = view
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = {leaf: value if type(value := row[position]) in _AS_IS else plain(value)
                              for leaf, position in leaves}
        _drop_empty_relations(view, object_type)
        views[row[id_at]] = view
    return views


def _drop_empty_relations(view: dict, object_type: str) -> None:
    for relation in VIEW_RELATIONS.get(object_type, ()):
        head = relation.split("__")[0]
        if isinstance(view.get(head), dict) and view[head].get("id") is None:
            view[head] = None


def external_ids(connection_id: int, object_type: str, canonical_ids: list[int]) -> dict[int, str]:
    """This connection's ids for canonical records (which records the target system already has)."""
    return dict(ExternalRef.objects.filter(connection_id=connection_id, object_type=object_type,
                                           canonical_id__any=canonical_ids).values_list("canonical_id", "external_id"))
