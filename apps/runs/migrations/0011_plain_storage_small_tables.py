"""No TOAST table where no value can need one (issue 20; ``config.postgresql_backend.schema``).

In whichever schema this runs, a table whose variable-width columns all have a small known maximum
(``varchar(n)``, ``numeric``) and whose whole row fits a page inline gets those columns stored ``PLAIN``; if it
is small (under 8 MB, as every table of an empty or young customer is) it is rewritten, which drops its TOAST
table and index. A larger table keeps its TOAST table, unused, until it is next rewritten: a deploy does not
rewrite a big customer's ledger. Up to 16 relations fewer per customer.
"""

from django.db import migrations

PLAIN_STORAGE = """
DO $$
DECLARE
    r record;
    c record;
BEGIN
    FOR r IN
        SELECT t.oid, t.relname, t.reltoastrelid <> 0 AS toasted, pg_total_relation_size(t.oid) AS bytes,
               (SELECT ic.relname FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                WHERE i.indrelid = t.oid AND i.indisprimary) AS pkey
        FROM pg_class t
        WHERE t.relnamespace = to_regnamespace(current_schema()) AND t.relkind = 'r'
          AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = t.oid AND a.attnum > 0
                          AND NOT a.attisdropped AND a.attlen = -1 AND NOT (
                              (a.atttypid = 'varchar'::regtype AND a.atttypmod > 0)
                              OR a.atttypid = 'numeric'::regtype))
          AND (SELECT sum(CASE WHEN a.attlen > 0 THEN 16
                               WHEN a.atttypid = 'varchar'::regtype THEN (a.atttypmod - 4) * 4 + 4
                               WHEN a.atttypmod > 0 THEN ((a.atttypmod - 4) >> 16) / 2 + 16
                               ELSE 64 END)
               FROM pg_attribute a WHERE a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped) <= 6000
    LOOP
        FOR c IN SELECT a.attname FROM pg_attribute a WHERE a.attrelid = r.oid AND a.attnum > 0
                 AND NOT a.attisdropped AND a.attlen = -1 AND a.attstorage <> 'p'
        LOOP
            EXECUTE format('ALTER TABLE %I.%I ALTER COLUMN %I SET STORAGE PLAIN', current_schema(), r.relname,
                           c.attname);
        END LOOP;
        IF r.toasted AND r.bytes < 8 * 1024 * 1024 AND r.pkey IS NOT NULL THEN
            -- A rewrite decides anew whether the table needs a TOAST table; CLUSTER is one that may run in a
            -- transaction. The table is not left marked as clustered.
            EXECUTE format('CLUSTER %I.%I USING %I', current_schema(), r.relname, r.pkey);
            EXECUTE format('ALTER TABLE %I.%I SET WITHOUT CLUSTER', current_schema(), r.relname);
        END IF;
    END LOOP;
END $$;
"""


class Migration(migrations.Migration):

    dependencies = [("runs", "0010_shared_id_sequences")]

    # A list: run as one statement (splitting the script would cut the DO block at its semicolons).
    operations = [migrations.RunSQL([PLAIN_STORAGE], migrations.RunSQL.noop)]
