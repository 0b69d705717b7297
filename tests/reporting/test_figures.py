"""Each figure against the small data set in dataset.py, with the arithmetic written out by hand."""

from datetime import date
from decimal import Decimal as D

import pytest

from apps.exceptions.models import ExceptionRecord, IntegrationException
from apps.reporting import selectors
from apps.reporting.errors import ReportFilterError
from apps.reporting.filters import ReportFilters
from tests.reporting.dataset import AS_OF, at

JUNE = ReportFilters(start=date(2025, 6, 1), end=date(2025, 6, 30), as_of=AS_OF)


def pick(rows, *keys):
    return [tuple(row[k] for k in keys) for row in rows]


def test_percentile_interpolates_linearly_between_ranks():
    # rank = p × (n − 1): p50 of 4 values sits halfway between the 2nd and 3rd; p95 at 0.85 of the way 3rd→4th.
    assert selectors.percentile([40, 10, 30, 20], 0.5) == 25
    assert selectors.percentile([10, 20, 30, 40], 0.95) == pytest.approx(38.5)
    assert selectors.percentile([7], 0.95) == 7
    assert selectors.percentile([], 0.5) is None


def test_unposted_approved_time_by_project_and_age(data):
    table = selectors.unposted_time(filters=ReportFilters(as_of=AS_OF))
    # Approved, live, not in sync with Tryton: E2 (changed since posting), E4, E9, E10. Not E8 (deleted),
    # E11 (came from Tryton), E6 (submitted), E1/E3/E5/E12 (posted as they stand).
    # Age to 30 June: E10 approved 25 June → 5 d; E2 4 June → 26 d; E9 21 May → 40 d; E4 20 June → 10 d.
    assert pick(table.rows, "project", "age", "entries", "hours", "value", "oldest_approved") == [
        ("ACME-1", "0–7 days", 1, D("2.00"), D("200.00"), date(2025, 6, 25)),     # 2 h × default 100
        ("ACME-1", "15–30 days", 1, D("6.00"), D("720.00"), date(2025, 6, 4)),    # 6 h × its own rate 120
        ("ACME-1", "31+ days", 1, D("10.00"), D("1000.00"), date(2025, 5, 21)),   # 10 h × 100
        ("ACME-2", "8–14 days", 1, D("5.00"), D("750.00"), date(2025, 6, 20)),    # 5 h × default 150
    ]
    assert table.summary["hours"] == D("23.00")                # 2 + 6 + 10 + 5
    assert table.summary["value"] == {"EUR": D("2670.00")}     # 200 + 720 + 1000 + 750
    assert table.summary["hours_by_age"]["8–14 days"] == D("5.00")


def test_unposted_time_follows_filters_and_needs_an_outbound_flow(data):
    only_acme2 = selectors.unposted_time(filters=ReportFilters(as_of=AS_OF, project="ACME-2"))
    assert pick(only_acme2.rows, "project", "hours") == [("ACME-2", D("5.00"))]
    bob = selectors.unposted_time(filters=ReportFilters(as_of=AS_OF, person="BOB"))
    assert pick(bob.rows, "project", "hours") == [("ACME-1", D("2.00")), ("ACME-2", D("5.00"))]  # E10, E4
    data.flow.is_enabled = False
    data.flow.save()
    assert selectors.unposted_time(filters=ReportFilters(as_of=AS_OF)).rows == []
    with pytest.raises(ReportFilterError):
        selectors.unposted_time(filters=ReportFilters(flow="no-such-flow"))


