"""A deploy whose migration changes columns, indexes or foreign keys: the 50 schemas lacking it get it as SQL
collected once and run per schema (not a full `migrate` each), every one ends up shaped like the others with the
migration recorded, and the others are left alone."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.db.migrations import operations
from django.db.migrations.loader import MigrationLoader

from apps.ops.backups import Database
from apps.tenants.migration_executor import SQL_ONLY_OPERATIONS, schemas_with_pending_migrations
from tests.ops import crowd

pytestmark = [pytest.mark.cluster, pytest.mark.django_db]  # commits: 50 customers of its own, removed afterwards
CROWD = 50


def _a_leaf_run_as_sql():
    """The latest migration of a customer app whose whole effect is SQL in the schema (columns, indexes,
    constraints): the shape of a typical deploy."""
    loader = MigrationLoader(None)
    for app, name in sorted(loader.graph.leaf_nodes()):
        migration = loader.graph.nodes[(app, name)]
        customer_app = app in ("canonical", "runs", "connectors", "reporting", "exceptions", "mappings")
        # Nothing may depend on it (another app's migration may): a schema lacking it lacks nothing else.
        childless = not loader.graph.node_map[(app, name)].children
        if customer_app and childless and migration.atomic and all(
                isinstance(op, SQL_ONLY_OPERATIONS) and not isinstance(op, operations.RunSQL)
                for op in migration.operations):
            return loader, migration
    pytest.fail("No customer app's latest migration is SQL only: pick another to stand for a deploy.")


def _tables(loader, migration) -> list[str]:
    state = loader.project_state((migration.app_label, migration.name), at_end=True)
    return sorted({state.apps.get_model(migration.app_label, getattr(op, "model_name", None) or op.name)._meta.db_table
                   for op in migration.operations})


def _shape(schema: str, tables: list[str]) -> tuple[frozenset, frozenset, frozenset]:
    """The columns, indexes and foreign keys of ``tables`` in ``schema``: what the migration changes."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns "
                       "WHERE table_schema = %s AND table_name = ANY(%s)", [schema, tables])
        columns = frozenset(cursor.fetchall())
        cursor.execute("SELECT tablename, indexname FROM pg_indexes WHERE schemaname = %s AND tablename = ANY(%s)",
                       [schema, tables])
        indexes = frozenset(cursor.fetchall())
        cursor.execute("SELECT c.relname, k.conname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
                       "WHERE k.connamespace = to_regnamespace(%s) AND k.contype = 'f' AND c.relname = ANY(%s)",
                       [schema, tables])
        return columns, indexes, frozenset(cursor.fetchall())


def _forget(schema: str, migration, undo: list[str]) -> None:
    """Put ``schema`` back to before ``migration``: its change undone, its record gone."""
    connection.set_schema(schema)
    with connection.cursor() as cursor:
        for statement in undo:
            cursor.execute(statement)
        cursor.execute("DELETE FROM django_migrations WHERE app = %s AND name = %s",
                       [migration.app_label, migration.name])
    connection.set_schema_to_public()


def test_a_migration_reaches_50_schemas_as_sql(django_db_setup, django_db_blocker, capsys):
    loader, migration = _a_leaf_run_as_sql()
    tables = _tables(loader, migration)
    with django_db_blocker.unblock():
        schemas = crowd.customers_clone(Database.of(), partner_slug="xpartner", count=CROWD, batch=10)
        try:
            # The copies are made from the template, so they must end up shaped exactly like it.
            migrated = _shape(settings.TENANT_BASE_SCHEMA, tables)
            others = {schema: _shape(schema, tables) for schema in ("alpha", "beta", "gamma")}
            connection.set_schema(settings.TENANT_BASE_SCHEMA)
            undo = [sql for sql in MigrationLoader(connection).collect_sql([(migration, True)])
                    if not sql.startswith("--")]
            connection.set_schema_to_public()
            for schema in schemas:
                _forget(schema, migration, undo)
            assert schemas_with_pending_migrations(schemas) == schemas
            assert _shape(schemas[0], tables) != migrated
            capsys.readouterr()

            started = time.monotonic()
            call_command("migrate_schemas", tenant=True, interactive=False, verbosity=1)
            elapsed = time.monotonic() - started

            assert schemas_with_pending_migrations([*schemas, *others]) == []
            unlike = {schema: [sorted(a ^ b) for a, b in zip(_shape(schema, tables), migrated, strict=True)]
                      for schema in schemas if _shape(schema, tables) != migrated}
            assert not unlike, f"{migration.app_label}.{migration.name}: {list(unlike.items())[:1]}"
            assert all(_shape(schema, tables) == shape for schema, shape in others.items())  # left alone
        finally:
            crowd.customers_drop(Database.of(), schemas)
    out = capsys.readouterr().out
    assert f"Applied {migration.app_label}.{migration.name} as SQL in {CROWD} tenant schema(s)." in out
    assert "Migrating" not in out and "Starting migration" not in out  # no full `migrate` anywhere
    print(f"{CROWD} schemas migrated in {elapsed:.1f} s")
