"""Resource plan from files, end to end: the accelerator installed for a customer, a resource tool's bookings
export (hours per week or total hours) dropped in the files connection's folder, the flow run, and the forward
view showing who is over- and under-booked; the export's bad rows are exceptions naming file and row."""

from __future__ import annotations

import os
import time
from datetime import date
from decimal import Decimal as D

import pytest

from apps.canonical.models import Assignment
from apps.connectors.models import Connection
from apps.connectors.services import connection_files_root, connection_update
from apps.exceptions.models import IntegrationException
from apps.reporting import selectors
from apps.reporting.filters import ReportFilters
from apps.runs.models import RunStatus
from tests.e2e.support import install, run_flow

pytestmark = pytest.mark.usefixtures("templates")

MONDAY = date(2026, 3, 2)
PEOPLE = ("Employee Code,Name,Department,Weekly Capacity\n"
          "ANN,Ann Lee,Data,40\n"
          "BOB,Bob Ray,Data,40\n")
CUSTOMERS = "Client Code,Client\nACME,Acme Ltd\n"
PROJECTS = "Project Code,Project,Client Code\nACME-1,Rollout,ACME\nACME-2,Support,ACME\n"
# Ann: 30 h a week on ACME-1 and 40 h over two weeks (20 a week) on ACME-2 = 50 h against 40: over-booked.
# Bob: 10 h a week against 40: under-booked. Then four rows the resource plan must not take.
BOOKINGS = ("Person Code,Project Code,Role,Start,End,Hours per week,Total Hours\n"
            "ANN,ACME-1,Lead,2026-03-02,2026-03-13,30,\n"
            "ANN,ACME-2,Advisor,2026-03-02,2026-03-13,,40\n"
            "BOB,ACME-1,Analyst,2026-03-02,2026-03-13,10,\n"
            "ZED,ACME-1,Analyst,2026-03-02,2026-03-13,10,\n"
            "BOB,NOPE-9,Analyst,2026-03-02,2026-03-13,10,\n"
            "BOB,ACME-2,Developer,2026-03-13,2026-03-02,8,\n"
            "ANN,ACME-2,Reviewer,2026-03-02,2026-03-06,-5,\n")


def drop(connection: Connection, name: str, text: str) -> None:
    inbox = connection_files_root(connection) / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / name).write_text(text)
    then = time.time() - 60  # written a minute ago: settled, read at once
    os.utime(inbox / name, (then, then))


@pytest.fixture
def files(in_alpha) -> Connection:
    install(in_alpha, "reference-data-from-files", files_connection="planning")
    install(in_alpha, "resource-plan-from-files", files_connection="planning")
    connection = Connection.objects.get(slug="planning")
    connection_update(connection=connection, changes={"is_enabled": True}, acting_user=None)
    for name, text, flow in (("people.csv", PEOPLE, "people-in"), ("customers.csv", CUSTOMERS, "customers-in"),
                             ("projects.csv", PROJECTS, "projects-in")):
        drop(connection, name, text)
        assert run_flow(flow).status == RunStatus.SUCCEEDED
    return connection


def test_bookings_file_feeds_the_resource_plan_and_bad_rows_are_exceptions(files):
    drop(files, "bookings-2026-03.csv", BOOKINGS)

    run = run_flow("bookings-in")

    assert {k: v for k, v in run.counts.items() if v} == {"created": 3, "failed": 4}
    hours = {(a.person.code, a.project.code): (a.planned_hours, a.extra.get("hours_per_week"))
             for a in Assignment.objects.select_related("person", "project")}
    assert hours == {("ANN", "ACME-1"): (D("60.00"), "30"), ("ANN", "ACME-2"): (D("40.00"), None),
                     ("BOB", "ACME-1"): (D("20.00"), "10")}  # 10 workdays: 30 h a week is 60 h in all

    table = selectors.resource_plan(filters=ReportFilters(start=MONDAY), weeks=2)
    rows = [(r["person"], r["week"], r["capacity_hours"], r["booked_hours"], r["status"]) for r in table.rows]
    assert rows == [("ANN", MONDAY, D("40.00"), D("50.00"), "over"), ("ANN", date(2026, 3, 9), D("40.00"),
                                                                       D("50.00"), "over"),
                    ("BOB", MONDAY, D("40.00"), D("10.00"), "under"), ("BOB", date(2026, 3, 9), D("40.00"),
                                                                        D("10.00"), "under")]
    assert table.summary["over_booked"] == ["ANN"] and table.summary["under_booked"] == ["BOB"]

    messages = list(IntegrationException.objects.filter(flow__slug="bookings-in").values_list("message", flat=True))
    text = "\n".join(messages)
    for expected in ("bookings-2026-03.csv row 5", "ZED", "bookings-2026-03.csv row 6", "NOPE-9",
                     "bookings-2026-03.csv row 7", "ends before it starts", "bookings-2026-03.csv row 8",
                     "Negative hours"):
        assert expected in text, (expected, messages)