def test_blocked_invoices_with_amounts(data):
    table = selectors.blocked_invoices(filters=ReportFilters(as_of=AS_OF))
    # I5 bills E9 (X3 open), I2 bills E4 (X1 open), I3's own write failed (X2 open). I1: its record in X2 is
    # cleared and X4 (on E1) is resolved. I4 is void.
    assert pick(table.rows, "number", "kind", "amount", "blocked_by", "exception_kinds", "blocked_since") == [
        ("I5", "invoice", D("1000.00"), "time entries", "validation", at("05-01")),
        ("I2", "billing_event", D("900.00"), "time entries", "validation", at("06-30", 12)),
        ("I3", "invoice", D("500.00"), "invoice", "transport", at("06-25", 0)),
    ]
    assert table.summary == {"invoices": 3, "amount": {"EUR": D("2400.00")}}  # 1000 + 900 + 500
    issued_in_june = selectors.blocked_invoices(filters=JUNE)  # the undated draft I2 always shows
    assert [r["number"] for r in issued_in_june.rows] == ["I2", "I3"]


def test_assignment_vs_actual_hours_by_person_project_and_week(data):
    filters = ReportFilters(start=date(2025, 6, 2), end=date(2025, 6, 15), as_of=AS_OF)
    # ANN on ACME-1, 2–13 June (10 weekdays), 40 h → 4 h a day → 20 h in each week.
    # BOB on ACME-2, Wed 11 – Fri 20 June (8 weekdays), 8 h → 1 h a day → 3 h in the week of 9 June.
    # Actual: ANN ACME-1 week 2 June = 8 + 6 = 14; week 9 June = 0; ANN ACME-2 week 9 June = 4 (no assignment);
    # BOB ACME-2 week 9 June = 5.
    everything = selectors.assignment_mismatches(filters=filters, everything=True)
    assert pick(everything.rows, "person", "project", "week", "planned_hours", "actual_hours", "difference",
                "assigned") == [
        ("ANN", "ACME-1", date(2025, 6, 2), D("20.00"), D("14.00"), D("-6.00"), True),
        ("ANN", "ACME-1", date(2025, 6, 9), D("20.00"), D("0"), D("-20.00"), True),
        ("ANN", "ACME-2", date(2025, 6, 9), D("0.00"), D("4.00"), D("4.00"), False),
        ("BOB", "ACME-2", date(2025, 6, 9), D("3.00"), D("5.00"), D("2.00"), True),
    ]
    flagged = selectors.assignment_mismatches(filters=filters)  # tolerance 4 h: |−6| and |−20| exceed it, 4 does not
    assert pick(flagged.rows, "person", "project", "difference") == [("ANN", "ACME-1", D("-6.00")),
                                                                     ("ANN", "ACME-1", D("-20.00"))]
    assert flagged.summary["compared"] == 4 and flagged.summary["flagged"] == 2
    assert any("1 assignment" in note for note in flagged.notes)  # CID's has no dates
    stricter = selectors.assignment_mismatches(filters=filters, tolerance=D("3"))
    assert len(stricter.rows) == 3


def test_posting_latency_p50_p95_by_week(data):
    table = selectors.posting_latency(filters=JUNE)
    # Week of 2 June, minutes [10, 20, 30, 40, 100]: p50 rank 2 → 30; p95 rank 3.8 → 40 + 0.8 × 60 = 88.
    # Week of 9 June, [60, 120]: p50 rank 0.5 → 90; p95 rank 0.95 → 60 + 0.95 × 60 = 117. Failed items carry none.
    assert pick(table.rows, "period", "items", "p50_ms", "p95_ms", "p50_hours", "p95_hours") == [
        (date(2025, 6, 2), 5, 30 * 60_000, 88 * 60_000, D("0.50"), D("1.47")),
        (date(2025, 6, 9), 2, 90 * 60_000, 117 * 60_000, D("1.50"), D("1.95")),
    ]
    # All seven [10, 20, 30, 40, 60, 100, 120]: p50 rank 3 → 40; p95 rank 5.7 → 100 + 0.7 × 20 = 114.
    assert (table.summary["items"], table.summary["p50_ms"], table.summary["p95_ms"]) == (7, 40 * 60_000,
                                                                                         114 * 60_000)
    assert selectors.percentile([10, 20, 30, 40, 60, 100, 120], 0.95) == pytest.approx(114)
    by_month = selectors.posting_latency(filters=JUNE, period="month")
    assert pick(by_month.rows, "period", "items", "p50_ms") == [(date(2025, 6, 1), 7, 40 * 60_000)]
    assert selectors.posting_latency(filters=ReportFilters(start=date(2025, 6, 1), end=date(2025, 6, 30),
                                                           project="ACME-2")).summary["items"] == 3  # E3 twice, E5


