from django.core.management.base import BaseCommand, CommandError

from apps.accelerators.models import FlowTemplate
from apps.accelerators.services import template_upgrade_customers, templates_sync_builtin


class Command(BaseCommand):
    help = ("Install a template's current version into every customer that runs an older one, with the variables "
            "each was installed with (after a deploy that ships a new built-in version, or a partner's edit).")

    def add_arguments(self, parser):
        parser.add_argument("template", help="The template's slug.")
        parser.add_argument("--partner", help="A partner's own template (default: Weft's built-in one).")

    def handle(self, *args, template, partner, **options):
        templates_sync_builtin()
        found = FlowTemplate.objects.filter(slug=template, partner__slug=partner) if partner else \
            FlowTemplate.objects.filter(slug=template, partner__isnull=True)
        flow_template = found.first()
        if flow_template is None:
            raise CommandError(f"No template {template!r}" + (f" of partner {partner!r}." if partner else " built in."))
        outcome = template_upgrade_customers(template=flow_template, acting_user=None)
        for slug in outcome.upgraded:
            self.stdout.write(f"{slug}: now on v{flow_template.version}")
        for slug, reason in outcome.failed.items():
            self.stderr.write(f"{slug}: not upgraded: {reason}")
        if outcome.failed:
            raise CommandError(f"{len(outcome.failed)} customer(s) not upgraded; see above.")
