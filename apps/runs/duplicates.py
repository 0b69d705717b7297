"""Duplicates show both rows: the one refused, and the one stored under the same key before it.

A row of a file without ids is keyed by its content (``apps.connectors.flatfiles.csvread.record_key``). A
second row with a key is refused: by the reader when both are in one file, by the hub when the first came
from another file. Before the ledger items are written, each refused row gets what it was taken for: its
canonical fields (``payload_after``, for the exception's business context), its place as its id
(``time-02.csv row 5``, so it is a record of its own in the exception and a later read of the first
row does not clear it), and under ``_duplicate_of`` the stored record's file, row and fields.
"""

from __future__ import annotations

from contextlib import suppress

from apps.canonical.models import ExternalRef
from apps.canonical.selectors import canonical_views
from apps.common.errors import ErrorCategory, ExternalSystemError
from apps.connectors.kinds.base import ConnectorKind
from apps.runs.ledger import LedgerRow, canonical_payload
from apps.runs.models import Run

_LEFT_OUT = ("created_at", "updated_at", "content_hash", "source_connection_id", "deleted_at")


def duplicates_explain(run: Run, kind: ConnectorKind, items: list[LedgerRow]) -> None:
    """Complete the duplicate items among ``items`` (not yet written) in place; call after the page is stored."""
    duplicates = [item for item in items if item.error_category == ErrorCategory.DUPLICATE
                  and isinstance(item.payload_before, dict) and item.payload_before.get("external_id")]
    if not duplicates:
        return
    keys = {str(item.payload_before["external_id"]) for item in duplicates}
    refs = {ref.external_id: ref for ref in ExternalRef.objects.filter(
        connection_id=run.connection_id, object_type=run.object_type, external_id__in=keys)}
    views = canonical_views(run.object_type, [ref.canonical_id for ref in refs.values()]) if refs else {}
    for item in duplicates:
        _explain(run, kind, item, refs.get(str(item.payload_before["external_id"])), views)


def _explain(run: Run, kind: ConnectorKind, item: LedgerRow, first: ExternalRef | None, views: dict) -> None:
    raw = item.payload_before
    if item.payload_after is None:
        # A row the kind cannot translate still says what it was in its own fields.
        with suppress(ExternalSystemError, KeyError, TypeError, ValueError):
            item.payload_after = canonical_payload(kind.to_canonical(run.object_name, raw))
    if "_file" in raw:
        where = f"{raw['_file']} row {raw['_row']}"
        item.external_id = where[:255]
        if not item.error_message.startswith(where):
            item.error_message = f"{where}: {item.error_message}"
    item.canonical_id = None  # the stored record is the first row's, not this one's
    if first is not None:
        view = views.get(first.canonical_id) or {}
        raw["_duplicate_of"] = {
            "canonical_id": first.canonical_id, "file": first.origin_file, "row": first.origin_row,
            "record": {name: value for name, value in view.items() if name not in _LEFT_OUT},
        }
