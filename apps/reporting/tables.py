"""The one shape every figure comes back in: columns, rows and a summary, ready for pages, charts, API and CSV."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from itertools import repeat
from operator import methodcaller
from typing import Any


@dataclass(frozen=True)
class Column:
    """A table column; ``kind`` tells pages and exports how to show it (hours, money, ratio, date, ...)."""

    key: str
    label: str
    kind: str = "text"  # text, int, hours, money, ratio, date, datetime, days, ms, flag


@dataclass
class Table:
    """A figure: ``rows`` are plain dicts keyed by column key (Decimals, dates and ints, never strings of them).

    ``summary`` holds totals and headline numbers; ``notes`` say how the figure was computed and which
    assumptions or defaults applied, so a page can show them next to the table.
    """

    columns: tuple[Column, ...]
    rows: list[dict[str, Any]]
    summary: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def column_keys(self) -> list[str]:
        return [c.key for c in self.columns]


def plain(value: Any) -> Any:
    """A JSON-safe value: Decimals as strings (exact), dates as ISO strings."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


# A figure can have a hundred thousand cells: they are converted a column at a time, with a C-level callable
# where a column holds one type (plus None), so there is no Python call per cell.
_AS_IS = frozenset({str, int, bool, float, type(None)})
_CONVERT = {Decimal: methodcaller("__format__", "f"), date: date.isoformat, datetime: datetime.isoformat}


def _column(values: list) -> list:
    types = set(map(type, values))
    if types <= _AS_IS:
        return values
    known = types - {type(None)}
    convert = _CONVERT.get(known.pop()) if len(known) == 1 else None
    if convert is None:
        return [plain(v) for v in values]
    if type(None) not in types:
        return list(map(convert, values))
    return [None if v is None else convert(v) for v in values]


def table_json(table: Table) -> dict[str, Any]:
    keys = table.column_keys()
    columns = [_column([row.get(k) for row in table.rows]) for k in keys]
    return {
        "columns": [{"key": c.key, "label": c.label, "kind": c.kind} for c in table.columns],
        "rows": list(map(dict, map(zip, repeat(keys), zip(*columns, strict=True)))),
        "summary": plain(table.summary),
        "notes": table.notes,
    }
