from django.core.management.base import BaseCommand, CommandError

from apps.bi.models import ReportingAccess
from apps.bi.services import bi_access_grant, bi_access_revoke, bi_snapshot_settings_set
from apps.bi.snapshots import bi_snapshot_write
from apps.tenants.models import Customer


class Command(BaseCommand):
    help = ("BI access for a customer: 'grant' (a reporting schema and a read-only role; prints a new password once), "
            "'revoke', or 'snapshot' (write the Parquet snapshot now; --folder sets where, --nightly turns the "
            "nightly snapshot on).")

    def add_arguments(self, parser):
        parser.add_argument("customer")
        parser.add_argument("action", choices=["grant", "revoke", "snapshot"])
        parser.add_argument("--folder", default=None, help="Where snapshots go (default: <data dir>/bi/<customer>/).")
        parser.add_argument("--nightly", action="store_true", help="Also write one every night.")

    def handle(self, *args, customer, action, folder, nightly, **options):
        firm = Customer.objects.firms().filter(slug=customer).first()
        if firm is None:
            raise CommandError(f"No customer with slug {customer!r}.")
        if action == "grant":
            c = bi_access_grant(customer=firm, acting_user=None)
            self.stdout.write(f"host={c.host} port={c.port} database={c.database} schema={c.schema}\n"
                              f"user={c.user}\npassword={c.password}   (shown once)")
        elif action == "revoke":
            bi_access_revoke(customer=firm, acting_user=None)
            self.stdout.write(f"BI access for {firm.slug} revoked.")
        else:
            record = ReportingAccess.objects.filter(customer=firm).first()
            if record is None:
                raise CommandError(f"{firm.slug} has no BI access; grant it first.")
            if folder is not None or nightly:
                record = bi_snapshot_settings_set(customer=firm, enabled=nightly or record.snapshot_enabled,
                                                  folder=record.snapshot_folder if folder is None else folder,
                                                  acting_user=None)
            self.stdout.write(f"Snapshot written to {bi_snapshot_write(record)}")
