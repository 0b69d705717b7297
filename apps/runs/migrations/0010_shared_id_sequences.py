"""One id sequence per customer schema instead of one per table (issue 20; ``config.postgresql_backend.schema``).

In whichever schema this runs (each customer's and the template), every identity key stops being an identity
and takes its ids from ``weft_ids`` (bigint keys) or ``weft_small_ids`` (integer keys), which start past every
id the table's own sequence ever handed out, so no id is reused. Dropping an identity drops its sequence: 67
relations fewer per customer. Tables made later get the shared default from the schema editor.
"""

from django.db import migrations

SHARE_ID_SEQUENCES = """
DO $$
DECLARE
    r record;
    top bigint;
    tops jsonb := '{"weft_ids": 0, "weft_small_ids": 0}';
BEGIN
    CREATE SEQUENCE IF NOT EXISTS weft_ids AS bigint;
    CREATE SEQUENCE IF NOT EXISTS weft_small_ids AS integer;
    FOR r IN
        SELECT c.relname AS table_name, a.attname AS column_name,
               CASE a.atttypid WHEN 'bigint'::regtype THEN 'weft_ids' ELSE 'weft_small_ids' END AS sequence_name,
               pg_get_serial_sequence(format('%I.%I', current_schema(), c.relname), a.attname) AS own
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        WHERE c.relnamespace = to_regnamespace(current_schema()) AND c.relkind = 'r' AND a.attidentity <> ''
          AND a.atttypid IN ('bigint'::regtype, 'integer'::regtype)
    LOOP
        EXECUTE format('SELECT greatest(max(%I), pg_sequence_last_value(%L)) FROM %I.%I',
                       r.column_name, r.own, current_schema(), r.table_name) INTO top;
        tops := jsonb_set(tops, ARRAY[r.sequence_name],
                          to_jsonb(greatest((tops ->> r.sequence_name)::bigint, coalesce(top, 0))));
        EXECUTE format('ALTER TABLE %I.%I ALTER COLUMN %I DROP IDENTITY', current_schema(), r.table_name,
                       r.column_name);
        EXECUTE format('ALTER TABLE %I.%I ALTER COLUMN %I SET DEFAULT nextval(%L)', current_schema(), r.table_name,
                       r.column_name, format('%I.%I', current_schema(), r.sequence_name));
    END LOOP;
    FOR r IN SELECT key AS name, value::bigint AS top FROM jsonb_each_text(tops) LOOP
        -- Never back: in a schema made with the shared sequences already, they have handed out ids.
        top := greatest(r.top, coalesce(pg_sequence_last_value(format('%I.%I', current_schema(), r.name)::regclass), 0));
        IF top > 0 THEN
            PERFORM setval(format('%I.%I', current_schema(), r.name)::regclass, top);
        END IF;
    END LOOP;
END $$;
"""


class Migration(migrations.Migration):

    # Only its own app's: the tables other apps make later are born with the shared default (schema editor), and
    # this converts whichever exist when it runs. Other apps' latest migrations stay leaves a deploy can stand for.
    dependencies = [("runs", "0009_write_attempt_covered_fk")]

    # A list: run as one statement (splitting the script would cut the DO block at its semicolons).
    operations = [migrations.RunSQL([SHARE_ID_SEQUENCES], migrations.RunSQL.noop)]
