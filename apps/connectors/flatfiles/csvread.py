"""Reading one CSV file as a stream of records, with every problem named by file, row and field.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first data row is row 2.

Columns are found by header name (``normalize_header``): a vendor's export is read as it comes. When
two columns give one field, the one whose name says code or id (``Project Code``) wins over the one that
names it plainly (``Project``), which is read as the name (``project_name``) if the layout has one, else
set aside. A file without an id column is keyed by its rows' content (``record_key``): the layout's
natural key, the connection's ``key`` fields, or a fingerprint of every column read. Two rows with one
key in a file are a duplicate (the second is not loaded) unless repeats are allowed, when each repeat is
keyed by its occurrence (``…#2``). See docs/data-quality.md, "Keys and duplicates".

Problems come in two sizes. A *row* problem (wrong number of columns, an empty or duplicate id, a
value the layout cannot read) costs that row only: it becomes a ``RecordError`` and reading goes on.
A *file* problem (not valid in the encoding, empty, a required column missing, a quote that is never
closed, a truncated last line) means the file cannot be read to its end: ``CsvFile.fatal`` says why,
and the caller moves the file aside. Rows read before a file problem are still handed over; loading
them again later is harmless, because the hub skips unchanged content.

The file is read twice, both times streaming: a fast pass checks the encoding (so the error can name
the exact byte offset and line before any row is loaded); the second pass parses.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from operator import itemgetter
from pathlib import Path
from typing import Any

from apps.common.errors import ErrorCategory
from apps.connectors.kinds.base import RecordError

CHUNK_BYTES = 1 << 20
MAX_LINE_CHARS = 4 << 20  # bounds memory on a file with no line ends; a real CSV line is far shorter
SNIFF_CHARS = 64 * 1024
DELIMITERS = ",;\t|"
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_TRUE = {"true", "1", "yes", "y", "t", "x"}
_CODE_SUFFIXES = ("_code", "_id", "_no", "_number", "_ref")  # a column named so holds a code, not a name
_NOT_CONTENT = frozenset({"external_id", "deleted", "_file", "_row"})  # left out of a row's fingerprint
_CURRENCY_CODE = re.compile(r"\b([A-Z]{3})\b")
_NON_WORD = re.compile(r"[^0-9a-z]+")
_FALSE = {"false", "0", "no", "n", "f", ""}


_SNIFFED: dict[bytes, str] = {}  # the delimiter guessed from a sample, by the sample's digest
_SNIFFED_KEPT = 64


def _sniffed(sample: str) -> str:
    """The delimiter of the CSV text ``sample`` begins with: the sniffer's guess if the header agrees."""
    first_line = sample.splitlines()[0] if sample else ""
    try:
        delimiter = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        delimiter = ","
    if delimiter not in first_line:  # the sniffer guessed from data; the header must agree
        counts = {d: first_line.count(d) for d in DELIMITERS}
        delimiter = max(counts, key=counts.get) if any(counts.values()) else ","
    return delimiter


