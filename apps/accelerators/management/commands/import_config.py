import yaml
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from apps.accelerators.configuration import configuration_install
from apps.common.errors import ApplicationError
from apps.tenants.models import Customer


class Command(BaseCommand):
    help = "Install a configuration file (an export, or a template definition) into a customer. Re-runnable."

    def add_arguments(self, parser):
        parser.add_argument("--customer", required=True)
        parser.add_argument("file")
        parser.add_argument("--var", action="append", default=[], help="name=value for the definition's variables")

    def handle(self, *args, customer, file, var, **options):
        firm = Customer.objects.firms().filter(slug=customer).first()
        if firm is None:
            raise CommandError(f"No customer with slug {customer!r}.")
        try:
            with open(file) as handle:
                definition = yaml.safe_load(handle)
        except (OSError, yaml.YAMLError) as error:
            raise CommandError(f"Cannot read {file}: {error}") from None
        if not isinstance(definition, dict):
            raise CommandError(f"{file} does not hold a configuration (expected a mapping at the top).")
        variables = dict(item.split("=", 1) for item in var if "=" in item)
        with schema_context(firm.schema_name):
            try:
                report = configuration_install(definition=definition, variables=variables, source=file,
                                               acting_user=None)
            except ApplicationError as error:
                raise CommandError(error.message) from None
        self.stdout.write(f"Created {len(report.created)}, updated {len(report.updated)}, "
                          f"unchanged {len(report.unchanged)}.")
        for line in report.created + report.updated:
            self.stdout.write(f"  {line}")
        if report.secrets_needed:
            self.stdout.write("Secrets to enter (the file carries none), then enable the connection:")
            for slug, names in report.secrets_needed.items():
                self.stdout.write(f"  connection {slug}: {', '.join(names)}")
