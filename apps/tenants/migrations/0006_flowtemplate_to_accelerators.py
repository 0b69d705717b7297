"""FlowTemplate now lives in apps.accelerators (its 0001 takes the model over): state only, the tables stay."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('tenants', '0005_health_currencies'),
        ('accelerators', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='HistoricalFlowTemplate'),
                migrations.DeleteModel(name='FlowTemplate'),
            ],
            database_operations=[],
        ),
    ]
