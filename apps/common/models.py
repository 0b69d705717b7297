"""Abstract bases shared by Weft's models."""

from django.db import connection, models


class TimeStampedModel(models.Model):
    """Adds ``created_at`` and ``updated_at``, set by the database clock of the saving process."""

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


# The sequence a table's key draws from: its own (an identity column, in the public schema) or the one its
# default names (a customer schema's shared ``weft_ids``: config.postgresql_backend.schema).
_KEY_SEQUENCE = """
    coalesce(pg_get_serial_sequence(%(table)s, %(column)s)::regclass, (
        SELECT s.oid::regclass FROM pg_attrdef d
        JOIN pg_depend dep ON dep.classid = 'pg_attrdef'::regclass AND dep.objid = d.oid
        JOIN pg_class s ON s.oid = dep.refobjid AND s.relkind = 'S'
        JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
        WHERE d.adrelid = %(table)s::regclass AND a.attname = %(column)s))"""


def keys_reserve(model: type[models.Model], count: int) -> list[int]:
    """``count`` new primary keys for rows of ``model`` written in bulk (COPY), in order."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT nextval({_KEY_SEQUENCE}) FROM generate_series(1, %(count)s)",
                       {"table": model._meta.db_table, "column": model._meta.pk.column, "count": count})
        return [row[0] for row in cursor.fetchall()]
