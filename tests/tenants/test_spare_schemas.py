"""Onboarding from a spare schema: schemas cloned from the template ahead of time are renamed into a new customer's
(instant, whatever the catalogue's size) instead of cloned while the customer waits; a spare made before a
migration is never handed out."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection

from apps.tenants import services
from apps.tenants.migration_executor import schemas_with_pending_migrations
from tests.conftest import _onboard


def _spares() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_namespace WHERE starts_with(nspname, 'spare_') ORDER BY 1")
        return [row[0] for row in cursor.fetchall()]


def _tables(schema: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", [schema])
        return [row[0] for row in cursor.fetchall()]


@pytest.fixture(autouse=True)
def no_spares_yet(db):
    """Start from none: a cluster test that committed its work may have left spares the platform schedule made."""
    with connection.cursor() as cursor:
        for schema in _spares():
            cursor.execute(f'DROP SCHEMA "{schema}" CASCADE')


def test_onboarding_takes_a_ready_spare(cast):
    assert services.spare_schemas_fill(count=2) == 2
    spares = _spares()
    assert len(spares) == 2 and services.spare_schemas_fill(count=2) == 0  # re-runnable: already there

    customer = _onboard(cast.xpartner, "delta")

    assert _spares() == spares[1:]  # the first spare became delta's schema
    assert _tables(customer.schema_name) == _tables(settings.TENANT_BASE_SCHEMA)
    assert schemas_with_pending_migrations([customer.schema_name]) == []
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{customer.schema_name}".django_content_type')
        assert cursor.fetchone()[0] > 0  # the template's rows came with it


def test_a_spare_missing_a_migration_is_replaced_not_used(cast):
    services.spare_schemas_fill(count=1)
    (stale,) = _spares()
    with connection.cursor() as cursor:  # as if made before the last deploy
        cursor.execute(f'DELETE FROM "{stale}".django_migrations '
                       f'WHERE id = (SELECT max(id) FROM "{stale}".django_migrations)')

    assert services.spare_schemas_fill(count=1) == 1
    assert stale not in _spares() and len(_spares()) == 1
