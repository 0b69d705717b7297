"""Reference data sent to Weft's own API: ``POST /api/v1/records/<object>/`` with many people, customers,
projects, assignments or rate cards at once.

The records use the same field names as the CSV kind's files (``apps.connectors.flatfiles.layouts``: the
canonical names, and the names spreadsheets use for them), are converted by the same rules, and are keyed
by ``id`` if they carry one, else by their natural key (a code; for assignments person, project, role and
start date). This kind reads nothing by itself: ``page`` turns a request's records into a page the
engine stores like any other (the door, the hub, the ledger).
"""

from __future__ import annotations

from typing import Any

from apps.common.errors import ErrorCategory
from apps.common.objects import CanonicalInput
from apps.connectors.flatfiles import layouts
from apps.connectors.flatfiles.csvread import (
    CsvOptions,
    FileProblem,
    alias_table,
    apply_fixers,
    map_columns,
    normalize_header,
    record_key,
    row_fixers,
)
from apps.connectors.kinds import register
from apps.connectors.kinds.base import Capabilities, ConnectorKind, ObjectSpec, Page, RecordError, TestResult

MAX_RECORDS = 5000


@register
class ApiRecordsKind(ConnectorKind):
    slug = "api"
    label = "Records sent to Weft's API"
    capabilities = Capabilities(objects=tuple(
        ObjectSpec(name, layouts.OBJECT_TYPES[name], readable=False) for name in layouts.REFERENCE_OBJECTS))

    def __init__(self, context):
        self._ref_cache: dict = {}
        super().__init__(context)

    def test(self) -> TestResult:
        return TestResult(True, "Ready: POST records to /api/v1/records/<object>/ "
                                f"({', '.join(layouts.REFERENCE_OBJECTS)}).")

    def page(self, object_name: str, records: list[dict[str, Any]]) -> Page:
        """A request's records as one page: each converted like a CSV row, keyed, or a ``RecordError`` naming its
        index (``record 3``) and field."""
        self.capabilities.spec(object_name)
        layout = layouts.LAYOUTS[object_name]
        table = alias_table(layout)
        page = Page(records=[], next_cursor=None)
        seen: dict[str, int] = {}
        for index, given in enumerate(records):
            record, problem = _record(layout, table, given, f"record {index}")
            if problem is None:
                problem = _keyed(layout, record, index, seen)
            if problem is not None:
                page.errors.append(problem)
            else:
                page.records.append(record)
        return page

    def to_canonical(self, object_name: str, record: dict) -> CanonicalInput:
        return layouts.to_canonical(object_name, record, cache=self._ref_cache)

    def record_location(self, object_name: str, record: dict) -> str:
        return f"record {record['_index']}" if "_index" in record else ""


def _record(layout, table: dict[str, str], given: Any, reference: str) -> tuple[dict, RecordError | None]:
    """The record's fields under the layout's keys, as text (what the shared conversions read)."""
    if not isinstance(given, dict):
        return {}, RecordError(reference, "is not a JSON object.", category=ErrorCategory.VALIDATION, raw=given)
    names = [str(name) for name in given]
    unknown = next((name for name in names if normalize_header(name) not in table), None)
    if unknown is not None:
        return {}, RecordError(reference, f"unknown field {unknown!r}; known fields: {', '.join(layout.keys)}.",
                               field=unknown, category=ErrorCategory.VALIDATION, raw=given)
    try:
        keys = map_columns(layout, names, {})  # rival names for one field: the rule files follow
    except FileProblem as problem:
        return {}, RecordError(reference, problem.message.replace("Columns", "Fields").replace(
            " with the connection's 'columns' setting", ""), field=problem.field, category=ErrorCategory.VALIDATION,
            raw=given)
    record: dict[str, Any] = {}
    for index, key in keys.items():
        value = given[names[index]]
        if isinstance(value, dict | list):
            return {}, RecordError(reference, f"{names[index]}: a value, not a list or object, is expected.",
                                   field=key, category=ErrorCategory.VALIDATION, raw=given)
        record[key] = _text(value)
    bad = apply_fixers(row_fixers(layout, CsvOptions(), set(record)), record)
    if bad is not None:
        return {}, RecordError(reference, bad[1], field=bad[0], category=ErrorCategory.VALIDATION, raw=given)
    return record, None


def _keyed(layout, record: dict, index: int, seen: dict[str, int]) -> RecordError | None:
    key = (record.get("external_id") or "").strip() or record_key(layout, record, layout.key)
    reference = f"record {index}"
    if not key.strip("|"):
        return RecordError(reference, f"needs an id or its {', '.join(layout.key)}.", field="external_id",
                           category=ErrorCategory.VALIDATION, raw=record)
    record["external_id"], record["_index"] = key, index
    if key in seen:
        return RecordError(reference, f"duplicate: record {seen[key]} has the same key {key}; only that one was "
                                      "stored.", field="external_id", category=ErrorCategory.DUPLICATE, raw=record)
    seen[key] = index
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
