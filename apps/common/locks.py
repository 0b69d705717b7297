"""Locks that hold across hosts: PostgreSQL session advisory locks, named by a string.

A file lock (``flock``) binds only the processes of one machine; with workers on several hosts two of them
could read the same inbox or append to the same journal at once. Every host shares the database, so its
advisory locks are the one place to agree. A lock is held by the database session, so a worker that dies
(or whose connection drops) frees it at once; it outlives transactions, so a read that commits page by page
keeps it throughout. Session locks need a session of their own: workers connect directly (or through
PgBouncer in session mode), never through transaction pooling (docs/scale.md).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connection


class LockBusy(Exception):
    """Another session holds the lock (only for ``wait=False``)."""


@contextlib.contextmanager
def advisory_lock(name: str, *, wait: bool = True) -> Iterator[None]:
    """Hold the lock called ``name`` for the block; with ``wait=False`` raise ``LockBusy`` instead of waiting."""
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [name])
        else:
            cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [name])
            if not cursor.fetchone()[0]:
                raise LockBusy(name)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [name])


def advisory_xact_lock(name: str) -> None:
    """Wait for the lock called ``name`` and hold it until the current transaction ends (commit or rollback), so it
    is gone before anything queued with ``on_commit`` runs."""
    if not connection.in_atomic_block:
        raise RuntimeError(f"advisory_xact_lock({name!r}) outside a transaction would be released at once")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [name])
