"""A deploy that adds a migration: `migrate_schemas` migrates the schemas that lack it side by side, in
WEFT_MIGRATE_PROCESSES processes, each holding one database connection, and every schema ends up migrated."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from apps.tenants.migration_executor import schemas_with_pending_migrations
from tests.ops.server import BackendSampler, our_backends

pytestmark = [pytest.mark.cluster, pytest.mark.django_db]  # commits: the forked processes must see the schemas
SCHEMAS = ["alpha", "beta", "gamma"]


def _forget_last_queue_migration(schema: str) -> None:
    # django_q lives in the public schema only: re-applying its last migration in a tenant schema records it and
    # changes nothing else, so it stands in for "a new migration every schema must run".
    app, name = next(node for node in MigrationLoader(None).graph.leaf_nodes() if node[0] == "django_q")
    with connection.cursor() as cursor:
        cursor.execute(f'DELETE FROM "{schema}".django_migrations WHERE app = %s AND name = %s', [app, name])


def test_pending_schemas_are_migrated_in_parallel_with_bounded_connections(django_db_setup, django_db_blocker,
                                                                            settings, capsys):
    settings.WEFT_MIGRATE_PROCESSES = 2
    settings.WEFT_MIGRATE_AS_SQL = False  # the full `migrate` per schema, which is what runs in parallel
    with django_db_blocker.unblock():
        for schema in SCHEMAS:
            _forget_last_queue_migration(schema)
        assert schemas_with_pending_migrations(SCHEMAS) == SCHEMAS
        sampler = BackendSampler(ignore=our_backends())
        call_command("migrate_schemas", tenant=True, interactive=False, verbosity=1)
        peak = sampler.done()
        assert schemas_with_pending_migrations(SCHEMAS) == []
    assert "Migrating 3 tenant schema(s) in 2 processes." in capsys.readouterr().out
    assert peak <= 2, f"{peak} connections at once for 2 processes"
