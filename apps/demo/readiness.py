"""Demo billing readiness for one customer: the accelerator installed on the demo's time export, weekly drafts made
from the time the demo run brought in, and the draft flow run once, so the blocked-invoices page shows real drafts
and why each is held back.

The customer's Xero is not connected (no credentials, no contacts read), so every draft is held back at least as an
unmapped project, and older weeks also as a closed period; nothing is sent anywhere. The Xero connection is
enabled only for that one run, which makes no call (a blocked draft fails before any request), and left disabled,
as a customer's is until someone enters its credentials. Revenue inputs go to the export file.
"""

from __future__ import annotations

from datetime import date, timedelta

from django.utils import timezone

from apps.accelerators.selectors import templates_for_customer
from apps.accelerators.services import template_install
from apps.connectors.models import Connection
from apps.connectors.services import connection_create
from apps.runs import engine
from apps.runs.models import Flow, RunStatus, Trigger

SLUG = "billing-readiness"
CUSTOMERS = ("initech",)  # the demo customer that bills through billing readiness


def demo_readiness_seed(*, customer, today: date | None = None) -> bool:
    """Install and run billing readiness once for ``customer`` (current schema); False if already done."""
    if customer.slug not in CUSTOMERS or Flow.objects.filter(slug="invoices-to-xero").exists():
        return False
    today = today or timezone.localdate()
    xero = connection_create(name="Xero", slug="xero", kind="xero", settings={"tenant_id": "not-connected-yet"},
                             acting_user=None, description="Demo: awaiting the customer's Xero sign-in.")
    connection_create(name="Revenue inputs export", slug="revenue-export", kind="csv", acting_user=None)
    template = templates_for_customer(customer).get(slug=SLUG)
    template_install(template=template, customer=customer, acting_user=None, variables={
        "time_connection": "time-export", "people_object": "people", "clients_object": "customers",
        "period": "week", "bill_from": (today - timedelta(days=35)).isoformat(),
        "open_from": (today - timedelta(days=14)).isoformat(),
        "write_back": False})  # CSV time exports take no posting status back
    for slug in ("invoices-to-xero", "revenue-to-export"):
        _run(Flow.objects.get(slug=slug))
    Connection.objects.filter(pk=xero.pk).update(is_enabled=False)  # operational: no credentials yet
    return True


def _run(flow: Flow) -> None:
    run = engine.flow_run_request(flow=flow, trigger=Trigger.MANUAL, enqueue=False, acting_user=None)
    while run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
        run = engine.run_execute(run_id=run.pk) or run
        run.refresh_from_db()