def test_run_health(data):
    table = selectors.run_health(filters=JUNE)
    # R1: 3 created + 2 updated; R2: 2 updated, 1 failed, 1 skipped, 1 unchanged. Attempted = 10 − 1 − 1 = 8.
    [row] = table.rows
    assert pick([row], "flow", "runs", "failed_runs", "items", "created", "updated", "failed", "skipped",
                "unchanged", "failure_rate", "last_success") == [
        ("Time to Tryton", 2, 0, 10, 3, 4, 1, 1, 1, D("0.1250"), at("06-03", 10))]  # 1 / 8


def test_exceptions_by_kind_and_age(data):
    table = selectors.exceptions_by_kind_age(filters=ReportFilters(as_of=AS_OF))
    # Counted to the end of 30 June: X1 opened 30 June 12:00 (0.5 d); X2 25 June 00:00 (6 d); X5 29 June 09:00
    # (1.6 d); X3 1 May (60.6 d). X4 is resolved.
    assert pick(table.rows, "kind", "age", "exceptions", "open_records", "amount_at_risk", "currency") == [
        ("Transport", "1–7 days", 2, 2, D("0.00"), ""),
        ("Validation", "under 1 day", 1, 1, D("750.00"), "EUR"),
        ("Validation", "31+ days", 1, 1, D("1000.00"), "EUR"),
    ]
    assert table.summary["amount_at_risk"] == {"EUR": D("1750.00")}


def test_utilization_by_person_and_practice(data):
    # June 2025 has 21 weekdays: capacity = h/week × 21 / 5 → 40 h: 168; 20 h: 84.
    # ANN billable 8 + 6 = 14 (the 4 h on ACME-2 are not billable) → 14/168 = 0.0833
    # BOB 5 + 3 + 2 = 10 → 10/84 = 0.1190;  CID 7 (submitted counts with time=all; rejected and deleted do not)
    table = selectors.utilization(filters=JUNE, time="all")
    assert pick(table.rows, "person", "month", "capacity_hours", "billable_hours", "hours", "utilization") == [
        ("ANN", date(2025, 6, 1), D("168.00"), D("14.00"), D("18.00"), D("0.0833")),
        ("BOB", date(2025, 6, 1), D("84.00"), D("10.00"), D("10.00"), D("0.1190")),
        ("CID", date(2025, 6, 1), D("168.00"), D("7.00"), D("7.00"), D("0.0417")),
        ("DEE", date(2025, 6, 1), D("168.00"), D("0"), D("0"), D("0.0000")),
    ]
    assert table.summary["utilization"] == D("0.0527")  # 31 / 588
    practices = selectors.utilization(filters=JUNE, by="practice", time="all")
    assert pick(practices.rows, "practice", "people", "capacity_hours", "billable_hours", "utilization") == [
        ("(no practice)", 1, D("168.00"), D("0"), D("0.0000")),
        ("Apps", 1, D("168.00"), D("7.00"), D("0.0417")),
        ("Data", 2, D("252.00"), D("24.00"), D("0.0952")),  # (14 + 10) / (168 + 84)
    ]


def test_utilization_counts_capacity_only_for_days_in_the_window(data):
    # 1–15 June: 10 weekdays → ANN 40 × 10 / 5 = 80 h; billable E1 + E2 = 14 → 0.1750
    table = selectors.utilization(filters=ReportFilters(start=date(2025, 6, 1), end=date(2025, 6, 15),
                                                        person="ANN"))
    assert pick(table.rows, "capacity_hours", "billable_hours", "utilization") == [(D("80.00"), D("14.00"),
                                                                                   D("0.1750"))]


