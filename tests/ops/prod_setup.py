"""Run as a script under the production settings (tests/ops/test_production.py): a partner, a customer with the
journal-export accelerator, the people and project its CSV time export names, a webhook connection, and a
time export waiting in the inbox. Prints what the smoke test needs as one JSON line."""

from __future__ import annotations

import json
import sys
from decimal import Decimal

PASSWORD = "smoke-Password-4711"
SECRET = "whsec-smoke-0123456789abcdef0123456789"


def main() -> None:
    import django

    django.setup()
    from django_tenants.utils import schema_context

    from apps.accelerators.models import FlowTemplate
    from apps.accelerators.services import template_install
    from apps.canonical.models import Customer as HubCustomer
    from apps.canonical.models import Person, Project
    from apps.connectors.models import Connection
    from apps.connectors.services import connection_create, connection_files_root
    from apps.tenants import services
    from apps.tenants.choices import Role

    partner = services.partner_create(acting_user=None, name="Smoke Partner", slug="smoke", display_name="Smoke",
                                      support_email="help@smoke.example", email_sender_name="Smoke",
                                      domain_suffix="smoke.test")
    engineer = services.user_create(username="eve", email="eve@smoke.example", password=PASSWORD, acting_user=None)
    services.membership_grant(user=engineer, role=Role.INTEGRATION_ENGINEER, partner=partner, acting_user=None)
    customer = services.customer_onboard(partner=partner, slug="acme", name="Acme", admin_email="admin@acme.example",
                                         admin_password=PASSWORD, acting_user=None).customer
    with schema_context(customer.schema_name):
        template = FlowTemplate.objects.get(partner__isnull=True, slug="approved-time-to-journal")
        template_install(template=template, variables={}, customer=customer, acting_user=None)
        export = Connection.objects.get(slug="time-export")
        Connection.objects.filter(pk=export.pk).update(settings={**export.settings, "settle_seconds": 0})
        Connection.objects.filter(slug__in=["time-export", "erp-journal"]).update(is_enabled=True)  # set up now
        firm = HubCustomer.objects.create(code="BIG", name="Big Client", currency="EUR")
        Project.objects.create(code="BIG-1", name="Rollout", customer=firm, currency="EUR",
                               default_bill_rate=Decimal("100"))
        Person.objects.create(code="ann@acme.example", name="Ann", capacity_hours_per_week=40)
        connection_create(name="Hooks", slug="hooks", kind="webhook", credentials={"signing_secret": SECRET},
                          settings={"source_connection": "time-export"})
        inbox = connection_files_root(export) / "inbox"
        inbox.mkdir(parents=True, exist_ok=True)
        (inbox / "time-smoke.csv").write_text("id,person,project,date,hours,approval_status,notes\n" + "".join(
            f"s{n},ann@acme.example,BIG-1,2026-03-{n + 1:02d},7.5,approved,smoke {n}\n" for n in range(5)))
        outbox = connection_files_root(Connection.objects.get(slug="erp-journal")) / "outbox"
    json.dump({"host": customer.domains.get(is_primary=True).domain, "username": "eve",
               "password": PASSWORD, "secret": SECRET, "outbox": str(outbox)}, sys.stdout)


if __name__ == "__main__":
    main()
