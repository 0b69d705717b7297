from django.core.management.base import BaseCommand

from apps.connectors.services import credentials_reseal_all
from apps.tenants.selectors import firm_schemas
from apps.tenants.walk import each_schema


class Command(BaseCommand):
    help = (
        "Re-encrypt every connection's credentials in every tenant under the first key in "
        "WEFT_CREDENTIAL_KEYS. Run after putting a new key first; then the old key can be removed."
    )

    def handle(self, *args, **options):
        total = 0
        for schema in each_schema(firm_schemas()):
            count = credentials_reseal_all()
            total += count
            self.stdout.write(f"{schema}: {count} connection(s) re-encrypted")
        self.stdout.write(self.style.SUCCESS(f"Done: {total} connection(s) re-encrypted."))
