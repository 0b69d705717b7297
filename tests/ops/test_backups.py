"""Backups at hundreds of customers: the embedded server's lock table has room for a whole-database pg_dump (with
PostgreSQL's defaults it runs out near a hundred customers), the dump of 300 customers succeeds and holds every
table of every customer, and the platform and single customers restore from it."""

from __future__ import annotations

import os
import subprocess

import pytest
from django.conf import settings

from apps.ops.backups import Database, database_dump, database_restore, dump_lock_headroom, pg_tool
from tests.ops import crowd

CROWD = int(os.environ.get("WEFT_SCALE_TEST_CUSTOMERS", 300))  # fewer for a quick look; 300 is the claim


@pytest.mark.django_db
def test_the_servers_lock_table_has_room_to_dump_thousands_of_customers():
    headroom = dump_lock_headroom()
    assert headroom.enough
    assert headroom.tables_per_customer > 20  # the template's tables, counted
    assert headroom.customers_to_spare >= 2_000


@pytest.mark.scale
def test_a_whole_database_dump_of_300_customers_restores(django_db_setup, tmp_path):
    with crowd.scratch_server() as server:
        source, restored = crowd.address(server, "weft"), crowd.address(server, "restored")
        crowd.seed_from(Database.of(), source)
        platform_rows = _one(source, "SELECT count(*) FROM tenants_customer")  # the cast, the template, public
        schemas = crowd.customers_clone(source, partner_slug="xpartner", count=CROWD)

        dump = tmp_path / "weft.dump"
        database_dump(database=source, out=dump)
        template_tables = [name for name, _ in _tables(source, settings.TENANT_BASE_SCHEMA)]
        archived = _tables_in_archive(dump)
        assert all(archived.get(schema) == template_tables for schema in schemas)

        # The platform and a few customers back from the whole-database dump, one customer's data included.
        with crowd.connect(source) as conn:
            conn.execute("CREATE DATABASE restored")
        picked = ["alpha", schemas[0], schemas[-1]]
        database_restore(dump=dump, database=restored, schemas=["public", settings.TENANT_BASE_SCHEMA, *picked])
        for schema in picked:
            assert _tables(restored, schema) == _tables(source, schema)
        for query in ("SELECT count(*) FROM tenants_customer", "SELECT count(*) FROM alpha.django_migrations",
                      f"SELECT slug FROM tenants_customer WHERE schema_name = '{schemas[-1]}'"):
            assert _one(restored, query) == _one(source, query)
        assert _one(restored, "SELECT count(*) FROM tenants_customer") == platform_rows + CROWD


def _tables(database: Database, schema: str) -> list[tuple[str, int]]:
    """Each table of ``schema`` with its row count."""
    with crowd.connect(database) as conn:
        names = [row[0] for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", [schema])]
        return [(name, conn.execute(f'SELECT count(*) FROM "{schema}"."{name}"').fetchone()[0]) for name in names]


def _tables_in_archive(dump) -> dict[str, list[str]]:
    """The tables whose rows the archive holds, by schema."""
    listing = subprocess.run([pg_tool("pg_restore"), "--list", str(dump)], capture_output=True, text=True,
                             check=True).stdout
    tables: dict[str, list[str]] = {}
    for line in listing.splitlines():
        if " TABLE DATA " in line:  # "<id>; <oid> <oid> TABLE DATA <schema> <table> <owner>"
            schema, table = line.split()[5:7]
            tables.setdefault(schema, []).append(table)
    return {schema: sorted(names) for schema, names in tables.items()}


def _one(database: Database, query: str):
    with crowd.connect(database) as conn:
        return conn.execute(query).fetchone()[0]
