from django.core.management.base import BaseCommand
from django_tenants.utils import schema_context

from apps.exceptions.tasks import exceptions_tick, monitors_tick
from apps.tenants.selectors import active_firm_schemas


class Command(BaseCommand):
    help = ("Run the exceptions tick now (take runs and events the signal missed, escalate, send due digests) and, "
            "with --monitors, the monitors; for every active customer or the ones named. Re-runnable.")

    def add_arguments(self, parser):
        parser.add_argument("schemas", nargs="*", help="Schema names; default: every active customer.")
        parser.add_argument("--monitors", action="store_true", help="Run the monitors too.")

    def handle(self, *args, schemas, monitors, **options):
        for schema in schemas or list(active_firm_schemas()):
            with schema_context(schema):
                if monitors:
                    monitors_tick()
                exceptions_tick()
            self.stdout.write(f"{schema}: exceptions tick done.")
