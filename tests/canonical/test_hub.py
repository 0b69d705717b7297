"""Reads into the hub: created, unchanged, updated, deleted, refused — and every refusal says why."""

from decimal import Decimal

import pytest

from apps.canonical.hashing import record_hash
from apps.canonical.models import ExternalRef, Person, Project, TimeEntry
from apps.canonical.services import Outcome, hub_upsert_all, ownership_set
from apps.common.errors import ErrorCategory
from apps.common.objects import CanonicalInput, ObjectType, Ref
from tests.canonical.factories import ConnectionFactory


@pytest.fixture
def harvest(in_alpha):
    return ConnectionFactory(name="Harvest", slug="harvest", kind="harvest")


@pytest.fixture
def erp(in_alpha):
    return ConnectionFactory(name="Tryton ERP", slug="tryton", kind="tryton")


def _load(connection, object_type, records):
    return hub_upsert_all(connection=connection, object_type=object_type, records=records)


def _masters(connection):
    _load(connection, ObjectType.CUSTOMER, [CanonicalInput("customer", "c1", {"code": "ACME", "name": "Acme"})])
    _load(connection, ObjectType.PERSON, [CanonicalInput("person", "u1", {"code": "ann", "name": "Ann"})])
    _load(connection, ObjectType.PROJECT, [CanonicalInput(
        "project", "p1", {"code": "ACME-042", "name": "Relaunch"}, refs={"customer": Ref.external("c1")})])


def _entry(external_id, hours="7.5", **fields):
    return CanonicalInput("time_entry", external_id, {"date": "2026-11-02", "hours": hours, **fields},
                          refs={"person": Ref.external("u1"), "project": Ref.external("p1")})


def test_first_load_creates_records_and_cross_references(harvest):
    _masters(harvest)
    summary = _load(harvest, ObjectType.TIME_ENTRY, [_entry("t1"), _entry("t2", hours="1.25")])

    assert summary.counts == {Outcome.CREATED: 2}
    entry = TimeEntry.objects.get(hours=Decimal("1.25"))
    assert entry.project.code == "ACME-042" and entry.person.code == "ann"
    ref = ExternalRef.objects.get(connection=harvest, object_type="time_entry", external_id="t2")
    assert ref.canonical_id == entry.pk and ref.last_synced_hash == record_hash(entry) == entry.content_hash


def test_unchanged_redelivery_is_a_no_op(harvest):
    _masters(harvest)
    _load(harvest, ObjectType.TIME_ENTRY, [_entry("t1")])
    before = TimeEntry.objects.get().updated_at

    summary = _load(harvest, ObjectType.TIME_ENTRY, [_entry("t1")])

    assert summary.counts == {Outcome.UNCHANGED: 1}
    assert TimeEntry.objects.get().updated_at == before
    assert TimeEntry.objects.count() == 1


def test_changed_content_updates_the_record_and_its_hash(harvest):
    _masters(harvest)
    _load(harvest, ObjectType.TIME_ENTRY, [_entry("t1")])
    summary = _load(harvest, ObjectType.TIME_ENTRY, [_entry("t1", hours="8", approval_status="approved")])

    assert summary.counts == {Outcome.UPDATED: 1}
    entry = TimeEntry.objects.get()
    assert entry.hours == Decimal("8.00") and entry.approval_status == "approved"
    assert ExternalRef.objects.get(external_id="t1", object_type="time_entry").last_synced_hash == record_hash(entry)


def test_bad_records_fail_with_a_message_naming_the_field_and_the_batch_goes_on(harvest):
    _masters(harvest)
    summary = _load(harvest, ObjectType.TIME_ENTRY, [
        _entry("good"),
        _entry("bad-hours", hours="seven"),
        CanonicalInput("time_entry", "no-project", {"date": "2026-11-02", "hours": "1"},
                       refs={"person": Ref.external("u1"), "project": Ref.external("p-unknown")}),
        CanonicalInput("time_entry", "no-date", {"hours": "1"},
                       refs={"person": Ref.external("u1"), "project": Ref.external("p1")}),
        _entry("odd-field", colour="blue"),
        _entry("bad-status", approval_status="maybe"),
    ])

    assert summary.counts == {Outcome.CREATED: 1, Outcome.FAILED: 5}
    problems = {p.external_id: p for p in summary.problems}
    assert problems["bad-hours"].field == "hours" and "'seven' is not a number" in problems["bad-hours"].message
    assert problems["no-project"].category == ErrorCategory.MISSING_REFERENCE
    assert "no project with Harvest id p-unknown" in problems["no-project"].message
    assert problems["no-date"].field == "date" and "required" in problems["no-date"].message
    assert problems["odd-field"].category == ErrorCategory.MAPPING
    assert problems["bad-status"].field == "approval_status"
    assert list(TimeEntry.objects.values_list("hours", flat=True)) == [Decimal("7.50")]


