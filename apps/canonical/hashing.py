"""Content hashes of canonical records: the same business content always hashes the same."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        normalized = value.normalize()
        return format(normalized if normalized != 0 else Decimal(0), "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


# The hot path: values of these exact types pass through _plain unchanged, so they skip the call.
_PLAIN_AS_IS = frozenset({str, int, bool, float, type(None)})
_ENCODER = json.JSONEncoder(sort_keys=True, default=str, separators=(",", ":"))  # as json.dumps(...) with these


def content_hash(field_names: tuple[str, ...], values: dict[str, Any]) -> str:
    """sha256 over the hashed fields, by attribute name (``project_id``, not ``project``)."""
    get = values.get
    payload = [v if type(v) in _PLAIN_AS_IS else _plain(v) for v in map(get, field_names)]
    return hashlib.sha256(_ENCODER.encode(payload).encode()).hexdigest()


def record_hash(record) -> str:
    """The content hash of a saved canonical record, comparable with hashes of incoming data."""
    return content_hash(record.HASHED_FIELDS, {name: getattr(record, name) for name in record.HASHED_FIELDS})
