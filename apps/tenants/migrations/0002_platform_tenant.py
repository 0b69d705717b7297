from django.db import migrations


def create_platform_tenant(apps, schema_editor):
    """django-tenants needs a tenant row on every request; this one stands for the public schema."""
    Customer = apps.get_model("tenants", "Customer")
    Customer.objects.get_or_create(
        schema_name="public",
        defaults={"slug": "weft-platform", "name": "Weft platform", "kind": "platform", "is_active": True},
    )


class Migration(migrations.Migration):
    dependencies = [("tenants", "0001_initial")]
    operations = [migrations.RunPython(create_platform_tenant, migrations.RunPython.noop)]
