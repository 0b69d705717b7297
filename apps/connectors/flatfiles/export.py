"""Export files for systems that import journals: one line per record, appended to a file in outbox/.

Writing is idempotent by our reference. ``outbox/.index.jsonl`` remembers which reference went to
which ``file:line``; it outlives the export files (an ERP usually takes them away), so a retry after
the file was collected still finds the first write. Each line also carries its reference, so a
crash between writing the line and writing the index is repaired from the files still present.
Writers on every host take turns through a PostgreSQL advisory lock per outbox.

What the index says is kept per process and outbox (``_shared``), not per instance: the engine makes a
new instance for every slice of a run, and each used to read the whole index (and scan every export
file) again, which grows without end. Each instance still reads what others added since, and scans
again any file that grew by someone else's hand.

In a ``batch()`` (the engine's: a batch of records is recorded in one go) lines and index entries are
held in memory under the lock and written when the batch ends, lines first, each file with one fsync,
instead of two fsyncs per line; a batch that ends in an exception writes nothing, like a crash before.

A journal is append-only, so taking a record back is a *reversal line*: reference
``<reference>#reversal:<file:line>``, column ``reverses`` naming the line it cancels, other columns
empty. The reference is then free again: writing it later (the entry approved anew) adds a new line.
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.utils import timezone

from apps.common.csvcells import csv_cell
from apps.common.errors import ErrorCategory
from apps.common.locks import advisory_lock
from apps.connectors.errors import ConnectorError

FORMATS = {"csv": ".csv", "jsonl": ".jsonl"}
ROTATIONS = ("day", "run")
INDEX_NAME = ".index.jsonl"
LEADING_COLUMNS = ("reference", "reverses")  # every CSV export file starts with these


class _Index:
    """What the index and the export files say: shared by one process's instances over one outbox."""

    def __init__(self, inode: int = 0):
        self.inode = inode  # of the index file read; another file (rewritten, replaced) is read afresh
        self.by_reference: dict[str, str] = {}  # reference -> file:line, for references currently written
        self.ever: set[str] = set()  # every reference the index has named, released ones too
        self.by_line: dict[str, str] = {}  # file:line -> reference
        self.offset = 0  # bytes of the index read
        self.line_counts: dict[str, tuple[int, int]] = {}  # file name -> (size, lines) as we last saw it
        self.scanned: dict[str, int] = {}  # file name -> size up to which its references are known
        self.columns: dict[str, tuple[int, list[str]]] = {}  # file name -> (inode, the columns its header names)


class _Batch:
    """Writes held in memory until a batch ends: text per file (the index too), and what it adds to each."""

    def __init__(self):
        self.texts: dict[Path, list[str]] = {}
        self.lines: dict[Path, int] = {}
        self.columns: dict[Path, list[str]] = {}  # of files this batch starts, header included
        # Looked up once per batch, not per line (a stat each): the file the batch writes to, the lines it held
        # and the columns its header names. The batch holds the lock, so no one else appends meanwhile.
        self.current: tuple[str, Path] | None = None
        self.lines_before: dict[Path, int] = {}
        self.header: dict[Path, list[str] | None] = {}

    def add(self, path: Path, text: str) -> None:
        self.texts.setdefault(path, []).append(text)
        self.lines[path] = self.lines.get(path, 0) + text.count("\n")


_SHARED: OrderedDict[tuple, _Index] = OrderedDict()
_SHARED_OUTBOXES = 8  # a worker serves many tenants: keep the few most recently used


def _shared(key: tuple) -> _Index:
    index = _SHARED.pop(key, None) or _Index()
    _SHARED[key] = index
    while len(_SHARED) > _SHARED_OUTBOXES:
        _SHARED.popitem(last=False)
    return index


