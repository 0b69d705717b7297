"""CSV export of any figure, streamed row by row (the same Table the page and the API show)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.http import StreamingHttpResponse

from apps.common.csvcells import csv_cell
from apps.reporting.tables import Table


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_value(value: Any, kind: str) -> str:
    """Exact and plain: Decimals as written, dates ISO, flags yes/no; text that a spreadsheet would run as a
    formula is made inert by ``csv_cell`` (names come from customers' systems)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    return csv_cell(str(value))


def csv_lines(table: Table) -> Iterator[str]:
    """The header (column labels), then one line per row."""
    writer = csv.writer(_Echo(), lineterminator="\r\n")
    yield writer.writerow([c.label for c in table.columns])
    for row in table.rows:
        yield writer.writerow([csv_value(row.get(c.key), c.kind) for c in table.columns])


def csv_response(table: Table, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_lines(table), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
