from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from apps.accelerators.selectors import templates_for_customer
from apps.accelerators.services import template_install
from apps.common.errors import ApplicationError
from apps.tenants import services
from apps.tenants.models import Partner


class Command(BaseCommand):
    help = "Onboard a customer firm for a partner: schema, domain and first customer admin. Safe to re-run."

    def add_arguments(self, parser):
        parser.add_argument("partner", help="The partner's slug.")
        parser.add_argument("slug", help="The customer's slug (names its schema).")
        parser.add_argument("name", help="The customer's name.")
        parser.add_argument("domain", nargs="?", help="Host name; defaults to <slug>.<partner domain suffix>.")
        parser.add_argument("--admin-email", help="First customer admin; defaults to admin@<domain>.")
        parser.add_argument("--template", action="append", default=[],
                            help="Install this accelerator (template slug) after onboarding; repeatable.")
        parser.add_argument("--var", action="append", default=[], help="name=value for the templates' variables.")

    def handle(self, *args, partner, slug, name, domain, admin_email, template, var, **options):
        found = Partner.objects.filter(slug=partner).first()
        if found is None:
            raise CommandError(f"No partner with slug {partner!r}.")
        host = domain or found.customer_domain(slug)
        try:
            result = services.customer_onboard(
                partner=found, slug=slug, name=name, domain=host,
                admin_email=admin_email or f"admin@{host}", acting_user=None,
            )
        except ApplicationError as error:
            raise CommandError(error.message) from None
        for line in result.messages:
            self.stdout.write(self.style.SUCCESS(line) if result.created else line)
        if result.admin_password:
            self.stdout.write(f"Initial password for {result.admin_user.username}: {result.admin_password}")
        if template:
            self._install_templates(result.customer, template, dict(v.split("=", 1) for v in var if "=" in v))

    def _install_templates(self, customer, slugs: list[str], variables: dict) -> None:
        with schema_context(customer.schema_name):
            for slug in slugs:
                found = templates_for_customer(customer).filter(slug=slug).order_by("-version").first()
                if found is None:
                    raise CommandError(f"No template {slug!r} is available to {customer.name}.")
                known = set(found.definition.get("variables") or {})
                try:
                    report = template_install(template=found, customer=customer, acting_user=None,
                                              variables={k: v for k, v in variables.items() if k in known})
                except ApplicationError as error:
                    raise CommandError(f"{slug}: {error.message}") from None
                self.stdout.write(f"Installed {found.name}: {len(report.created)} created, "
                                  f"{len(report.updated)} updated, {len(report.unchanged)} unchanged.")
