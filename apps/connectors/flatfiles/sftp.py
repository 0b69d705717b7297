"""A small blocking SFTP client over asyncssh, for kinds that pick up and drop off files.

asyncssh is asynchronous; connector kinds are not. The session owns a private event loop and runs
each operation to completion on it, so it works in any thread without a running loop (web
processes, django-q2 workers, tests). The server's host key is always checked against the key the
connection was configured with; there is no "trust on first use". The host goes through the same
private-address guard as HTTP (``apps.common.http.vet_host``), and the session connects to the address
the guard checked, not to the name again.
"""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import asyncssh

from apps.common.errors import ErrorCategory, ExternalSystemError
from apps.common.http import vet_host
from apps.connectors.errors import ConnectorError

CONNECT_TIMEOUT = 20.0


@dataclass(frozen=True)
class RemoteFile:
    name: str
    size: int
    mtime: float


@dataclass(frozen=True)
class SftpTarget:
    """Where and how to log in. ``host_key`` is a public key line (``ssh-ed25519 AAAA...``), as in
    known_hosts (a leading host pattern is allowed and ignored: the key is pinned to this connection)."""

    host: str
    port: int
    username: str
    host_key: str
    password: str | None = field(default=None, repr=False)  # secrets never in a repr (error pages print reprs)
    private_key: str | None = field(default=None, repr=False)
    passphrase: str | None = field(default=None, repr=False)
    timeout: float = 300.0  # per operation (a download of a large file is one operation)
    allow_private_network: bool = False


def parse_host_key(line: str) -> asyncssh.SSHKey:
    tokens = line.split()
    for index, token in enumerate(tokens[:-1]):
        if token.startswith(("ssh-", "ecdsa-", "sk-")):
            try:
                return asyncssh.import_public_key(f"{token} {tokens[index + 1]}")
            except (asyncssh.KeyImportError, ValueError):
                break
    raise ConnectorError("sftp_host_key is not a public key line such as 'ssh-ed25519 AAAA...'.", permanent=True,
                         category=ErrorCategory.CONFIG)


def vetted_address(host: str, *, name: str, allow_private_network: bool) -> str:
    """The address to connect to for ``host``, checked by the private-address guard (as a ConnectorError)."""
    try:
        addresses = vet_host(host, name=name, allow_private_network=allow_private_network)
    except ExternalSystemError as error:
        raise ConnectorError(error.message, permanent=error.permanent, category=error.category) from None
    return str(addresses[0]) if addresses else host


def server_host_key(host: str, port: int, *, name: str, allow_private_network: bool) -> str | None:
    """The key the server offers, for the operator to check and paste into ``sftp_host_key``."""
    address = vetted_address(host, name=name, allow_private_network=allow_private_network)
    loop = asyncio.new_event_loop()
    try:
        key = loop.run_until_complete(asyncio.wait_for(
            asyncssh.get_server_host_key(address, port, config=None), CONNECT_TIMEOUT))
        return key.export_public_key("openssh").decode().strip() if key else None
    except (TimeoutError, OSError, asyncssh.Error):
        return None
    finally:
        loop.close()


