"""A firm's quarter, generated: the spreadsheets a firm keeps and its time tool's detailed export, bad rows included.

Knows nothing of Weft: it writes CSV text as a firm would hand it over, and keeps every row it wrote so the
figures audit (test_figures_audit.py) can compute each figure from them by plain arithmetic. A seed makes it
the same quarter every time.

The firm: 40 people in three practices, 6 clients (one of them, Umbrella, is billed in pounds), 12 projects,
an assignment or two per person, and 13 weeks of time from Monday 29 June to Sunday 27 September 2026, so
weeks and files cross the June/July, July/August and August/September month ends. The time tool exports
Harvest's detailed time report (no id column) plus the approval time and an entry type, in three files cut at
whole weeks: weeks 1–5, 6–9 and 10–13. Hours come in quarter hours and rates in whole units, so every amount
is exact to the cent without rounding.

The bad rows real exports carry, each on its own rows (``ExportRow.flaw`` says which):
negative hours not marked as a correction, more than 24 h in one entry, exact duplicates in one file and rows
of the last week of a file exported again at the top of the next one, an unknown project code, an unknown
person, dates that are not real dates. And rows that are fine but easy to count wrong: ``Billable?`` = No,
a rate of their own (or none: the project's default applies), unapproved time, pounds, corrections (negative
hours marked ``Correction``).
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

SEED = 20261205
FIRST_MONDAY = date(2026, 6, 29)
WEEKS = 13
FILES = {"time-2026-q3-part1.csv": (1, 5), "time-2026-q3-part2.csv": (6, 9), "time-2026-q3-part3.csv": (10, 13)}

EXPORT_HEADER = ("Date", "Client", "Project", "Project Code", "Task", "Notes", "Hours", "Hours Rounded", "Billable?",
                 "Invoiced?", "Approved?", "First Name", "Last Name", "Employee?", "Roles", "Billable Rate",
                 "Billable Amount", "Cost Rate", "Cost Amount", "Currency", "External Reference URL", "Approved At",
                 "Entry Type")

# What is wrong with a row (the generator's answer key; the audit derives the same from each row's content).
GOOD = ""
NEGATIVE = "negative hours"
OVER_24 = "over 24 hours"
DUPLICATE = "duplicate in one file"
DUPLICATE_EARLIER_FILE = "duplicate of an earlier file"
UNKNOWN_PROJECT = "unknown project"
UNKNOWN_PERSON = "unknown person"
BAD_DATE = "not a real date"
CORRECTION = "correction"  # not bad: negative hours its source marks as a correction
FLAWS = (NEGATIVE, OVER_24, DUPLICATE, DUPLICATE_EARLIER_FILE, UNKNOWN_PROJECT, UNKNOWN_PERSON, BAD_DATE)

FIRST_NAMES = ("Ann", "Bob", "Cy", "Dee", "Eli", "Fay", "Gus", "Hal", "Ida", "Jo", "Kai", "Lu", "Mo", "Ned", "Oz",
               "Pia", "Quin", "Rae", "Sol", "Tia")
LAST_NAMES = ("Lee", "Ray", "Ng", "Fox", "Kim", "Orr", "Poe", "Roy", "Sax", "Tam")
PRACTICES = (("Consulting", 15), ("Engineering", 15), ("Design", 10))
TASKS = ("Workshop", "Analysis", "Build", "Review", "Design", "Meeting", "Testing", "Documentation")
CLIENTS = (("ACME", "Acme Ltd", "EUR"), ("GLOBEX", "Globex GmbH", "EUR"), ("INITECH", "Initech BV", "EUR"),
           ("UMBRELLA", "Umbrella plc", "GBP"), ("HOOLI", "Hooli SA", "EUR"), ("STARK", "Stark Industries", "EUR"))
NOT_DATES = ("2026-06-31", "2026-09-31", "2026-02-30", "2026-13-01", "31/07/2026")  # no such day, or not ISO
CURRENCY_NAMES = {"EUR": "Euro - EUR", "GBP": "British Pound - GBP"}


@dataclass(frozen=True)
class Person:
    code: str
    first_name: str
    last_name: str
    practice: str
    capacity: Decimal  # hours a week
    cost_rate: Decimal  # EUR an hour

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}"


@dataclass(frozen=True)
class Client:
    code: str
    name: str
    currency: str


@dataclass(frozen=True)
class Project:
    code: str
    name: str
    client: Client
    default_rate: Decimal

    @property
    def currency(self) -> str:
        return self.client.currency


@dataclass(frozen=True)
class Assignment:
    person: Person
    project: Project
    role: str
    start: date
    end: date
    planned_hours: Decimal


@dataclass
class ExportRow:
    """One line of the time tool's export, as written (every cell text), and where it is."""

    file: str
    number: int  # the row's place in its file, the header being row 1 (as Weft names rows: "<file> row <n>")
    cells: dict[str, str]
    flaw: str = GOOD

    def cell(self, header: str) -> str:
        return self.cells[header]

    @property
    def place(self) -> str:
        return f"{self.file} row {self.number}"


