import time

from django.core.management import call_command
from django.core.management.base import BaseCommand

from apps.accelerators.services import templates_sync_builtin
from apps.tenants import services


class Command(BaseCommand):
    help = "Bring the database up to date: public schema, the tenant template, then every tenant. Re-runnable."

    def handle(self, *args, **options):
        started = time.monotonic()
        quiet = {"interactive": False, "verbosity": max(0, options["verbosity"] - 1)}
        call_command("migrate_schemas", shared=True, **quiet)
        services.tenant_template_ensure(verbosity=quiet["verbosity"])
        call_command("migrate_schemas", tenant=True, **quiet)
        call_command("weft_schedules", verbosity=quiet["verbosity"])

        templates_sync_builtin()
        self.stdout.write(f"Database ready ({time.monotonic() - started:.1f} s).")
