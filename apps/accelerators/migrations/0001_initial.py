"""FlowTemplate moves here from apps.tenants: state only, the tables (tenants_flowtemplate and its history) stay
as they are, rows included (apps/tenants/migrations/0006 removes the model from the tenants app's state)."""

import apps.tenants.validators
import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('tenants', '0005_health_currencies'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='HistoricalFlowTemplate',
                    fields=[
                        ('id', models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name='ID')),
                        ('created_at', models.DateTimeField(blank=True, editable=False)),
                        ('updated_at', models.DateTimeField(blank=True, editable=False)),
                        ('slug', models.SlugField(max_length=80)),
                        ('name', models.CharField(max_length=120, validators=[apps.tenants.validators.validate_plain_text])),
                        ('version', models.PositiveIntegerField(default=1)),
                        ('description', models.TextField(blank=True)),
                        ('is_premium', models.BooleanField(default=False, help_text='Only plans with premium templates may install it.')),
                        ('definition', models.JSONField()),
                        ('history_id', models.AutoField(primary_key=True, serialize=False)),
                        ('history_date', models.DateTimeField(db_index=True)),
                        ('history_change_reason', models.TextField(null=True)),
                        ('history_type', models.CharField(choices=[('+', 'Created'), ('~', 'Changed'), ('-', 'Deleted')], max_length=1)),
                        ('history_user', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('partner', models.ForeignKey(blank=True, db_constraint=False, help_text='Blank: a Weft built-in template every partner may use.', null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='tenants.partner')),
                    ],
                    options={
                        'verbose_name': 'historical flow template',
                        'verbose_name_plural': 'historical flow templates',
                        'db_table': 'tenants_historicalflowtemplate',
                        'ordering': ('-history_date', '-history_id'),
                        'get_latest_by': ('history_date', 'history_id'),
                    },
                    bases=(simple_history.models.HistoricalChanges, models.Model),
                ),
                migrations.CreateModel(
                    name='FlowTemplate',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('slug', models.SlugField(max_length=80)),
                        ('name', models.CharField(max_length=120, validators=[apps.tenants.validators.validate_plain_text])),
                        ('version', models.PositiveIntegerField(default=1)),
                        ('description', models.TextField(blank=True)),
                        ('is_premium', models.BooleanField(default=False, help_text='Only plans with premium templates may install it.')),
                        ('definition', models.JSONField()),
                        ('partner', models.ForeignKey(blank=True, help_text='Blank: a Weft built-in template every partner may use.', null=True, on_delete=django.db.models.deletion.CASCADE, related_name='templates', to='tenants.partner')),
                    ],
                    options={
                        'db_table': 'tenants_flowtemplate',
                        'ordering': ['name'],
                        'constraints': [models.UniqueConstraint(fields=('partner', 'slug'), name='one_template_slug_per_partner'), models.UniqueConstraint(condition=models.Q(('partner__isnull', True)), fields=('slug',), name='one_builtin_slug')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
