"""Files a run stopped reading part-way, kept open in this process so its next slice goes on where it stopped.

A run reads an inbox file a slice at a time (``WEFT_RUN_SLICE_ITEMS`` records) and its cursor says how many pages
it stored (``<file>#page=<n>``). Without this, each slice parsed the file from its start to reach its page: 20k rows
in pages of 2,000 were 110k rows parsed, 200k rows ten million. The reader of the slice that stopped is kept
here with the pages it had read ahead, and the next slice in the same process takes it if it is still the same
file (same inbox, name, size and modification time) and has not gone past that slice's page. The reader keeps
what it learnt from the rows before (the ids seen, for duplicates), so each row is read once and judged as a read
from the start would judge it. Any other case (another process, a changed file, a reader that went further) reads
from the start as before: this only saves work, it decides nothing.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KEPT = 4  # files part-way read at once per process (a worker serves one run at a time; a few spare)
KEPT_SECONDS = 600  # a slice re-queued behind others comes back within minutes; older readers are closed


@dataclass
class OpenFile:
    """One file being read: its reader, the batches not handed over yet, and the page number of the first."""

    identity: tuple
    local: Path
    reader: Any  # CsvFile
    batches: Iterator  # the reader's batches after ``ahead``
    ahead: list = field(default_factory=list)  # batches read but not stored: (page number, (records, errors))
    read: int = 0  # pages read from the file so far (``ahead`` included)
    kept_at: float = 0.0
    pid: int = field(default_factory=os.getpid)  # a forked process shares the file's offset: it reads its own

    def pages(self) -> Iterator[tuple[int, Any]]:
        """(page number, batch) from the first page not handed over, reading on as needed."""
        while self.ahead:
            yield self.ahead.pop(0)
        for batch in self.batches:  # a for loop leaves the reader open when this generator is dropped
            self.read += 1
            yield self.read, batch

    def close(self) -> None:
        close = getattr(self.batches, "close", None)
        if close is not None:
            close()  # the reader's file is closed with its generator


_KEPT: dict[tuple, OpenFile] = {}
_LOCK = threading.Lock()


def open_file_take(identity: tuple, *, stored: int) -> OpenFile | None:
    """The reader kept for ``identity`` if it can give page ``stored + 1`` next (it is then no longer kept)."""
    with _LOCK:
        _expire()
        kept = _KEPT.pop(identity, None)
    if kept is None or kept.pid != os.getpid():
        return None
    first = kept.ahead[0][0] if kept.ahead else kept.read + 1
    if first > stored + 1:  # it went past pages this slice must read again (their slice did not store them)
        kept.close()
        return None
    return kept


def open_file_keep(kept: OpenFile) -> None:
    """Keep ``kept`` for the next slice; the oldest kept readers are closed beyond ``KEPT``."""
    kept.kept_at = time.monotonic()
    with _LOCK:
        previous = _KEPT.pop(kept.identity, None)
        _KEPT[kept.identity] = kept
        dropped = [previous] if previous is not None and previous is not kept else []
        while len(_KEPT) > KEPT:
            dropped.append(_KEPT.pop(next(iter(_KEPT))))
    for reader in dropped:
        reader.close()


def open_files_clear() -> None:
    """Close every kept reader (tests; a worker that stops)."""
    with _LOCK:
        dropped = list(_KEPT.values())
        _KEPT.clear()
    for reader in dropped:
        reader.close()


def _expire() -> None:
    limit = time.monotonic() - KEPT_SECONDS
    for identity in [i for i, kept in _KEPT.items() if kept.kept_at < limit]:
        _KEPT.pop(identity).close()
