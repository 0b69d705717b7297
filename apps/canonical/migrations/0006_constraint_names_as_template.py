"""Customers copied from the template before ``apps.tenants.schema_copy`` carry PostgreSQL's generated names for
their multi-column UNIQUE constraints; give them the template's (the names the models and later migrations use)."""

from django.conf import settings
from django.db import migrations

from apps.tenants.schema_copy import constraint_names_as_template_sql


class Migration(migrations.Migration):

    dependencies = [
        ("canonical", "0005_covered_fk_indexes"),
        ("connectors", "0005_covered_fk_indexes"),
        ("mappings", "0004_covered_fk_indexes"),
        ("runs", "0005_covered_fk_indexes"),
        ("exceptions", "0004_covered_fk_indexes"),
    ]

    # A list: run as one statement (splitting the script would cut the DO block at its semicolons).
    operations = [migrations.RunSQL([constraint_names_as_template_sql(settings.TENANT_BASE_SCHEMA)],
                                    migrations.RunSQL.noop)]
