from django.conf import settings
from django.core.management.base import BaseCommand

from apps.tenants import demo


class Command(BaseCommand):
    help = "Create (or leave as is) the demo partners, customers and logins. Safe to re-run."

    def handle(self, *args, **options):
        logins = demo.demo_seed()
        port = settings.WEFT_SITE_PORT
        self.stdout.write(self.style.SUCCESS("\nWeft demo is ready.\n"))
        self.stdout.write(f"  Platform admin:         http://localhost:{port}/admin/")
        for site, url in demo.demo_sites(port):
            self.stdout.write(f"  {site:<22} {url}")
        self.stdout.write(f"\n  Logins (password for all: {demo.DEMO_PASSWORD}):")
        for username, what in logins:
            self.stdout.write(f"    {username:<20} {what}")
        self.stdout.write("")
