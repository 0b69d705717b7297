"""The ledger keeps the indexes its reads need, in their smallest form (issue 18, hub load): a hub record's items
are found by canonical_id alone (one id sequence per schema), a source record's by external_id alone (what the
API filter gives); ``replayed_by``, never written nor read, goes with its index and foreign key."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('runs', '0016_write_attempt_doubt_since'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='runitem',
            name='runs_runite_object__d53cf1_idx',
        ),
        migrations.RemoveIndex(
            model_name='runitem',
            name='runs_runite_object__103b1d_idx',
        ),
        migrations.RemoveField(
            model_name='runitem',
            name='replayed_by',
        ),
        migrations.AddIndex(
            model_name='runitem',
            index=models.Index(fields=['external_id'], name='runs_runite_externa_d2dbd3_idx'),
        ),
        migrations.AddIndex(
            model_name='runitem',
            index=models.Index(fields=['canonical_id'], name='runs_runite_canonic_fea154_idx'),
        ),
    ]
