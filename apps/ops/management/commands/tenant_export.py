from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.ops.transfer import tenant_export
from apps.tenants.models import Customer


class Command(BaseCommand):
    help = "Export one customer (schema data, files, domains, memberships; secrets stay sealed) to a .tar.gz."

    def add_arguments(self, parser):
        parser.add_argument("customer", help="The customer's slug.")
        parser.add_argument("-o", "--output", help="Archive to write; defaults to <slug>-<date>.weft.tar.gz.")

    def handle(self, *args, customer: str, output: str | None, **options):
        found = Customer.objects.firms().filter(slug=customer).first()
        if found is None:
            raise CommandError(f"No customer {customer!r}.")
        from django.utils import timezone

        out = Path(output or f"{found.slug}-{timezone.now():%Y%m%d-%H%M%S}.weft.tar.gz")
        manifest = tenant_export(customer=found, out=out)
        self.stdout.write(f"Exported {found.name} ({found.slug}): {len(manifest['tables'])} tables, "
                          f"{len(manifest['memberships'])} memberships, to {out}.")
