"""A notification keeps the ids of the exceptions it named instead of a link table of its own (issue 20): the
links were only shown in the admin. Existing links are copied before the table goes."""

import django.contrib.postgres.fields
from django.db import migrations, models

COPY_LINKS = """
UPDATE exceptions_notification n SET exception_ids = ARRAY(
    SELECT l.integrationexception_id FROM exceptions_notification_exceptions l
    WHERE l.notification_id = n.id ORDER BY l.integrationexception_id)
WHERE EXISTS (SELECT 1 FROM exceptions_notification_exceptions l WHERE l.notification_id = n.id)
"""


class Migration(migrations.Migration):

    dependencies = [
        ('exceptions', '0007_lean_user_fk_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='notification',
            name='exception_ids',
            field=django.contrib.postgres.fields.ArrayField(base_field=models.BigIntegerField(), blank=True, default=list, size=None),
        ),
        migrations.RunSQL(COPY_LINKS, migrations.RunSQL.noop),
        migrations.RemoveField(
            model_name='notification',
            name='exceptions',
        ),
    ]
