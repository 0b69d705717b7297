"""A deploy whose migration adds a column: the 50 schemas lacking it get it as SQL collected once and run per
schema (not a full `migrate` each), every one ends up with the column and the migration recorded, and the others
are left alone."""

from __future__ import annotations

import time

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations import operations
from django.db.migrations.loader import MigrationLoader

from apps.ops.backups import Database
from apps.tenants.migration_executor import schemas_with_pending_migrations
from tests.ops import crowd

pytestmark = [pytest.mark.cluster, pytest.mark.django_db]  # commits: 50 customers of its own, removed afterwards
CROWD = 50


def _a_leaf_that_adds_columns():
    """A latest migration of a customer app that only adds columns: the shape of a typical deploy."""
    loader = MigrationLoader(None)
    for app, name in sorted(loader.graph.leaf_nodes()):
        migration = loader.graph.nodes[(app, name)]
        if app in ("canonical", "runs", "connectors", "reporting", "exceptions", "mappings") and all(
                isinstance(op, operations.AddField) for op in migration.operations):
            return loader, migration
    pytest.fail("No customer app's latest migration only adds columns: pick another to stand for a deploy.")


def _columns(loader, migration) -> list[tuple[str, str]]:
    state = loader.project_state((migration.app_label, migration.name), at_end=True)
    models = [state.apps.get_model(migration.app_label, op.model_name) for op in migration.operations]
    return [(model._meta.db_table, model._meta.get_field(op.name).column)
            for model, op in zip(models, migration.operations, strict=True)]


def _forget(schema: str, migration, columns) -> None:
    """Put ``schema`` back to before ``migration``: its columns gone, its record gone."""
    with connection.cursor() as cursor:
        for table, column in columns:
            cursor.execute(f'ALTER TABLE "{schema}"."{table}" DROP COLUMN "{column}"')
        cursor.execute(f'DELETE FROM "{schema}".django_migrations WHERE app = %s AND name = %s',
                       [migration.app_label, migration.name])


def _has_columns(schema: str, columns) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM information_schema.columns WHERE table_schema = %s "
                       "AND (table_name, column_name) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
                       [schema, [t for t, _ in columns], [c for _, c in columns]])
        return cursor.fetchone()[0] == len(columns)


def test_a_migration_adding_a_column_reaches_50_schemas_as_sql(django_db_setup, django_db_blocker, capsys):
    loader, migration = _a_leaf_that_adds_columns()
    columns = _columns(loader, migration)
    with django_db_blocker.unblock():
        schemas = crowd.customers_clone(Database.of(), partner_slug="xpartner", count=CROWD, batch=10)
        try:
            for schema in schemas:
                _forget(schema, migration, columns)
            assert schemas_with_pending_migrations(schemas) == schemas
            capsys.readouterr()

            started = time.monotonic()
            call_command("migrate_schemas", tenant=True, interactive=False, verbosity=1)
            elapsed = time.monotonic() - started

            everyone = [*schemas, "alpha", "beta", "gamma"]
            assert schemas_with_pending_migrations(everyone) == []
            assert all(_has_columns(schema, columns) for schema in everyone)
        finally:
            crowd.customers_drop(Database.of(), schemas)
    out = capsys.readouterr().out
    assert f"Applied {migration.app_label}.{migration.name} as SQL in {CROWD} tenant schema(s)." in out
    assert "Migrating" not in out and "Starting migration" not in out  # no full `migrate` anywhere
    print(f"{CROWD} schemas migrated in {elapsed:.1f} s")
