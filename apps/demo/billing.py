"""Demo billing for one customer: a go-live date, two months of invoiced time from before it, and this month's
invoices for the time the demo run brought in, so blocked invoices, ROI and the invoice cycle show figures.

Invoices billing time that failed validation in the demo run are blocked by that run's open exceptions.
The hub's upsert has no invoice lines (a connector keeps them in ``extra``), so lines are linked here
directly, as an ERP connector's line sync would.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone

from apps.canonical.models import ExternalRef, Invoice, InvoiceLine, Project, TimeEntry
from apps.canonical.services import hub_upsert_all
from apps.common.objects import CanonicalInput, ObjectType, Ref
from apps.connectors.models import Connection
from apps.demo.readiness import CUSTOMERS as READINESS_CUSTOMERS
from apps.reporting.services import reporting_refresh, reporting_settings_update

GO_LIVE_DAYS_AGO = 35
HISTORY_NOTE = "Client work (before go-live)"
HISTORY_MONTHS = 2  # months of invoiced time from before go-live
DAYS_TO_INVOICE_BEFORE = (16, 19, 23, 27, 21)  # approval → invoice, by project, in the manual days


def demo_billing_seed(*, customer, today: date | None = None) -> bool:
    """Seed the go-live date and invoices once for ``customer`` (current schema); False if already there."""
    if Invoice.objects.exists():
        return False
    today = today or timezone.localdate()
    go_live = today - timedelta(days=GO_LIVE_DAYS_AGO)
    reporting_settings_update(changes={"go_live_date": go_live}, acting_user=None, reason="Demo go-live date")
    erp = Connection.objects.get(slug="erp-masters")
    projects = list(Project.objects.filter(code__startswith=f"{customer.slug[:4].upper()}-").select_related(
        "customer").order_by("code"))
    time_source = Connection.objects.get(slug="time-export")
    history = _history(time_source, projects, go_live)
    exported = _by_key(time_source, "te-").values()  # the demo run's time, billed this month
    for n, project in enumerate(projects):
        for month, entries in enumerate(history[project.pk]):
            issued = max(e.approved_at for e in entries).date() + timedelta(days=DAYS_TO_INVOICE_BEFORE[n % 5])
            _invoice(erp, f"INV-{project.code}-H{month + 1}", project, entries, issued, "paid")
        current = [e for e in exported if e.project_id == project.pk and e.approval_status == "approved"
                   and e.date < today - timedelta(days=3)]
        if current and customer.slug not in READINESS_CUSTOMERS:  # those bill this time through billing readiness
            _invoice(erp, f"INV-{project.code}-{today:%y%m}", project, current, today, "sent")
    reporting_refresh(full=True)  # the stored invoice cycles include the new invoices at once
    return True


def _history(connection, projects: list[Project], go_live: date) -> dict[int, list[list[TimeEntry]]]:
    """Weekly time on every project for HISTORY_MONTHS before go-live, approved a few days after each week."""
    records, groups = [], defaultdict(lambda: defaultdict(list))
    for n, project in enumerate(projects):
        person = project.assignments.select_related("person").first()
        if person is None:
            continue
        for week in range(HISTORY_MONTHS * 4):
            day = go_live - timedelta(days=7 * (week + 1))
            key = f"hist-{project.code}-{week}"
            approved = timezone.make_aware(datetime.combine(day + timedelta(days=3 + n % 3), time(17)))
            records.append(CanonicalInput("time_entry", key, {
                "date": day.isoformat(), "hours": str(30 + 2 * n), "billable": True, "approval_status": "approved",
                "approved_at": approved.isoformat(), "bill_rate": str(project.default_bill_rate or 150),
                "currency": "EUR", "notes": HISTORY_NOTE},
                refs={"person": Ref.code(person.person.code), "project": Ref.code(project.code)}))
            groups[project.pk][week // 4].append(key)
    hub_upsert_all(connection=connection, object_type=ObjectType.TIME_ENTRY, records=records)
    entries = _by_key(connection, "hist-")
    _posted_by_hand(entries.values())
    return {pk: [[entries[k] for k in keys] for _, keys in sorted(months.items())] for pk, months in groups.items()}


def _posted_by_hand(entries) -> None:
    """Time from before go-live reached the ERP journal by hand: in sync there, so the journal flow leaves it be."""
    journal = Connection.objects.get(slug="erp-journal")
    ExternalRef.objects.bulk_create([
        ExternalRef(object_type="time_entry", canonical_id=e.pk, connection=journal, external_id=f"manual-{e.pk}",
                    last_synced_hash=e.content_hash) for e in entries])


def _by_key(connection, prefix: str) -> dict[str, TimeEntry]:
    """The connection's time entries whose external id starts with ``prefix``, by that id."""
    refs = ExternalRef.objects.filter(connection=connection, object_type="time_entry",
                                      external_id__startswith=prefix).values_list("external_id", "canonical_id")
    found = TimeEntry.objects.in_bulk([canonical for _, canonical in refs])
    return {key: found[canonical] for key, canonical in refs}


def _invoice(connection, number: str, project: Project, entries: list[TimeEntry], issued: date, status: str) -> None:
    net = sum((e.hours * (e.bill_rate or project.default_bill_rate or Decimal(150)) for e in entries), Decimal(0))
    net = net.quantize(Decimal("0.01"))
    tax = (net * Decimal("0.2")).quantize(Decimal("0.01"))
    hub_upsert_all(connection=connection, object_type=ObjectType.INVOICE, records=[CanonicalInput(
        "invoice", number, {"number": number, "kind": "invoice", "issue_date": issued.isoformat(),
                            "due_date": (issued + timedelta(days=30)).isoformat(), "status": status,
                            "currency": "EUR", "amount_net": str(net), "amount_tax": str(tax),
                            "amount_total": str(net + tax)},
        refs={"customer": Ref.code(project.customer.code), "project": Ref.code(project.code)})])
    invoice = Invoice.objects.get(number=number)
    line = InvoiceLine.objects.create(invoice=invoice, position=1, description=f"Time on {project.code}",
                                      quantity=sum((e.hours for e in entries), Decimal(0)), amount=net)
    line.time_entries.set(entries)
