"""CSV files from a drop folder or an SFTP server, and export files for systems that import journals.

Reading: files whose names match the object's pattern (``time*.csv``, ``expense*.csv``, ``people*.csv``,
``customers*.csv``, ``projects*.csv``, ``assignments*.csv`` (or ``bookings*.csv``), ``rate_cards*.csv``; layouts in
``apps.connectors.flatfiles.layouts``) are read in name order, streaming, in pages of ``batch_size`` rows.
A file is moved on only once all its pages were stored (when the next page is asked for, or the read
ends): read to its end, it goes to ``archive/YYYY/MM/``; if it could not be read to its end, to
``rejected/`` with ``<name>.error.txt``.
A worker that dies mid-file leaves the file in the inbox, and the next read starts it again: rows
already stored are unchanged content, which the hub skips. A run's next slice in the same process goes on with the
reader its last slice stopped in (``flatfiles.resume``), so a file is parsed once, not from its start each slice.
The cursor is the last file finished; it is a bookmark for people, not a filter (the inbox itself is the queue).

Writing: ``journal_export`` appends one line per record to ``outbox/journal-<day>.csv`` (or
``.jsonl``), idempotent by our reference. See docs/connectors.md, "CSV files".
"""

from __future__ import annotations

import codecs
import logging
import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings
from django.utils import timezone

from apps.common.errors import ErrorCategory
from apps.common.objects import CanonicalInput, ObjectType, Origin
from apps.connectors.errors import ConnectorError
from apps.connectors.flatfiles import layouts
from apps.connectors.flatfiles.csvread import CsvFile, CsvOptions, Layout
from apps.connectors.flatfiles.export import FORMATS, ROTATIONS, JournalExport
from apps.connectors.flatfiles.resume import OpenFile, open_file_keep, open_file_take
from apps.connectors.flatfiles.sftp import SftpSession, SftpTarget, server_host_key
from apps.connectors.flatfiles.sources import Folders, InboxFile, LocalInbox, SftpInbox
from apps.connectors.kinds import register
from apps.connectors.kinds.base import (
    Capabilities,
    ConnectorKind,
    FieldSpec,
    ObjectSpec,
    Page,
    TestResult,
    WriteRequest,
    WriteResult,
)

logger = logging.getLogger(__name__)

DEFAULT_PATTERNS = {"time_entries": "time*.csv", "expenses": "expense*.csv", "people": "people*.csv",
                    "customers": "customers*.csv,clients*.csv", "projects": "projects*.csv",
                    "assignments": "assignments*.csv,bookings*.csv", "rate_cards": "rate_cards*.csv,rate-cards*.csv"}
LATER_FILES = ("duplicate", "update")
REPEATS = ("duplicate", "allow")
JOURNAL_COLUMNS = ("date", "person", "project", "task", "hours", "billable", "approval_status", "currency",
                   "bill_rate", "cost_rate", "notes")
# Revenue inputs per project and month (billing readiness), for ERPs that take them as an import; ``amount`` is
# what the month accrues (a fixed fee's share by progress, else the billable value), ``note`` why a fixed fee's
# month accrues nothing.
REVENUE_COLUMNS = ("period", "project", "customer", "method", "currency", "billable_value", "cost", "hours",
                   "percent_complete", "fee", "amount", "note")
EXPORT_PREFIXES = {"journal_export": "journal", "revenue_export": "revenue"}
DEFAULT_SETTLE_SECONDS = 10
REJECTED_HINT = " The file goes to rejected/ with an .error.txt; fix it and drop it in again."


