"""The figures audit: a generated firm's quarter goes in the way a customer's would, and every figure Weft shows
must equal the same figure worked out by plain Python over the generated rows, to the cent and the hour.

How the quarter goes in (as a customer would do it): the firm's spreadsheets (people, clients, projects,
assignments) and its time tool's detailed export in three files (tests/reporting/firm_quarter.py) are dropped
in a CSV connection's real folder. Reference data is pulled; the time export is read by an inbound flow, file by
file; the journal flow (the ERP's import file) posts approved time once, after the second file; the third file
is read after that, so its time is still waiting to be posted; then the daily reconciliation check runs over the
quarter and raises the journal's missing weeks. Weft refreshes its stored figures after every run, as it does in
production. Weft's figures are then read from the reports API, as the portal shows them.

The specification (``Spec`` below) never asks Weft anything: it reads the rows the generator wrote and applies
the rules of issue 12 and docs/data-quality.md, written out for a finance lead to check.
"""

from __future__ import annotations

import copy
import dataclasses
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone
from django_tenants.utils import schema_context

from tests.reporting.firm_quarter import (
    BAD_DATE,
    CORRECTION,
    CURRENCY_NAMES,
    DUPLICATE,
    DUPLICATE_EARLIER_FILE,
    EXPORT_HEADER,
    FILES,
    FIRST_MONDAY,
    FLAWS,
    NEGATIVE,
    OVER_24,
    UNKNOWN_PERSON,
    UNKNOWN_PROJECT,
    WEEKS,
    ExportRow,
    Quarter,
    generate,
)

ZERO = Decimal(0)
CURRENCY_CODES = {name: code for code, name in CURRENCY_NAMES.items()}  # "Euro - EUR" -> "EUR"
QUARTER_START, QUARTER_END = FIRST_MONDAY, FIRST_MONDAY + timedelta(weeks=WEEKS, days=-1)
AS_OF = date(2026, 10, 5)  # the Monday after the last approval: ages of unposted time are counted to here
POSTED_FILES = tuple(FILES)[:2]  # the journal flow ran after the second file, before the third came
WINDOW = {"start": QUARTER_START.isoformat(), "end": QUARTER_END.isoformat(), "as_of": AS_OF.isoformat()}


# === The specification: each figure from the generated rows alone ==========================================
@dataclass(frozen=True)
class Entry:
    """A row that must land in the hub, read the way the firm means it."""

    row: ExportRow
    day: date
    person: str  # code
    practice: str
    project: str  # code
    currency: str  # the project's (the row's Currency says the same)
    hours: Decimal
    billable: bool
    approved: bool
    approved_day: date | None  # the UTC day of the approval
    bill_rate: Decimal  # the row's own, else the project's default
    cost_rate: Decimal  # the row's own, else the person's
    posted: bool  # in the journal: approved, and in the hub when the journal flow ran

    @property
    def value(self) -> Decimal:
        """What the entry bills: billable hours × its rate."""
        return self.hours * self.bill_rate if self.billable else ZERO


