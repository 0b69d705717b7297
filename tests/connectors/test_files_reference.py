"""Files for everything a firm keeps in spreadsheets: people, clients, projects, assignments and rate cards by
CSV, and a vendor's detailed time export read as it comes (no id column, the vendor's column names, colliding
columns resolved by the stated rule)."""

from __future__ import annotations

import os
import time
from decimal import Decimal

import pytest

from apps.canonical.models import Assignment, Customer, Person, Project, RateCard, TimeEntry
from apps.connectors.services import connection_create, connection_files_root
from apps.runs.models import ItemOutcome
from apps.runs.services import pull_run

PEOPLE = ("Employee Code,First Name,Last Name,Email,Department,Weekly Capacity,Employee?,Cost Rate,Currency\n"
          "E-001,Ann,Lee,ann@firm.example,Consulting,40,Yes,55,EUR\n"
          "E-002,Bob,Ray,bob@firm.example,Engineering,32,No,70,EUR\n"
          "E-003,Cy,Ng,cy@firm.example,Engineering,40,Yes,60,EUR\n")
CLIENTS = ("Client Code,Client,Currency,Payment Terms,VAT Number,Active\n"
           "ACME,Acme Ltd,EUR,30 days,DE123,yes\n"
           "GLOBEX,Globex GmbH,Euro (EUR),14 days,,yes\n")
RATE_CARDS = ("Rate Card,Name,Role,Currency,Rate,Cost,Valid From\n"
              "STD-2026,Standard 2026,Consultant,EUR,120,60,2026-01-01\n")
PROJECTS = ("Project Code,Project,Client Code,Project Manager,Status,Billing,Starts On,Budget,Budget Hours,Currency,"
            "Rate Card,Hourly Rate\n"
            "ACME-042,Relaunch,ACME,E-001,Active,Time and Materials,2026-10-01,50000,400,EUR,STD-2026,120\n"
            "GLX-7,Audit,GLOBEX,,On Hold,Fixed Fee,2026-11-01,12000,,EUR,,\n")
ASSIGNMENTS = ("Email,Project Code,Role,Start,End,Planned Hours,Bill Rate\n"
               "ann@firm.example,ACME-042,Lead,2026-10-01,2026-12-31,300,130\n"
               "bob@firm.example,ACME-042,Engineer,2026-10-01,,200,\n")
HARVEST = ("Date,Client,Project,Project Code,Task,Notes,Hours,Hours Rounded,Billable?,Invoiced?,Approved?,"
           "First Name,Last Name,Employee?,Roles,Billable Rate,Billable Amount,Cost Rate,Cost Amount,Currency,"
           "External Reference URL\n")


def put(root, name: str, text: str) -> None:
    inbox = root / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / name).write_text(text)
    then = time.time() - 60
    os.utime(inbox / name, (then, then))


@pytest.fixture
def drop_folder(in_alpha):
    connection = connection_create(name="Spreadsheets", kind="csv", acting_user=None)
    return connection, connection_files_root(connection)


def _counts(run) -> dict[str, int]:
    return {outcome: count for outcome, count in run.counts.items() if count}


def _failures(run) -> dict[str, str]:
    return dict(run.items.filter(outcome=ItemOutcome.FAILED).values_list("external_id", "error_message"))


def _load_reference(connection, root) -> dict[str, dict]:
    for name, text in [("people.csv", PEOPLE), ("clients.csv", CLIENTS), ("rate_cards.csv", RATE_CARDS),
                       ("projects.csv", PROJECTS), ("assignments.csv", ASSIGNMENTS)]:
        put(root, name, text)
    runs = {}
    for object_name in ("people", "customers", "rate_cards", "projects", "assignments"):
        run = pull_run(connection=connection, object_name=object_name)
        runs[object_name] = {"counts": _counts(run), "failures": _failures(run)}
    return runs


def test_people_clients_rate_cards_projects_and_assignments_load_from_files(drop_folder):
    connection, root = drop_folder

    runs = _load_reference(connection, root)

    assert {name: run["counts"] for name, run in runs.items()} == {
        "people": {"created": 3}, "customers": {"created": 2}, "rate_cards": {"created": 1},
        "projects": {"created": 2}, "assignments": {"created": 2}}
    ann = Person.objects.get(code="E-001")
    assert (ann.name, ann.email, ann.practice, ann.capacity_hours_per_week) == ("Ann Lee", "ann@firm.example",
                                                                                 "Consulting", Decimal("40.00"))
    assert ann.cost_rate == Decimal("55.00") and ann.cost_currency == "EUR" and ann.employment == "employee"
    assert Person.objects.get(code="E-002").employment == "contractor"
    globex = Customer.objects.get(code="GLOBEX")
    assert globex.name == "Globex GmbH" and globex.currency == "EUR" and globex.payment_terms == "14 days"
    card = RateCard.objects.get()
    assert (card.code, card.bill_rate, card.cost_rate, str(card.effective_from)) == ("STD-2026", Decimal("120.00"),
                                                                                     Decimal("60.00"), "2026-01-01")
    relaunch = Project.objects.get(code="ACME-042")
    assert (relaunch.name, relaunch.customer.code, relaunch.manager, relaunch.rate_card) == ("Relaunch", "ACME", ann,
                                                                                              card)
    assert (relaunch.billing_type, relaunch.status, relaunch.budget_hours) == ("tm", "active", Decimal("400.00"))
    audit = Project.objects.get(code="GLX-7")
    assert (audit.billing_type, audit.status, audit.manager) == ("fixed", "on_hold", None)
    lead = Assignment.objects.get(person=ann)
    assert (lead.project, lead.role, lead.planned_hours, lead.bill_rate_override) == (relaunch, "Lead",
                                                                                      Decimal("300.00"),
                                                                                      Decimal("130.00"))