class FileProblem(Exception):
    """The file cannot be read to its end; ``message`` is written for the person who sent it."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message, self.field = message, field


@dataclass(frozen=True)
class Layout:
    """What one object's files hold: the record keys a column can fill, which a file must have, and the
    header names each key is recognised by (lower case, spaces and dashes as underscores)."""

    object_name: str
    aliases: Mapping[str, tuple[str, ...]]
    required: tuple[str | tuple[str, ...], ...]  # a tuple: any one of these will do (a code, an email, a name)
    numbers: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()  # yes/no columns the reader turns into booleans
    lower: tuple[str, ...] = ()  # values compared case-insensitively (choices)
    markers: tuple[str, ...] = ()  # columns that mark a row (a correction): yes/true/1/x or the word; else not
    choices: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # key -> {words people write: value}
    currencies: tuple[str, ...] = ()  # "US Dollar - USD" is read as USD
    names: Mapping[str, str] = field(default_factory=dict)  # key -> the key a plainly named rival column gives
    key: tuple[str, ...] = ()  # natural key when a file has no id column; () means the row's fingerprint
    later: str = "duplicate"  # a key already loaded from another file: "duplicate" (refused) or "update"
    noun: str = "record"

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(self.aliases)

    def alternatives(self, key: str) -> tuple[str, ...]:
        """The keys that may stand in for ``key`` (its required group), ``key`` first."""
        for group in self.required:
            if isinstance(group, tuple) and key in group:
                return (key, *(k for k in group if k != key))
        return (key,)


@dataclass(frozen=True)
class CsvOptions:
    encoding: str = "utf-8"
    delimiter: str | None = None  # None: sniff
    columns: Mapping[str, str | None] = field(default_factory=dict)  # header -> record key (None: ignore)
    decimal_separator: str = "."
    date_format: str | None = None  # strptime format; None: ISO dates
    extra_columns: tuple[str, ...] = ()  # headers copied into ``extra``; ("*",): every unmapped column
    batch_size: int = 2000
    key: tuple[str, ...] | None = None  # a file without an id column: these fields; () the fingerprint; None the
    # layout's own natural key
    repeats: str = "duplicate"  # rows with one key in a file: "duplicate" (the first loads) or "allow" (each does)


def normalize_header(name: str) -> str:
    """``Project Code`` → ``project_code``, ``Duration (decimal)`` → ``duration_decimal``; a yes/no question
    (``Billable?``) → ``is_billable``."""
    text = name.replace("\ufeff", "").strip().lower()
    question = text.endswith("?")
    text = _NON_WORD.sub("_", text).strip("_")
    return f"is_{text}" if question and not text.startswith("is_") else text


def is_code_column(name: str) -> bool:
    return name.endswith(_CODE_SUFFIXES)


def record_key(layout: Layout, record: dict, fields: tuple[str, ...]) -> str:
    """A record's key from its content: the natural key ``fields`` joined (``2026-11-02|ann|ACME-042``; long
    ones hashed), or with no fields the fingerprint ``fp-<32 hex>``: SHA-256 over every key and value read
    (sorted by key, so column order does not matter; values after conversion), the id, a deletion flag and the
    row's place left out."""
    if fields:
        values = [_identity(layout, record, name) for name in fields]
        text = "|".join(values)
        return text if len(text) <= 200 else "key-" + hashlib.sha256(text.encode()).hexdigest()[:32]
    numbers = layout.numbers
    content = sorted((key, _number(value) if key in numbers else _plain(value))
                     for key, value in record.items() if key not in _NOT_CONTENT)
    return "fp-" + hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:32]


def _number(value: Any) -> Any:
    """A number as its value, not its spelling: 7.5, 7.50 and 07.5 alike."""
    try:
        return format(Decimal(str(value).strip()).normalize(), "f")
    except (InvalidOperation, ValueError):
        return _plain(value)


def _identity(layout: Layout, record: dict, name: str) -> str:
    """The value naming ``name`` in a record: its own, else its first given alternative (an email, a name)."""
    for key in layout.alternatives(name):
        if key == "last_name":  # first and last name columns name a person together
            value = f"{_plain(record.get('first_name'))} {_plain(record.get('last_name'))}".strip()
        else:
            value = _plain(record.get(key))
        if value:
            return str(value)
    return ""


def _plain(value: Any) -> Any:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in sorted(value.items())}
    return "" if value is None else value


@dataclass
class _Scan:
    codec: str
    ends_with_newline: bool
    has_nul: bool


def scan_encoding(path: Path, encoding: str) -> _Scan:
    """Decode the whole file once, streaming; name the byte and line of the first invalid byte."""
    with path.open("rb") as raw:
        head = raw.read(4)
        codec = next((name for bom, name in _BOMS if head.startswith(bom)), encoding)
        if codec == "utf-8" or codecs.lookup(codec).name == "utf-8":
            codec = "utf-8-sig"  # tolerate a byte-order mark
        raw.seek(0)
        decoder = codecs.getincrementaldecoder(codec)(errors="strict")
        offset = 0
        has_text = has_nul = False
        last = ""
        while chunk := raw.read(CHUNK_BYTES):
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as error:  # error.object ends where this chunk ends
                at = offset + len(chunk) - len(error.object) + error.start
                raise _decode_problem(path, codec, error, at) from None
            has_nul = has_nul or "\x00" in text
            has_text = has_text or bool(text.strip())
            offset += len(chunk)
            last = text[-1:] or last
        try:
            has_text = bool(decoder.decode(b"", final=True).strip()) or has_text
        except UnicodeDecodeError as error:
            raise _decode_problem(path, codec, error, offset - len(error.object) + error.start) from None
    if not has_text:
        raise FileProblem("The file is empty: there is no header row and no data.")
    return _Scan(codec, last in ("\n", "\r"), has_nul)


