"""Hundreds of customers, cheaply: a throwaway embedded PostgreSQL seeded with the test database, and customers
cloned from the template schema by replaying its DDL and rows in large transactions.

The throwaway server lives in memory (/dev/shm) when the machine has it: a customer is ≈ 400 files, and on this
project's shared disk creating, syncing and deleting a hundred thousand files took minutes of I/O that had
nothing to do with what the tests ask. It is started by ``config.embedded_postgres`` itself, so it carries the
settings the embedded server gives every Weft installation.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from django.conf import settings

from apps.ops.backups import Database, pg_tool
from config import embedded_postgres


@contextmanager
def scratch_server() -> Iterator[embedded_postgres.ServerInfo]:
    """A fresh embedded server of its own, stopped without a checkpoint and deleted afterwards."""
    parent = "/dev/shm" if Path("/dev/shm").is_dir() else None
    folder = Path(tempfile.mkdtemp(prefix="weft-scratch-", dir=parent))
    folder.chmod(0o755)  # the server may run as another user (embedded-postgres does under root)
    _lock_folder_outside(folder)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    try:
        yield embedded_postgres.ensure_running(folder, "weft")
    finally:
        if runtime:
            os.environ["XDG_RUNTIME_DIR"] = runtime  # starting the scratch server pointed it at its own folder
        # A throwaway server: no shutdown checkpoint, which would first sync every file of every customer.
        embedded_postgres.stop(folder, mode="immediate")
        shutil.rmtree(folder, ignore_errors=True)


def _lock_folder_outside(folder: Path) -> None:
    # embedded-postgres fixes its lock folder when first imported, from XDG_RUNTIME_DIR, and touches it at exit:
    # keep it out of the folder removed here.
    if "embedded_postgres" not in sys.modules:
        runtime = Path(tempfile.gettempdir()) / "weft-scratch-run"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)
        import embedded_postgres  # noqa: F401


def address(server: embedded_postgres.ServerInfo, name: str) -> Database:
    return Database(host=str(server.socket_dir), port=str(server.port), user="postgres", password="", name=name)


def connect(database: Database) -> psycopg.Connection:
    return psycopg.connect(host=database.host, port=database.port, user=database.user, dbname=database.name,
                           autocommit=True)


def seed_from(source: Database, target: Database) -> None:
    """Copy the whole ``source`` database (public schema, template, the test cast) into the empty ``target``."""
    dump = subprocess.run([pg_tool("pg_dump"), "--format=custom", "--no-owner"], env=source.environ(),
                          capture_output=True, check=True).stdout
    subprocess.run([pg_tool("pg_restore"), "--no-owner", "--exit-on-error", "--dbname", target.name],
                   input=dump, env=target.environ(), capture_output=True, check=True)


def customers_clone(database: Database, *, partner_slug: str, count: int, batch: int = 5,
                    offset: int = 0, shared_foreign_keys: bool = True) -> list[str]:
    """``count`` customers of ``partner_slug`` whose schemas are copies of the template (tables, indexes, rows),
    each with its public row and primary domain, as onboarding leaves them; their schema names.

    Small transactions: PostgreSQL walks every lock the transaction holds at the end of each statement, so 50
    customers a transaction spent a fifth of the time there. Without ``shared_foreign_keys`` the copies lack
    their foreign keys into shared tables (19 into ``tenants_user``): each adds two triggers to that table and
    makes PostgreSQL re-read all of them, so with them growth slows in proportion to the customers already there
    (1.6 s a customer at 450 on a busy machine, ≈ 40% of it re-reading triggers)."""
    ddl = _template_sql(database)
    if not shared_foreign_keys:
        ddl = ";\n".join(s for s in ddl.split(";\n") if "REFERENCES public." not in s)
    schemas = [f"crowd_{n:04d}" for n in range(offset, offset + count)]
    with connect(database) as conn:
        partner_id = conn.execute("SELECT id FROM public.tenants_partner WHERE slug = %s", [partner_slug]).fetchone()[0]
        for start in range(0, count, batch):
            with conn.transaction():
                for schema in schemas[start:start + batch]:
                    conn.execute(ddl.replace(settings.TENANT_BASE_SCHEMA, schema))
                    _public_rows(conn, schema, partner_id)
    return schemas


def _template_sql(database: Database) -> str:
    text = subprocess.run(
        [pg_tool("pg_dump"), "--no-owner", "--inserts", f"--schema={settings.TENANT_BASE_SCHEMA}"],
        env=database.environ(), capture_output=True, text=True, check=True).stdout
    # psql meta-commands (\restrict) are not SQL; the schema is created under each customer's name.
    return "\n".join(line for line in text.splitlines() if not line.startswith("\\"))


def _public_rows(conn: psycopg.Connection, schema: str, partner_id: int) -> None:
    slug = schema.replace("_", "-")
    customer_id = conn.execute(
        "INSERT INTO public.tenants_customer (schema_name, created_at, updated_at, name, slug, kind, is_active, "
        "partner_id) VALUES (%s, now(), now(), %s, %s, 'firm', true, %s) RETURNING id",
        [schema, f"Crowd {slug}", slug, partner_id]).fetchone()[0]
    conn.execute("INSERT INTO public.tenants_domain (domain, is_primary, tenant_id) VALUES (%s, true, %s)",
                 [f"{slug}.crowd.test", customer_id])


def customers_drop(database: Database, schemas: list[str]) -> None:
    """Remove customers made by ``customers_clone``: their schemas and public rows."""
    with connect(database) as conn, conn.transaction():
        for schema in schemas:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.execute("DELETE FROM public.tenants_domain WHERE tenant_id IN "
                     "(SELECT id FROM public.tenants_customer WHERE schema_name = ANY(%s))", [schemas])
        conn.execute("DELETE FROM public.tenants_customer WHERE schema_name = ANY(%s)", [schemas])
