"""Demo resource plan for one customer (Initech): the resource-plan-from-files accelerator installed on the demo's
time export folder and the resource tool's bookings export for the next eight weeks run in, so the portal's
resource plan shows people over-booked (a second project on top of their current one), some under-booked, and
two bad rows as exceptions (a person nobody knows, a booking that ends before it starts)."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

from django.utils import timezone

from apps.accelerators.selectors import templates_for_customer
from apps.accelerators.services import template_install
from apps.canonical.models import Person, Project
from apps.connectors.models import Connection
from apps.connectors.services import connection_files_root
from apps.runs import engine
from apps.runs.models import Flow, RunStatus, Trigger

DEMO_CUSTOMER = "initech"
WEEKS = 8
# (person index, project index, role, hours per week or "", total hours or "", weeks from this week, weeks long)
BOOKINGS = [(0, 1, "Architect", 36, "", 0, 8), (1, 2, "Lead consultant", 32, "", 0, 6),
            (1, 3, "Reviewer", "", 40, 2, 4), (2, 0, "Analyst", 12, "", 0, 8), (3, 4, "PMO", 24, "", 1, 5),
            (4, 1, "Data engineer", "", 160, 0, 8)]


def demo_resource_plan_seed(*, customer, today: date | None = None) -> bool:
    """Install resource-plan-from-files for the demo customer and run its bookings in, once."""
    if customer.slug != DEMO_CUSTOMER or Flow.objects.filter(slug="bookings-in").exists():
        return False
    connection = Connection.objects.filter(slug="time-export").first()
    if connection is None:  # the demo flows make it; without them there is nothing to plan
        return False
    today = today or timezone.localdate()
    template_install(template=templates_for_customer(customer).get(slug="resource-plan-from-files"),
                     customer=customer, acting_user=None, variables={"files_connection": "time-export"})
    _drop_bookings(connection, today)
    run = engine.flow_run_request(flow=Flow.objects.get(slug="bookings-in"), trigger=Trigger.MANUAL, enqueue=False,
                                  acting_user=None)
    while run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
        run = engine.run_execute(run_id=run.pk) or run
        run.refresh_from_db()
    return True


def _drop_bookings(connection: Connection, today: date) -> None:
    people = list(Person.objects.filter(is_active=True).order_by("code").values_list("code", flat=True)[:6])
    projects = list(Project.objects.order_by("code").values_list("code", flat=True)[:5])
    monday = today - timedelta(days=today.weekday())
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["Person Code", "Project Code", "Role", "Start", "End", "Hours per week", "Total Hours"])
    for person, project, role, weekly, total, offset, weeks in BOOKINGS:
        if person < len(people) and project < len(projects):
            start = monday + timedelta(weeks=offset)
            end = start + timedelta(weeks=weeks, days=-3)  # the Friday of its last week
            writer.writerow([people[person], projects[project], role, start, end, weekly, total])
    end = monday + timedelta(weeks=WEEKS, days=-3)
    writer.writerow(["nobody.initech", projects[0], "Consultant", monday, end, 20, ""])  # unknown person
    writer.writerow([people[0], projects[2], "Advisor", end, monday, 8, ""])  # ends before it starts
    inbox = connection_files_root(connection) / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / f"bookings-{today:%Y%m%d}.csv").write_text(buffer.getvalue())
