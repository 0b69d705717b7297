"""Write docs/rest-manifest-reference.md from the manifest JSON Schema (run after changing the schema)."""

from django.core.management.base import BaseCommand

from apps.connectors.kinds.rest.reference import reference_write


class Command(BaseCommand):
    help = "Regenerate the REST connector manifest reference from its JSON Schema."

    def handle(self, *args, **options):
        path = reference_write()
        self.stdout.write(f"Wrote {path}")
