"""Stamps of look-ups that kinds remember per process (``LookupStamp``): read once per batch, bumped on a write.

A kind keeps, say, each Tryton project's timesheet work for the life of the process, because a webhook makes a
run per batch and a look-up per batch would be most of its calls. A worker that writes a project through the
connection knows its own memo is stale; the stamp tells the other processes. A write made inside a transaction
that rolls back loses its bump; the memo's time limit is the backstop for that and for changes made in the
target by hand.
"""

from __future__ import annotations

from django.db import connection as db

from apps.connectors.models import LookupStamp

BUMP = (f"INSERT INTO {LookupStamp._meta.db_table} (connection_id, name, version) VALUES (%s, %s, 1) "
        f"ON CONFLICT (connection_id, name) DO UPDATE SET version = {LookupStamp._meta.db_table}.version + 1")


class DatabaseLookupStamps:
    """The stamps of a saved connection (``KindContext.lookup_stamps``)."""

    def __init__(self, connection_id: int):
        self.connection_id = connection_id

    def read(self, name: str) -> int:
        found = LookupStamp.objects.filter(connection_id=self.connection_id, name=name)
        return found.values_list("version", flat=True).first() or 0

    def bump(self, name: str) -> None:
        # One statement: concurrent writers each add one, and the first creates the row.
        with db.cursor() as cursor:
            cursor.execute(BUMP, [self.connection_id, name])
