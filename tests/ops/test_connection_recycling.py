"""Bounded memory per connection: a connection that has entered WEFT_DB_RECYCLE_SCHEMAS customer schemas is replaced
at the next point where Django may close connections (a request's start or end, before a django-q2 task, between
customers of a command over every customer), taking its catalogue cache with it; one that has entered fewer is kept.
bench/tenant_scale.py measures the cache while touching a thousand customers."""

from __future__ import annotations

import pytest
from django.db import close_old_connections, connection
from django_tenants.utils import schema_context

from apps.tenants.walk import each_schema
from config.postgresql_backend.base import DatabaseWrapper


def _backend_pid(wrapper=connection) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _memory_bytes(wrapper=connection) -> int:
    """What this connection's server process holds (its catalogue cache is most of it after many schemas)."""
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT sum(total_bytes) FROM pg_backend_memory_contexts")
        return cursor.fetchone()[0]


def _touch(schema: str) -> None:
    """What serving a customer does to the catalogue: its tables are read."""
    with schema_context(schema), connection.cursor() as cursor:
        cursor.execute("SELECT (SELECT count(*) FROM django_migrations) + (SELECT count(*) FROM runs_run)"
                       " + (SELECT count(*) FROM canonical_timeentry)")


@pytest.fixture
def outside_transaction(django_db_setup, django_db_blocker):
    """The test database without pytest-django's transaction: Django never closes a connection inside one."""
    with django_db_blocker.unblock():
        connection.close()
        yield
        connection.close()


def test_a_connection_is_replaced_once_it_has_entered_the_allowed_number_of_schemas(outside_transaction, settings):
    settings.WEFT_DB_RECYCLE_SCHEMAS = 3
    first = _backend_pid()  # in public: one schema entered
    _touch("alpha")
    close_old_connections()  # what Django does when a request ends and django-q2 before each task
    assert _backend_pid() == first, "two schemas entered, under the limit: the connection is kept"

    _touch("beta")
    grown = _memory_bytes()
    close_old_connections()
    assert _backend_pid() != first, "three schemas entered: replaced"
    assert _memory_bytes() < grown


def test_a_loop_over_customers_recycles_between_them(outside_transaction, settings):
    settings.WEFT_DB_RECYCLE_SCHEMAS = 2
    pids = []
    for _schema in each_schema(["alpha", "beta", "gamma"]):
        pids.append(_backend_pid())
    assert pids[0] == pids[1] != pids[2]  # public and alpha entered: replaced before gamma


def test_a_pooled_connection_is_discarded_not_lent_again(outside_transaction, settings):
    settings.WEFT_DB_RECYCLE_SCHEMAS = 2
    pooled = DatabaseWrapper({**connection.settings_dict, "CONN_MAX_AGE": 0,
                              "OPTIONS": {"pool": {"min_size": 1, "max_size": 1}}}, alias="recycling_pool")
    try:
        first = _backend_pid(pooled)
        pooled.set_schema("alpha")
        _backend_pid(pooled)
        pooled.close_if_unusable_or_obsolete()
        assert _backend_pid(pooled) != first  # the pool's only connection was replaced, not handed back
    finally:
        pooled.close()
        pooled.close_pool()


def test_a_transaction_is_never_cut_short(outside_transaction, settings):
    from django.db import transaction

    settings.WEFT_DB_RECYCLE_SCHEMAS = 1
    with transaction.atomic():
        first = _backend_pid()
        _touch("alpha")
        assert connection.recycle_if_visited_many() is False  # what a loop over customers asks between them
        assert _backend_pid() == first
    assert connection.recycle_if_visited_many() is True  # and once the transaction is over, it goes
