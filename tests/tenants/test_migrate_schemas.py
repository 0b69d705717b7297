"""`migrate_schemas` runs `migrate` only in tenant schemas with something pending."""

from django.core.management import call_command
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from apps.tenants.migration_executor import schemas_with_pending_migrations


def _queue_leaf() -> tuple[str, str]:
    # django_q lives in the public schema only: re-applying its last migration in a tenant schema records it
    # and changes nothing else, and no tenant migration depends on it.
    return next(node for node in MigrationLoader(None).graph.leaf_nodes() if node[0] == "django_q")


def _forget(schema: str, app: str, name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f'DELETE FROM "{schema}".django_migrations WHERE app = %s AND name = %s', [app, name])


def test_only_schemas_missing_a_migration_or_the_table_are_pending(cast):
    schemas = [cast.alpha.schema_name, cast.beta.schema_name, cast.gamma.schema_name]
    assert schemas_with_pending_migrations(schemas) == []

    _forget(cast.beta.schema_name, *_queue_leaf())
    with connection.cursor() as cursor:
        cursor.execute("CREATE SCHEMA never_migrated")
    assert schemas_with_pending_migrations([*schemas, "never_migrated"]) == [cast.beta.schema_name, "never_migrated"]


def test_migrate_schemas_migrates_the_pending_schema_and_skips_the_rest(cast, capsys):
    app, name = _queue_leaf()
    _forget(cast.beta.schema_name, app, name)

    call_command("migrate_schemas", tenant=True, interactive=False, verbosity=1)

    out = capsys.readouterr().out
    # That migration only alters fields, so it reaches beta as SQL (apps/tenants/migration_executor.py).
    assert f"Applied {app}.{name} as SQL in 1 tenant schema(s)." in out
    assert f"standard:{cast.alpha.schema_name}]" not in out
    assert "already up to date: skipped" in out
    assert schemas_with_pending_migrations([cast.beta.schema_name]) == []  # beta has the migration again


def test_a_named_target_goes_through_every_schema(cast, capsys):
    app, name = _queue_leaf()
    call_command("migrate_schemas", app, name, tenant=True, interactive=False, verbosity=1)

    out = capsys.readouterr().out
    assert f"standard:{cast.alpha.schema_name}]" in out and "skipped" not in out
