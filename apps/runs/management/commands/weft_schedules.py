from django.core.management.base import BaseCommand
from django_q.models import Schedule

from apps.runs.schedules import schedules_sync_all
from apps.tenants.schedules import platform_schedules
from apps.tenants.selectors import active_firm_schemas
from apps.tenants.walk import each_schema


class Command(BaseCommand):
    help = "Create or update every django-q2 schedule (each flow's, per tenant, and the platform's). Re-runnable."

    def handle(self, *args, **options):
        total = removed = 0
        schemas = list(active_firm_schemas())
        for _schema in each_schema(schemas):
            kept, dropped = schedules_sync_all()
            total, removed = total + kept, removed + dropped
        orphans = Schedule.objects.filter(name__startswith="flow:").exclude(
            name__regex=r"^flow:(" + "|".join(schemas or ["-"]) + r"):")
        removed += orphans.delete()[0]  # customers deactivated or removed
        platform = platform_schedules()  # each app registers its own (apps.tenants.schedules)
        for entry in platform:
            Schedule.objects.update_or_create(name=entry.name, defaults={
                "func": entry.func, "schedule_type": entry.schedule_type, "minutes": entry.minutes, "args": entry.args,
                "repeats": -1})
        self.stdout.write(f"Schedules: {total} flow schedule(s) in step, {removed} stale removed, "
                          f"{len(platform)} platform schedule(s).")
