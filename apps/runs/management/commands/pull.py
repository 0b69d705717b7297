from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from apps.common.errors import ApplicationError
from apps.connectors.selectors import connection_by_slug
from apps.runs.services import pull_run
from apps.tenants.models import Customer


class Command(BaseCommand):
    help = "Read one object of a connection into the hub: pull --customer acme <connection> <object>."

    def add_arguments(self, parser):
        parser.add_argument("--customer", required=True, help="The customer's slug (picks the schema).")
        parser.add_argument("connection", help="The connection's slug.")
        parser.add_argument("object", help="The object to read, as the connection's kind names it.")
        parser.add_argument("--from-start", action="store_true", help="Ignore the saved cursor and read everything.")

    def handle(self, *args, customer, connection, object, from_start, **options):
        firm = Customer.objects.firms().filter(slug=customer).first()
        if firm is None:
            raise CommandError(f"No customer with slug {customer!r}.")
        with schema_context(firm.schema_name):
            found = connection_by_slug(connection)
            if found is None:
                raise CommandError(f"{firm.name} has no connection {connection!r}.")
            try:
                run = pull_run(connection=found, object_name=object, from_start=from_start)
            except ApplicationError as error:
                raise CommandError(error.message) from None
            self.stdout.write(f"Run {run.pk}: {run.get_status_display()} — {run.counts or 'nothing read'}")
            if run.error_message:  # why it failed, or (a run that did not) what it left for later
                style = self.style.ERROR if run.status == "failed" else self.style.WARNING
                self.stdout.write(style(run.error_message))
            for item in run.items.exclude(outcome="created")[:20]:
                self.stdout.write(f"  {item.get_outcome_display()}: {item.external_id} {item.error_message}")
