"""Export files for systems that import journals: one line per record, appended to a file in outbox/.

Writing is idempotent by our reference. ``outbox/.index.jsonl`` remembers which reference went to
which ``file:line``; it outlives the export files (an ERP usually takes them away), so a retry after
the file was collected still finds the first write. Each line also carries its reference, so a
crash between writing the line and writing the index is repaired from the files still present.
Writers on one machine take turns through a lock on the index.

A journal is append-only, so taking a record back is a *reversal line*: reference
``<reference>#reversal:<file:line>``, column ``reverses`` naming the line it cancels, other columns
empty. The reference is then free again: writing it later (the entry approved anew) adds a new line.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.utils import timezone

from apps.common.errors import ErrorCategory
from apps.connectors.errors import ConnectorError

FORMATS = {"csv": ".csv", "jsonl": ".jsonl"}
ROTATIONS = ("day", "run")
INDEX_NAME = ".index.jsonl"
LEADING_COLUMNS = ("reference", "reverses")  # every CSV export file starts with these


class JournalExport:
    """Append-only export files, rotated per day (``journal-2026-11-02.csv``) or per run (one file per
    instance: ``journal-20261102T101500Z-3fa1.csv``)."""

    def __init__(self, outbox: Path, *, fmt: str = "csv", rotation: str = "day", prefix: str = "journal",
                 columns: tuple[str, ...] | None = None):
        self.outbox, self.fmt, self.rotation, self.prefix, self.columns = outbox, fmt, rotation, prefix, columns
        self.run_stamp = f"{timezone.now():%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"
        self._index: dict[str, str] = {}  # reference -> file:line, for references currently written
        self._ever: set[str] = set()  # every reference the index has named, released ones too
        self._by_line: dict[str, str] = {}  # file:line -> reference
        self._index_offset = 0
        self._repaired = False
        self._line_counts: dict[str, tuple[int, int]] = {}  # file name -> (size, lines) as we last saw it

    def find(self, reference: str) -> str | None:
        with self._locked():
            return self._index.get(reference)

    def append(self, reference: str, payload: dict[str, Any]) -> tuple[str, bool]:
        """Write ``payload`` under ``reference`` unless it was written before; returns (file:line, created)."""
        with self._locked():
            if reference in self._index:
                return self._index[reference], False
            external_id = self._write_line(reference, payload)
            self._remember(reference, external_id)
            return external_id, True

    def reverse(self, external_id: str) -> str:
        """Cancel the line ``external_id`` with a reversal line (once); returns the reversal's file:line."""
        with self._locked():
            reference = self._by_line.get(external_id)
            if reference is None:
                raise ConnectorError(f"No export line {external_id} is known, so there is nothing to reverse.",
                                     permanent=True, category=ErrorCategory.NOT_FOUND)
            reversal = f"{reference}#reversal:{external_id}"
            if reversal in self._index:
                return self._index[reversal]
            written = self._write_line(reversal, {}, reverses=external_id)
            self._remember(reversal, written)
            if self._index.get(reference) == external_id:
                self._remember(reference, None)  # free: writing the record again adds a new line
            return written

    # --- files -----------------------------------------------------------------------------------
    def _write_line(self, reference: str, payload: dict[str, Any], reverses: str = "") -> str:
        name = self._current_name()
        path = self.outbox / name
        lines_before = self._lines_in(path)
        text, header_lines = self._format(path, reference, payload, reverses)
        _append_durably(path, text)
        self._line_counts[name] = (path.stat().st_size, lines_before + text.count("\n"))
        return f"{name}:{lines_before + header_lines + 1}"

    def _lines_in(self, path: Path) -> int:
        """Lines already in ``path``; counted once, then kept up to date unless someone else appended."""
        size = path.stat().st_size if path.exists() else 0
        known = self._line_counts.get(path.name)
        if known and known[0] == size:
            return known[1]
        return _count_lines(path)

    def _current_name(self) -> str:
        stamp = f"{timezone.localdate():%Y-%m-%d}" if self.rotation == "day" else self.run_stamp
        return f"{self.prefix}-{stamp}{FORMATS[self.fmt]}"

    def _format(self, path: Path, reference: str, payload: dict[str, Any], reverses: str) -> tuple[str, int]:
        if self.fmt == "jsonl":
            line = {"reference": reference, **({"reverses": reverses} if reverses else {}), **payload}
            return json.dumps(line, default=_plain, ensure_ascii=False) + "\n", 0
        columns = _csv_columns(path) or list(self.columns or payload)
        unknown = [key for key in payload if key not in columns]
        if unknown:
            raise ConnectorError(
                f"The export file {path.name} has no column for {', '.join(unknown)}; its columns are "
                f"{', '.join(columns)}. Set 'export_columns' so every file has the same columns.",
                permanent=True, category=ErrorCategory.MAPPING,
            )
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        header_lines = 0
        if not path.exists() or path.stat().st_size == 0:
            writer.writerow([*LEADING_COLUMNS, *columns])
            header_lines = buffer.getvalue().count("\n")
        writer.writerow([reference, reverses, *(_cell(payload.get(column)) for column in columns)])
        return buffer.getvalue(), header_lines

    # --- the index -------------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.outbox.mkdir(parents=True, exist_ok=True)
        with (self.outbox / ".index.lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                self._load_index()
                if not self._repaired:
                    self._repair()
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _load_index(self) -> None:
        """Read what other writers added since we last looked."""
        path = self.outbox / INDEX_NAME
        if not path.exists():
            return
        with path.open("rb") as handle:
            handle.seek(self._index_offset)
            for raw in handle:
                if not raw.endswith(b"\n"):
                    break  # a torn last line (crash mid-write): the repair scan covers it
                self._index_offset += len(raw)
                try:
                    reference, external_id = json.loads(raw)
                except ValueError:
                    continue  # the torn line, once the next write completed it with a line end
                self._note(reference, external_id)

    def _repair(self) -> None:
        """Index lines the files hold but the index never named (a crash after the line, before the index)."""
        self._repaired = True
        for path in sorted(self.outbox.glob(f"{self.prefix}-*{FORMATS[self.fmt]}")):
            for reference, line in _references_in(path, self.fmt):
                if reference not in self._ever:
                    self._remember(reference, f"{path.name}:{line}")
                    original, _, reversed_line = reference.rpartition("#reversal:")
                    if original and self._index.get(original) == reversed_line:
                        self._remember(original, None)

    def _remember(self, reference: str, external_id: str | None) -> None:
        path = self.outbox / INDEX_NAME
        torn = path.exists() and self._index_offset < path.stat().st_size  # end the torn line first
        _append_durably(path, ("\n" if torn else "") + json.dumps([reference, external_id], ensure_ascii=False) + "\n")
        self._note(reference, external_id)
        self._index_offset = path.stat().st_size

    def _note(self, reference: str, external_id: str | None) -> None:
        self._ever.add(reference)
        if external_id is None:
            self._index.pop(reference, None)
        else:
            self._index[reference] = external_id
            self._by_line[external_id] = reference


def _append_durably(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8", newline="") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _count_lines(path: Path) -> int:
    if not path.exists():
        return 0
    with path.open("rb") as handle:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))


def _csv_columns(path: Path) -> list[str] | None:
    if not path.exists() or path.stat().st_size == 0:
        return None
    with path.open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle), None)
    return header[len(LEADING_COLUMNS):] if header else None


def _references_in(path: Path, fmt: str) -> Iterator[tuple[str, int]]:
    with path.open(encoding="utf-8", newline="") as handle:
        if fmt == "jsonl":
            for number, line in enumerate(handle, start=1):
                if line.endswith("\n"):
                    yield json.loads(line)["reference"], number
            return
        reader = csv.reader(handle)
        end = 0
        for row in reader:
            start, end = end + 1, reader.line_num
            if start > 1 and row:
                yield row[0], start


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)
