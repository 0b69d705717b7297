"""Views pin the columns they read, so a migration that changes one would fail: the reporting views of the schema
being migrated are dropped before ``migrate`` and built again after it."""

from django.db import connection
from django.db.models.signals import post_migrate, pre_migrate
from django.dispatch import receiver
from django_tenants.utils import get_public_schema_name

from apps.bi.models import ReportingAccess
from apps.bi.services import reporting_views_build, reporting_views_drop


def _records_here():
    table = f"{get_public_schema_name()}.{ReportingAccess._meta.db_table}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [table])
        if cursor.fetchone()[0] is None:
            return []  # the public schema is not migrated yet
    return list(ReportingAccess.objects.filter(customer__schema_name=connection.schema_name)
                .select_related("customer"))


@receiver(pre_migrate, dispatch_uid="bi-views-drop")
def reporting_views_drop_before_migrate(sender, **kwargs):
    if sender.label == "bi":  # once per migrate, not once per app
        for record in _records_here():
            reporting_views_drop(record)


@receiver(post_migrate, dispatch_uid="bi-views-build")
def reporting_views_build_after_migrate(sender, **kwargs):
    if sender.label == "bi":
        for record in _records_here():
            reporting_views_build(record)
