from django.conf import settings
from django.core.management.base import BaseCommand

from apps.accelerators.services import templates_sync_builtin
from apps.demo import partners as demo
from apps.demo.accelerators import demo_accelerators_seed
from apps.demo.billing import demo_billing_seed
from apps.demo.crm import demo_crm_seed
from apps.demo.escalation import demo_escalation_seed
from apps.demo.flows import demo_flows_seed
from apps.demo.payroll import demo_payroll_seed
from apps.demo.plans import demo_portal_seed
from apps.demo.readiness import demo_readiness_seed
from apps.demo.resource_plan import demo_resource_plan_seed
from apps.tenants.models import Customer


class Command(BaseCommand):
    help = "Create (or leave as is) the demo partners, customers and logins. Safe to re-run."

    def handle(self, *args, **options):
        logins = demo.demo_seed()
        self._seed_flows()
        self._seed_portal()
        self._seed_escalation()
        port = settings.WEFT_SITE_PORT
        self.stdout.write(self.style.SUCCESS("\nWeft demo is ready.\n"))
        self.stdout.write(f"  Platform admin:         http://localhost:{port}/admin/")
        for site, url in demo.demo_sites(port):
            self.stdout.write(f"  {site:<22} {url}")
        self.stdout.write(f"\n  Logins (password for all: {demo.DEMO_PASSWORD}):")
        for username, what in logins:
            self.stdout.write(f"    {username:<20} {what}")
        self.stdout.write("")

    def _seed_flows(self) -> None:
        """Each demo customer gets the journal accelerator and a week of time run through it (first time only)."""
        from django_tenants.utils import schema_context


        templates_sync_builtin()
        for customer in Customer.objects.firms().filter(slug__in=[c[1] for c in demo.CUSTOMERS]):
            with schema_context(customer.schema_name):
                if demo_flows_seed(customer=customer):
                    self.stdout.write(f"  {customer.name}: demo flows installed and a time export run through them.")
                if demo_billing_seed(customer=customer):
                    self.stdout.write(f"  {customer.name}: go-live date and invoices (some blocked) in the hub.")
                if demo_readiness_seed(customer=customer):
                    self.stdout.write(f"  {customer.name}: billing readiness installed; weekly drafts held back, "
                                      "each saying why.")
                if demo_crm_seed(customer=customer):
                    self.stdout.write(f"  {customer.name}: CRM intake installed (HubSpot and Tryton await "
                                      "credentials).")
                if demo_payroll_seed(customer=customer):
                    self.stdout.write(f"  {customer.name}: hours to payroll and expenses to the ERP installed, "
                                      "expenses run in.")
                if demo_resource_plan_seed(customer=customer):
                    self.stdout.write(f"  {customer.name}: resource plan from files installed; eight weeks of "
                                      "bookings run in (some over-booked).")
                installed = demo_accelerators_seed(customer=customer)
                if installed:
                    self.stdout.write(f"  {customer.name}: also installed {', '.join(installed)} (connections "
                                      "await credentials).")

    def _seed_portal(self) -> None:
        """Demo plans, each demo customer on one, and the partner overview's health summary computed now."""

        for line in demo_portal_seed([p["slug"] for p in demo.PARTNERS], [c[1] for c in demo.CUSTOMERS]):
            self.stdout.write(f"  {line}")

    def _seed_escalation(self) -> None:
        """Each demo partner's default escalation policy: the bad rows' digest reaches the local outbox."""

        for line in demo_escalation_seed([p["slug"] for p in demo.PARTNERS]):
            self.stdout.write(f"  {line}")
