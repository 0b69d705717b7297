"""Fixtures shared by the engine tests."""

import pytest

from apps.canonical.models import ExternalRef, TimeEntry
from apps.canonical.services import hub_upsert_all
from apps.common.objects import CanonicalInput, ObjectType, Ref
from apps.connectors.services import connection_create
from apps.mappings.models import Mapping, RuleKind, RuleSet, ValidationRule
from apps.mappings.services import mapping_version_create, mapping_version_publish
from apps.runs.models import Flow


@pytest.fixture
def setup(in_alpha):
    """A CSV time export and a journal export, with posting rules and a mapping between them (engine tests)."""
    csv_in = connection_create(name="Time export", slug="time-export", kind="csv", settings={"settle_seconds": 0},
                               acting_user=None)
    journal = connection_create(name="ERP journal", slug="erp-journal", kind="csv", acting_user=None)
    hub_upsert_all(connection=csv_in, object_type=ObjectType.PERSON, records=[
        CanonicalInput("person", "ann", {"code": "ann", "name": "Ann Lee"}),
        CanonicalInput("person", "bob", {"code": "bob", "name": "Bob Ray"}),
    ])
    hub_upsert_all(connection=csv_in, object_type=ObjectType.CUSTOMER, records=[
        CanonicalInput("customer", "acme", {"code": "ACME", "name": "Acme"})])
    hub_upsert_all(connection=csv_in, object_type=ObjectType.PROJECT, records=[
        CanonicalInput("project", "p1", {"code": "ACME-042", "name": "Relaunch"}, refs={"customer": Ref.code("ACME")})])
    # The journal "knows" the project (as the ERP would, after project setup).
    ExternalRef.objects.create(object_type="project", canonical_id=TimeEntry._meta.get_field("project")
                               .related_model.objects.get().pk, connection=journal, external_id="ERP-PRJ-42")
    inbound = Flow.objects.create(name="Time in", slug="time-in", direction="inbound", object_type="time_entry",
                                  connection=csv_in, object_name="time_entries", on_schedule=False)
    rules = RuleSet.objects.create(name="Posting rules", slug="posting", object_type="time_entry")
    for position, (kind, params) in enumerate([
        (RuleKind.APPROVAL_STATUS, {"allowed": ["approved"]}),
        (RuleKind.DAILY_HOURS_LIMIT, {"limit": 12}),
        (RuleKind.REFERENCE_EXISTS, {"object": "project", "source": "project.id", "display": "project.code",
                                     "label": "project"}),
    ]):
        ValidationRule.objects.create(rule_set=rules, kind=kind, params=params, position=position)
    mapping = Mapping.objects.create(name="Hub → journal", slug="journal-out", direction="outbound",
                                     object_type="time_entry", connector_kind="csv")
    version = mapping_version_create(mapping=mapping, acting_user=None, rules=[
        {"target": "entry", "source": "id"},
        {"target": "project", "lookup": {"object": "project", "source": "project.id"}},
        {"target": "employee", "source": "person.code", "transform": "upper"},
        {"target": "date", "source": "date"},
        {"target": "minutes", "expression": "$number(hours) * 60"},
        {"target": "memo", "expression": "$substring(notes, 0, 20)"},
    ])
    mapping_version_publish(version=version, acting_user=None)
    outbound = Flow.objects.create(name="Time to journal", slug="time-out", direction="outbound",
                                   object_type="time_entry", connection=journal, object_name="journal_export",
                                   mapping=mapping, rule_set=rules, on_hub_change=True, on_schedule=False)
    return {"in": csv_in, "journal": journal, "inbound": inbound, "outbound": outbound, "mapping": mapping}
