from django.core.management.base import BaseCommand, CommandError

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

    def handle(self, *args, partner, slug, name, domain, admin_email, **options):
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
