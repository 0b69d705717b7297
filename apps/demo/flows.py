"""Demo data for one customer: master data in the hub, the journal accelerator installed, and a week's
time export dropped and run through it — including a few deliberately bad rows that fail visibly."""

from __future__ import annotations

import csv
import io
import random
from datetime import date, timedelta

from django.utils import timezone

from apps.accelerators.selectors import templates_for_customer
from apps.accelerators.services import template_install
from apps.canonical.services import hub_upsert_all
from apps.common.objects import CanonicalInput, ObjectType, Ref
from apps.connectors.models import Connection
from apps.connectors.services import connection_create, connection_files_root
from apps.runs import engine
from apps.runs.models import Flow, RunStatus, Trigger

PRACTICES = ("Advisory", "Delivery", "Data & Analytics")
FIRST_NAMES = ("Ann", "Bob", "Chen", "Dara", "Eli", "Fay", "Gus", "Hana")
BAD_ROWS = [  # each fails for a reason a partner engineer would recognise
    ("bad-1", "{p0}", "NOPE-999", 0, "6", "approved", "Unknown project code"),
    ("bad-2", "{p1}", "NOPE-999", 1, "4", "approved", "Unknown project code again"),
    ("bad-3", "{p2}", "{j0}", 2, "eight", "approved", "Hours typed as words"),
    ("bad-4", "{p3}", "{j1}", 3, "14", "approved", "Over the daily limit"),
]


def demo_flows_seed(*, customer, today: date | None = None, seed: int = 7) -> bool:
    """Set up and run the demo flows once for ``customer`` (current schema); False if already done."""
    if Flow.objects.filter(slug="time-to-journal").exists():
        return False
    rng = random.Random(f"{customer.slug}-{seed}")
    today = today or timezone.localdate()
    masters = Connection.objects.filter(slug="erp-masters").first() or connection_create(
        name="ERP master data (demo)", slug="erp-masters", kind="csv", settings={"settle_seconds": 0}, acting_user=None)
    people, projects = _masters(masters, customer, rng, today)
    connection_create(name="Time export files", slug="time-export", kind="csv", settings={"settle_seconds": 0},
                      acting_user=None)
    connection_create(name="ERP journal export", slug="erp-journal", kind="csv", settings={"export_format": "csv"},
                      acting_user=None)
    template = templates_for_customer(customer).get(slug="approved-time-to-journal")
    template_install(template=template, variables={"open_from": (today - timedelta(days=60)).isoformat()},
                     customer=customer, acting_user=None)
    _drop_time_export(Connection.objects.get(slug="time-export"), people, projects, today, rng)
    run = engine.flow_run_request(flow=Flow.objects.get(slug="time-in"), trigger=Trigger.MANUAL, enqueue=False,
                                  acting_user=None)
    while run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
        run = engine.run_execute(run_id=run.pk) or run
        run.refresh_from_db()
    return True


def _masters(connection, customer, rng, today: date) -> tuple[list[str], list[str]]:
    prefix = customer.slug[:4].upper()
    clients = [(f"{prefix}-C{n}", name) for n, name in enumerate(("Harbor Bank", "Meridian Health", "Orbit Retail"))]
    hub_upsert_all(connection=connection, object_type=ObjectType.CUSTOMER, records=[
        CanonicalInput("customer", code, {"code": code, "name": name, "currency": "EUR"}) for code, name in clients])
    people = []
    for n, first in enumerate(FIRST_NAMES[:6]):
        code = f"{first.lower()}.{customer.slug}"
        people.append(code)
        hub_upsert_all(connection=connection, object_type=ObjectType.PERSON, records=[CanonicalInput(
            "person", code, {"code": code, "name": f"{first} {customer.name.split()[0]}", "practice": PRACTICES[n % 3],
                             "capacity_hours_per_week": "40", "cost_rate": str(55 + 5 * n), "cost_currency": "EUR",
                             "email": f"{code}@example.com"})])
    projects = []
    for n in range(5):
        code = f"{prefix}-{100 + n}"
        projects.append(code)
        hub_upsert_all(connection=connection, object_type=ObjectType.PROJECT, records=[CanonicalInput(
            "project", code, {"code": code, "name": ("ERP rollout", "Data platform", "Finance transformation",
                                                     "Cloud migration", "PMO support")[n],
                              "billing_type": "fixed" if n == 2 else "tm", "currency": "EUR",
                              "default_bill_rate": str(140 + 10 * n), "budget_hours": str(400 + 100 * n),
                              "budget_amount": str((400 + 100 * n) * (140 + 10 * n))},
            refs={"customer": Ref.code(clients[n % 3][0])})])
    hub_upsert_all(connection=connection, object_type=ObjectType.ASSIGNMENT, records=[
        CanonicalInput("assignment", f"{person}:{projects[i % 5]}", {"role": "Consultant",
                       "planned_hours": str(rng.choice((60, 80, 120))),  # spread over the dates: weekly plans
                       "start_date": (today - timedelta(days=56)).isoformat(),
                       "end_date": (today + timedelta(days=28)).isoformat()},
                       refs={"person": Ref.code(person), "project": Ref.code(projects[i % 5])})
        for i, person in enumerate(people)])
    return people, projects


def bad_row_day(today: date, offset: int) -> date:
    """The working day a bad row is booked on: ``5 + offset`` days back, or the Friday before if that is a weekend.

    On a working day the person has other time the demo bills this month, so the over-the-limit row fails that
    day's time too and the invoice billing it shows as blocked, whatever day of the week the demo is built.
    """
    day = today - timedelta(days=5 + offset)
    return day - timedelta(days=max(0, day.weekday() - 4))


def _drop_time_export(connection, people, projects, today: date, rng) -> None:
    """Four weeks of time for every person, most of it approved, plus the bad rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "person", "project", "date", "hours", "billable", "approval_status", "approved_at",
                     "notes"])
    day = today - timedelta(days=28)
    n = 0
    while day < today:
        if day.weekday() < 5:
            for i, person in enumerate(people):
                n += 1
                project = projects[(i + day.day) % len(projects)]
                approved = day < today - timedelta(days=3) or rng.random() < 0.3
                # Approved within the hour before the export: the demo's latencies look like a live feed's.
                approved_at = timezone.now() - timedelta(seconds=rng.randint(20, 3600))
                writer.writerow([f"te-{n}", person, project, day.isoformat(), rng.choice(("6", "7.5", "8", "8.5")),
                                 "true" if i % 5 else "false", "approved" if approved else "submitted",
                                 approved_at.isoformat() if approved else "", "Client work"])
        day += timedelta(days=1)
    names = {f"p{i}": p for i, p in enumerate(people)} | {f"j{i}": j for i, j in enumerate(projects)}
    for row_id, person, project, offset, hours, status, note in BAD_ROWS:
        writer.writerow([row_id, person.format(**names), project.format(**names),
                         bad_row_day(today, offset).isoformat(), hours, "true", status, timezone.now().isoformat(),
                         note])
    inbox = connection_files_root(connection) / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / f"time-{today:%Y%m%d}.csv").write_text(buffer.getvalue())