@register
class CsvFilesKind(ConnectorKind):
    slug = "csv"
    label = "CSV files (folder or SFTP)"
    capabilities = Capabilities(objects=(
        *(ObjectSpec(name, object_type, incremental=True) for name, object_type in layouts.OBJECT_TYPES.items()),
        ObjectSpec("journal_export", ObjectType.TIME_ENTRY, readable=False, writable=True),
        ObjectSpec("revenue_export", ObjectType.REVENUE_SCHEDULE, readable=False, writable=True),
    ), batch_size=2000)
    settings_fields = (
        FieldSpec("inbox_dir", "Drop folder", required=False,
                  help="Default: the connection's own inbox/. Other folders must be under WEFT_FILES_ALLOWED_DIRS."),
        FieldSpec("sftp_host", "SFTP host", required=False, help="Set to read from SFTP instead of a folder."),
        FieldSpec("sftp_port", "SFTP port", required=False, help="Default 22.", type="int"),
        FieldSpec("sftp_path", "SFTP folder", required=False, help="The folder files are dropped in."),
        FieldSpec("sftp_archive_path", "SFTP archive folder", required=False, help="Default <sftp_path>/archive."),
        FieldSpec("sftp_rejected_path", "SFTP rejected folder", required=False,
                  help="Default <sftp_path>/rejected."),
        FieldSpec("sftp_host_key", "SFTP host key", required=False,
                  help="The server's public key line ('ssh-ed25519 AAAA...'); 'Test' shows what the server offers."),
        *(FieldSpec(f"{name}_pattern", f"{name.replace('_', ' ').capitalize()} files", required=False,
                    help=f"Default {pattern} (comma-separated patterns)")
          for name, pattern in DEFAULT_PATTERNS.items()),
        FieldSpec("key", "Key of files without an id column", required=False,
                  help='Fields that identify a row, e.g. ["date", "person", "project", "task"]; "fingerprint" for '
                       'every column; or per object {"time_entries": [...]}. Default: the object\'s natural key '
                       '(code; person, project, role, start date) or, for time and expenses, the fingerprint.'),
        FieldSpec("repeats", "Rows with one key in a file", required=False,
                  help="duplicate (default: the first loads, the others are duplicate exceptions) or allow (each "
                       "is an entry of its own); or per object."),
        FieldSpec("later_files", "A key already loaded from another file", required=False,
                  help="duplicate (default for time and expenses) or update (default for reference data: a later "
                       "file has the newer version); or per object."),
        FieldSpec("delimiter", "Delimiter", required=False, help="Default: detected; ',' when unsure. 'tab' for tabs."),
        FieldSpec("encoding", "Encoding", required=False, help="Default utf-8 (with or without BOM); e.g. cp1252."),
        FieldSpec("columns", "Column mapping", required=False,
                  help='{"CSV header": "field"}, or per object {"time_entries": {...}}; null ignores a column.'),
        FieldSpec("extra_columns", "Extra columns", required=False,
                  help='Headers kept in the record\'s extra data; ["*"] for every unmapped column.'),
        FieldSpec("decimal_separator", "Decimal separator", required=False, help="Default '.'; ',' for 7,5."),
        FieldSpec("date_format", "Date format", required=False, help="strptime format, e.g. %d.%m.%Y; default ISO."),
        FieldSpec("person_ref", "People are named by", required=False, help="'code' (default) or 'external' id."),
        FieldSpec("project_ref", "Projects are named by", required=False, help="'code' (default) or 'external' id."),
        FieldSpec("batch_size", "Rows per page", required=False, help="Default 2000."),
        FieldSpec("settle_seconds", "Settle time (s)", required=False,
                  help="Files younger than this may still be being written and wait for the next read (default 10)."),
        FieldSpec("export_format", "Export format", required=False, help="csv (default) or jsonl."),
        FieldSpec("export_rotation", "Export files", required=False, help="day (default) or run."),
        FieldSpec("export_columns", "Export columns", required=False, help="Default: date, person, project, ..."),
    )
    credential_fields = (
        FieldSpec("sftp_username", "SFTP user", required=False),
        FieldSpec("sftp_password", "SFTP password", required=False),
        FieldSpec("sftp_private_key", "SFTP private key", required=False, help="OpenSSH or PEM private key."),
        FieldSpec("sftp_private_key_passphrase", "Private key passphrase", required=False),
    )

    def __init__(self, context):
        self.folders = Folders(context.files_root)  # before the base class checks the configuration
        self._exports: dict[str, JournalExport] = {}
        self._ref_cache: dict = {}  # the same few hundred people and projects recur on every row
        self._translation: dict[str, tuple[frozenset[str], bool]] = {}
        super().__init__(context)

    # --- reading ---------------------------------------------------------------------------------
    def read(self, object_name: str, *, cursor: str | None = None) -> Iterator[Page]:
        spec = self.capabilities.spec(object_name)
        if not spec.readable:
            yield from super().read(object_name, cursor=cursor)
            return
        layout, options = layouts.LAYOUTS[object_name], self._csv_options(object_name)
        pattern = self.setting(f"{object_name}_pattern") or DEFAULT_PATTERNS[object_name]
        with self.folders.lock(object_name), self._inbox() as inbox:
            waiting: list[InboxFile] = []
            ready = inbox.pending(pattern, self._settle_seconds(), waiting)
            if waiting:  # said first: a run may end before its last page
                yield Page([], next_cursor=None, notes=[_waiting_note(waiting, self._settle_seconds())])
            for file in ready:
                yield from self._read_file(inbox, file, layout, options, cursor)
                cursor = file.name

    def _read_file(self, inbox, file: InboxFile, layout: Layout, options: CsvOptions, cursor) -> Iterator[Page]:
        stored = _pages_stored(cursor, file.name)
        # The reader an earlier slice of this process stopped in, if it is this file and at this page (``resume``).
        identity = (str(self.folders.root), inbox.describe(), file.name, file.size, file.mtime, layout.object_name,
                    repr(options))
        opened = open_file_take(identity, stored=stored)
        if opened is None:
            local = inbox.fetch(file)
            reader = CsvFile(local, file.name, layout, options)
            opened = OpenFile(identity, local, reader, reader.batches())
        reader, local = opened.reader, opened.local
        pages = opened.pages()
        current = next(pages)
        while current is not None:
            following = next(pages, None)
            page, (records, errors) = current
            if following is None and reader.fatal_error:
                reader.fatal_error.message += REJECTED_HINT
            if page > stored or following is None:  # pages a run stored already are read (the reader keeps
                # track of the file) but not given again, so a run resumed mid-file counts each row once
                try:
                    yield Page(records if page > stored else [], errors=errors if page > stored else [],
                               next_cursor=file.name if following is None else f"{file.name}{PAGE_MARK}{page}")
                except GeneratorExit:  # the slice stops here: its next slice goes on from this page, not the start
                    opened.ahead[:0] = [current] if following is None else [current, following]
                    open_file_keep(opened)
                    raise
            current = following
        # Resumed after the last page: its records are stored, so the original can move on.
        try:
            if reader.fatal:
                where = inbox.reject(file, local, self._rejection_note(file, layout, reader))
                logger.warning("%s: rejected %s (%s) -> %s", self.context.connection_name, file.name, reader.fatal,
                               where)
            else:
                where = inbox.archive(file, local)
                logger.info("%s: read %s (%s rows) -> %s", self.context.connection_name, file.name, reader.rows, where)
        except OSError as error:  # the rows are stored; the file stays in the inbox and is read again, harmlessly
            raise ConnectorError(f"{self.context.connection_name}: {file.name} was read but could not be moved out "
                                 f"of the inbox: {error}", permanent=False) from None

    def _rejection_note(self, file: InboxFile, layout: Layout, reader: CsvFile) -> str:
        return (
            f"File: {file.name}\n"
            f"Rejected: {timezone.now():%Y-%m-%d %H:%M:%S %Z} by connection {self.context.connection_name!r} "
            f"({layout.object_name})\n"
            f"Why: {reader.fatal}\n\n"
            f"Rows before the problem were read and loaded; the run's log lists every row that was not.\n"
            f"Fix the file and put it in the inbox again: rows already loaded are recognised and not duplicated.\n"
        )

    @contextmanager
    def _inbox(self):
        if not self.setting("sftp_host"):
            directory = self._inbox_dir()
            if directory == self.folders.inbox:
                directory.mkdir(parents=True, exist_ok=True)
            yield LocalInbox(self.folders, directory)
            return
        path = self.setting("sftp_path").rstrip("/") or "/"
        with SftpSession(self._sftp_target(), name=self.context.connection_name) as session:
            yield SftpInbox(self.folders, session, path,
                            self.setting("sftp_archive_path") or f"{path.rstrip('/')}/archive",
                            self.setting("sftp_rejected_path") or f"{path.rstrip('/')}/rejected")

    def to_canonical(self, object_name: str, record: dict) -> CanonicalInput:
        if (settled := self._translation.get(object_name)) is None:  # the settings, read once per object
            settled = self._translation[object_name] = (
                frozenset(name for name in ("person", "project") if self.setting(f"{name}_ref") == "external"),
                self._per_object("later_files", object_name) == "duplicate")
        external, later_duplicate = settled
        canonical = layouts.to_canonical(object_name, record, external_refs=external, cache=self._ref_cache)
        if "_file" in record:
            once = bool(record.get("_keyed")) and later_duplicate
            canonical.origin = Origin(record["_file"], record["_row"], once=once)
        return canonical

    def _per_object(self, name: str, object_name: str):
        """A setting given once for all objects, or per object (``{"time_entries": ...}``); else the layout's."""
        value = self.setting(name)
        if isinstance(value, dict):
            value = value.get(object_name)
        if value in (None, "", []):
            layout = layouts.LAYOUTS[object_name]
            return {"later_files": layout.later, "repeats": "duplicate", "key": None}[name]
        return value

    def record_location(self, object_name: str, record: dict) -> str:
        return f"{record['_file']} row {record['_row']}" if "_file" in record else ""

    # --- writing ---------------------------------------------------------------------------------
    def write(self, object_name: str, payload: dict, *, reference: str, external_id: str | None = None,
              idempotency_key: str | None = None) -> WriteResult:
        if not self.capabilities.spec(object_name).writable:
            return super().write(object_name, payload, reference=reference, external_id=external_id)
        written, created = self.exporter(object_name).append(reference, payload)
        return WriteResult(external_id=written, created=created)

    def writes_many(self, object_name: str) -> bool:
        return object_name in EXPORT_PREFIXES and self.capabilities.spec(object_name).writable

    def write_many(self, object_name: str, requests: list[WriteRequest]) -> list[WriteResult]:
        """A run of new lines under one lock, all or none (``JournalExport.append_many``)."""
        if not self.writes_many(object_name):
            return super().write_many(object_name, requests)
        written = self.exporter(object_name).append_many([(r.reference, r.payload) for r in requests])
        return [WriteResult(external_id=line, created=created) for line, created in written]

    def batch(self) -> AbstractContextManager:
        return self.export.batch()  # lines and index entries written once per batch, not each with its fsync

    def find(self, object_name: str, *, reference: str) -> str | None:
        return self.exporter(object_name).find(reference) if object_name in EXPORT_PREFIXES else None

    def delete(self, object_name: str, external_id: str) -> None:
        """A journal line cannot be taken back, only cancelled: append a reversal line (once)."""
        if object_name not in EXPORT_PREFIXES:
            super().delete(object_name, external_id)
        self.exporter(object_name).reverse(external_id)

    def from_canonical(self, object_name: str, canonical: dict, refs: dict[str, str | None]) -> dict:
        if object_name == "revenue_export":
            extra = canonical.get("extra") or {}
            project = canonical.get("project") or {}
            return {"period": str(canonical.get("period") or "")[:7], "project": project.get("code"),
                    "customer": (project.get("customer") or {}).get("code"), "method": canonical.get("method"),
                    "currency": canonical.get("currency"), "billable_value": extra.get("billable_value"),
                    "cost": extra.get("cost"), "hours": extra.get("hours"),
                    "percent_complete": extra.get("percent_complete"), "fee": extra.get("fee"),
                    "amount": canonical.get("amount"), "note": extra.get("note")}
        return {column: _plain(refs.get(column) or canonical.get(column)) for column in JOURNAL_COLUMNS}

    @property
    def export(self) -> JournalExport:
        return self.exporter("journal_export")

    def exporter(self, object_name: str) -> JournalExport:
        """The export files of ``journal_export`` (``journal-<day>.csv``) or ``revenue_export`` (``revenue-…``)."""
        if object_name in self._exports:
            return self._exports[object_name]
        columns = self.setting("export_columns") if object_name == "journal_export" else None
        made = JournalExport(
            self.folders.outbox, fmt=self.setting("export_format") or "csv",
            rotation=self.setting("export_rotation") or "day", columns=tuple(columns) if columns else None,
            run_stamp=self.context.run_stamp, prefix=EXPORT_PREFIXES.get(object_name, "journal"),
        )
        self._exports[object_name] = made
        return made

    # --- testing ---------------------------------------------------------------------------------
    def test(self) -> TestResult:
        if self.setting("sftp_host") and not self.setting("sftp_host_key"):
            offered = server_host_key(self.setting("sftp_host"), self._sftp_port(), name=self.context.connection_name,
                                      allow_private_network=self.context.allow_private_network)
            hint = f" The server offers: {offered}" if offered else " The server did not answer."
            return TestResult(False, f"Set sftp_host_key to the server's public key, checked with its admin.{hint}")
        with self._inbox() as inbox:
            waiting = {name: len(inbox.pending(self.setting(f"{name}_pattern") or DEFAULT_PATTERNS[name], 0))
                       for name in layouts.LAYOUTS}
            where = inbox.describe()
        if not self.setting("sftp_host"):
            directory = Path(where)
            if not directory.is_dir():
                return TestResult(False, f"The inbox {where} does not exist.")
            if not _can_use(directory):
                return TestResult(False, f"The inbox {where} is not readable and writable by Weft.")
        summary = ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in waiting.items())
        return TestResult(True, f"Inbox {where} is readable; files waiting: {summary}.")

    # --- configuration ---------------------------------------------------------------------------
    def _check_configuration(self) -> None:
        super()._check_configuration()
        problems = list(_setting_problems(self.context.settings, self.context.credentials))
        if not problems and not self.setting("sftp_host"):
            try:
                self._inbox_dir()
            except ConnectorError as error:
                problems.append(error.message)
        if problems:
            raise ConnectorError(f"{self.context.connection_name}: {' '.join(problems)}", permanent=True,
                                 category=ErrorCategory.CONFIG)

    def _inbox_dir(self) -> Path:
        configured = self.setting("inbox_dir")
        if not configured:
            return self.folders.inbox
        path = Path(configured)
        path = (path if path.is_absolute() else self.context.files_root / path).resolve()
        allowed = [self.context.files_root.resolve(),
                   *(Path(p).resolve() for p in django_settings.WEFT_FILES_ALLOWED_DIRS)]
        if not any(path.is_relative_to(base) for base in allowed):
            raise ConnectorError(f"inbox_dir {configured} is outside the connection's folder and the folders listed "
                                 f"in WEFT_FILES_ALLOWED_DIRS.", permanent=True, category=ErrorCategory.CONFIG)
        return path

    def _csv_options(self, object_name: str) -> CsvOptions:
        columns = self.setting("columns") or {}
        if columns and all(isinstance(v, dict) for v in columns.values()):
            columns = columns.get(object_name, {})
        delimiter = self.setting("delimiter") or None
        return CsvOptions(
            encoding=self.setting("encoding") or "utf-8",
            delimiter={"tab": "\t", "\\t": "\t"}.get(delimiter, delimiter),
            columns=columns, decimal_separator=self.setting("decimal_separator") or ".",
            date_format=self.setting("date_format") or None,
            extra_columns=tuple(self.setting("extra_columns") or ()),
            batch_size=int(self.setting("batch_size") or self.capabilities.batch_size),
            key=_key_fields(self._per_object("key", object_name)), repeats=self._per_object("repeats", object_name),
        )

    def _settle_seconds(self) -> float:
        value = self.setting("settle_seconds")
        return DEFAULT_SETTLE_SECONDS if value in (None, "") else float(value)

    def _sftp_port(self) -> int:
        return int(self.setting("sftp_port") or 22)

    def _sftp_target(self) -> SftpTarget:
        return SftpTarget(
            host=self.setting("sftp_host"), port=self._sftp_port(), username=self.credential("sftp_username"),
            host_key=self.setting("sftp_host_key") or "", password=self.context.credentials.get("sftp_password"),
            private_key=self.context.credentials.get("sftp_private_key"),
            passphrase=self.context.credentials.get("sftp_private_key_passphrase"),
            allow_private_network=self.context.allow_private_network,
        )


