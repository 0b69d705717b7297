"""Exceptions tests: the engine's real CSV → hub → journal set-up (as in tests/runs/test_engine.py), with a
project that has a bill rate, so failures carry hours and money at risk."""

from __future__ import annotations

from datetime import datetime

import pytest

from apps.canonical.models import ExternalRef, Project
from apps.canonical.services import hub_upsert_all
from apps.common.objects import CanonicalInput, ObjectType, Ref
from apps.connectors.services import connection_create
from apps.mappings.models import Mapping, RuleKind, RuleSet, ValidationRule
from apps.mappings.services import mapping_version_create, mapping_version_publish
from apps.runs import engine
from apps.runs.models import Flow

JOURNAL_RULES = [
    {"target": "entry", "source": "id"},
    {"target": "project", "lookup": {"object": "project", "source": "project.id"}},
    {"target": "employee", "source": "person.code", "transform": "upper"},
    {"target": "date", "source": "date"},
    {"target": "minutes", "expression": "$number(hours) * 60"},
]


@pytest.fixture
def setup(in_alpha):
    csv_in = connection_create(name="Time export", slug="time-export", kind="csv", settings={"settle_seconds": 0})
    journal = connection_create(name="ERP journal", slug="erp-journal", kind="csv")
    hub_upsert_all(connection=csv_in, object_type=ObjectType.PERSON, records=[
        CanonicalInput("person", "ann", {"code": "ann", "name": "Ann Lee"}),
        CanonicalInput("person", "bob", {"code": "bob", "name": "Bob Ray"})])
    hub_upsert_all(connection=csv_in, object_type=ObjectType.CUSTOMER, records=[
        CanonicalInput("customer", "acme", {"code": "ACME", "name": "Acme", "currency": "EUR"})])
    hub_upsert_all(connection=csv_in, object_type=ObjectType.PROJECT, records=[
        CanonicalInput("project", "p1", {"code": "ACME-042", "name": "Relaunch", "currency": "EUR",
                                         "default_bill_rate": "150"}, refs={"customer": Ref.code("ACME")})])
    project = Project.objects.get(code="ACME-042")
    ExternalRef.objects.create(object_type="project", canonical_id=project.pk, connection=journal,
                               external_id="ERP-PRJ-42")
    inbound = Flow.objects.create(name="Time in", slug="time-in", direction="inbound", object_type="time_entry",
                                  connection=csv_in, object_name="time_entries", on_schedule=False)
    rules = RuleSet.objects.create(name="Posting rules", slug="posting", object_type="time_entry")
    for position, (kind, params) in enumerate([
        (RuleKind.APPROVAL_STATUS, {"allowed": ["approved"]}),
        (RuleKind.DAILY_HOURS_LIMIT, {"limit": 12}),
    ]):
        ValidationRule.objects.create(rule_set=rules, kind=kind, params=params, position=position)
    mapping = Mapping.objects.create(name="Hub → journal", slug="journal-out", direction="outbound",
                                     object_type="time_entry", connector_kind="csv")
    publish(mapping, JOURNAL_RULES)
    outbound = Flow.objects.create(name="Time to journal", slug="time-out", direction="outbound",
                                   object_type="time_entry", connection=journal, object_name="journal_export",
                                   mapping=mapping, rule_set=rules, on_hub_change=True, on_schedule=False)
    return {"in": csv_in, "journal": journal, "inbound": inbound, "outbound": outbound, "mapping": mapping,
            "project": project}


def publish(mapping, rules):
    version = mapping_version_create(mapping=mapping, acting_user=None, rules=rules)
    return mapping_version_publish(version=version, acting_user=None)


@pytest.fixture(autouse=True)
def _inline_hub_changes(monkeypatch):
    # Tasks are not run after commit in tests: hub changes fan out inline so one call does the whole chain.
    original = engine.hub_changed
    monkeypatch.setattr("apps.runs.engine.hub_changed", lambda **kw: original(**{**kw, "inline": True}))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)




def pytest_configure(config):
    # test_classify drives the Harvest kind with tests.connectors' helpers, whose module marks tests "prism".
    config.addinivalue_line("markers", "prism: talks HTTP to a Prism mock server of a vendor's OpenAPI spec")
