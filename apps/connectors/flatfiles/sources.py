"""Where CSV files come from, and where they go once read: a local drop folder, or a folder on SFTP.

Every connection has a private file area (``connection_files_root``)::

    inbox/                 the default drop folder
    archive/YYYY/MM/<name> originals read completely (for SFTP: the downloaded copy)
    rejected/<name>        files that could not be read to their end, each with <name>.error.txt
    outbox/                export files written for other systems
    staging/               SFTP downloads being read

A file is never overwritten: a second ``time.csv`` in the same archive month becomes ``time-2.csv``.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

from django.utils import timezone

from apps.common.errors import ErrorCategory
from apps.common.locks import LockBusy, advisory_lock
from apps.connectors.errors import ConnectorError
from apps.connectors.flatfiles.sftp import SftpSession

# Names senders use while a file is still being written; such files are left alone until renamed.
PARTIAL_SUFFIXES = (".tmp", ".part", ".partial", ".filepart", ".crdownload", ".uploading")
GONE = "(already moved by another reader)"


@dataclass(frozen=True)
class InboxFile:
    name: str
    size: int
    mtime: float


def is_candidate(name: str, pattern: str) -> bool:
    """Whether a file is one to read; a pattern may list several (``customers*.csv,clients*.csv``)."""
    lowered = name.lower()
    return (not name.startswith(".") and not lowered.endswith(PARTIAL_SUFFIXES)
            and any(fnmatchcase(lowered, part.strip().lower()) for part in pattern.split(",") if part.strip()))


def unique_path(folder: Path, name: str) -> Path:
    candidate = folder / name
    stem, suffix = Path(name).stem, Path(name).suffix
    number = 1
    while candidate.exists() or candidate.with_name(candidate.name + ".error.txt").exists():
        number += 1
        candidate = folder / f"{stem}-{number}{suffix}"
    return candidate


class Folders:
    """The connection's file area; folders are made when first needed."""

    def __init__(self, root: Path):
        self.root = root
        self.inbox, self.rejected = root / "inbox", root / "rejected"
        self.outbox, self.staging = root / "outbox", root / "staging"

    def archive_dir(self) -> Path:
        today = timezone.localdate()
        return self.root / "archive" / f"{today.year:04d}" / f"{today.month:02d}"

    def keep(self, source: Path, folder: Path) -> Path | None:
        """Move ``source`` into ``folder`` under a name not taken yet; returns where it went (None: another
        reader moved it first)."""
        if not source.exists():
            return None
        folder.mkdir(parents=True, exist_ok=True)
        target = unique_path(folder, source.name)
        shutil.move(source, target)
        return target

    def reject(self, source: Path, note: str) -> Path | None:
        kept = self.keep(source, self.rejected)
        if kept is not None:
            kept.with_name(kept.name + ".error.txt").write_text(note, encoding="utf-8")
        return kept

    def lock_name(self, name: str) -> str:
        """The advisory lock's name: the tenant and connection (the last two folders of the area), not the path,
        which may differ between hosts."""
        return f"weft-files:{self.root.parent.name}/{self.root.name}:{name}"

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """One reader per object and connection, on any host (a PostgreSQL advisory lock); a second one is
        told to come back."""
        try:
            with advisory_lock(self.lock_name(name), wait=False):
                yield
        except LockBusy:
            raise ConnectorError(f"Another read of {name} is running for this connection; try again when it "
                                 f"ends.", permanent=False, category=ErrorCategory.CONFLICT) from None


class LocalInbox:
    """A folder on this machine (the connection's own inbox, or an allowed drop folder)."""

    def __init__(self, folders: Folders, directory: Path):
        self.folders, self.directory = folders, directory

    def describe(self) -> str:
        return str(self.directory)

    def pending(self, pattern: str, settle_seconds: float, waiting: list[InboxFile] | None = None) -> list[InboxFile]:
        """Files ready to read, by name; files younger than ``settle_seconds`` go to ``waiting`` instead."""
        if not self.directory.is_dir():
            raise ConnectorError(f"The inbox {self.directory} does not exist.", permanent=True,
                                 category=ErrorCategory.CONFIG)
        now = time.time()
        found = []
        try:
            with os.scandir(self.directory) as entries:
                for entry in entries:
                    if entry.is_file(follow_symlinks=False) and is_candidate(entry.name, pattern):
                        info = entry.stat(follow_symlinks=False)
                        file = InboxFile(entry.name, info.st_size, info.st_mtime)
                        if now - info.st_mtime >= settle_seconds:  # younger files may still be being written
                            found.append(file)
                        elif waiting is not None:
                            waiting.append(file)
        except OSError as error:
            raise ConnectorError(f"The inbox {self.directory} cannot be listed: {error}", permanent=False) from None
        return sorted(found, key=lambda f: f.name)

    def fetch(self, file: InboxFile) -> Path:
        return self.directory / file.name

    def archive(self, file: InboxFile, local: Path) -> str:
        return str(self.folders.keep(local, self.folders.archive_dir()) or GONE)

    def reject(self, file: InboxFile, local: Path, note: str) -> str:
        return str(self.folders.reject(local, note) or GONE)


class SftpInbox:
    """A folder on an SFTP server. Each file is downloaded into staging/ and read from there. Afterwards the
    server's copy is moved into the archive (or rejected) folder on the server, and the downloaded copy is
    kept in the connection's own archive/ (or rejected/), so the original survives on both sides."""

    def __init__(self, folders: Folders, session: SftpSession, path: str, archive_path: str, rejected_path: str):
        self.folders, self.session = folders, session
        self.path, self.archive_path, self.rejected_path = path, archive_path, rejected_path

    def describe(self) -> str:
        return f"sftp://{self.session.target.host}:{self.session.target.port}{self.path}"

    def pending(self, pattern: str, settle_seconds: float, waiting: list[InboxFile] | None = None) -> list[InboxFile]:
        now, found = time.time(), []
        for f in self.session.list_files(self.path):
            if is_candidate(f.name, pattern) and "/" not in f.name:
                file = InboxFile(f.name, f.size, f.mtime)
                if now - f.mtime >= settle_seconds:
                    found.append(file)
                elif waiting is not None:
                    waiting.append(file)
        return found

    def fetch(self, file: InboxFile) -> Path:
        self.folders.staging.mkdir(parents=True, exist_ok=True)
        local = self.folders.staging / file.name
        self.session.download(self._remote(file), local)
        return local

    def archive(self, file: InboxFile, local: Path) -> str:
        moved = self.session.move(self._remote(file), self.archive_path)
        self.folders.keep(local, self.folders.archive_dir())
        return moved or GONE

    def reject(self, file: InboxFile, local: Path, note: str) -> str:
        moved = self.session.move(self._remote(file), self.rejected_path)
        if moved:
            self.session.write_text(moved + ".error.txt", note)
        self.folders.reject(local, note)
        return moved or GONE

    def _remote(self, file: InboxFile) -> str:
        return str(PurePosixPath(self.path) / file.name)