@dataclass
class Quarter:
    people: list[Person]
    clients: list[Client]
    projects: list[Project]
    assignments: list[Assignment]
    rows: list[ExportRow] = field(default_factory=list)

    def files(self) -> dict[str, str]:
        """Every file the firm hands over, by name, in the order they are loaded."""
        return {"people.csv": self._people_csv(), "clients.csv": self._clients_csv(),
                "projects.csv": self._projects_csv(), "assignments.csv": self._assignments_csv(),
                **{name: self._export_csv(name) for name in FILES}}

    def _people_csv(self) -> str:
        return _csv(("Employee Code", "First Name", "Last Name", "Email", "Department", "Weekly Capacity",
                     "Cost Rate", "Currency"),
                    [(p.code, p.first_name, p.last_name, f"{p.code.lower()}@firm.example", p.practice, p.capacity,
                      p.cost_rate, "EUR") for p in self.people])

    def _clients_csv(self) -> str:
        return _csv(("Client Code", "Client", "Currency", "Active"),
                    [(c.code, c.name, c.currency, "yes") for c in self.clients])

    def _projects_csv(self) -> str:
        return _csv(("Project Code", "Project", "Client Code", "Status", "Billing", "Currency", "Hourly Rate"),
                    [(p.code, p.name, p.client.code, "Active", "Time and Materials", p.currency, p.default_rate)
                     for p in self.projects])

    def _assignments_csv(self) -> str:
        return _csv(("Employee Code", "Project Code", "Role", "Start", "End", "Planned Hours"),
                    [(a.person.code, a.project.code, a.role, a.start, a.end, a.planned_hours)
                     for a in self.assignments])

    def _export_csv(self, name: str) -> str:
        return _csv(EXPORT_HEADER, [[row.cells[h] for h in EXPORT_HEADER] for row in self.rows if row.file == name])


def _csv(header, rows) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[str(v) for v in row] for row in rows])
    return out.getvalue()


# --- the firm ----------------------------------------------------------------------------------------------
def generate(seed: int = SEED, people: int = 40) -> Quarter:
    rng = random.Random(seed)
    staff = _people(rng, people)
    clients = [Client(*c) for c in CLIENTS]
    projects = [Project(f"{client.code[:4]}-{n:03d}", f"{client.name.split()[0]} {topic}", client,
                        Decimal(rng.choice((95, 110, 120, 135, 150, 180))))
                for n, (client, topic) in enumerate(
                    [(c, t) for c in clients for t in ("Relaunch", "Data platform")], start=1)]
    assignments = _assignments(rng, staff, projects)
    quarter = Quarter(staff, clients, projects, assignments)
    _write_export(rng, quarter)
    return quarter


def _people(rng: random.Random, count: int) -> list[Person]:
    names = [(f, last) for last in LAST_NAMES for f in FIRST_NAMES]
    rng.shuffle(names)
    practices = [p for p, n in PRACTICES for _ in range(n)]
    return [Person(f"E-{i:03d}", *names[i - 1], practices[(i - 1) % len(practices)],
                   Decimal(rng.choice((40, 40, 40, 32))), Decimal(rng.choice((45, 55, 60, 70, 85))))
            for i in range(1, count + 1)]


def _assignments(rng: random.Random, people: list[Person], projects: list[Project]) -> list[Assignment]:
    last_day = FIRST_MONDAY + timedelta(weeks=WEEKS, days=-1)
    assignments = []
    for person in people:
        for project in rng.sample(projects, rng.choice((1, 2))):
            start = FIRST_MONDAY + timedelta(days=rng.choice((0, 2, 14, 30)))  # some start mid-week
            end = last_day - timedelta(days=rng.choice((0, 4, 20)))
            assignments.append(Assignment(person, project, rng.choice(("Lead", "Consultant", "Engineer")), start, end,
                                          Decimal(rng.choice((120, 200, 260, 300)))))
    return assignments


# --- the export --------------------------------------------------------------------------------------------
def _file_of(day: date) -> str:
    week = (day - FIRST_MONDAY).days // 7 + 1
    return next(name for name, (first, last) in FILES.items() if first <= week <= last)


def _write_export(rng: random.Random, quarter: Quarter) -> None:
    by_file: dict[str, list[tuple[dict, str]]] = {name: [] for name in FILES}
    projects_of = {}
    for a in quarter.assignments:
        projects_of.setdefault(a.person, []).append(a.project)
    for week in range(WEEKS):
        for weekday in range(5):
            day = FIRST_MONDAY + timedelta(weeks=week, days=weekday)
            for person in quarter.people:
                for project in _day_projects(rng, projects_of[person], quarter.projects):
                    by_file[_file_of(day)].append((_good_cells(rng, day, person, project), GOOD))
    _add_bad_rows(rng, quarter, by_file)
    for name, rows in by_file.items():
        quarter.rows += [ExportRow(name, number, cells, flaw) for number, (cells, flaw) in enumerate(rows, start=2)]


