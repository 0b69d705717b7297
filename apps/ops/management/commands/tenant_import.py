from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.common.errors import ApplicationError
from apps.ops.transfer import tenant_import


class Command(BaseCommand):
    help = "Restore a customer from a tenant_export archive (its partner must exist; the customer must not)."

    def add_arguments(self, parser):
        parser.add_argument("archive", help="The .tar.gz written by tenant_export.")

    def handle(self, *args, archive: str, **options):
        source = Path(archive)
        if not source.is_file():
            raise CommandError(f"No archive at {source}.")
        try:
            result = tenant_import(source=source)
        except ApplicationError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Imported {result.customer.name} ({result.customer.slug}): {result.tables} tables, "
                          f"{result.rows} rows, {result.files} files.")
