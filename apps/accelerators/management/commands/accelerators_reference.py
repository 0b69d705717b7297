"""Write docs/accelerators.md from the built-in templates (run after adding or changing one)."""

from django.core.management.base import BaseCommand

from apps.accelerators.reference import reference_write


class Command(BaseCommand):
    help = "Regenerate docs/accelerators.md from apps/accelerators/builtin/*.yaml."

    def handle(self, *args, **options):
        self.stdout.write(f"Wrote {reference_write()}")
