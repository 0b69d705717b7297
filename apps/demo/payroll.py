"""Demo hours to payroll and expenses to the ERP for one customer (Globex): both accelerators installed on the demo's
time export folder, and four weeks of expenses run into the hub, a few of them bad in ways a payroll or finance
clerk would recognise (a person and a project nobody knows, a receipt without an amount). The Xero and Tryton
connections they create wait, disabled, for credentials: the demo has no Xero or Tryton to reach, so their flows
show as paused with the reason rather than pretending to post."""

from __future__ import annotations

import csv
import io
import random
from datetime import date, timedelta

from django.utils import timezone

from apps.accelerators.selectors import templates_for_customer
from apps.accelerators.services import template_install
from apps.canonical.models import Person, Project
from apps.connectors.models import Connection
from apps.connectors.services import connection_files_root
from apps.runs import engine
from apps.runs.models import Flow, RunStatus, Trigger

DEMO_CUSTOMER = "globex"
CATEGORIES = (("Travel", "Train to the client", 40, 180), ("Hotel", "Night before the workshop", 90, 210),
              ("Meals", "Team lunch with the client", 20, 90), ("Software", "Diagram tool licence", 15, 60))
BAD_ROWS = [  # (id, person, project, amount, currency, note)
    ("exp-bad-1", "nobody.globex", "{j0}", "64.00", "EUR", "A person the hub does not know"),
    ("exp-bad-2", "{p0}", "NOPE-999", "120.00", "EUR", "A project code nobody knows"),
    ("exp-bad-3", "{p1}", "{j1}", "", "EUR", "Receipt lost: no amount"),
]


def demo_payroll_seed(*, customer, today: date | None = None, seed: int = 11) -> bool:
    """Install hours-to-payroll and expenses-to-erp for the demo customer and run its expenses in, once."""
    if customer.slug != DEMO_CUSTOMER or Flow.objects.filter(slug="hours-to-payroll").exists():
        return False
    today = today or timezone.localdate()
    rng = random.Random(f"{customer.slug}-{seed}")
    # The demo's time export folder takes expense files too (expense*.csv); its people are the ERP's, by code.
    files = {"people_object": "people", "read_people": False}
    templates = templates_for_customer(customer)
    template_install(template=templates.get(slug="hours-to-payroll"), customer=customer, acting_user=None, variables={
        "time_connection": "time-export", "payroll_lock_date": (today - timedelta(days=60)).isoformat(), **files})
    template_install(template=templates.get(slug="expenses-to-erp"), customer=customer, acting_user=None, variables={
        "expense_connection": "time-export", "open_from": (today - timedelta(days=60)).isoformat(), **files})
    _drop_expenses(Connection.objects.get(slug="time-export"), today, rng)
    run = engine.flow_run_request(flow=Flow.objects.get(slug="expenses-in"), trigger=Trigger.MANUAL, enqueue=False,
                                  acting_user=None)
    while run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
        run = engine.run_execute(run_id=run.pk) or run
        run.refresh_from_db()
    return True


def _drop_expenses(connection: Connection, today: date, rng: random.Random) -> None:
    people = list(Person.objects.order_by("code").values_list("code", flat=True)[:6])
    projects = list(Project.objects.order_by("code").values_list("code", flat=True)[:5])
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "person", "project", "date", "amount", "currency", "category", "approval_status", "notes"])
    for n in range(24):
        category, note, low, high = CATEGORIES[n % len(CATEGORIES)]
        day = today - timedelta(days=2 + rng.randint(0, 26))
        writer.writerow([f"exp-{n + 1}", people[n % len(people)], projects[(n * 3) % len(projects)], day.isoformat(),
                         f"{rng.uniform(low, high):.2f}", "EUR", category,
                         "approved" if n % 6 else "submitted", note])
    names = {f"p{i}": p for i, p in enumerate(people)} | {f"j{i}": j for i, j in enumerate(projects)}
    for row_id, person, project, amount, currency, note in BAD_ROWS:
        writer.writerow([row_id, person.format(**names), project.format(**names),
                         (today - timedelta(days=4)).isoformat(), amount, currency, "Travel", "approved", note])
    inbox = connection_files_root(connection) / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / f"expenses-{today:%Y%m%d}.csv").write_text(buffer.getvalue())
