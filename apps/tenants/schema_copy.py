"""Copying the template schema into a new customer's, keeping the constraint names migrations refer to.

django-tenants' ``clone_schema`` re-creates every multi-column UNIQUE constraint under PostgreSQL's generated
name (``one_ref_per_record`` becomes ``canonical_externalref_connection_id_object_type_canonical_i_key``), so a
later migration that drops or alters a constraint by its model name would fail in every onboarded customer.
After each copy the copy's constraints are renamed back to the template's: one catalogue query and a rename per
constraint, matched by table, kind and definition. Migration ``canonical.0006`` does the same for customers
copied before.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django_tenants.clone import CloneSchema


def constraint_names_as_template_sql(template: str) -> str:
    """A statement that renames the current schema's UNIQUE constraints to the names they carry in ``template``
    (nothing in the template itself, or when there is no template yet)."""
    return f"""
DO $$
DECLARE r record;
BEGIN
    IF current_schema() = {_literal(template)} OR to_regnamespace({_literal(template)}) IS NULL THEN
        RETURN;
    END IF;
    FOR r IN
        SELECT c.relname AS table_name, mine.conname AS have, theirs.conname AS want
        FROM pg_constraint mine
        JOIN pg_class c ON c.oid = mine.conrelid
        JOIN pg_class tc ON tc.relname = c.relname AND tc.relnamespace = to_regnamespace({_literal(template)})
        JOIN pg_constraint theirs ON theirs.conrelid = tc.oid AND theirs.contype = 'u'
             AND pg_get_constraintdef(theirs.oid) = pg_get_constraintdef(mine.oid)
        WHERE mine.connamespace = to_regnamespace(current_schema()) AND mine.contype = 'u'
          AND mine.conname <> theirs.conname
          AND NOT EXISTS (SELECT 1 FROM pg_constraint taken
                          WHERE taken.conrelid = mine.conrelid AND taken.conname = theirs.conname)
    LOOP
        EXECUTE format('ALTER TABLE %I.%I RENAME CONSTRAINT %I TO %I', current_schema(), r.table_name, r.have, r.want);
    END LOOP;
END $$;
"""


def template_copy(schema_name: str, clone_mode: str) -> None:
    """Copy the template schema to ``schema_name`` (tables, rows, indexes) with the template's constraint names."""
    CloneSchema().clone_schema(settings.TENANT_BASE_SCHEMA, schema_name, clone_mode)
    connection.set_schema(schema_name, include_public=False)
    with connection.cursor() as cursor:
        cursor.execute(constraint_names_as_template_sql(settings.TENANT_BASE_SCHEMA))
    connection.set_schema_to_public()


def _literal(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"