class SftpSession:
    """One login, used as a context manager; every failure is a ``ConnectorError``."""

    def __init__(self, target: SftpTarget, *, name: str):
        self.target, self.name = target, name
        self._loop = asyncio.new_event_loop()
        self._conn: asyncssh.SSHClientConnection | None = None
        self._sftp: asyncssh.SFTPClient | None = None

    def __enter__(self) -> SftpSession:
        try:
            address = vetted_address(self.target.host, name=self.name,
                                     allow_private_network=self.target.allow_private_network)
            self._conn = self._run(self._connect(address), CONNECT_TIMEOUT)
            self._sftp = self._run(self._conn.start_sftp_client(), CONNECT_TIMEOUT)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        try:
            if self._sftp is not None:
                self._sftp.exit()
            if self._conn is not None:
                self._conn.close()
                self._loop.run_until_complete(asyncio.wait_for(self._conn.wait_closed(), 5))
        except (TimeoutError, OSError, asyncssh.Error):
            pass  # closing a broken session: nothing left to save
        finally:
            self._sftp = self._conn = None
            if not self._loop.is_closed():
                self._loop.close()

    # --- operations -----------------------------------------------------------------------------
    def list_files(self, path: str) -> list[RemoteFile]:
        """Regular files directly in ``path`` (no folders, no symlinks), in name order."""
        entries = self._run(self._sftp.readdir(path))
        files = [RemoteFile(e.filename, e.attrs.size or 0, float(e.attrs.mtime or 0)) for e in entries
                 if e.attrs.permissions is not None and stat.S_ISREG(e.attrs.permissions)]
        return sorted(files, key=lambda f: f.name)

    def is_dir(self, path: str) -> bool:
        return self._run(self._sftp.isdir(path))

    def exists(self, path: str) -> bool:
        return self._run(self._sftp.exists(path))

    def makedirs(self, path: str) -> None:
        self._run(self._sftp.makedirs(path, exist_ok=True))

    def download(self, remote: str, local: Path) -> None:
        """Stream ``remote`` into ``local`` (replacing it), block by block."""
        self._run(self._sftp.get(remote, str(local)))

    def move(self, remote: str, folder: str) -> str | None:
        """Move ``remote`` into ``folder`` without overwriting anything there; returns the new path (None: it
        was gone already, moved by another reader)."""
        if not self.exists(remote):
            return None
        self.makedirs(folder)
        source = PurePosixPath(remote)
        stem, suffix = source.stem, source.suffix
        candidate = PurePosixPath(folder) / source.name
        number = 1
        while self.exists(str(candidate)):
            number += 1
            candidate = PurePosixPath(folder) / f"{stem}-{number}{suffix}"
        self._run(self._sftp.rename(remote, str(candidate)))
        return str(candidate)

    def write_text(self, remote: str, text: str) -> None:
        async def write():
            async with self._sftp.open(remote, "w") as handle:
                await handle.write(text)

        self._run(write())

    # --- plumbing -------------------------------------------------------------------------------
    async def _connect(self, address: str) -> asyncssh.SSHClientConnection:
        target = self.target
        keys = None
        if target.private_key:
            try:
                keys = [asyncssh.import_private_key(target.private_key, target.passphrase or None)]
            except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError, ValueError) as error:
                raise ConnectorError(f"{self.name}: sftp_private_key cannot be read ({error}).", permanent=True,
                                     category=ErrorCategory.AUTH) from None
        return await asyncssh.connect(
            address, target.port, username=target.username, password=target.password or None,
            client_keys=keys, known_hosts=([parse_host_key(target.host_key)], [], []), config=None,
            agent_path=None, preferred_auth="publickey,password" if keys else "password,keyboard-interactive",
            connect_timeout=CONNECT_TIMEOUT, login_timeout=CONNECT_TIMEOUT,
        )

    def _run(self, coroutine: Coroutine, timeout: float | None = None) -> Any:
        where = f"{self.name}: SFTP {self.target.host}:{self.target.port}"
        try:
            return self._loop.run_until_complete(asyncio.wait_for(coroutine, timeout or self.target.timeout))
        except ConnectorError:
            raise
        except asyncssh.HostKeyNotVerifiable:
            raise ConnectorError(f"{where}: the server's host key does not match sftp_host_key (someone may be "
                                 f"impersonating the server, or its key changed).", permanent=True,
                                 category=ErrorCategory.AUTH) from None
        except (asyncssh.PermissionDenied, asyncssh.SFTPPermissionDenied) as error:
            raise ConnectorError(f"{where}: permission denied ({error.reason}).", permanent=True,
                                 category=ErrorCategory.AUTH) from None
        except asyncssh.SFTPNoSuchFile as error:
            raise ConnectorError(f"{where}: no such file or folder ({error.reason}).", permanent=True,
                                 category=ErrorCategory.NOT_FOUND) from None
        except asyncssh.SFTPError as error:
            raise ConnectorError(f"{where}: {error.reason}", permanent=False) from None
        except (TimeoutError, OSError, asyncssh.Error) as error:
            detail = str(error) or type(error).__name__
            raise ConnectorError(f"{where}: {detail}", permanent=False) from None