PAGE_MARK = "#page="  # a cursor inside a file: "<file>#page=<pages stored>"


def _pages_stored(cursor: str | None, name: str) -> int:
    """How many pages of file ``name`` a run has stored already, by its cursor (0 unless it stopped inside it)."""
    prefix = f"{name}{PAGE_MARK}"
    if cursor and cursor.startswith(prefix) and cursor[len(prefix):].isdigit():
        return int(cursor[len(prefix):])
    return 0


def _setting_problems(settings: dict[str, Any], credentials: dict[str, Any]) -> Iterator[str]:
    delimiter = settings.get("delimiter")
    if delimiter and delimiter not in ("tab", "\\t") and len(delimiter) != 1:
        yield f"delimiter must be one character (or 'tab'), not {delimiter!r}."
    if settings.get("encoding"):
        try:
            codecs.lookup(settings["encoding"])
        except LookupError:
            yield f"encoding {settings['encoding']!r} is not known."
    for name in ("person_ref", "project_ref"):
        if settings.get(name) not in (None, "", "code", "external"):
            yield f"{name} must be 'code' or 'external'."
    if settings.get("export_format") not in (None, "", *FORMATS):
        yield f"export_format must be one of {', '.join(FORMATS)}."
    if settings.get("export_rotation") not in (None, "", *ROTATIONS):
        yield f"export_rotation must be one of {', '.join(ROTATIONS)}."
    yield from _column_problems(settings.get("columns") or {})
    yield from _key_problems(settings)
    for name, smallest in (("batch_size", 1), ("settle_seconds", 0), ("sftp_port", 1)):
        value = settings.get(name)
        if value not in (None, "") and not _is_number_from(value, smallest):
            yield f"{name} must be a number of at least {smallest}, not {value!r}."
    if settings.get("sftp_host"):
        if not settings.get("sftp_path"):
            yield "sftp_path is required with sftp_host."
        if not credentials.get("sftp_username"):
            yield "credential sftp_username is required with sftp_host."
        if not (credentials.get("sftp_password") or credentials.get("sftp_private_key")):
            yield "set credential sftp_password or sftp_private_key."