def test_same_code_from_two_systems_is_one_canonical_record(harvest, erp):
    _load(erp, ObjectType.CUSTOMER, [CanonicalInput("customer", "31", {"code": "ACME", "name": "Acme"})])
    _load(harvest, ObjectType.CUSTOMER, [CanonicalInput("customer", "8812", {"code": "ACME", "name": "Acme"})])

    refs = ExternalRef.objects.filter(object_type="customer").order_by("connection__name")
    assert [(r.connection.name, r.external_id) for r in refs] == [("Harvest", "8812"), ("Tryton ERP", "31")]
    assert len({r.canonical_id for r in refs}) == 1


def test_non_owner_changes_to_owned_objects_are_conflicts_not_overwrites(harvest, erp):
    ownership_set(object_type=ObjectType.PROJECT, connection=erp, acting_user=None)
    _load(erp, ObjectType.CUSTOMER, [CanonicalInput("customer", "31", {"code": "ACME", "name": "Acme"})])
    _load(erp, ObjectType.PROJECT, [CanonicalInput(
        "project", "44", {"code": "ACME-042", "name": "Relaunch"}, refs={"customer": Ref.external("31")})])
    _load(harvest, ObjectType.CUSTOMER, [CanonicalInput("customer", "c1", {"code": "ACME", "name": "Acme"})])

    renamed = _load(harvest, ObjectType.PROJECT, [CanonicalInput(
        "project", "p1", {"code": "ACME-042", "name": "Renamed in Harvest"}, refs={"customer": Ref.external("c1")})])
    created = _load(harvest, ObjectType.PROJECT, [CanonicalInput(
        "project", "p2", {"code": "NEW-1", "name": "Harvest-only"}, refs={"customer": Ref.external("c1")})])

    assert renamed.counts == {Outcome.CONFLICT: 1}
    assert "name of this project belong to Tryton ERP" in renamed.problems[0].message
    assert created.counts == {Outcome.CONFLICT: 1} and "may not create them" in created.problems[0].message
    assert list(Project.objects.values_list("name", flat=True)) == ["Relaunch"]


def test_field_group_ownership_lets_other_fields_through(harvest, erp):
    ownership_set(object_type=ObjectType.PERSON, field_group="cost", connection=erp, acting_user=None)
    _load(harvest, ObjectType.PERSON, [CanonicalInput("person", "u1", {"code": "ann", "name": "Ann"})])

    renamed = _load(harvest, ObjectType.PERSON, [CanonicalInput("person", "u1", {"code": "ann", "name": "Ann Lee"})])
    costed = _load(harvest, ObjectType.PERSON, [CanonicalInput(
        "person", "u1", {"code": "ann", "name": "Ann Lee", "cost_rate": "95"})])

    assert renamed.counts == {Outcome.UPDATED: 1}
    assert costed.counts == {Outcome.CONFLICT: 1} and "cost_rate" in costed.problems[0].message
    assert Person.objects.get().cost_rate is None


def test_deletion_at_the_source_is_kept_as_a_reversal(harvest):
    _masters(harvest)
    _load(harvest, ObjectType.TIME_ENTRY, [_entry("t1")])
    gone = CanonicalInput("time_entry", "t1", {}, deleted=True)

    assert _load(harvest, ObjectType.TIME_ENTRY, [gone]).counts == {Outcome.DELETED: 1}
    assert TimeEntry.objects.get().deleted_at is not None
    assert _load(harvest, ObjectType.TIME_ENTRY, [gone]).counts == {Outcome.UNCHANGED: 1}


def test_our_own_write_read_back_is_recognised_as_an_echo(harvest, erp):
    _masters(harvest)
    _load(harvest, ObjectType.TIME_ENTRY, [_entry("t1", approval_status="approved")])
    entry = TimeEntry.objects.get()
    # The engine wrote this entry to the ERP as line 900 and remembered the content it sent.
    _load(erp, ObjectType.PERSON, [CanonicalInput("person", "e7", {"code": "ann", "name": "Ann"})])
    _load(erp, ObjectType.CUSTOMER, [CanonicalInput("customer", "31", {"code": "ACME", "name": "Acme"})])
    _load(erp, ObjectType.PROJECT, [CanonicalInput(
        "project", "44", {"code": "ACME-042", "name": "Relaunch"}, refs={"customer": Ref.external("31")})])
    ExternalRef.objects.create(object_type="time_entry", canonical_id=entry.pk, connection=erp, external_id="900",
                               last_synced_hash=record_hash(entry))
    echo = CanonicalInput("time_entry", "900", {"date": "2026-11-02", "hours": "7.50", "approval_status": "approved"},
                          refs={"person": Ref.external("e7"), "project": Ref.external("44")})

    assert _load(erp, ObjectType.TIME_ENTRY, [echo]).counts == {Outcome.UNCHANGED: 1}
    assert TimeEntry.objects.count() == 1