def _decode_problem(path: Path, codec: str, error: UnicodeDecodeError, offset: int) -> FileProblem:
    with path.open("rb") as raw:
        before = raw.read(offset)
        bad = raw.read(min(4, error.end - error.start) or 1)
    line = before.count(b"\n") + 1
    column = offset - (before.rfind(b"\n") + 1) + 1
    return FileProblem(
        f"The file is not valid {codec.removesuffix('-sig')}: byte 0x{bad[:1].hex()} at byte offset {offset} "
        f"(line {line}, column {column}) cannot be decoded. Set the connection's 'encoding' to the one the "
        f"file was written in (e.g. cp1252 or latin-1), or export it as UTF-8."
    )


@dataclass
class _Columns:
    """The header resolved against a layout: which column fills which record key, and the row checks."""

    width: int
    keys: tuple[str, ...]
    getter: Callable[[list[str]], Any]
    id_index: int | None  # None: keyed by content (``record_key``)
    extra: list[tuple[int, str]]
    fixers: list[Callable[[dict], tuple[str, str] | None]]


class CsvFile:
    """One CSV file read as batches of records (dicts keyed by the layout's keys, plus ``_file`` and
    ``_row``) and row errors. After ``batches()`` is exhausted, ``fatal`` is None if the whole file was
    read, else the reason it could not be."""

    def __init__(self, path: Path, name: str, layout: Layout, options: CsvOptions):
        self.path, self.name, self.layout, self.options = path, name, layout, options
        self.fatal: str | None = None
        self.fatal_error: RecordError | None = None  # the recorded error that says so
        self.rows = 0
        self._last_line = ""
        self._keys_by_index: dict[int, str] = {}
        self._repeats: dict[str, int] = {}  # key -> occurrences so far, when repeats are allowed

    def batches(self) -> Iterator[tuple[list[dict], list[RecordError]]]:
        """Always yields at least once, so even an empty or unreadable file reports."""
        try:
            scan = scan_encoding(self.path, self.options.encoding)
            with self.path.open(encoding=scan.codec, newline="") as text:
                self._text = text
                reader = csv.reader(self._lines(text), self._dialect(text), strict=True)
                columns = self._columns(reader)
                yield from self._rows(reader, columns, scan)
        except FileProblem as problem:
            yield [], [self._fail(None, problem.message, field=problem.field)]
        except (UnicodeDecodeError, OSError) as error:  # changed or vanished under us
            yield [], [self._fail(None, f"The file could not be read: {error}.")]

    def _fail(self, row_no: int | None, message: str, **extra) -> RecordError:
        """The file cannot be read to its end: remember why, and the error that tells."""
        self.fatal = f"Row {row_no}: {message}" if row_no else message
        reference = f"{self.name} row {row_no}" if row_no else self.name
        self.fatal_error = RecordError(reference, message, **extra)
        return self.fatal_error

    # --- set-up ----------------------------------------------------------------------------------
    def _lines(self, text) -> Iterator[str]:
        read = partial(text.readline, MAX_LINE_CHARS + 1)
        for number, line in enumerate(iter(read, ""), start=1):
            if len(line) > MAX_LINE_CHARS and not line.endswith(("\n", "\r")):
                raise FileProblem(f"Line {number} is longer than {MAX_LINE_CHARS:,} characters; this is not a CSV "
                                  f"file this connection can read.")
            self._last_line = line
            yield line

    def _dialect(self, text) -> type[csv.Dialect]:
        delimiter = self.options.delimiter or self._sniff(text)

        class Dialect(csv.excel):
            pass

        Dialect.delimiter = delimiter
        return Dialect

    def _sniff(self, text) -> str:
        sample = text.read(SNIFF_CHARS)
        text.seek(0)
        sample = sample[: sample.rfind("\n") + 1] or sample
        # A run reads its file again in each slice: the guess for a sample is kept, not made again (the sniffer's
        # regular expressions took a quarter of a second on 64 KB, a slice's largest cost after the rows).
        key = hashlib.blake2b(sample.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        if (known := _SNIFFED.get(key)) is None:
            known = _SNIFFED[key] = _sniffed(sample)
            while len(_SNIFFED) > _SNIFFED_KEPT:
                _SNIFFED.pop(next(iter(_SNIFFED), None), None)  # the oldest (threads may share this)
        return known

    def _columns(self, reader) -> _Columns:
        try:
            header = next(reader, None)
        except csv.Error as error:
            raise FileProblem(f"Row 1 (the header) cannot be read: {error}.") from None
        if not header or not any(h.strip() for h in header):
            raise FileProblem("Row 1 is empty; the header must be the first row.")
        keys_by_index = self._keys_by_index = self._map_header(header)
        present = set(keys_by_index.values())
        groups = [(group,) if isinstance(group, str) else group for group in self.layout.required]
        missing = [group for group in groups if not set(group) & present]
        if missing:
            found = ", ".join(repr(h) for h in header)
            others = "; ".join(f"{g[0]} may also come as {', '.join(g[1:])}" for g in missing if len(g) > 1)
            raise FileProblem(
                f"Missing required column(s) {', '.join(g[0] for g in missing)} for {self.layout.object_name}. The "
                f"header has {found}. Rename the columns or map them with the connection's 'columns' setting"
                f"{f' ({others})' if others else ''}.", field=missing[0][0],
            )
        indexes = list(keys_by_index)
        keys = tuple(keys_by_index.values())
        getter = itemgetter(*indexes) if len(indexes) > 1 else (lambda row, i=indexes[0]: (row[i],))
        id_index = next((i for i, key in keys_by_index.items() if key == "external_id"), None)
        return _Columns(len(header), keys, getter, id_index, self._extra(header, keys_by_index),
                        row_fixers(self.layout, self.options, present))

    def _map_header(self, header: list[str]) -> dict[int, str]:
        return map_columns(self.layout, header, self.options.columns)

    def _extra(self, header: list[str], mapped: dict[int, str]) -> list[tuple[int, str]]:
        wanted = self.options.extra_columns
        if not wanted:
            return []
        every = "*" in wanted
        names = {normalize_header(n) for n in wanted}
        return [(i, h.strip()) for i, h in enumerate(header)
                if i not in mapped and (every or normalize_header(h) in names)]


    # --- the rows --------------------------------------------------------------------------------
    def _rows(self, reader, columns: _Columns, scan: _Scan) -> Iterator[tuple[list[dict], list[RecordError]]]:
        name, batch_size = self.name, self.options.batch_size
        width, keys, getter, id_index = columns.width, columns.keys, columns.getter, columns.id_index
        extra, fixers, has_nul = columns.extra, columns.fixers, scan.has_nul
        seen: dict[str, int] = {}
        records: list[dict] = []
        errors: list[RecordError] = []
        row_no, end = 1, reader.line_num
        while True:
            try:
                for row in reader:
                    row_no += 1
                    end = reader.line_num
                    if len(row) != width or has_nul:
                        problem = self._odd_row(row, row_no, width, scan)
                        if problem is not None:
                            errors.append(problem)
                            if self.fatal:
                                break
                        if problem is not None or len(row) != width:
                            continue
                    if id_index is not None:
                        external_id = row[id_index].strip()
                        if not external_id or external_id in seen:
                            errors.append(self._id_problem(external_id, row_no, seen, row))
                            continue
                        seen[external_id] = row_no
                    record = dict(zip(keys, getter(row), strict=True))
                    record["_file"], record["_row"] = name, row_no
                    if id_index is not None:
                        record["external_id"] = external_id
                    if extra:
                        record["extra"] = {header: row[i] for i, header in extra}
                    if fixers and (bad := _apply(fixers, record)):
                        errors.append(RecordError(f"{name} row {row_no}", bad[1], field=bad[0], raw=record))
                        continue
                    if id_index is None and (duplicate := self._keyed(record, row_no, seen)) is not None:
                        errors.append(duplicate)
                        continue
                    records.append(record)
                    if len(records) + len(errors) >= batch_size:
                        yield records, errors
                        records, errors = [], []
                break
            except csv.Error as error:
                row_no += 1
                local = self._csv_problem(error, row_no, end, reader.line_num)
                end = reader.line_num
                errors.append(local)
                if self.fatal:
                    break
            except FileProblem as problem:
                errors.append(self._fail(row_no + 1, problem.message))
                break
        self.rows = row_no - 1
        yield records, errors

    def _odd_row(self, row: list[str], row_no: int, width: int, scan: _Scan) -> RecordError | None:
        where = f"{self.name} row {row_no}"
        if len(row) != width:
            if not any(cell.strip() for cell in row):
                return None  # a blank line (or only separators) holds no record
            if len(row) < width and not scan.ends_with_newline and self._at_end():
                return self._fail(row_no, f"has {len(row)} of {width} columns and the file ends without a line end: "
                                          f"the file looks truncated (cut off while it was written or sent).", raw=row)
            return RecordError(where, f"has {len(row)} columns; the header has {width}. The row was not loaded.",
                               raw=row)
        bad = next((i for i, cell in enumerate(row) if "\x00" in cell), None)
        if bad is None:
            return None
        return RecordError(where, "contains a NUL character (a binary or corrupted value); the row was not loaded.",
                           field=self._key_at(bad), raw=[c.replace("\x00", "\\0") for c in row])

    def _at_end(self) -> bool:
        """Whether the row just read was the last one (only asked about odd rows, so its cost is no matter)."""
        position = self._text.tell()
        at_end = self._text.read(1) == ""
        self._text.seek(position)
        return at_end

    def _key_at(self, index: int) -> str | None:
        return self._keys_by_index.get(index)

    def _keyed(self, record: dict, row_no: int, seen: dict[str, int]) -> RecordError | None:
        """Key a row of a file without ids by its content; a second row with the key is a duplicate (or, with
        repeats allowed, the key's next occurrence)."""
        fields = self.options.key if self.options.key is not None else self.layout.key
        key = record_key(self.layout, record, fields)
        first = seen.get(key)
        record["external_id"], record["_keyed"] = key, True
        if first is None:
            seen[key] = row_no
            return None
        if self.options.repeats == "allow":
            self._repeats[key] = self._repeats.get(key, 1) + 1
            record["external_id"] = f"{key}#{self._repeats[key]}"
            return None
        same = f"({', '.join(fields)})" if fields else "with every column alike"
        return RecordError(f"{self.name} row {row_no}", f"duplicate row: the same {self.layout.noun} {same} is already "
                                                        f"on row {first}; only that first row was loaded.",
                           field="external_id", category=ErrorCategory.DUPLICATE, raw=record)

    def _id_problem(self, external_id: str, row_no: int, seen: dict[str, int], row: list[str]) -> RecordError:
        where = f"{self.name} row {row_no}"
        if not external_id:
            return RecordError(where, "the id is empty; every row needs one.", field="external_id", raw=row)
        return RecordError(where, f"duplicate row: id {external_id} is already on row {seen[external_id]}; "
                                  f"only that first row was loaded.", field="external_id",
                           category=ErrorCategory.DUPLICATE, raw=row)

    def _csv_problem(self, error: csv.Error, row_no: int, end_before: int, end_now: int) -> RecordError:
        """A row the csv module refused: local to that row if it was one line with balanced quotes."""
        text = str(error)
        start = end_before + 1
        balanced = self._last_line.count('"') % 2 == 0
        if "unexpected end of data" in text or end_now - end_before > 1 or not balanced:
            return self._fail(row_no, f"a quoted field that starts on line {start} is never closed (an unbalanced \"); "
                                      f"the rest of the file from line {start} on could not be read.")
        if "field larger than field limit" in text:
            message = f"a field is longer than {csv.field_size_limit():,} characters; the row was not loaded."
        elif "expected after" in text:
            message = ("a quote inside a field is not doubled (inside a quoted field write \"\" for \"); "
                       "the row was not loaded.")
        else:
            message = f"cannot be read as CSV ({text}); the row was not loaded."
        return RecordError(f"{self.name} row {row_no}", message)


def map_columns(layout: Layout, header: list[str], columns: Mapping[str, str | None]) -> dict[int, str]:
    """Column index -> record key, for a header (or an API record's field names). ``columns`` names the key of
    a header explicitly (``None``: ignore it). Rival columns for one key: see ``_settle_rivals``."""
    explicit = {normalize_header(h): key for h, key in columns.items()}
    by_alias = alias_table(layout)
    seen: dict[str, str] = {}
    claims: dict[str, list[tuple[int, str, bool]]] = {}  # key -> (index, header, named explicitly)
    for index, raw in enumerate(header):
        name = normalize_header(raw)
        if name in seen:
            raise FileProblem(f"The header names the column {raw!r} twice.")
        seen[name] = raw
        key = explicit[name] if name in explicit else by_alias.get(name)
        if key and key in layout.aliases:
            claims.setdefault(key, []).append((index, raw, name in explicit))
    mapped: dict[int, str] = {}
    for key, rivals in claims.items():
        _settle_rivals(layout, key, rivals, mapped, claims)
    return dict(sorted(mapped.items()))


def _settle_rivals(layout: Layout, key: str, rivals: list[tuple[int, str, bool]], mapped: dict[int, str],
                   claims: dict) -> None:
    """One column per key: named in 'columns' beats recognised, a code column beats a plain one (which then
    gives the key's name field, if the layout has one and no column gives it already). Two equals refuse."""
    if len(rivals) == 1:
        mapped[rivals[0][0]] = key
        return
    ranked = sorted(rivals, key=lambda c: (not c[2], not is_code_column(normalize_header(c[1]))))
    first, second = ranked[0], ranked[1]
    if (first[2], is_code_column(normalize_header(first[1]))) == (
            second[2], is_code_column(normalize_header(second[1]))):
        one, other = sorted((first, second))
        raise FileProblem(f"Columns {one[1]!r} and {other[1]!r} both give {key}; map one of them to nothing "
                          f"with the connection's 'columns' setting.", field=key)
    mapped[first[0]] = key
    name_key = layout.names.get(key)
    if name_key and name_key not in claims and len(ranked) == 2:
        mapped[second[0]] = name_key


def alias_table(layout: Layout) -> dict[str, str]:
    """Normalised header name -> record key."""
    return {normalize_header(alias): key for key, aliases in layout.aliases.items() for alias in (key, *aliases)}


def row_fixers(layout: Layout, options: CsvOptions, present: set[str]) -> list[Callable[[dict], Any]]:
    """Per-row conversions a file (or a batch of API records) with these keys needs; a plain ISO file pays for none."""
    fixers = [_lowercase(key) for key in layout.lower if key in present]
    fixers += [_choice(key, layout.choices[key]) for key in layout.choices if key in present]
    fixers += [_flag(key) for key in layout.flags if key in present]
    fixers += [_marker(key) for key in layout.markers if key in present]
    fixers += [_currency(key) for key in layout.currencies if key in present]
    if options.decimal_separator != ".":
        fixers += [_decimal_comma(key, options.decimal_separator) for key in layout.numbers if key in present]
    if options.date_format:
        fixers += [_date_format(key, options.date_format) for key in layout.dates if key in present]
    return fixers


def apply_fixers(fixers, record: dict) -> tuple[str, str] | None:
    """Convert ``record`` in place; (key, message) of the first value that cannot be read."""
    return _apply(fixers, record)


def _apply(fixers, record: dict) -> tuple[str, str] | None:
    for fix in fixers:
        problem = fix(record)
        if problem is not None:
            return problem
    return None


def _lowercase(key: str):
    def fix(record: dict):
        record[key] = record[key].strip().lower()

    return fix


def _flag(key: str):
    def fix(record: dict):
        value = record[key].strip().lower()
        if value in _TRUE:
            record[key] = True
        elif value in _FALSE:
            record[key] = False if value else None
        else:
            return key, f"{key}: {record[key]!r} is not yes/no."
        return None

    return fix


_MARKS = _TRUE | {"correction", "reversal", "adjustment"}


def _choice(key: str, words: Mapping[str, str]):
    def fix(record: dict):
        value = record[key].strip().lower() if isinstance(record[key], str) else record[key]
        record[key] = words.get(value, value)

    return fix


def _currency(key: str):
    """``US Dollar - USD`` or ``Euro (EUR)`` → the ISO code; a plain code (any case) is upper-cased."""
    def fix(record: dict):
        value = record[key].strip()
        if len(value) > 3 and (codes := _CURRENCY_CODE.findall(value)):
            value = codes[-1]
        record[key] = value.upper() if len(value) == 3 else value

    return fix


def _marker(key: str):
    def fix(record: dict):
        record[key] = record[key].strip().lower() in _MARKS

    return fix


def _decimal_comma(key: str, separator: str):
    def fix(record: dict):
        value = record[key]
        if separator in value:
            record[key] = value.replace(separator, ".")

    return fix


def _date_format(key: str, date_format: str):
    def fix(record: dict):
        value = record[key].strip()
        if not value:
            return None
        try:
            record[key] = datetime.strptime(value, date_format).date().isoformat()
        except ValueError:
            return key, f"{key}: {value!r} does not match the date format {date_format!r}."
        return None

    return fix