def _column_problems(columns: Any) -> Iterator[str]:
    if not isinstance(columns, dict):
        yield "columns must be an object mapping CSV headers to fields."
        return
    nested = columns and all(isinstance(v, dict) for v in columns.values())
    groups = columns.items() if nested else [(None, columns)]
    for object_name, mapping in groups:
        known = layouts.LAYOUTS
        candidates = [known[object_name]] if object_name in known else list(known.values())
        if nested and object_name not in known:
            yield f"columns names {object_name!r}, which is not an object this kind reads."
            continue
        names = " or ".join(layout.object_name for layout in candidates)
        for header, key in mapping.items():
            if key and not any(key in layout.aliases for layout in candidates):
                yield f"columns maps {header!r} to {key!r}, which is not a field of {names}."


def _key_problems(settings: dict[str, Any]) -> Iterator[str]:
    for name, allowed in (("repeats", REPEATS), ("later_files", LATER_FILES)):
        for object_name, value in _per_object_values(settings.get(name)):
            if value not in allowed:
                yield f"{name} must be {' or '.join(allowed)}, not {value!r}."
            elif object_name not in (None, *layouts.LAYOUTS):
                yield f"{name} names {object_name!r}, which is not an object this kind reads."
    for object_name, value in _per_object_values(settings.get("key")):
        if value == "fingerprint":
            continue
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            yield f'key must be a list of fields or "fingerprint", not {value!r}.'
            continue
        candidates = [layouts.LAYOUTS[object_name]] if object_name in layouts.LAYOUTS else list(
            layouts.LAYOUTS.values())
        unknown = [f for f in value if not any(f in layout.aliases for layout in candidates)]
        if unknown:
            yield f"key names {', '.join(map(repr, unknown))}, which no object this kind reads has."


def _per_object_values(value: Any) -> Iterator[tuple[str | None, Any]]:
    if value in (None, "", []):
        return
    if isinstance(value, dict):
        yield from value.items()
    else:
        yield None, value


def _key_fields(value: Any) -> tuple[str, ...] | None:
    """The ``key`` setting as CsvOptions takes it: fields, () for the fingerprint, None for the layout's own."""
    if value is None:
        return None
    return () if value == "fingerprint" else tuple(value)


def _is_number_from(value: Any, smallest: float) -> bool:
    try:
        return float(value) >= smallest
    except (TypeError, ValueError):
        return False


def _can_use(directory: Path) -> bool:
    return os.access(directory, os.R_OK | os.W_OK | os.X_OK)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _waiting_note(waiting: list[InboxFile], settle_seconds: float) -> str:
    names = ", ".join(sorted(f.name for f in waiting)[:5])
    if len(waiting) > 5:
        names += f" and {len(waiting) - 5} more"
    return (f"Not read yet: {names} changed less than {settle_seconds:g} s ago (the settle time) and may still be "
            "being written; the next run reads "
            + ("it." if len(waiting) == 1 else "them."))