class JournalExport:
    """Append-only export files, rotated per day (``journal-2026-11-02.csv``) or per run (one file per run:
    ``journal-20261102T101500Z-run42.csv``, when the run is named; else one per instance,
    ``journal-20261102T101500Z-3fa1.csv``)."""

    def __init__(self, outbox: Path, *, fmt: str = "csv", rotation: str = "day", prefix: str = "journal",
                 columns: tuple[str, ...] | None = None, run_stamp: str = ""):
        self.outbox, self.fmt, self.rotation, self.prefix, self.columns = outbox, fmt, rotation, prefix, columns
        # A run works in slices, each with a kind instance of its own: the run's stamp keeps them to one file.
        self.run_stamp = run_stamp or f"{timezone.now():%Y%m%dT%H%M%SZ}-{secrets.token_hex(2)}"
        self._key = (str(outbox.resolve()), fmt, prefix)
        self._state = _shared(self._key)
        self._repaired = False
        self._locks = 0  # depth: a batch holds the lock, the writes inside it do not take it again
        self._pending: _Batch | None = None

    def find(self, reference: str) -> str | None:
        with self._locked():
            return self._state.by_reference.get(reference)

    def append(self, reference: str, payload: dict[str, Any]) -> tuple[str, bool]:
        """Write ``payload`` under ``reference`` unless it was written before; returns (file:line, created)."""
        with self._locked():
            if reference in self._state.by_reference:
                return self._state.by_reference[reference], False
            external_id = self._write_line(reference, payload)
            self._remember(reference, external_id)
            return external_id, True

    def append_many(self, items: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, bool]]:
        """``append`` for several records, all or none: under one lock, in one batch (the caller's, if it holds
        one), and refused as a whole before any is written if one has a field its file has no column for."""
        if not items:
            return []
        with self._locked(), (nullcontext() if self._pending is not None else self.batch()):
            if self.fmt == "csv":
                path = self._batch_path()
                columns = self._file_columns(path) or list(self.columns or items[0][1])
                for _, payload in items:
                    self._refuse_unknown(path, columns, payload)
            return [self.append(reference, payload) for reference, payload in items]

    def reverse(self, external_id: str) -> str:
        """Cancel the line ``external_id`` with a reversal line (once); returns the reversal's file:line."""
        with self._locked():
            reference = self._state.by_line.get(external_id)
            if reference is None:
                raise ConnectorError(f"No export line {external_id} is known, so there is nothing to reverse.",
                                     permanent=True, category=ErrorCategory.NOT_FOUND)
            reversal = f"{reference}#reversal:{external_id}"
            if reversal in self._state.by_reference:
                return self._state.by_reference[reversal]
            written = self._write_line(reversal, {}, reverses=external_id)
            self._remember(reversal, written)
            if self._state.by_reference.get(reference) == external_id:
                self._remember(reference, None)  # free: writing the record again adds a new line
            return written

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Hold the lock and keep the writes in memory until the batch ends, then write them durably."""
        with self._locked():
            self._pending = _Batch()
            try:
                yield
                self._write_pending()
            except BaseException:
                _SHARED.pop(self._key, None)  # the memory noted writes that never happened: read the disk again
                self._state, self._repaired = _shared(self._key), False
                raise
            finally:
                self._pending = None

    def _write_pending(self) -> None:
        index = self.outbox / INDEX_NAME
        texts = self._pending.texts
        for path, text in texts.items():  # the lines before the index entries that name them
            if path != index:
                self._append_to(path, "".join(text))
        if index in texts:
            torn = index.exists() and self._state.offset < index.stat().st_size  # end the torn line first
            _append_durably(index, ("\n" if torn else "") + "".join(texts[index]))
            found = index.stat()
            self._state.offset, self._state.inode = found.st_size, found.st_ino

    # --- files -----------------------------------------------------------------------------------
    def _write_line(self, reference: str, payload: dict[str, Any], reverses: str = "") -> str:
        pending = self._pending
        if pending is None:
            name = self._current_name()
            path = self.outbox / name
            lines_before = self._lines_in(path)
        else:  # a batch's lines go to the file of the day it began
            path = self._batch_path()
            name = path.name
            if path not in pending.lines_before:
                pending.lines_before[path] = self._lines_in(path)
            lines_before = pending.lines_before[path] + pending.lines.get(path, 0)
        text, header_lines = self._format(path, reference, payload, reverses)
        if pending is not None:
            pending.add(path, text)
        else:
            self._append_to(path, text)
        return f"{name}:{lines_before + header_lines + 1}"

    def _batch_path(self) -> Path:
        """The file the current batch writes to: that of the day it began."""
        pending = self._pending
        if pending.current is None:
            name = self._current_name()
            pending.current = (name, self.outbox / name)
        return pending.current[1]

    def _append_to(self, path: Path, text: str) -> None:
        """Append durably, and remember the file's new size and lines (and that we know its references)."""
        size = path.stat().st_size if path.exists() else 0
        lines = self._lines_in(path)
        _append_durably(path, text)
        state = self._state
        state.line_counts[path.name] = (path.stat().st_size, lines + text.count("\n"))
        if state.scanned.get(path.name, 0) == size:
            state.scanned[path.name] = path.stat().st_size

    def _lines_in(self, path: Path) -> int:
        """Lines already in ``path``; counted once, then kept up to date unless someone else appended."""
        size = path.stat().st_size if path.exists() else 0
        known = self._state.line_counts.get(path.name)
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
        known = self._file_columns(path)
        columns = known or list(self.columns or payload)
        self._refuse_unknown(path, columns, payload)
        row = _csv_row([reference, reverses, *(_cell(payload.get(column)) for column in columns)])
        if known is not None:
            return row, 0
        header = _csv_row([*LEADING_COLUMNS, *columns])
        if self._pending is not None:
            self._pending.columns[path] = columns
        return header + row, header.count("\n")

    @staticmethod
    def _refuse_unknown(path: Path, columns: list[str], payload: dict[str, Any]) -> None:
        unknown = [key for key in payload if key not in columns]
        if unknown:
            raise ConnectorError(
                f"The export file {path.name} has no column for {', '.join(unknown)}; its columns are "
                f"{', '.join(columns)}. Set 'export_columns' so every file has the same columns.",
                permanent=True, category=ErrorCategory.MAPPING,
            )

    def _file_columns(self, path: Path) -> list[str] | None:
        """The columns the header of ``path`` names (None: no header yet); read once per file."""
        if self._pending is not None:
            if path in self._pending.columns:
                return self._pending.columns[path]
            if path not in self._pending.header:
                self._pending.header[path] = self._header_columns(path)
            return self._pending.header[path]
        return self._header_columns(path)

    def _header_columns(self, path: Path) -> list[str] | None:
        if not path.exists() or (found := path.stat()).st_size == 0:
            return None
        cached = self._state.columns.get(path.name)
        if cached and cached[0] == found.st_ino:
            return cached[1]
        columns = _csv_columns(path)
        self._state.columns[path.name] = (found.st_ino, columns)
        return columns

    # --- the index -------------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        if self._locks:  # a batch holds it
            yield
            return
        self.outbox.mkdir(parents=True, exist_ok=True)
        # Tenant and connection name the lock (the outbox's parent folders), so writers on any host take turns.
        with advisory_lock(f"weft-export:{self.outbox.parent.parent.name}/{self.outbox.parent.name}"):
            self._locks += 1
            try:
                self._load_index()
                if not self._repaired:
                    self._repair()
                yield
            finally:
                self._locks -= 1

    def _load_index(self) -> None:
        """Read what other writers added since we last looked."""
        path = self.outbox / INDEX_NAME
        if not path.exists():
            if self._state.offset:  # the index we read is gone: forget it too
                _SHARED.pop(self._key, None)
                self._state = _shared(self._key)
            return
        found = path.stat()
        if found.st_ino != self._state.inode or found.st_size < self._state.offset:  # not the index we read
            _SHARED.pop(self._key, None)
            self._state = _shared(self._key)
            self._state.inode = found.st_ino
        if found.st_size == self._state.offset:
            return
        with path.open("rb") as handle:
            handle.seek(self._state.offset)
            for raw in handle:
                if not raw.endswith(b"\n"):
                    break  # a torn last line (crash mid-write): the repair scan covers it
                self._state.offset += len(raw)
                try:
                    reference, external_id = json.loads(raw)
                except ValueError:
                    continue  # the torn line, once the next write completed it with a line end
                self._note(reference, external_id)

    def _repair(self) -> None:
        """Index lines the files hold but the index never named (a crash after the line, before the index).
        Files no one else appended to since this process last looked hold nothing new."""
        self._repaired = True
        for path in sorted(self.outbox.glob(f"{self.prefix}-*{FORMATS[self.fmt]}")):
            size = path.stat().st_size
            if self._state.scanned.get(path.name) == size:
                continue
            for reference, line in _references_in(path, self.fmt):
                if reference not in self._state.ever:
                    self._remember(reference, f"{path.name}:{line}")
                    original, _, reversed_line = reference.rpartition("#reversal:")
                    if original and self._state.by_reference.get(original) == reversed_line:
                        self._remember(original, None)
            self._state.scanned[path.name] = size

    def _remember(self, reference: str, external_id: str | None) -> None:
        path = self.outbox / INDEX_NAME
        line = json.dumps([reference, external_id], ensure_ascii=False) + "\n"
        if self._pending is not None:
            self._pending.add(path, line)
            self._note(reference, external_id)
            return
        torn = path.exists() and self._state.offset < path.stat().st_size  # end the torn line first
        _append_durably(path, ("\n" if torn else "") + line)
        self._note(reference, external_id)
        found = path.stat()
        self._state.offset, self._state.inode = found.st_size, found.st_ino

    def _note(self, reference: str, external_id: str | None) -> None:
        state = self._state
        state.ever.add(reference)
        if external_id is None:
            state.by_reference.pop(reference, None)
        else:
            state.by_reference[reference] = external_id
            state.by_line[external_id] = reference


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


class _Rows:
    """One CSV writer over one buffer, reused: a writer and a buffer per line cost more than the line."""

    def __init__(self):
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\n")

    def __call__(self, row: list[str]) -> str:
        self.buffer.seek(0)
        self.buffer.truncate()
        self.writer.writerow(row)
        return self.buffer.getvalue()


_THREAD = threading.local()  # a writer per thread: web and cluster threads may export at once


def _csv_row(row: list[str]) -> str:
    rows = getattr(_THREAD, "rows", None)
    if rows is None:
        rows = _THREAD.rows = _Rows()
    return rows(row)


def _cell(value: Any) -> str:
    """One payload value as a cell. Values come from customers' systems: text that a spreadsheet would run
    as a formula is made inert (``csv_cell``); plain numbers, negative amounts included, stay numbers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return csv_cell(str(value))