def test_duplicates_within_one_read_fail_visibly_instead_of_breaking_the_batch(harvest):
    summary = _load(harvest, ObjectType.CUSTOMER, [
        CanonicalInput("customer", "c1", {"code": "ACME", "name": "Acme"}),
        CanonicalInput("customer", "c2", {"code": "ACME", "name": "Acme again"}),
        CanonicalInput("customer", "c1", {"code": "ACME2", "name": "Same id twice"}),
        CanonicalInput("customer", "c3", {"code": "GLOBEX", "name": "Globex"}),
    ])
    assert summary.counts == {Outcome.CREATED: 2, Outcome.FAILED: 2}
    assert all(p.category == ErrorCategory.DUPLICATE and "appears twice" in p.message for p in summary.problems)
    assert sorted(ExternalRef.objects.filter(object_type="customer").values_list("external_id", flat=True)) == [
        "c1", "c3"]


def test_a_system_that_sends_fewer_fields_never_blanks_the_others(harvest, erp):
    _load(erp, ObjectType.PERSON, [CanonicalInput("person", "e7", {
        "code": "ann", "name": "Ann", "email": "ann@acme.example", "practice": "Advisory", "cost_rate": "80"})])
    # Harvest knows the same person (by code) but sends no practice or cost rate.
    summary = _load(harvest, ObjectType.PERSON, [CanonicalInput("person", "u1", {"code": "ann", "name": "Ann Lee"})])

    assert summary.counts == {Outcome.UPDATED: 1}
    person = Person.objects.get()
    assert (person.name, person.practice, person.cost_rate) == ("Ann Lee", "Advisory", Decimal("80.00"))
    assert person.content_hash == record_hash(person)
    again = _load(harvest, ObjectType.PERSON, [CanonicalInput("person", "u1", {"code": "ann", "name": "Ann Lee"})])
    assert again.counts == {Outcome.UNCHANGED: 1}


def test_a_record_read_again_unchanged_is_settled_without_converting_it(harvest, monkeypatch):
    _masters(harvest)
    _load(harvest, ObjectType.TIME_ENTRY, [_entry("t1"), _entry("t2", hours="2")])
    # References made before input keys existed have none: the first unchanged re-read adds it.
    ExternalRef.objects.filter(external_id="t2").update(last_input_key="")
    assert _load(harvest, ObjectType.TIME_ENTRY, [_entry("t1"), _entry("t2", hours="2")]).counts == {
        Outcome.UNCHANGED: 2}

    def no_conversion(*args):
        raise AssertionError("an unchanged input was converted again")

    monkeypatch.setattr("apps.canonical.services._convert", no_conversion)
    again = _load(harvest, ObjectType.TIME_ENTRY, [_entry("t1"), _entry("t2", hours="2")])

    assert again.counts == {Outcome.UNCHANGED: 2}
    with pytest.raises(AssertionError, match="converted again"):
        _load(harvest, ObjectType.TIME_ENTRY, [_entry("t1", hours="3")])


def test_the_same_input_whose_reference_now_points_elsewhere_updates_the_record(harvest):
    _masters(harvest)
    _load(harvest, ObjectType.TIME_ENTRY, [_entry("t1")])
    _load(harvest, ObjectType.PROJECT, [CanonicalInput(
        "project", "p9", {"code": "ACME-099", "name": "Follow-up"}, refs={"customer": Ref.external("c1")})])
    moved = Project.objects.get(code="ACME-099")
    # Harvest's project p1 turned out to be the follow-up project (the cross-reference was corrected).
    ExternalRef.objects.filter(object_type="project", external_id="p9").delete()
    ExternalRef.objects.filter(object_type="project", external_id="p1").update(canonical_id=moved.pk)

    summary = _load(harvest, ObjectType.TIME_ENTRY, [_entry("t1")])

    assert summary.counts == {Outcome.UPDATED: 1}
    assert TimeEntry.objects.get().project == moved


def test_an_outbound_write_voids_the_remembered_input(harvest):
    _masters(harvest)
    _load(harvest, ObjectType.TIME_ENTRY, [_entry("t1")])
    # The hub's entry changed elsewhere and the engine sent the new content to Harvest, which recorded it as
    # the hash last synced with Harvest.
    entry = TimeEntry.objects.get()
    entry.hours = Decimal("8.00")
    entry.content_hash = record_hash(entry)
    entry.save()
    ExternalRef.objects.filter(external_id="t1").update(last_synced_hash=entry.content_hash)

    # Harvest still has 7.5 h: its content comes back into the hub instead of passing as unchanged.
    summary = _load(harvest, ObjectType.TIME_ENTRY, [_entry("t1")])

    assert summary.counts == {Outcome.UPDATED: 1}
    assert TimeEntry.objects.get().hours == Decimal("7.50")