def test_a_later_people_file_updates_who_is_there_and_adds_no_duplicates(drop_folder):
    connection, root = drop_folder
    _load_reference(connection, root)
    put(root, "people-december.csv", PEOPLE.replace("Engineering,32", "Engineering,24")
        + "E-004,Dee,Fox,dee@firm.example,Consulting,40,Yes,50,EUR\n")

    run = pull_run(connection=connection, object_name="people")

    assert _counts(run) == {"unchanged": 2, "updated": 1, "created": 1}
    assert Person.objects.get(code="E-002").capacity_hours_per_week == Decimal("24.00")
    assert Person.objects.count() == 4


def test_a_harvest_detailed_time_report_is_read_as_it_comes(drop_folder):
    connection, root = drop_folder
    _load_reference(connection, root)
    put(root, "time-harvest-2026-11.csv", HARVEST
        + "2026-11-02,Acme Ltd,Relaunch,ACME-042,Design,Kick-off,7.5,7.5,Yes,No,Yes,Ann,Lee,Yes,Lead,130,975,55,"
          "412.5,US Dollar - USD,\n"
        + "2026-11-02,Acme Ltd,Relaunch,ACME-042,Build,,3,3,No,No,No,Bob,Ray,No,Engineer,0,0,70,210,"
          "US Dollar - USD,\n"
        + "2026-11-03,Globex GmbH,Audit,,Review,no code on this project,2,2,Yes,No,Yes,Cy,Ng,Yes,,100,200,60,120,"
          "US Dollar - USD,\n"
        + "2026-11-02,Acme Ltd,Relaunch,ACME-042,Design,Kick-off,7.5,7.5,Yes,No,Yes,Ann,Lee,Yes,Lead,130,975,55,"
          "412.5,US Dollar - USD,\n"
        + "2026-11-04,Acme Ltd,Relaunch,ACME-042,Design,,1,1,Yes,No,Yes,Zed,Unknown,Yes,,130,130,55,55,"
          "US Dollar - USD,\n")

    run = pull_run(connection=connection, object_name="time_entries")

    assert _counts(run) == {"created": 3, "failed": 2}, _failures(run)
    kick_off = TimeEntry.objects.get(notes="Kick-off")
    assert (kick_off.person.code, kick_off.project.code, kick_off.hours, kick_off.task) == (
        "E-001", "ACME-042", Decimal("7.50"), "Design")
    assert (kick_off.billable, kick_off.approval_status, kick_off.bill_rate, kick_off.cost_rate,
            kick_off.currency) == (True, "approved", Decimal("130.00"), Decimal("55.00"), "USD")
    build = TimeEntry.objects.get(task="Build")
    assert (build.person.code, build.billable, build.approval_status) == ("E-002", False, "submitted")
    assert TimeEntry.objects.get(task="Review").project.code == "GLX-7"  # no code: found by the Project column
    failures = _failures(run)
    assert "already on row 2" in failures["time-harvest-2026-11.csv row 5"]
    unknown = next(message for key, message in failures.items() if "row 6" in message)
    assert "no person named Zed Unknown is known yet" in unknown


def test_a_name_two_people_share_is_refused_with_the_way_out(drop_folder):
    connection, root = drop_folder
    _load_reference(connection, root)
    put(root, "people-more.csv", "Employee Code,Name\nE-009,Ann Lee\n")
    pull_run(connection=connection, object_name="people")
    put(root, "time.csv", HARVEST + "2026-11-02,Acme Ltd,Relaunch,ACME-042,Design,,1,1,Yes,No,Yes,Ann,Lee,Yes,,,,,,"
                                    "EUR,\n")

    run = pull_run(connection=connection, object_name="time_entries")

    [message] = _failures(run).values()
    assert "more than one person has the name Ann Lee; name it by its code" in message


def test_two_code_columns_for_one_field_are_still_refused_by_name(drop_folder):
    connection, root = drop_folder
    put(root, "time.csv", "Employee Code,Project Code,Job Code,Date,Hours\nE-001,ACME-042,ACME-042,2026-11-02,1\n")

    run = pull_run(connection=connection, object_name="time_entries")

    [message] = _failures(run).values()
    assert "Columns 'Project Code' and 'Job Code' both give project" in message
