"""Tables made after ``runs.0010`` got identity keys after all: the schema editor replaced the identity clause in
``column_sql``, but Django appends it afterwards (the type's suffix), so ``runs_inboundstream`` and any other
table born since kept a sequence of its own. The editor now replaces it in ``table_sql``; this runs ``0010``'s
conversion again, which converts whatever identity keys a schema still has (none in a schema made after the fix).
"""

import importlib

from django.db import migrations

SHARE_ID_SEQUENCES = importlib.import_module("apps.runs.migrations.0010_shared_id_sequences").SHARE_ID_SEQUENCES


class Migration(migrations.Migration):

    dependencies = [("runs", "0014_inbound_stream")]

    operations = [migrations.RunSQL([SHARE_ID_SEQUENCES], migrations.RunSQL.noop)]
