import json
import sys

import yaml
from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from apps.accelerators.configuration import configuration_export
from apps.tenants.models import Customer


class Command(BaseCommand):
    help = ("Write a customer's connections (settings, never secrets), mappings, rules, flows, ownership, escalation "
            "policies and reporting settings to YAML or JSON (for version control).")

    def add_arguments(self, parser):
        parser.add_argument("--customer", required=True)
        parser.add_argument("--format", choices=["yaml", "json"], default="yaml")
        parser.add_argument("-o", "--output", help="File to write; standard output by default.")

    def handle(self, *args, customer, format, output, **options):
        firm = Customer.objects.firms().filter(slug=customer).first()
        if firm is None:
            raise CommandError(f"No customer with slug {customer!r}.")
        with schema_context(firm.schema_name):
            data = configuration_export()
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True) if format == "yaml" else \
            json.dumps(data, indent=2)
        if output:
            with open(output, "w") as handle:
                handle.write(text)
            self.stderr.write(f"Wrote {output}.")
        else:
            sys.stdout.write(text)
