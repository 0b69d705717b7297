"""django-tenants' PostgreSQL backend, with connections that are replaced once they have visited many schemas.

A PostgreSQL session caches the catalogue entries (tables, indexes, columns) of every relation it touches and
never gives them back: ≈ 0.43 MiB per customer schema, so a web thread or a worker that serves a thousand
customers within one connection's life held ≈ 450 MB (issue 20). This backend counts the schemas a connection
has entered and, at the next point where Django may close a connection anyway (the start and end of a request,
before each django-q2 task, between the customers of a loop over customers: ``close_if_unusable_or_obsolete``),
replaces it once it has entered ``WEFT_DB_RECYCLE_SCHEMAS`` of them. A pooled connection is closed before it
goes back, so the pool discards it and opens a fresh one.
"""

from __future__ import annotations

from django.conf import settings
from django_tenants.postgresql_backend.base import DatabaseWrapper as TenantsDatabaseWrapper

from config.postgresql_backend.schema import LeanSchemaEditor


class DatabaseWrapper(TenantsDatabaseWrapper):
    SchemaEditorClass = LeanSchemaEditor  # no varchar_pattern_ops twins (config.postgresql_backend.schema)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.schemas_entered: set[str] = set()

    def get_new_connection(self, conn_params):
        self.schemas_entered = set()  # a new server session starts with an empty catalogue cache
        return super().get_new_connection(conn_params)

    def _handle_search_path(self, cursor=None):
        super()._handle_search_path(cursor)
        if self.search_path_set_schemas:
            self.schemas_entered.add(self.schema_name)

    def close_if_unusable_or_obsolete(self):
        # First: with a pool, Django's own close hands the connection back intact for the next request.
        self.recycle_if_visited_many()
        super().close_if_unusable_or_obsolete()

    def recycle_if_visited_many(self) -> bool:
        """Replace the connection if it has entered enough schemas and no transaction is open; True if it did."""
        if self.connection is None or self.in_atomic_block or not self.visited_too_many_schemas():
            return False
        self.recycle()
        return True

    def visited_too_many_schemas(self) -> bool:
        limit = getattr(settings, "WEFT_DB_RECYCLE_SCHEMAS", 0)
        return bool(limit) and len(self.schemas_entered) >= limit

    def recycle(self) -> None:
        """Close the server session (its cache goes with it); the next query opens a new one."""
        if self.pool and self.connection is not None:
            self.connection.close()  # handed back closed, the pool discards it rather than lending it again
        self.close()
        self.schemas_entered = set()