class Spec:
    """The door and every figure, from the firm's rows and its reference data. Plain Python, nothing of Weft."""

    def __init__(self, quarter: Quarter, posted_files: tuple[str, ...] = POSTED_FILES):
        self.quarter = quarter
        self.posted_files = posted_files  # the files whose approved time the journal flow has posted
        self.people = {p.name: p for p in quarter.people}
        self.projects = {p.code: p for p in quarter.projects}
        self.entries: list[Entry] = []
        self.refused: dict[str, str] = {}  # "<file> row <n>" -> exception kind
        seen: set[tuple] = set()
        for row in quarter.rows:
            kind = self._refusal(row, seen)
            if kind:
                self.refused[row.place] = kind
            else:
                self.entries.append(self._entry(row))

    # --- the door ---------------------------------------------------------------------------------------
    def _refusal(self, row: ExportRow, seen: set[tuple]) -> str:
        """The exception kind a row becomes, or "" when it lands. One rule per line, in the door's order:"""
        content = tuple(row.cell(h) for h in EXPORT_HEADER)
        if content in seen:
            return "duplicate"  # every column alike an earlier row, in this file or an earlier one
        seen.add(content)
        try:
            date.fromisoformat(row.cell("Date"))
        except ValueError:
            return "validation"  # not a real date
        hours = Decimal(row.cell("Hours"))
        if hours > 24 or hours == 0 or (hours < 0 and row.cell("Entry Type") != "Correction"):
            return "validation"  # hours must be in (0, 24]; negative only on a marked correction
        if f"{row.cell('First Name')} {row.cell('Last Name')}" not in self.people:
            return "missing_reference"  # a person nobody set up
        if row.cell("Project Code") not in self.projects:
            return "missing_reference"  # a project nobody set up
        return ""

    def _entry(self, row: ExportRow) -> Entry:
        person = self.people[f"{row.cell('First Name')} {row.cell('Last Name')}"]
        project = self.projects[row.cell("Project Code")]
        approved_at = row.cell("Approved At")
        approved = row.cell("Approved?") == "Yes"
        return Entry(
            row=row, day=date.fromisoformat(row.cell("Date")), person=person.code, practice=person.practice,
            project=project.code, currency=project.currency, hours=Decimal(row.cell("Hours")),
            billable=row.cell("Billable?") == "Yes", approved=approved,
            approved_day=datetime.fromisoformat(approved_at).astimezone(UTC).date() if approved_at else None,
            bill_rate=Decimal(row.cell("Billable Rate") or project.default_rate),
            cost_rate=Decimal(row.cell("Cost Rate") or person.cost_rate),
            posted=approved and row.file in self.posted_files,
        )

    def only(self, keep) -> Spec:
        """The same firm with only the entries ``keep`` says yes to (a filter on a figure)."""
        narrowed = copy.copy(self)
        narrowed.entries = [e for e in self.entries if keep(e)]
        narrowed.quarter = copy.copy(self.quarter)
        narrowed.quarter.assignments = [a for a in self.quarter.assignments if keep(a)]
        return narrowed

    def refused_by_kind(self) -> dict[str, int]:
        return dict(Counter(self.refused.values()))

    def records_by_kind(self) -> dict[str, int]:
        """Records failing, per exception kind: every refused row, and every project-week the journal lacks."""
        gaps = len(self.reconciliation_gaps())
        return {**self.refused_by_kind(), **({"reconciliation": gaps} if gaps else {})}

    def refused_rows(self) -> list[ExportRow]:
        return [row for row in self.quarter.rows if row.place in self.refused]

    # --- unposted approved time ---------------------------------------------------------------------------
    def unposted(self, as_of: date = AS_OF, until: date | None = None) -> dict:
        """Approved entries not yet posted (worked by ``until``, if given), by project and age since approval
        (or, without an approval time, since the work date) to ``as_of``."""
        groups: dict[tuple, dict] = defaultdict(lambda: {"entries": 0, "hours": ZERO, "value": ZERO})
        for e in self.entries:
            if e.approved and not e.posted and (until is None or e.day <= until):
                group = groups[(e.project, age_bucket((as_of - (e.approved_day or e.day)).days))]
                group["entries"] += 1
                group["hours"] += e.hours
                group["value"] += e.value
        value = defaultdict(Decimal)
        for (project, _), group in groups.items():
            value[self.projects[project].currency] += group["value"]
        return {"rows": dict(groups), "hours": sum((g["hours"] for g in groups.values()), ZERO),
                "value": {c: v for c, v in value.items()}}

    # --- reconciliation: what the hub has against what the journal has ------------------------------------
    def reconciliation(self) -> dict[tuple[str, date], dict]:
        """Per project and ISO week (Monday): approved hours and billable value in the hub and in the journal."""
        weeks: dict[tuple, dict] = defaultdict(lambda: {"source_hours": ZERO, "source_amount": ZERO,
                                                        "target_hours": ZERO, "target_amount": ZERO})
        for e in self.entries:
            if e.approved:
                week = weeks[(e.project, monday(e.day))]
                week["source_hours"] += e.hours
                week["source_amount"] += e.value
                if e.posted:
                    week["target_hours"] += e.hours
                    week["target_amount"] += e.value
        for week in weeks.values():
            week["status"] = ("match" if week["source_hours"] == week["target_hours"]
                              and week["source_amount"] == week["target_amount"]
                              else "missing in target" if not week["target_hours"] else "differs")
        return dict(weeks)

    def reconciliation_gaps(self) -> dict[tuple[str, date], tuple[Decimal, Decimal]]:
        """(hours, amount) the journal lacks per project and week: each differing week is a reconciliation
        exception putting its difference at risk (the week's approved entries not posted)."""
        return {key: (abs(w["source_hours"] - w["target_hours"]), abs(w["source_amount"] - w["target_amount"]))
                for key, w in self.reconciliation().items() if w["status"] != "match"}

    # --- assignment vs actual ----------------------------------------------------------------------------
    def assignment_vs_actual(self) -> dict[tuple[str, str, date], tuple[Decimal, Decimal]]:
        """(planned, actual) hours per person, project and ISO week. Planned hours of an assignment are spread
        evenly over its Monday–Friday days; actual hours are every entry in the hub (submitted ones too)."""
        cells: dict[tuple, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
        for a in self.quarter.assignments:
            days = [d for d in days_between(a.start, a.end) if d.weekday() < 5]
            per_day = a.planned_hours / len(days)
            for week_monday in sorted({monday(d) for d in days}):
                in_week = sum(1 for d in days if monday(d) == week_monday)
                cells[(a.person.code, a.project.code, week_monday)][0] += per_day * in_week
        for e in self.entries:
            cells[(e.person, e.project, monday(e.day))][1] += e.hours
        return {key: (planned, actual) for key, (planned, actual) in cells.items()}

    # --- money at risk: what the refused rows would have billed ------------------------------------------
    def at_risk(self) -> tuple[dict[str, Decimal], Decimal]:
        """(money at risk per currency, hours at risk): every source record once, whatever exceptions name it.

        The journal's missing weeks put the hub's entries the journal lacks at risk (the week's difference);
        refused rows are other records (the hub never had them), each counted once, whatever it failed on.

        A row puts its hours at risk, and its billable hours × its own rate (else its project's default rate,
        when the project is known) in money; a row that says ``Billable?`` = No puts no money at risk, and a row
        with no rate of its own on an unknown project has no price to put. Amounts are signed as the row is.
        """
        money: dict[str, Decimal] = defaultdict(Decimal)
        hours = ZERO
        for (project, _), (gap_hours, gap_amount) in self.reconciliation_gaps().items():  # entries in the hub
            hours += gap_hours
            money[self.projects[project].currency] += gap_amount
        for row in self.refused_rows():  # rows that never reached the hub
            hours += Decimal(row.cell("Hours"))
            project = self.projects.get(row.cell("Project Code"))
            rate = row.cell("Billable Rate") or (project.default_rate if project else None)
            if row.cell("Billable?") == "Yes" and rate is not None:
                currency = CURRENCY_CODES[row.cell("Currency")] if row.cell("Billable Rate") else project.currency
                money[currency] += Decimal(row.cell("Hours")) * Decimal(rate)
        return {c: v for c, v in sorted(money.items()) if v}, hours

    # --- utilization and margin: on approved time (or, asked for, all time in the hub) ---------------------
    def counted(self, first: date, last: date, time: str) -> list[Entry]:
        return [e for e in self.entries if (e.approved or time == "all") and first <= e.day <= last]

    def utilization(self, first: date, last: date, time: str = "approved") -> dict[tuple[str, date], dict]:
        """Per person and month: capacity (weekly capacity × Monday–Friday days of the month in the window ÷ 5),
        billable hours, hours, and billable ÷ capacity to four places; of approved time unless ``time`` = all."""
        cells = {}
        for person in self.quarter.people:
            for month in months(first, last):
                weekdays = sum(1 for d in days_between(max(month, first), min(month_end(month), last))
                               if d.weekday() < 5)
                cells[(person.code, month)] = {"practice": person.practice,
                                               "capacity_hours": person.capacity * weekdays / 5,
                                               "billable_hours": ZERO, "hours": ZERO}
        for e in self.counted(first, last, time):
            cell = cells[(e.person, e.day.replace(day=1))]
            cell["hours"] += e.hours
            cell["billable_hours"] += e.hours if e.billable else ZERO
        for cell in cells.values():
            cell["utilization"] = ratio(cell["billable_hours"], cell["capacity_hours"])
        return cells

    def utilization_by_practice(self, first: date, last: date) -> dict[tuple[str, date], dict]:
        """The people's hours and capacity added up per practice, then divided."""
        groups: dict[tuple, dict] = defaultdict(lambda: {"people": 0, "capacity_hours": ZERO, "billable_hours": ZERO,
                                                         "hours": ZERO})
        for (_, month), cell in self.utilization(first, last).items():
            group = groups[(cell["practice"], month)]
            group["people"] += 1
            for key in ("capacity_hours", "billable_hours", "hours"):
                group[key] += cell[key]
        for group in groups.values():
            group["utilization"] = ratio(group["billable_hours"], group["capacity_hours"])
        return dict(groups)

    def margin(self, first: date, last: date, time: str = "approved") -> dict[tuple[str, date], dict]:
        """Per project and month, on approved time unless ``time`` = all: revenue = billable value; cost = hours ×
        the row's cost rate (else the person's); margin = revenue − cost, and margin ÷ revenue to four places."""
        cells: dict[tuple, dict] = defaultdict(lambda: {"hours": ZERO, "revenue": ZERO, "cost": ZERO})
        for e in self.counted(first, last, time):
            cell = cells[(e.project, e.day.replace(day=1))]
            cell["hours"] += e.hours
            cell["revenue"] += e.value
            cell["cost"] += e.hours * e.cost_rate
        for (project, _), cell in cells.items():
            cell["currency"] = self.projects[project].currency
            cell["margin"] = cell["revenue"] - cell["cost"]
            cell["margin_ratio"] = ratio(cell["margin"], cell["revenue"])
        return dict(cells)

    # --- approved → posted latency ----------------------------------------------------------------------
    def approval_times(self) -> list[datetime]:
        """When each posted entry was approved (latency = the moment of posting − this)."""
        return [datetime.fromisoformat(e.row.cell("Approved At")) for e in self.entries if e.posted]


def ratio(part: Decimal, whole: Decimal) -> Decimal | None:
    return (part / whole).quantize(Decimal("0.0001")) if whole else None


def months(first: date, last: date) -> list[date]:
    found = []
    day = first.replace(day=1)
    while day <= last:
        found.append(day)
        day = month_end(day) + timedelta(days=1)
    return found


def month_end(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


def age_bucket(days: int) -> str:
    return "0–7 days" if days <= 7 else "8–14 days" if days <= 14 else "15–30 days" if days <= 30 else "31+ days"


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def percentile(values: list[float], fraction: float) -> float:
    """Linear between closest ranks (rank = fraction × (n − 1)), the textbook method the figure promises."""
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# === Putting the quarter into Weft, as a customer would =====================================================
@dataclass
class Firm:
    quarter: Quarter
    spec: Spec
    customer: object
    viewer: object
    runs: dict[str, dict]  # what each run's ledger counted, by file or object
    journal_lines: list[dict]
    posted_between: tuple[datetime, datetime]  # the journal run started and finished inside this span
    data_dir: Path  # WEFT_DATA_DIR: the connections' folders


@pytest.fixture(scope="module")
def firm(django_db_setup, django_db_blocker, tmp_path_factory):
    """The firm as a customer of its own, committed for this module and removed after it."""
    from apps.tenants import services
    from apps.tenants.choices import Role
    from apps.tenants.models import Partner

    quarter = generate()
    data_dir = tmp_path_factory.mktemp("weft-audit")
    with django_db_blocker.unblock(), override_settings(WEFT_DATA_DIR=data_dir):
        partner = Partner.objects.get(slug="xpartner")
        customer = services.customer_onboard(partner=partner, slug="auditfirm", name="Audit Firm", acting_user=None,
                                             admin_email="auditfirm-admin@example.com").customer
        viewer = services.user_create(username="auditfirm.viewer", email="viewer@auditfirm.example", password=None,
                                      acting_user=None)
        services.membership_grant(user=viewer, role=Role.VIEWER, customer=customer, acting_user=None)
        try:
            with schema_context(customer.schema_name):
                loaded = _load(quarter)
            yield Firm(quarter, Spec(quarter), customer, viewer, data_dir=data_dir, **loaded)
        finally:
            connection.set_schema_to_public()
            customer.delete(force_drop=True)  # drops the schema; domains and memberships cascade
            _forget(viewer)


def _forget(user) -> None:
    """Delete a login without the ORM's cascade, which would visit tenant history tables absent from public."""
    from django.apps import apps
    from django.conf import settings

    shared = {config.label for config in apps.get_app_configs() if config.name in settings.SHARED_APPS}
    for relation in [f for f in type(user)._meta.get_fields(include_hidden=True) if f.auto_created and not f.concrete]:
        model, field = relation.related_model, relation.field
        if model._meta.app_label in shared and field.null and field.many_to_one:
            model.objects.filter(**{field.name: user.pk}).update(**{field.name: None})
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {type(user)._meta.db_table} WHERE id = %s", [user.pk])


def _counts(run) -> dict[str, int]:
    return {outcome: n for outcome, n in run.counts.items() if n}


def _load(quarter: Quarter) -> dict:
    from apps.connectors.services import connection_create, connection_files_root
    from apps.mappings.models import RuleKind, RuleSet, ValidationRule
    from apps.reporting.filters import ReportFilters
    from apps.reporting.services import reconciliation_check
    from apps.runs.models import Flow
    from apps.runs.services import pull_run
    from tests.runs.journal import journal_lines, run_flow

    spreadsheets = connection_create(
        name="Firm spreadsheets", slug="spreadsheets", kind="csv", acting_user=None,
        settings={"settle_seconds": 0, "columns": {"time_entries": {"Entry Type": "correction"}}})
    journal = connection_create(name="ERP journal", slug="erp-journal", kind="csv", acting_user=None)
    inbox = connection_files_root(spreadsheets) / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    files = quarter.files()
    runs = {}
    for name, object_name in (("people.csv", "people"), ("clients.csv", "customers"),
                              ("projects.csv", "projects"), ("assignments.csv", "assignments")):
        (inbox / name).write_text(files[name])
        runs[name] = _counts(pull_run(connection=spreadsheets, object_name=object_name))
    time_in = Flow.objects.create(name="Time from the time tool", slug="time-in", direction="inbound",
                                  object_type="time_entry", connection=spreadsheets, object_name="time_entries",
                                  on_schedule=False)
    approved_only = RuleSet.objects.create(name="Post approved time", slug="approved", object_type="time_entry")
    ValidationRule.objects.create(rule_set=approved_only, kind=RuleKind.APPROVAL_STATUS,
                                  params={"allowed": ["approved"], "on_fail": "skip"}, position=0)
    journal_out = Flow.objects.create(name="Time to the ERP journal", slug="journal-out", direction="outbound",
                                      object_type="time_entry", connection=journal, object_name="journal_export",
                                      rule_set=approved_only, on_hub_change=False, on_schedule=False)
    posted_between = None
    for name in FILES:
        (inbox / name).write_text(files[name])
        runs[name] = _counts(run_flow(time_in))
        if name == POSTED_FILES[-1]:
            started = timezone.now()
            runs["journal"] = _counts(run_flow(journal_out))
            posted_between = (started, timezone.now())
    # The daily reconciliation check, over the quarter: the third file's weeks are missing in the journal.
    reconciliation_check(filters=ReportFilters(start=QUARTER_START, end=QUARTER_END))
    return {"runs": runs, "journal_lines": journal_lines(journal), "posted_between": posted_between}


def report(firm: Firm, name: str, **params) -> dict:
    """A figure as the reports API gives it (every row, one page)."""
    client = Client()
    client.force_login(firm.viewer)
    response = client.get(f"/api/v1/reports/{name}/", {"page_size": 10000, **params},
                          HTTP_HOST=firm.customer.domains.get(is_primary=True).domain)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == len(body["rows"])
    return body


def D(value) -> Decimal | None:
    return None if value is None else Decimal(value)


# === The audit ==============================================================================================
def test_the_quarter_has_every_kind_of_bad_row(firm):
    flaws = Counter(row.flaw for row in firm.quarter.rows)
    assert all(flaws[flaw] >= 3 for flaw in (*FLAWS, CORRECTION)), flaws
    assert len(firm.quarter.people) == 40 and len(firm.quarter.rows) > 3000
    # The spec's reading of each bad row agrees with what the generator meant it to be.
    expected_kind = {NEGATIVE: "validation", OVER_24: "validation", BAD_DATE: "validation",
                     DUPLICATE: "duplicate", DUPLICATE_EARLIER_FILE: "duplicate",
                     UNKNOWN_PROJECT: "missing_reference", UNKNOWN_PERSON: "missing_reference"}
    assert {row.place: expected_kind[row.flaw] for row in firm.quarter.rows if row.flaw in FLAWS} == firm.spec.refused


def test_reference_data_loads_from_the_firms_spreadsheets(firm):
    assert firm.runs["people.csv"] == {"created": 40}
    assert firm.runs["clients.csv"] == {"created": 6}
    assert firm.runs["projects.csv"] == {"created": 12}
    assert firm.runs["assignments.csv"] == {"created": len(firm.quarter.assignments)}


def test_every_row_lands_or_is_an_exception(firm):
    from apps.canonical.models import TimeEntry
    from apps.exceptions.models import ExceptionRecord

    spec = firm.spec
    for name in FILES:  # each file's run accounts for each of its rows
        rows = [r for r in firm.quarter.rows if r.file == name]
        refused = sum(1 for r in rows if r.place in spec.refused)
        assert firm.runs[name] == {"created": len(rows) - refused, "failed": refused}, name
    with schema_context(firm.customer.schema_name):
        assert TimeEntry.objects.filter(deleted_at=None).count() == len(spec.entries)
        failing = Counter(ExceptionRecord.objects.filter(is_open=True).values_list("exception__kind", flat=True))
    assert dict(failing) == spec.records_by_kind()
    assert len(spec.entries) + len(spec.refused) == len(firm.quarter.rows)


def test_what_landed_is_what_the_rows_say(firm):
    from apps.canonical.models import TimeEntry

    with schema_context(firm.customer.schema_name):
        hub = Counter(TimeEntry.objects.filter(deleted_at=None).values_list(
            "date", "person__code", "project__code", "hours", "billable", "approval_status", "bill_rate"))
    expected = Counter((e.day, e.person, e.project, e.hours, e.billable, "approved" if e.approved else "submitted",
                        D(e.row.cell("Billable Rate") or None)) for e in firm.spec.entries)
    assert hub == expected


def test_exceptions_by_kind(firm):
    body = report(firm, "exceptions", as_of=AS_OF.isoformat())
    kinds = {"Validation": "validation", "Duplicate": "duplicate", "Missing reference": "missing_reference",
             "Reconciliation": "reconciliation"}
    records = defaultdict(int)
    for row in body["rows"]:  # rows per kind and age; the page names kinds in words
        records[kinds.get(row["kind"], row["kind"])] += row["open_records"]
    assert dict(records) == firm.spec.records_by_kind()


def test_only_approved_time_of_the_posted_files_reaches_the_journal(firm):
    posted = [e for e in firm.spec.entries if e.posted]
    assert len(firm.journal_lines) == len(posted)
    assert sum(Decimal(line["hours"]) for line in firm.journal_lines) == sum(e.hours for e in posted)
    # Line by line: the hours of exactly the posted entries (so no refused row, and corrections only as marked).
    assert Counter(Decimal(line["hours"]) for line in firm.journal_lines) == Counter(e.hours for e in posted)


def test_run_health(firm):
    spec, rows = firm.spec, firm.quarter.rows
    read_before_posting = [e for e in spec.entries if e.row.file in POSTED_FILES]
    day = firm.posted_between[0].date()
    body = report(firm, "run-health", start=(day - timedelta(days=1)).isoformat(),
                  end=(day + timedelta(days=1)).isoformat())
    got = {r["flow"]: {k: r[k] for k in ("runs", "failed_runs", "items", "created", "skipped", "failed",
                                        "failure_rate")} for r in body["rows"]}
    assert got["Time from the time tool"] == {
        "runs": len(FILES), "failed_runs": 0, "items": len(rows), "created": len(spec.entries), "skipped": 0,
        "failed": len(spec.refused), "failure_rate": str(ratio(Decimal(len(spec.refused)), Decimal(len(rows))))}
    # The journal run leaves unapproved entries for later (skipped, not failed). A catch-up run counts skipped
    # records on the run without a ledger item each, so the figure's items are the posted ones.
    posted = sum(e.posted for e in spec.entries)
    assert firm.runs["journal"] == {"created": posted, "skipped": sum(not e.approved for e in read_before_posting)}
    assert got["Time to the ERP journal"] == {"runs": 1, "failed_runs": 0, "items": posted, "created": posted,
                                              "skipped": 0, "failed": 0, "failure_rate": "0.0000"}


def test_run_health_of_the_reference_data_pulls(firm):
    day = firm.posted_between[0].date()
    body = report(firm, "run-health", start=(day - timedelta(days=1)).isoformat(),
                  end=(day + timedelta(days=1)).isoformat())
    got = {r["flow"]: (r["runs"], r["items"], r["created"], r["failure_rate"]) for r in body["rows"]}
    for name, count in (("people", 40), ("customers", 6), ("projects", 12),
                        ("assignments", len(firm.quarter.assignments))):
        assert got[f"Firm spreadsheets · {name} (read)"] == (1, count, count, "0.0000")


def test_unposted_approved_time(firm):
    expected = firm.spec.unposted()
    body = report(firm, "unposted-time", as_of=AS_OF.isoformat())
    got = {(r["project"], r["age"]): {"entries": r["entries"], "hours": D(r["hours"]), "value": D(r["value"])}
           for r in body["rows"]}
    assert got == expected["rows"]
    assert D(body["summary"]["hours"]) == expected["hours"]
    assert {c: D(v) for c, v in body["summary"]["value"].items()} == expected["value"]


def test_reconciliation_hub_against_the_journal(firm):
    expected = firm.spec.reconciliation()
    body = report(firm, "reconciliation", **WINDOW)
    got = {(r["project"], date.fromisoformat(r["week"])): {
        "source_hours": D(r["source_hours"]), "source_amount": D(r["source_amount"]),
        "target_hours": D(r["target_hours"]), "target_amount": D(r["target_amount"]), "status": r["status"]}
        for r in body["rows"]}
    assert got == expected


@pytest.mark.parametrize("name, value, keep", [
    ("customer", "UMBRELLA", lambda x: _project_of(x).startswith("UMBR-")),
    ("project", "ACME-002", lambda x: _project_of(x) == "ACME-002"),
    ("person", "E-007", lambda x: _person_of(x) == "E-007"),
], ids=["customer", "project", "person"])
def test_filtered_figures_equal_the_same_rows_filtered(firm, name, value, keep):
    spec = firm.spec.only(keep)
    unposted = report(firm, "unposted-time", as_of=AS_OF.isoformat(), **{name: value})
    assert D(unposted["summary"]["hours"]) == spec.unposted()["hours"]
    assert {c: D(v) for c, v in unposted["summary"]["value"].items()} == spec.unposted()["value"]
    margin = report(firm, "project-margin", **WINDOW, **{name: value})
    assert _margin_rows(margin["rows"]) == spec.margin(QUARTER_START, QUARTER_END)
    mismatches = report(firm, "assignment-mismatches", all=1, **WINDOW, **{name: value})
    assert {(r["person"], r["project"], date.fromisoformat(r["week"])): D(r["actual_hours"])
            for r in mismatches["rows"]} == {key: actual for key, (_, actual) in spec.assignment_vs_actual().items()}
    if name != "person":  # reconciliation is per project and week
        reconciliation = report(firm, "reconciliation", **WINDOW, **{name: value})
        assert {(r["project"], date.fromisoformat(r["week"])): D(r["source_hours"])
                for r in reconciliation["rows"]} == {k: w["source_hours"] for k, w in spec.reconciliation().items()}


def _project_of(entry_or_assignment) -> str:
    project = entry_or_assignment.project
    return project if isinstance(project, str) else project.code


def _person_of(entry_or_assignment) -> str:
    person = entry_or_assignment.person
    return person if isinstance(person, str) else person.code


def test_assignment_vs_actual_hours(firm):
    expected = firm.spec.assignment_vs_actual()
    body = report(firm, "assignment-mismatches", all=1, **WINDOW)
    got = {(r["person"], r["project"], date.fromisoformat(r["week"])): (D(r["planned_hours"]), D(r["actual_hours"]))
           for r in body["rows"]}
    assert got.keys() == expected.keys()
    for key, (planned, actual) in expected.items():
        assert got[key] == (planned.quantize(Decimal("0.01")), actual), key


def test_approved_to_posted_latency(firm):
    approvals = firm.spec.approval_times()
    first, last = firm.posted_between
    day = first.date().isoformat()
    body = report(firm, "posting-latency", start=day, end=last.date().isoformat(), as_of=day, period="month")
    summary = body["summary"]
    assert summary["items"] == len(approvals)
    # Posting happened between ``first`` and ``last``: each latency lies between these two bounds.
    for fraction, key in ((0.5, "p50_ms"), (0.95, "p95_ms")):
        low = percentile([(first - a).total_seconds() * 1000 for a in approvals], fraction)
        high = percentile([(last - a).total_seconds() * 1000 for a in approvals], fraction)
        assert low - 1 <= float(summary[key]) <= high + 1, key


def test_money_and_hours_at_risk_in_every_currency(firm):
    money, hours = firm.spec.at_risk()
    assert len(money) == 2  # euros and pounds
    summary = report(firm, "exceptions", as_of=AS_OF.isoformat())["summary"]
    assert {c: D(v) for c, v in summary["amount_at_risk"].items()} == money
    assert D(summary["hours_at_risk"]) == hours


def _utilization_rows(body: dict, key: str) -> dict:
    return {(r[key], date.fromisoformat(r["month"])): {
        "capacity_hours": D(r["capacity_hours"]), "billable_hours": D(r["billable_hours"]), "hours": D(r["hours"]),
        "utilization": D(r["utilization"])} for r in body["rows"]}


def test_utilization_per_person_on_approved_time(firm):
    expected = {key: {k: v for k, v in cell.items() if k != "practice"}
                for key, cell in firm.spec.utilization(QUARTER_START, QUARTER_END).items()}
    assert _utilization_rows(report(firm, "utilization", by="person", **WINDOW), "person") == expected


def test_utilization_per_person_on_all_time_when_asked(firm):
    expected = {key: {k: v for k, v in cell.items() if k != "practice"}
                for key, cell in firm.spec.utilization(QUARTER_START, QUARTER_END, time="all").items()}
    assert expected != {key: {k: v for k, v in cell.items() if k != "practice"}
                        for key, cell in firm.spec.utilization(QUARTER_START, QUARTER_END).items()}
    assert _utilization_rows(report(firm, "utilization", by="person", time="all", **WINDOW), "person") == expected


def test_utilization_per_practice_on_approved_time(firm):
    expected = {key: {k: v for k, v in cell.items() if k != "people"}
                for key, cell in firm.spec.utilization_by_practice(QUARTER_START, QUARTER_END).items()}
    assert _utilization_rows(report(firm, "utilization", by="practice", **WINDOW), "practice") == expected


def _margin_rows(rows: list[dict]) -> dict:
    return {(r["project"], date.fromisoformat(str(r["month"]))): {
        "hours": D(r["hours"]), "revenue": D(r["revenue"]), "cost": D(r["cost"]), "currency": r["currency"],
        "margin": D(r["margin"]), "margin_ratio": D(r["margin_ratio"])} for r in rows}


def test_project_margin_on_all_time_when_asked(firm):
    body = report(firm, "project-margin", time="all", **WINDOW)
    assert _margin_rows(body["rows"]) == firm.spec.margin(QUARTER_START, QUARTER_END, time="all")


def test_project_margin_on_approved_time(firm):
    expected = firm.spec.margin(QUARTER_START, QUARTER_END)
    body = report(firm, "project-margin", **WINDOW)
    assert _margin_rows(body["rows"]) == expected
    totals = defaultdict(lambda: {"revenue": ZERO, "cost": ZERO, "margin": ZERO})
    for cell in expected.values():
        for key in ("revenue", "cost", "margin"):
            totals[cell["currency"]][key] += cell[key]
    assert {c: {k: D(v) for k, v in t.items() if k != "margin_ratio"}
            for c, t in body["summary"]["by_currency"].items()} == totals


@pytest.mark.parametrize("month", [date(2026, 7, 1), date(2026, 8, 1), date(2026, 9, 1)])
def test_the_monthly_review_shows_its_month(firm, month):
    from apps.portal.dashboards import monthly_review
    from apps.tenants.branding import brand_for_partner

    last = month_end(month)
    with schema_context(firm.customer.schema_name):
        review = monthly_review(customer=firm.customer, brand=brand_for_partner(firm.customer.partner), month=month)
    sections = {s.report.slug: s.table for s in review["sections"] if s.table is not None}
    utilization = {(r["practice"], r["month"]): {k: r[k] for k in ("capacity_hours", "billable_hours", "hours",
                                                                   "utilization")}
                   for r in sections["utilization"].rows}
    assert utilization == {key: {k: v for k, v in cell.items() if k != "people"}
                           for key, cell in firm.spec.utilization_by_practice(month, last).items()}
    assert _margin_rows(sections["project-margin"].rows) == firm.spec.margin(month, last)
    # Backlog at month end: approved time worked by then and not posted, aged to the month's last day.
    assert {(r["project"], r["age"]): {"entries": r["entries"], "hours": r["hours"], "value": r["value"]}
            for r in sections["unposted-time"].rows} == firm.spec.unposted(as_of=last, until=last)["rows"]
    # Reconciliation of the ISO weeks whose Thursday falls in the month (each week in one month's review).
    assert {(r["project"], r["week"]): (r["source_hours"], r["target_hours"], r["status"])
            for r in sections["reconciliation"].rows} == {
        (project, week): (w["source_hours"], w["target_hours"], w["status"])
        for (project, week), w in firm.spec.reconciliation().items() if (week + timedelta(days=3)).month == month.month}


def test_the_partner_overview_shows_the_unposted_time_after_the_last_run(firm):
    from apps.tenants.models import CustomerHealth

    unposted = firm.spec.unposted()
    health = CustomerHealth.objects.get(customer=firm.customer)
    assert health.unposted_hours == unposted["hours"]
    assert (health.unposted_currency, health.unposted_value) == max(unposted["value"].items(), key=lambda kv: kv[1])
    assert {c: D(v) for c, v in health.unposted_values.items()} == unposted["value"]  # every currency


def test_the_partner_overview_shows_the_money_at_risk(firm):
    from apps.tenants.models import CustomerHealth

    money, _ = firm.spec.at_risk()
    health = CustomerHealth.objects.get(customer=firm.customer)
    assert (health.money_at_risk_currency, health.money_at_risk) == max(money.items(), key=lambda kv: kv[1])
    assert {c: D(v) for c, v in health.money_at_risk_amounts.items()} == money  # every currency


def test_the_portal_home_shows_the_unposted_time(firm):
    unposted = firm.spec.unposted()
    client = Client()
    client.force_login(firm.viewer)
    response = client.get("/", HTTP_HOST=firm.customer.domains.get(is_primary=True).domain)
    assert response.status_code == 200
    page = response.content.decode()
    assert f'data-figure="unposted-hours">{unposted["hours"]:,.1f} h<' in page
    for currency, value in unposted["value"].items():
        assert f"{currency} {value:,.2f}" in page


# === Catching up: the journal flow runs again and the next check finds every week agreeing ===================
# These come last: they change the firm (every test above reads it as loaded).
@pytest.fixture(scope="module")
def caught_up(firm, django_db_blocker) -> Firm:
    from apps.reporting.filters import ReportFilters
    from apps.reporting.services import reconciliation_check
    from apps.runs.models import Flow
    from tests.runs.journal import run_flow

    with django_db_blocker.unblock(), override_settings(WEFT_DATA_DIR=firm.data_dir), \
            schema_context(firm.customer.schema_name):
        runs = {**firm.runs, "catch-up": _counts(run_flow(Flow.objects.get(slug="journal-out")))}
        reconciliation_check(filters=ReportFilters(start=QUARTER_START, end=QUARTER_END))
    return dataclasses.replace(firm, spec=Spec(firm.quarter, posted_files=tuple(FILES)), runs=runs)


def test_after_catching_up_every_approved_entry_is_posted_once(caught_up):
    spec = caught_up.spec
    third = [e for e in spec.entries if e.row.file not in POSTED_FILES]
    assert caught_up.runs["catch-up"] == {"created": sum(e.approved for e in third),
                                          "skipped": sum(not e.approved for e in spec.entries)}
    body = report(caught_up, "unposted-time", as_of=AS_OF.isoformat())
    assert body["rows"] == [] and D(body["summary"]["hours"]) == spec.unposted()["hours"] == ZERO


def test_after_catching_up_every_week_matches_and_its_exception_is_closed(caught_up):
    from apps.exceptions.models import ExceptionRecord, IntegrationException

    spec = caught_up.spec
    body = report(caught_up, "reconciliation", **WINDOW)
    assert {(r["project"], date.fromisoformat(r["week"])): r["status"] for r in body["rows"]} == {
        key: week["status"] for key, week in spec.reconciliation().items()}
    assert {week["status"] for week in spec.reconciliation().values()} == {"match"}
    with schema_context(caught_up.customer.schema_name):
        failing = Counter(ExceptionRecord.objects.filter(is_open=True).values_list("exception__kind", flat=True))
        still_open = IntegrationException.objects.filter(kind="reconciliation", status__in=("open", "acknowledged"))
        assert not still_open.exists()
    assert dict(failing) == spec.records_by_kind() == spec.refused_by_kind()


def test_after_catching_up_only_the_refused_rows_are_at_risk(caught_up):
    money, hours = caught_up.spec.at_risk()
    summary = report(caught_up, "exceptions", as_of=AS_OF.isoformat())["summary"]
    assert {c: D(v) for c, v in summary["amount_at_risk"].items()} == money
    assert D(summary["hours_at_risk"]) == hours
