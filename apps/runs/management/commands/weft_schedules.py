from django.core.management.base import BaseCommand
from django_q.models import Schedule
from django_tenants.utils import schema_context

from apps.runs.schedules import schedules_sync_all
from apps.tenants.selectors import active_firm_schemas

PLATFORM_SCHEDULES = [
    # name, func, schedule type, minutes
    ("platform:clear-sessions", "django.core.management.call_command", Schedule.DAILY, None, "'clearsessions'"),
    # Integration exceptions: sweep, escalate and notify every minute; monitors every five (apps/exceptions/tasks.py).
    ("platform:exceptions-tick", "apps.tenants.tasks.every_tenant_run", Schedule.MINUTES, 1,
     "'apps.exceptions.tasks.exceptions_tick'"),
    ("platform:exceptions-monitors", "apps.tenants.tasks.every_tenant_run", Schedule.MINUTES, 5,
     "'apps.exceptions.tasks.monitors_tick'"),
    # Customer health summary for the partner overview (apps/portal/tasks.py); runs also refresh it as they finish.
    ("platform:customer-health", "apps.tenants.tasks.every_tenant_run", Schedule.MINUTES, 15,
     "'apps.portal.tasks.customer_health_refresh'"),
    # Reconciliation of the last 8 settled weeks, raising and clearing exceptions (apps/reporting/tasks.py).
    # Cluster heartbeat: proves scheduler, broker and a worker are alive; /readyz and /metrics read it (apps/ops).
    ("platform:cluster-heartbeat", "apps.ops.tasks.heartbeat", Schedule.MINUTES, 1, ""),
    ("platform:reconciliation-check", "apps.tenants.tasks.every_tenant_run", Schedule.DAILY, None,
     "'apps.reporting.tasks.reconciliation_check'"),
]


class Command(BaseCommand):
    help = "Create or update every django-q2 schedule (each flow's, per tenant, and the platform's). Re-runnable."

    def handle(self, *args, **options):
        total = removed = 0
        schemas = list(active_firm_schemas())
        for schema in schemas:
            with schema_context(schema):
                kept, dropped = schedules_sync_all()
            total, removed = total + kept, removed + dropped
        orphans = Schedule.objects.filter(name__startswith="flow:").exclude(
            name__regex=r"^flow:(" + "|".join(schemas or ["-"]) + r"):")
        removed += orphans.delete()[0]  # customers deactivated or removed
        for name, func, schedule_type, minutes, args in PLATFORM_SCHEDULES:
            Schedule.objects.update_or_create(name=name, defaults={"func": func, "schedule_type": schedule_type,
                                                                   "minutes": minutes, "args": args, "repeats": -1})
        self.stdout.write(f"Schedules: {total} flow schedule(s) in step, {removed} stale removed, "
                          f"{len(PLATFORM_SCHEDULES)} platform schedule(s).")
