"""A small ledger in the hub's words, for the tests that find items by business key (tests/runs, tests/portal)."""

from apps.canonical.models import Invoice, TimeEntry
from apps.canonical.services import hub_upsert_all
from apps.common.objects import CanonicalInput, ObjectType, Ref
from apps.connectors.services import connection_create
from apps.runs.models import ItemOutcome, Run, RunItem


def ledger_build() -> dict[str, RunItem]:
    """One run: ann's entry on ACME-104 (created), bob's on ACME-105 (updated), one refused for NOPE-999, and an
    invoice INV-7 that failed to post."""
    source = connection_create(name="Time", slug="time", kind="csv", settings={}, acting_user=None)
    hub_upsert_all(connection=source, object_type=ObjectType.CUSTOMER,
                   records=[CanonicalInput("customer", "C1", {"code": "C1", "name": "Harbor Bank", "currency": "EUR"})])
    for code in ("ACME-104", "ACME-105"):
        hub_upsert_all(connection=source, object_type=ObjectType.PROJECT, records=[CanonicalInput(
            "project", code, {"code": code, "name": code, "currency": "EUR"}, refs={"customer": Ref.code("C1")})])
    for code, name in (("ann", "Ann Lee"), ("bob", "Bob Stone")):
        hub_upsert_all(connection=source, object_type=ObjectType.PERSON,
                       records=[CanonicalInput("person", code, {"code": code, "name": name})])
    for key, person, project, day in (("te-1", "ann", "ACME-104", "2026-11-23"),
                                      ("te-2", "bob", "ACME-105", "2026-11-24")):
        hub_upsert_all(connection=source, object_type=ObjectType.TIME_ENTRY, records=[CanonicalInput(
            "time_entry", key, {"date": day, "hours": "8"},
            refs={"person": Ref.code(person), "project": Ref.code(project)})])
    hub_upsert_all(connection=source, object_type=ObjectType.INVOICE, records=[CanonicalInput(
        "invoice", "INV-7", {"number": "INV-7", "currency": "EUR"}, refs={"customer": Ref.code("C1")})])
    run = Run.objects.create(connection=source, object_name="time", object_type="time_entry")
    ids = {e.date.isoformat(): e.pk for e in TimeEntry.objects.all()}
    items = {
        "ann": RunItem.objects.create(run=run, object_type="time_entry", external_id="te-1",
                                      canonical_id=ids["2026-11-23"], outcome=ItemOutcome.CREATED),
        "bob": RunItem.objects.create(run=run, object_type="time_entry", external_id="te-2",
                                      canonical_id=ids["2026-11-24"], outcome=ItemOutcome.UPDATED),
        "nope": RunItem.objects.create(run=run, object_type="time_entry", external_id="bad-1",
                                       outcome=ItemOutcome.FAILED, error_message="project NOPE-999 is not known",
                                       payload_before={"project": "NOPE-999", "person": "ann", "hours": "6"}),
        "invoice": RunItem.objects.create(run=run, object_type="invoice", external_id="9001",
                                          outcome=ItemOutcome.FAILED, canonical_id=Invoice.objects.get().pk,
                                          error_message="timeout"),
    }
    return items