def _day_projects(rng: random.Random, assigned: list[Project], everything: list[Project]) -> list[Project]:
    if rng.random() < 0.08:
        return []  # a day off
    picks = [rng.choice(assigned)]
    if rng.random() < 0.3:
        picks.append(rng.choice(everything))  # helping out on another project, with no assignment for it
    return picks


def _good_cells(rng: random.Random, day: date, person: Person, project: Project) -> dict[str, str]:
    hours = Decimal(rng.randint(4, 32)) / 4  # 1 to 8 h, quarter hours
    billable = rng.random() >= 0.1
    approved = rng.random() < 0.85
    own_rate = rng.random() < 0.7  # the rest carry no rate: the project's default applies
    bill_rate = project.default_rate + rng.choice((0, 0, 10, -5)) if own_rate else None
    own_cost = rng.random() < 0.8  # the rest: the person's cost rate applies
    approved_day = day + timedelta(days=rng.randint(1, 6))
    approved_at = f"{approved_day}T{rng.randint(8, 18):02d}:{rng.choice((0, 15, 30)):02d}:00Z"
    return {
        "Date": day.isoformat(), "Client": project.client.name, "Project": project.name,
        "Project Code": project.code, "Task": rng.choice(TASKS),
        "Notes": f"{rng.choice(TASKS).lower()} {rng.randint(1, 999)}",
        "Hours": str(hours), "Hours Rounded": str(hours), "Billable?": "Yes" if billable else "No", "Invoiced?": "No",
        "Approved?": "Yes" if approved else "No", "First Name": person.first_name, "Last Name": person.last_name,
        "Employee?": "Yes", "Roles": "", "Billable Rate": str(bill_rate) if bill_rate is not None else "",
        "Billable Amount": str(hours * bill_rate) if billable and bill_rate is not None else "0",
        "Cost Rate": str(person.cost_rate) if own_cost else "",
        "Cost Amount": str(hours * person.cost_rate) if own_cost else "",
        "Currency": CURRENCY_NAMES[project.currency], "External Reference URL": "",
        "Approved At": approved_at if approved else "", "Entry Type": "Normal",
    }


def _add_bad_rows(rng: random.Random, quarter: Quarter, by_file: dict[str, list[tuple[dict, str]]]) -> None:
    """A few of each kind in every file, at random places; each bad row has exactly one thing wrong with it."""
    names = list(FILES)
    for index, name in enumerate(names):
        rows = by_file[name]
        extra = []
        for _ in range(3):
            extra.append((_variant(rng, rows, {"Hours": str(-Decimal(rng.randint(1, 16)) / 4)}), NEGATIVE))
            extra.append((_variant(rng, rows, {"Hours": rng.choice(("24.25", "25", "36", "80"))}), OVER_24))
            extra.append((_variant(rng, rows, {"Project Code": f"ZZ-{rng.randint(100, 999)}",
                                               "Project": "A project nobody set up"}), UNKNOWN_PROJECT))
            extra.append((_variant(rng, rows, {"First Name": "Zed", "Last Name": f"Unknown{rng.randint(1, 99)}"}),
                          UNKNOWN_PERSON))
            extra.append((_variant(rng, rows, {"Date": rng.choice(NOT_DATES)}),
                          BAD_DATE))
            extra.append((_variant(rng, rows, {"Hours": str(-Decimal(rng.randint(1, 8)) / 4),
                                               "Entry Type": "Correction"}), CORRECTION))
        for cells, flaw in extra:
            rows.insert(rng.randint(len(rows) // 2, len(rows)), (cells, flaw))
        for _ in range(3):  # exported twice by the tool: the copy somewhere after its original
            original = rng.randrange(len(rows) // 2)
            rows.insert(rng.randint(original + 1, len(rows)), (dict(rows[original][0]), DUPLICATE))
        if index:  # the top of the next file repeats rows of the previous file's last week
            previous = [cells for cells, flaw in by_file[names[index - 1]] if flaw in (GOOD, CORRECTION)]
            for cells in rng.sample(previous[-200:], 4):
                rows.insert(rng.randint(0, 20), (dict(cells), DUPLICATE_EARLIER_FILE))


def _variant(rng: random.Random, rows: list[tuple[dict, str]], changes: dict[str, str]) -> dict[str, str]:
    """A good row of the file with ``changes``, told apart from any other row by its notes."""
    cells = dict(rng.choice([cells for cells, flaw in rows if flaw == GOOD]))
    cells.update(changes, Notes=f"{cells['Notes']} (#{rng.randint(1000, 9999)})")
    if "Hours" in changes:
        cells["Hours Rounded"] = changes["Hours"]
        rate = cells["Billable Rate"]
        cells["Billable Amount"] = str(Decimal(changes["Hours"]) * Decimal(rate)) if rate and cells[
            "Billable?"] == "Yes" else "0"
        cells["Cost Amount"] = (str(Decimal(changes["Hours"]) * Decimal(cells["Cost Rate"])) if cells["Cost Rate"]
                                else "")
    return cells
