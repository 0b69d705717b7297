"""Demo: every shipped accelerator the other demo seeds leave out, installed in the demo customer it fits, as a
partner leaves it after installing it from the partner site.

- Acme (a Tryton shop moving off files): its master data arrives as the ERP's export files through
  reference-data-from-files (run once here), and the Tryton accelerators (approved time to the ERP, project
  setup, billing readiness in Tryton) wait for the Tryton login.
- Globex: people from HR (Finch), beside its payroll; the Finch connection waits for its token.
- Initech (bills through Xero): approved time to Xero Projects, and CRM intake from Pipedrive.

The demo reaches no outside system, so each connection these make waits, disabled, for credentials. Outbound flows
of time and invoices to such a connection are installed disabled too: enabled, every hour of the demo would count
as not yet posted to a system nobody has connected, and the demo's figures (unposted time, reconciliation, money
at risk) would be about that instead of the time export. The portal names the reason on each flow.
"""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from django.utils import timezone

from apps.accelerators.models import TemplateInstallation
from apps.accelerators.selectors import templates_for_customer
from apps.accelerators.services import template_install
from apps.canonical.models import Customer, Person, Project
from apps.common.history import save_attributed
from apps.connectors.models import Connection
from apps.connectors.services import connection_files_root
from apps.runs import engine
from apps.runs.models import Flow, RunStatus, Trigger
from apps.runs.schedules import flow_schedule_sync

# Outbound flows installed disabled until their system is connected (see the module's docstring).
WAITING_FLOWS = ("time-to-erp", "invoices-to-tryton", "time-to-xero")


def installs(today: date) -> dict[str, list[tuple[str, dict]]]:
    """Per demo customer: (template slug, variables), in install order."""
    open_from = (today - timedelta(days=60)).isoformat()
    return {
        "acme": [
            ("reference-data-from-files", {"files_connection": "time-export"}),
            ("approved-time-to-erp", {"time_connection": "time-export", "read_people": False, "open_from": open_from}),
            ("project-setup", {}),
            ("billing-readiness-tryton", {"time_connection": "time-export", "period": "week", "open_from": open_from,
                                          "bill_from": (today - timedelta(days=35)).isoformat()}),
        ],
        "globex": [("people-from-hr", {})],
        "initech": [
            # Its billing readiness reads people from the export's people files: keep that flow as it is.
            ("approved-time-to-xero", {"time_connection": "time-export", "people_object": "people",
                                       "read_people": True, "open_from": open_from}),
            ("crm-intake-pipedrive", {"code_prefix": "INIT-DEAL-", "default_rate": 160}),
        ],
    }


def demo_accelerators_seed(*, customer, today: date | None = None) -> list[str]:
    """Install the accelerators meant for ``customer`` (current schema) that it lacks; the slugs installed."""
    today = today or timezone.localdate()
    wanted = installs(today).get(customer.slug, [])
    done = set(TemplateInstallation.objects.filter(customer=customer).values_list("template__slug", flat=True))
    templates = templates_for_customer(customer)
    installed = []
    for slug, variables in wanted:
        if slug in done:
            continue
        template_install(template=templates.get(slug=slug), variables=variables, customer=customer,
                         acting_user=None)
        installed.append(slug)
        if slug == "reference-data-from-files":
            _reference_data_run(Connection.objects.get(slug="time-export"), today)
    waiting = Flow.objects.filter(slug__in=WAITING_FLOWS, connection__is_enabled=False, is_enabled=True)
    for flow in waiting if installed else []:  # a re-run leaves what someone changed since as it is
        flow.is_enabled = False
        save_attributed(flow, acting_user=None, reason=f"Demo: waits for {flow.connection.name} to be connected")
        flow_schedule_sync(flow=flow)
    return installed


def _reference_data_run(connection: Connection, today: date) -> None:
    """The ERP's master-data export (customers, people, projects as the hub has them) dropped and read once."""
    inbox = connection_files_root(connection) / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    files = {
        "customers": (["code", "name", "currency"],
                      Customer.objects.order_by("code").values_list("code", "name", "currency")),
        "people": (["code", "name", "email", "practice", "capacity_hours_per_week", "cost_rate", "cost_currency"],
                   Person.objects.order_by("code").values_list("code", "name", "email", "practice",
                                                               "capacity_hours_per_week", "cost_rate",
                                                               "cost_currency")),
        "projects": (["code", "name", "customer", "billing_type", "currency", "default_bill_rate", "budget_hours",
                      "budget_amount"],
                     Project.objects.order_by("code").values_list("code", "name", "customer__code", "billing_type",
                                                                  "currency", "default_bill_rate", "budget_hours",
                                                                  "budget_amount")),
    }
    for name, (header, rows) in files.items():
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        writer.writerows(rows)
        (inbox / f"{name}-{today:%Y%m%d}.csv").write_text(buffer.getvalue())
    for slug in ("customers-in", "people-in", "projects-in"):  # customers before the projects that name them
        run = engine.flow_run_request(flow=Flow.objects.get(slug=slug), trigger=Trigger.MANUAL, enqueue=False,
                                      acting_user=None)
        while run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
            run = engine.run_execute(run_id=run.pk) or run
            run.refresh_from_db()