def test_utilization_and_margin_count_approved_time_unless_the_customer_says_otherwise(data):
    from apps.reporting.services import reporting_settings_update

    # CID's only June time is E6, 7 h submitted: approved-only (the default), it is not counted.
    table = selectors.utilization(filters=JUNE)
    assert [(r["person"], r["billable_hours"]) for r in table.rows] == [
        ("ANN", D("14.00")), ("BOB", D("10.00")), ("CID", D("0")), ("DEE", D("0"))]
    assert table.summary["utilization"] == D("0.0408") and table.summary["time"] == "approved"  # 24 / 588
    assert "Approved time only (the customer's reporting setting; time=all adds submitted time)." in table.notes
    margin = selectors.project_margin(filters=JUNE)
    acme1 = next(r for r in margin.rows if r["project"] == "ACME-1")
    # 2620 − E6's 7 × 100 = 1920 revenue; 1300 − 7 × 30 = 1090 cost.
    assert (acme1["hours"], acme1["revenue"], acme1["cost"], acme1["margin"]) == (
        D("16.00"), D("1920.00"), D("1090.00"), D("830.00"))

    reporting_settings_update(changes={"time_basis": "all"}, acting_user=None, reason="count submitted time")
    table = selectors.utilization(filters=JUNE)
    assert table.summary["utilization"] == D("0.0527") and table.summary["time"] == "all"
    assert table.notes[1].startswith("Approved and submitted time (the customer's reporting setting")
    asked = selectors.utilization(filters=JUNE, time="approved")
    assert asked.summary["utilization"] == D("0.0408") and "asked for with time=approved" in asked.notes[1]
    with pytest.raises(ReportFilterError):
        selectors.utilization(filters=JUNE, time="maybe")


def test_project_margin_by_project_and_month(data):
    filters = ReportFilters(start=date(2025, 5, 1), end=date(2025, 6, 30))
    table = selectors.project_margin(filters=filters, time="all")
    # ACME-1 May: E9 10 h × 100 = 1000; cost 10 × ANN's 50 = 500.
    # ACME-1 June: time value 8×100 + 6×120 + 7×100 + 2×100 = 2420, + billable expense 200 = 2620;
    #   cost 8×50 + 6×50 + 7×30 + 2×70 (E10's own cost rate) = 1050, + expenses 200 + 50 = 1300 → margin 1320.
    #   billed: I1 net 1520 + I3 500 (I4 is void) = 2020.
    # ACME-2 May: E11 4 h × 150 = 600; DEE has no cost rate → cost 0, 4 uncosted hours.
    # ACME-2 June: value 5×150 + 3×150 (E3 is not billable) = 1200; cost 4×50 + 5×40 (BOB's rate from 1 May)
    #   + 3×60 (from 16 June) = 580 → margin 620.
    assert pick(table.rows, "project", "month", "hours", "revenue", "cost", "margin", "margin_ratio",
                "billed_value", "uncosted_hours") == [
        ("ACME-1", date(2025, 5, 1), D("10.00"), D("1000.00"), D("500.00"), D("500.00"), D("0.5000"),
         D("1000.00"), D("0.00")),
        ("ACME-1", date(2025, 6, 1), D("23.00"), D("2620.00"), D("1300.00"), D("1320.00"), D("0.5038"),
         D("2020.00"), D("0.00")),
        ("ACME-2", date(2025, 5, 1), D("4.00"), D("600.00"), D("0.00"), D("600.00"), D("1.0000"),
         D("0.00"), D("4.00")),
        ("ACME-2", date(2025, 6, 1), D("12.00"), D("1200.00"), D("580.00"), D("620.00"), D("0.5167"),
         D("0.00"), D("0.00")),
    ]
    assert table.summary["by_currency"]["EUR"]["margin"] == D("3040.00")  # 5420 − 2380
    billed = selectors.project_margin(filters=filters, basis="billed", time="all")
    june_acme1 = next(r for r in billed.rows if r["project"] == "ACME-1" and r["month"] == date(2025, 6, 1))
    assert (june_acme1["revenue"], june_acme1["margin"], june_acme1["margin_ratio"]) == (
        D("2020.00"), D("720.00"), D("0.3564"))  # 2020 − 1300; 720 / 2020


