"""A small data set whose figures are worked out by hand in the tests (June 2025; as of Monday 30 June).

People (capacity h/week, practice, cost):
  ANN 40 h, Data, cost 50 on the person;  BOB 20 h, Data, dated cost 40 from 1 May, 60 from 16 June;
  CID 40 h, Apps, cost 30;  DEE 40 h, no practice, no cost rate anywhere.
Projects of customer ACME: ACME-1 default rate 100 EUR, ACME-2 default rate 150 EUR.
Time entries (work date, hours, billable, status, approved at, rates):
  E1  ANN ACME-1 06-02 8 h bill  approved 06-03          posted, in sync
  E2  ANN ACME-1 06-03 6 h bill  approved 06-04 rate 120 posted as 5 h, then changed to 6 h (stale)
  E3  ANN ACME-2 06-10 4 h non-billable approved 06-11  posted, in sync
  E4  BOB ACME-2 06-10 5 h bill  approved 06-20          not posted (its write failed: exception X1)
  E5  BOB ACME-2 06-17 3 h bill  approved 06-18          posted, in sync
  E6  CID ACME-1 06-16 7 h bill  submitted
  E7  CID ACME-1 06-18 2 h bill  rejected
  E8  CID ACME-1 06-19 1 h bill  approved 06-19, posted, then deleted at the source (reversal pending)
  E9  ANN ACME-1 05-20 10 h bill approved 05-21          not posted
  E10 BOB ACME-1 06-24 2 h bill  approved 06-25 cost 70  not posted
  E11 DEE ACME-2 05-15 4 h bill  approved 05-16          came from the target itself
  E12 CID ACME-2 04-01 2 h bill  approved 04-02          posted, in sync
Expenses: ACME-1 06-05 200 billable, ACME-1 06-06 50 not billable.
Invoices: I1 ACME-1 issued 06-06, net 1520, total 1824, bills E1+E2;  I2 ACME-2 billing event, undated draft,
  total 900, bills E4;  I3 ACME-1 issued 06-20 total 500 (its own write failed: X2);  I4 void, total 999;
  I5 ACME-1 issued 05-30 bills E9;  I6 ACME-2 issued 04-30 bills E12.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from apps.canonical.models import (
    Assignment,
    Customer,
    Expense,
    ExternalRef,
    Invoice,
    InvoiceLine,
    Person,
    PersonCostRate,
    Project,
    TimeEntry,
)
from apps.connectors.models import ApiCallWindow, Connection
from apps.exceptions.models import ExceptionRecord, IntegrationException
from apps.reporting.models import ReportingSettings
from apps.runs.models import Flow, Run, RunItem

AS_OF = date(2025, 6, 30)


def at(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(f"2025-{day}T{hour:02d}:00:00").replace(tzinfo=UTC)


@dataclass
class Data:
    tryton: Connection
    flow: Flow
    entries: dict[str, TimeEntry]
    invoices: dict[str, Invoice]
    runs: dict[str, Run]


def build() -> Data:
    harvest = Connection.objects.create(name="Harvest", slug="harvest", kind="harvest")
    tryton = Connection.objects.create(name="Tryton", slug="tryton", kind="tryton")
    flow = Flow.objects.create(name="Time to Tryton", slug="time-to-tryton", direction="outbound",
                               object_type="time_entry", connection=tryton, object_name="timesheet")
    acme = Customer.objects.create(code="ACME", name="Acme Ltd", currency="EUR")
    p1 = Project.objects.create(code="ACME-1", name="Rollout", customer=acme, currency="EUR",
                                default_bill_rate=Decimal("100"))
    p2 = Project.objects.create(code="ACME-2", name="Support", customer=acme, currency="EUR",
                                default_bill_rate=Decimal("150"))
    ann = Person.objects.create(code="ANN", name="Ann", practice="Data", capacity_hours_per_week=40, cost_rate=50)
    bob = Person.objects.create(code="BOB", name="Bob", practice="Data", capacity_hours_per_week=20)
    cid = Person.objects.create(code="CID", name="Cid", practice="Apps", capacity_hours_per_week=40, cost_rate=30)
    dee = Person.objects.create(code="DEE", name="Dee", capacity_hours_per_week=40)
    PersonCostRate.objects.create(person=bob, effective_from=date(2025, 5, 1), amount=40, currency="EUR")
    PersonCostRate.objects.create(person=bob, effective_from=date(2025, 6, 16), amount=60, currency="EUR")

    def entry(name, person, project, day, hours, *, billable=True, status="approved", approved=None, **extra):
        return name, TimeEntry.objects.create(
            person=person, project=project, date=date.fromisoformat(f"2025-{day}"), hours=Decimal(hours),
            billable=billable, approval_status=status, approved_at=at(approved) if approved else None,
            content_hash=f"hash-{name}", source_connection=extra.pop("source", harvest), **extra)

    entries = dict([
        entry("E1", ann, p1, "06-02", 8, approved="06-03"),
        entry("E2", ann, p1, "06-03", 6, approved="06-04", bill_rate=Decimal("120")),
        entry("E3", ann, p2, "06-10", 4, billable=False, approved="06-11"),
        entry("E4", bob, p2, "06-10", 5, approved="06-20"),
        entry("E5", bob, p2, "06-17", 3, approved="06-18"),
        entry("E6", cid, p1, "06-16", 7, status="submitted"),
        entry("E7", cid, p1, "06-18", 2, status="rejected"),
        entry("E8", cid, p1, "06-19", 1, approved="06-19", deleted_at=at("06-26")),
        entry("E9", ann, p1, "05-20", 10, approved="05-21"),
        entry("E10", bob, p1, "06-24", 2, approved="06-25", cost_rate=Decimal("70")),
        entry("E11", dee, p2, "05-15", 4, approved="05-16", source=tryton),
        entry("E12", cid, p2, "04-01", 2, approved="04-02"),
    ])
    for name in ("E1", "E3", "E5", "E12"):
        _posted(tryton, entries[name], entries[name].content_hash)
    _posted(tryton, entries["E2"], "hash-E2-as-posted")
    _posted(tryton, entries["E8"], "hash-E8-before-deletion")
    _posted(tryton, entries["E11"], entries["E11"].content_hash)  # read from Tryton: nothing to send back

    Expense.objects.create(person=ann, project=p1, date=date(2025, 6, 5), amount=200, currency="EUR",
                           approval_status="approved")
    Expense.objects.create(person=ann, project=p1, date=date(2025, 6, 6), amount=50, currency="EUR",
                           billable=False, approval_status="approved")
    invoices = _invoices(acme, p1, p2, entries)
    runs = _ledger(flow, tryton, entries)
    _exceptions(flow, entries, invoices)
    _assignments(ann, bob, cid, p1, p2)
    ReportingSettings.objects.create(go_live_date=date(2025, 6, 1))
    for start, seconds, calls in ((at("06-03", 0), 86400, 40), (at("06-10", 0), 86400, 2),
                                  (at("05-31", 0), 86400, 100), (at("06-10", 10), 60, 5)):
        ApiCallWindow.objects.create(connection=tryton, window_seconds=seconds, window_start=start, calls=calls)
    return Data(tryton, flow, entries, invoices, runs)


def _posted(connection, entry: TimeEntry, synced_hash: str) -> None:
    ExternalRef.objects.create(object_type="time_entry", canonical_id=entry.pk, connection=connection,
                               external_id=f"T-{entry.pk}", last_synced_hash=synced_hash)


def _invoices(acme, p1, p2, entries) -> dict[str, Invoice]:
    def invoice(number, project, issued, total, *, net=None, status="sent", kind="invoice", bills=()):
        created = Invoice.objects.create(
            number=number, kind=kind, customer=acme, project=project, currency="EUR", status=status,
            issue_date=date.fromisoformat(f"2025-{issued}") if issued else None,
            amount_net=Decimal(net if net is not None else total), amount_total=Decimal(total))
        if bills:
            line = InvoiceLine.objects.create(invoice=created, amount=Decimal(total))
            line.time_entries.set([entries[name] for name in bills])
        return number, created

    return dict([
        invoice("I1", p1, "06-06", 1824, net=1520, bills=("E1", "E2")),
        invoice("I2", p2, None, 900, status="draft", kind="billing_event", bills=("E4",)),
        invoice("I3", p1, "06-20", 500),
        invoice("I4", p1, "06-21", 999, status="void"),
        invoice("I5", p1, "05-30", 1000, bills=("E9",)),
        invoice("I6", p2, "04-30", 300, bills=("E12",)),
    ])


def _ledger(flow: Flow, tryton, entries) -> dict[str, Run]:
    """R1 (3 June, succeeded) and R2 (10 June, finished with failures); latencies in minutes."""
    r1 = Run.objects.create(flow=flow, connection=tryton, object_name="timesheet", object_type="time_entry",
                            status="succeeded", started_at=at("06-03"), finished_at=at("06-03", 10),
                            counts={"created": 3, "updated": 2})
    r2 = Run.objects.create(flow=flow, connection=tryton, object_name="timesheet", object_type="time_entry",
                            status="partial", started_at=at("06-10"), finished_at=at("06-10", 10),
                            counts={"updated": 2, "failed": 1, "skipped": 1, "unchanged": 1})
    e2_as_posted = {"id": entries["E2"].pk, "date": "2025-06-03", "hours": "5.00", "billable": True,
                    "bill_rate": "120.00", "project": {"id": entries["E2"].project_id}}
    e8_as_posted = {"id": entries["E8"].pk, "date": "2025-06-19", "hours": "1.00", "billable": True,
                    "bill_rate": None, "project": {"id": entries["E8"].project_id}}
    items = [
        (r1, "E1", "created", 10, None), (r1, "E2", "created", 20, e2_as_posted), (r1, "E3", "created", 30, None),
        (r1, "E5", "updated", 40, None), (r1, "E8", "updated", 100, e8_as_posted),
        (r2, "E1", "updated", 60, None), (r2, "E3", "updated", 120, None), (r2, "E4", "failed", None, None),
        (r2, "E6", "skipped", None, None), (r2, "E12", "unchanged", None, None),
    ]
    for run, name, outcome, minutes, view in items:
        item = RunItem.objects.create(run=run, object_type="time_entry", canonical_id=entries[name].pk,
                                      external_id=str(entries[name].pk), outcome=outcome, payload_before=view,
                                      latency_ms=minutes * 60_000 if minutes else None)
        RunItem.objects.filter(pk=item.pk).update(created_at=run.started_at)
    Run.objects.filter(pk=r1.pk).update(created_at=at("06-03"))
    Run.objects.filter(pk=r2.pk).update(created_at=at("06-10"))
    return {"R1": r1, "R2": r2}


def _exceptions(flow: Flow, entries, invoices) -> None:
    """X1 validation (E4, 750 EUR) opened 30 June 12:00; X2 transport (invoice I3, and I1 cleared) opened 25 June;
    X3 validation (E9, 1000 EUR) opened 1 May; X4 mapping, resolved; X5 on the void invoice I4."""
    def exception(name, kind, opened, *, status="open", amount=0, records=()):
        x = IntegrationException.objects.create(
            fingerprint=name, kind=kind, title=f"{name} failure", flow=flow, status=status, first_seen=opened,
            last_seen=opened, opened_at=opened, open_records=sum(1 for r in records if r[2]),
            amount_at_risk=Decimal(amount), currency="EUR" if amount else "", projects=["ACME-1"])
        for object_type, record, is_open in records:
            ExceptionRecord.objects.create(exception=x, record_key=f"{object_type}:{record.pk}",
                                           object_type=object_type, canonical_id=record.pk, is_open=is_open,
                                           first_seen=opened, last_seen=opened, amount=Decimal(amount) or None,
                                           currency="EUR" if amount else "")
        return x

    exception("X1", "validation", at("06-30", 12), amount=750, records=[("time_entry", entries["E4"], True)])
    exception("X2", "transport", at("06-25", 0), records=[("invoice", invoices["I3"], True),
                                                          ("invoice", invoices["I1"], False)])
    exception("X3", "validation", at("05-01"), amount=1000, records=[("time_entry", entries["E9"], True)])
    exception("X4", "mapping", at("06-01"), status="resolved", amount=5, records=[("time_entry", entries["E1"], True)])
    exception("X5", "transport", at("06-29"), records=[("invoice", invoices["I4"], True)])


def _assignments(ann, bob, cid, p1, p2) -> None:
    Assignment.objects.create(person=ann, project=p1, start_date=date(2025, 6, 2), end_date=date(2025, 6, 13),
                              planned_hours=40)
    Assignment.objects.create(person=bob, project=p2, start_date=date(2025, 6, 11), end_date=date(2025, 6, 20),
                              planned_hours=8)
    Assignment.objects.create(person=cid, project=p1, planned_hours=30)  # no dates: cannot be spread over weeks


def build_more(n: int = 5) -> None:
    """More of everything (projects, people, entries, invoices, ledger, exceptions): query counts must not move."""
    tryton = Connection.objects.get(slug="tryton")
    flow = Flow.objects.get(slug="time-to-tryton")
    acme = Customer.objects.get(code="ACME")
    run = Run.objects.create(flow=flow, connection=tryton, object_name="timesheet", object_type="time_entry",
                             status="succeeded", started_at=at("06-12"), finished_at=at("06-12", 10))
    for k in range(n):
        project = Project.objects.create(code=f"MORE-{k}", name=f"More {k}", customer=acme, currency="EUR",
                                         default_bill_rate=90)
        person = Person.objects.create(code=f"MORE{k}", name=f"More {k}", practice=f"P{k}")
        Assignment.objects.create(person=person, project=project, start_date=date(2025, 6, 2),
                                  end_date=date(2025, 6, 27), planned_hours=60)
        PersonCostRate.objects.create(person=person, effective_from=date(2025, 1, 1), amount=45, currency="EUR")
        entries = [TimeEntry.objects.create(person=person, project=project, date=date(2025, 6, 2 + day),
                                            hours=3, approval_status="approved", approved_at=at("06-20"),
                                            content_hash=f"more-{k}-{day}") for day in range(0, 20, 3)]
        for entry in entries[:3]:
            _posted(tryton, entry, entry.content_hash)
            RunItem.objects.create(run=run, object_type="time_entry", canonical_id=entry.pk, outcome="created",
                                   external_id=str(entry.pk), latency_ms=3_600_000 * (k + 1))
        invoice = Invoice.objects.create(number=f"M{k}", customer=acme, project=project, currency="EUR",
                                         issue_date=date(2025, 6, 25), amount_net=100, amount_total=120)
        InvoiceLine.objects.create(invoice=invoice, amount=100).time_entries.set(entries)
        x = IntegrationException.objects.create(fingerprint=f"more-{k}", kind="mapping", title="more", flow=flow,
                                                first_seen=at("06-20"), last_seen=at("06-20"), opened_at=at("06-20"),
                                                open_records=1, amount_at_risk=270, currency="EUR")
        ExceptionRecord.objects.create(exception=x, record_key=f"more:{entries[-1].pk}", object_type="time_entry",
                                       canonical_id=entries[-1].pk, first_seen=at("06-20"), last_seen=at("06-20"),
                                       amount=270, currency="EUR")
