"""Log records carry the schema they were written in, so a tenant's trouble can be found."""

import logging

from django.db import connection


class TenantContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.schema_name = getattr(connection, "schema_name", "-")
        return True
