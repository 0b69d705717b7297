"""Drop the ``varchar_pattern_ops`` twins Django used to add beside indexed and unique text columns.

New schemas never get them (``config.postgresql_backend.schema``); this removes them from schemas migrated
before, in whichever schema this runs (each customer's and the template). No query of these tables uses
``LIKE 'prefix%'``; the plain indexes and unique constraints stay.
"""

from django.db import migrations

DROP_PATTERN_OPS_INDEXES = """
DO $$
DECLARE index_name text;
BEGIN
    FOR index_name IN
        SELECT c.relname FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND pg_get_indexdef(i.indexrelid) LIKE '%pattern_ops%'
    LOOP
        EXECUTE format('DROP INDEX %I.%I', current_schema(), index_name);
    END LOOP;
END $$;
"""


class Migration(migrations.Migration):

    dependencies = [
        ("runs", "0003_lean_history"),
        ("canonical", "0004_lean_history"),
        ("connectors", "0004_lean_history"),
        ("mappings", "0003_lean_history"),
        ("exceptions", "0003_lean_history"),
        ("reporting", "0006_lean_history"),
    ]

    # A list: run as one statement (splitting the script would cut the DO block at its semicolons).
    operations = [migrations.RunSQL([DROP_PATTERN_OPS_INDEXES], migrations.RunSQL.noop)]
