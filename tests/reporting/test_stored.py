"""Stored figures equal the live computation: after a full refresh, and after incremental ones that follow changes."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal as D

import pytest

from apps.canonical.models import Assignment, ExternalRef, Invoice, InvoiceLine, Person, Project, TimeEntry
from apps.reporting import selectors, store
from apps.reporting.figures import figure_table
from apps.reporting.models import ReconciliationWeek, Snapshot, TimeWeek
from apps.reporting.services import reporting_refresh
from apps.reporting.tables import table_json
from apps.runs.models import Run, RunItem
from tests.reporting.dataset import AS_OF, at

# Every figure the stored tables feed, with windows that are whole weeks, whole months, and neither (a window from
# a Wednesday to a Wednesday across a month end: stored whole pieces plus live edges), and every scope filter.
JUNE = {"start": "2025-06-01", "end": "2025-06-30", "as_of": AS_OF.isoformat()}
ODD = {"start": "2025-05-14", "end": "2025-06-18", "as_of": AS_OF.isoformat()}
CASES = [
    (name, {**window, **extra})
    for name in ("assignment-mismatches", "utilization", "project-margin", "reconciliation", "unposted-time")
    for window in (JUNE, ODD, {"as_of": AS_OF.isoformat()})
    for extra in ({}, {"project": "ACME-1"}, {"person": "BOB"}, {"practice": "Data"}, {"customer": "ACME"})
] + [
    ("assignment-mismatches", {**ODD, "all": "1"}), ("utilization", {**ODD, "by": "practice"}),
    ("project-margin", {**JUNE, "basis": "billed"}), ("roi", {"start": "2025-04-01", "end": "2025-06-30"}),
    ("utilization", {"start": "2025-06-03", "end": "2025-06-05"}),  # shorter than a week: all live
    ("utilization", {**ODD, "time": "all"}), ("project-margin", {**ODD, "time": "all"}),
    ("utilization", {**JUNE, "time": "all", "person": "CID"}),
]


@pytest.fixture
def small_parts(monkeypatch):
    """Two time entries per id range, so the small data set spans six or seven and a refresh can skip some."""
    monkeypatch.setattr(store, "PART", 2)


def answers(monkeypatch=None) -> dict:
    """Every case as the API shows it (exact strings), without the notes (which say whether it was stored)."""
    if monkeypatch is not None:
        monkeypatch.setattr(selectors.common, "stored_snapshot", lambda: None)
    result = {}
    for name, params in CASES:
        body = table_json(figure_table(name, params))
        result[(name, tuple(sorted(params.items())))] = (body["rows"], body["summary"])
    if monkeypatch is not None:
        monkeypatch.undo()
    return result


def assert_stored_equals_live(monkeypatch) -> None:
    stored, live = answers(), answers(monkeypatch)
    assert stored.keys() == live.keys()
    for case in live:
        assert stored[case] == live[case], case


def test_stored_figures_equal_the_live_ones_on_the_hand_computed_set(data, small_parts, monkeypatch):
    live = answers()
    assert not Snapshot.objects.exists()  # nothing stored yet: these were computed live
    snapshot = reporting_refresh()
    assert snapshot.parts is None and TimeWeek.objects.exists() and ReconciliationWeek.objects.exists()
    assert answers() == live
    # The hand-computed June reconciliation, read from the stored rows.
    table = selectors.reconciliation(filters=selectors.ReportFilters(start=date(2025, 6, 2), end=date(2025, 6, 29)))
    assert [(r["project"], r["week"], r["hours_difference"], r["status"]) for r in table.rows] == [
        ("ACME-1", date(2025, 6, 2), D("1.00"), "differs"),
        ("ACME-1", date(2025, 6, 16), D("-1.00"), "only in target"),
        ("ACME-1", date(2025, 6, 23), D("2.00"), "missing in target"),
        ("ACME-2", date(2025, 6, 9), D("5.00"), "differs"),
        ("ACME-2", date(2025, 6, 16), D("0.00"), "match")]
    assert any(note.startswith("As of ") for note in table.notes)


def _age(data) -> datetime:
    """Make everything look old, so the next refresh sees only what a test changes afterwards."""
    long_ago = datetime(2025, 1, 1, tzinfo=UTC)
    TimeEntry.objects.update(updated_at=long_ago)
    RunItem.objects.update(created_at=long_ago)
    Invoice.objects.update(updated_at=long_ago)
    InvoiceLine.objects.update(updated_at=long_ago)
    return long_ago


def test_an_incremental_refresh_recomputes_only_changed_ranges_and_still_equals_live(data, small_parts, monkeypatch):
    _age(data)
    reporting_refresh()
    roi_before = selectors.roi(filters=selectors.ReportFilters(start=date(2025, 4, 1), end=date(2025, 6, 30)))
    parts_in_all = len({e.pk // store.PART for e in TimeEntry.objects.all()})
    e1, e2, e10 = data.entries["E1"], data.entries["E2"], data.entries["E10"]
    e2.date = date(2025, 6, 10)  # moved a week on; Tryton still has it as posted: 5 h on 3 June
    e2.save()
    e1.hours = D("9")
    e1.save()
    e9 = data.entries["E9"]
    e9.approved_at = at("05-25")  # invoice I5 (issued 30 May) now 5 days after the last approval, not 9
    e9.save()
    i6 = data.invoices["I6"]
    i6.issue_date = date(2025, 5, 2)  # 30 days after its time's approval, not 28
    i6.save()
    # E10 is posted by a run: a cross-reference and a ledger item, nothing on the entry itself.
    ExternalRef.objects.create(object_type="time_entry", canonical_id=e10.pk, connection=data.tryton,
                               external_id="T-10", last_synced_hash=e10.content_hash)
    run = Run.objects.create(flow=data.flow, connection=data.tryton, object_name="timesheet", object_type="time_entry",
                             status="succeeded", started_at=at("06-30"), finished_at=at("06-30", 10))
    RunItem.objects.create(run=run, object_type="time_entry", canonical_id=e10.pk, external_id=str(e10.pk),
                           outcome="created")
    snapshot = reporting_refresh()
    touched = {e.pk // store.PART for e in (e1, e2, e9, e10)}
    assert snapshot.parts == len(touched) < parts_in_all
    assert_stored_equals_live(monkeypatch)
    table = selectors.reconciliation(filters=selectors.ReportFilters(start=date(2025, 6, 2), end=date(2025, 6, 29)))
    acme1 = {r["week"]: r for r in table.rows if r["project"] == "ACME-1"}
    # Week of 2 June: the hub has E1's 9 h; Tryton E1 and E2 as posted (5 h). Week of 9 June: E2 now, not in Tryton.
    # Week of 23 June: E10 is posted.
    assert pick(acme1[date(2025, 6, 2)]) == (D("9.00"), D("14.00"), "differs")
    assert pick(acme1[date(2025, 6, 9)]) == (D("6.00"), D("0"), "missing in target")
    assert pick(acme1[date(2025, 6, 23)]) == (D("2.00"), D("2.00"), "match")
    roi = selectors.roi(filters=selectors.ReportFilters(start=date(2025, 4, 1), end=date(2025, 6, 30)))
    before = {r["metric"]: r["value"] for r in roi_before.rows}["Invoice-cycle days before (mean)"]
    assert (before, {r["metric"]: r["value"] for r in roi.rows}["Invoice-cycle days before (mean)"]) == (
        D("18.5"), D("17.5"))  # (28 + 9) / 2, then (30 + 5) / 2


def pick(row) -> tuple:
    return row["source_hours"], row["target_hours"], row["status"]


def test_a_refresh_with_nothing_changed_recomputes_nothing(data, small_parts, monkeypatch):
    _age(data)
    reporting_refresh()
    rows = list(TimeWeek.objects.values_list("pk", flat=True))
    assert reporting_refresh().parts == 0
    assert list(TimeWeek.objects.values_list("pk", flat=True)) == rows  # not rewritten


def test_rates_and_flows_changing_mean_a_full_refresh(data, small_parts, monkeypatch):
    _age(data)
    first = reporting_refresh()
    Project.objects.filter(code="ACME-1").update(default_bill_rate=D("110"))  # no trace on any time entry
    assert reporting_refresh().parts is None
    assert_stored_equals_live(monkeypatch)
    Person.objects.filter(code="ANN").update(cost_rate=D("55"))
    assert reporting_refresh().parts is None
    assert_stored_equals_live(monkeypatch)
    data.flow.is_enabled = False
    data.flow.save()
    assert reporting_refresh().parts is None
    assert not ReconciliationWeek.objects.exists()
    assert Snapshot.objects.get().full_at > first.full_at


def test_changed_assignments_are_spread_again(data, small_parts, monkeypatch):
    _age(data)
    reporting_refresh()
    Assignment.objects.filter(person__code="BOB").update(planned_hours=D("16"), end_date=date(2025, 6, 27))
    assert reporting_refresh().parts == 0  # no time entry changed, yet the plan did
    assert_stored_equals_live(monkeypatch)
    # BOB on ACME-2, Wed 11 – Fri 27 June (13 weekdays), 16 h: 3 days in the week of 9 June → 3.69 h.
    table = selectors.assignment_mismatches(filters=selectors.ReportFilters(start=date(2025, 6, 9),
                                                                             end=date(2025, 6, 15), person="BOB"),
                                            everything=True)
    assert [(r["project"], r["planned_hours"]) for r in table.rows] == [("ACME-2", D("3.69"))]


def test_a_full_refresh_at_least_daily(data, small_parts):
    _age(data)
    reporting_refresh()
    assert reporting_refresh().parts == 0
    Snapshot.objects.update(full_at=datetime.now(UTC) - timedelta(hours=25))
    assert reporting_refresh().parts is None


def test_a_figure_for_a_flow_the_refresh_does_not_store_is_computed_live(data, small_parts):
    reporting_refresh()
    data.flow.is_enabled = False  # disabled after the refresh: asked for by name, it is computed live
    data.flow.save()
    table = selectors.reconciliation(filters=selectors.ReportFilters(start=date(2025, 6, 2), end=date(2025, 6, 29),
                                                                      flow="time-to-tryton"))
    assert table.summary["flagged"] == 4
    reporting_refresh()
    unposted = selectors.unposted_time(filters=selectors.ReportFilters(as_of=AS_OF, flow="time-to-tryton"))
    assert unposted.summary["hours"] == D("23.00") and not any(n.startswith("As of") for n in unposted.notes)