def test_reconciliation_differences_per_project_and_week(data):
    filters = ReportFilters(start=date(2025, 6, 2), end=date(2025, 6, 29))
    table = selectors.reconciliation(filters=filters)
    # Hub (approved, live): ACME-1 wk 2 Jun E1 8 h/800 + E2 6 h/720; ACME-2 wk 9 Jun E3 4 h/0 + E4 5 h/750;
    #   ACME-2 wk 16 Jun E5 3 h/450; ACME-1 wk 23 Jun E10 2 h/200.
    # Tryton: E1 8/800 + E2 as posted 5 h × 120 = 600; E3 4/0; E5 3/450; E8 as posted (since deleted) 1 h × 100.
    assert pick(table.rows, "project", "week", "source_hours", "target_hours", "hours_difference",
                "amount_difference", "status", "flagged") == [
        ("ACME-1", date(2025, 6, 2), D("14.00"), D("13.00"), D("1.00"), D("120.00"), "differs", True),
        ("ACME-1", date(2025, 6, 16), D("0"), D("1.00"), D("-1.00"), D("-100.00"), "only in target", True),
        ("ACME-1", date(2025, 6, 23), D("2.00"), D("0"), D("2.00"), D("200.00"), "missing in target", True),
        ("ACME-2", date(2025, 6, 9), D("9.00"), D("4.00"), D("5.00"), D("750.00"), "differs", True),
        ("ACME-2", date(2025, 6, 16), D("3.00"), D("3.00"), D("0.00"), D("0.00"), "match", False),
    ]
    assert table.summary["flagged"] == 4


def test_roi_invoice_cycle_before_and_after_go_live_and_hours_saved(data):
    from apps.reporting.services import reconciliation_check

    reconciliation_check(filters=ReportFilters(start=date(2025, 6, 2), end=date(2025, 6, 29)), now=at("07-02"))
    table = selectors.roi(filters=ReportFilters(start=date(2025, 4, 1), end=date(2025, 6, 30), as_of=AS_OF))
    values = {row["metric"]: row["value"] for row in table.rows}
    # Before go-live (1 June): I6 issued 30 Apr, its time approved 2 Apr → 28 d; I5 30 May vs 21 May → 9 d.
    # After: I1 issued 6 June, last approval 4 June → 2 d. Mean 18.5 → 2: 16.5 days shorter.
    assert values["Go-live date"] == date(2025, 6, 1)
    assert (values["Invoice-cycle days before (mean)"], values["Invoice-cycle days after (mean)"]) == (
        D("18.5"), D("2.0"))
    assert values["Invoice cycle shortened by (mean)"] == D("16.5")
    # Whole weeks 2–29 June = 4; reconciliation raised 4 project-weeks.
    # Saved = 6 h × 4 − 4 × 15 min / 60 = 23 h; × 60 = 1380.
    assert values["Full weeks since go-live in the window"] == 4
    assert values["Reconciliation hours saved"] == D("23.00")
    assert values["Reconciliation hours saved per week"] == D("5.75")
    assert values["Value of hours saved"] == D("1380.00")
    what_if = selectors.roi(filters=ReportFilters(start=date(2025, 4, 1), end=date(2025, 6, 30)),
                            assumptions={"manual_reconciliation_hours_per_week": D("10")})
    assert {r["metric"]: r["value"] for r in what_if.rows}["Reconciliation hours saved"] == D("39.00")  # 40 − 1


def test_filters_refuse_nonsense():
    from apps.reporting.filters import filters_from_params

    assert filters_from_params({"start": "2025-06-01", "project": " ACME-1 "}).project == "ACME-1"
    for bad in ({"start": "June"}, {"start": "2025-06-02", "end": "2025-06-01"},
                {"start": "2020-01-01", "end": "2025-01-01"}):
        with pytest.raises(ReportFilterError):
            filters_from_params(bad)


