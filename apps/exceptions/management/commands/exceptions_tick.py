from django.core.management.base import BaseCommand

from apps.exceptions.tasks import exceptions_tick, monitors_tick
from apps.tenants.selectors import active_firm_schemas
from apps.tenants.walk import each_schema


class Command(BaseCommand):
    help = ("Run the exceptions tick now (take runs and events the signal missed, escalate, send due digests) and, "
            "with --monitors, the monitors; for every active customer or the ones named. Re-runnable.")

    def add_arguments(self, parser):
        parser.add_argument("schemas", nargs="*", help="Schema names; default: every active customer.")
        parser.add_argument("--monitors", action="store_true", help="Run the monitors too.")

    def handle(self, *args, schemas, monitors, **options):
        for schema in each_schema(schemas or active_firm_schemas()):
            if monitors:
                monitors_tick()
            exceptions_tick()
            self.stdout.write(f"{schema}: exceptions tick done.")