def test_reading_a_figure_writes_nothing(data):
    from apps.reporting.models import ReportingSettings

    ReportingSettings.objects.all().delete()
    selectors.roi(filters=ReportFilters(as_of=AS_OF))
    assert not ReportingSettings.objects.exists()


def test_stored_figures_answer_like_the_live_ones_until_the_next_refresh(data):
    from apps.canonical.models import ExternalRef
    from apps.reporting.services import reporting_refresh

    filters = ReportFilters(as_of=AS_OF)
    live = selectors.unposted_time(filters=filters)
    roi_filters = ReportFilters(start=date(2025, 4, 1), end=date(2025, 6, 30), as_of=AS_OF)
    live_roi = selectors.roi(filters=roi_filters).rows
    snapshot = reporting_refresh()
    stored = selectors.unposted_time(filters=filters)
    assert stored.rows == live.rows and stored.summary == live.summary
    assert any(note.startswith("As of ") for note in stored.notes)
    assert selectors.roi(filters=roi_filters).rows == live_roi
    # E10 is posted: the stored figure still shows it until the refresh that follows the run.
    e10 = data.entries["E10"]
    ExternalRef.objects.create(object_type="time_entry", canonical_id=e10.pk, connection=data.tryton,
                               external_id="T-10", last_synced_hash=e10.content_hash)
    assert selectors.unposted_time(filters=filters).summary["hours"] == D("23.00")
    assert reporting_refresh(requested_at=snapshot.refreshed_at) == snapshot  # already covered: nothing redone
    reporting_refresh()
    assert selectors.unposted_time(filters=filters).summary["hours"] == D("21.00")  # 23 − E10's 2 h


def test_a_burst_of_finished_runs_queues_one_refresh_until_it_starts(data, django_capture_on_commit_callbacks):
    from apps.reporting.receivers import on_run_finished
    from apps.reporting.services import reporting_refresh
    from apps.runs.models import Run

    reporting_refresh()
    run = Run.objects.create(connection=data.tryton, object_type="time_entry")
    with django_capture_on_commit_callbacks(execute=False) as queued:
        for _ in range(3):  # three webhook events' runs finish before the refresh is picked up
            on_run_finished(sender=Run, run=run)
    assert len(queued) == 1

    from apps.reporting.tasks import reporting_refresh as refresh_task

    refresh_task()  # the queued refresh starts: runs finishing from now on are not covered by it
    with django_capture_on_commit_callbacks(execute=False) as queued_again:
        on_run_finished(sender=Run, run=run)
        on_run_finished(sender=Run, run=run)
    assert len(queued_again) == 1


def test_exceptions_by_kind_and_age_keep_every_currency(data):
    # One more validation exception opened 30 June with EUR 100 and USD 50 open: its USD is a row of its own.
    x = IntegrationException.objects.create(
        fingerprint="mixed", kind="validation", title="mixed", first_seen=at("06-30", 12), last_seen=at("06-30", 12),
        opened_at=at("06-30", 12), open_records=2, amount_at_risk=D("100"), currency="EUR",
        amounts={"EUR": "100.00", "USD": "50.00"})
    for key, amount, currency in (("m1", "100.00", "EUR"), ("m2", "50.00", "USD")):
        ExceptionRecord.objects.create(exception=x, record_key=key, first_seen=at("06-30"), last_seen=at("06-30"),
                                       amount=D(amount), currency=currency)
    table = selectors.exceptions_by_kind_age(filters=ReportFilters(as_of=AS_OF))
    assert pick(table.rows, "kind", "age", "exceptions", "open_records", "amount_at_risk", "currency") == [
        ("Transport", "1–7 days", 2, 2, D("0.00"), ""),
        ("Validation", "under 1 day", 2, 3, D("850.00"), "EUR"),
        ("Validation", "under 1 day", 0, 0, D("50.00"), "USD"),
        ("Validation", "31+ days", 1, 1, D("1000.00"), "EUR"),
    ]
    assert table.summary["amount_at_risk"] == {"EUR": D("1850.00"), "USD": D("50.00")}
    assert table.summary["exceptions"] == 5
