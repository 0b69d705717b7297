"""The engine end to end on real files: CSV time export → hub → journal export, with rules, mapping,
idempotent re-runs, failures that don't stop the batch, reversals and replay."""

import json
from decimal import Decimal
from pathlib import Path

import pytest

from apps.canonical.models import ExternalRef, TimeEntry
from apps.canonical.services import hub_upsert_all
from apps.common.objects import CanonicalInput, ObjectType
from apps.connectors.services import connection_create, connection_files_root
from apps.mappings.models import Mapping, RuleKind, RuleSet, ValidationRule
from apps.mappings.services import mapping_version_create, mapping_version_publish
from apps.runs import engine, replay
from apps.runs.models import Flow, ItemOutcome, Run, RunItem, RunStatus, Trigger

HEADER = "id,person,project,date,hours,approval_status,notes\n"


@pytest.fixture
def setup(in_alpha):
    csv_in = connection_create(name="Time export", slug="time-export", kind="csv", settings={"settle_seconds": 0})
    journal = connection_create(name="ERP journal", slug="erp-journal", kind="csv")
    hub_upsert_all(connection=csv_in, object_type=ObjectType.PERSON, records=[
        CanonicalInput("person", "ann", {"code": "ann", "name": "Ann Lee"}),
        CanonicalInput("person", "bob", {"code": "bob", "name": "Bob Ray"}),
    ])
    hub_upsert_all(connection=csv_in, object_type=ObjectType.CUSTOMER, records=[
        CanonicalInput("customer", "acme", {"code": "ACME", "name": "Acme"})])
    from apps.common.objects import Ref

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


def drop(connection, name: str, rows: str) -> Path:
    inbox = connection_files_root(connection) / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    path = inbox / name
    path.write_text(HEADER + rows)
    return path


def journal_lines(connection) -> list[dict]:
    outbox = connection_files_root(connection) / "outbox"
    lines = []
    for path in sorted(outbox.glob("journal-*")):
        text = path.read_text().splitlines()
        if path.suffix == ".jsonl":
            lines += [json.loads(line) for line in text]
        else:
            import csv

            lines += list(csv.DictReader(text))
    return lines


def run_flow(flow, **kwargs) -> Run:
    run = engine.flow_run_request(flow=flow, trigger=Trigger.MANUAL, enqueue=False, **kwargs)
    while True:
        engine.run_execute(run_id=run.pk)
        run.refresh_from_db()
        if run.status != RunStatus.QUEUED:
            return run


@pytest.fixture(autouse=True)
def _inline_hub_changes(monkeypatch):
    # Tests run tasks synchronously; hub changes fan out inline so one call does the whole chain.
    original = engine.hub_changed
    monkeypatch.setattr("apps.runs.inbound.hub_changed", lambda **kw: original(**{**kw, "inline": True}))


def test_approved_time_flows_from_csv_through_the_hub_to_the_journal(setup):
    drop(setup["in"], "time-01.csv",
         "t1,ann,ACME-042,2026-11-02,7.5,approved,Workshop\n"
         "t2,bob,ACME-042,2026-11-02,3,submitted,Not yet approved\n")

    inbound = run_flow(setup["inbound"])

    assert inbound.status == RunStatus.SUCCEEDED and inbound.counts == {"created": 2}
    lines = journal_lines(setup["journal"])
    assert len(lines) == 1
    assert lines[0]["project"] == "ERP-PRJ-42" and lines[0]["employee"] == "ANN"
    assert Decimal(str(lines[0]["minutes"])) == 450
    posted = RunItem.objects.get(run__flow=setup["outbound"], outcome=ItemOutcome.CREATED)
    assert posted.payload_after["memo"] == "Workshop" and posted.target_external_id


def test_rerunning_sends_nothing_twice(setup):
    drop(setup["in"], "time-01.csv", "t1,ann,ACME-042,2026-11-02,7.5,approved,Workshop\n")
    run_flow(setup["inbound"])
    drop(setup["in"], "time-02.csv", "t1,ann,ACME-042,2026-11-02,7.5,approved,Workshop\n")

    again = run_flow(setup["inbound"])
    catch_up = run_flow(setup["outbound"])

    assert again.counts == {"unchanged": 1}
    assert catch_up.counts == {} and len(journal_lines(setup["journal"])) == 1


def test_failures_are_recorded_with_the_rules_message_and_the_batch_goes_on(setup):
    drop(setup["in"], "time-01.csv",
         "t1,ann,ACME-042,2026-11-02,7.5,approved,ok\n"
         "t2,bob,ACME-042,2026-11-03,13,approved,too long a day\n"
         "t3,bob,NOPE-1,2026-11-04,2,approved,unknown project\n")

    inbound = run_flow(setup["inbound"])

    assert inbound.counts == {"created": 2, "failed": 1}
    unknown = RunItem.objects.get(run=inbound, outcome=ItemOutcome.FAILED)
    assert "project" in unknown.error_message and "NOPE-1" in unknown.error_message
    over = RunItem.objects.get(run__flow=setup["outbound"], outcome=ItemOutcome.FAILED)
    assert "over the 12 h limit" in over.error_message and over.error_category == "validation"
    assert len(journal_lines(setup["journal"])) == 1


def test_a_bad_mapping_expression_fails_items_not_the_run(setup):
    version = mapping_version_create(mapping=setup["mapping"], acting_user=None, rules=[
        {"target": "entry", "source": "id"}, {"target": "minutes", "expression": "$number(notes) * 60"}])
    mapping_version_publish(version=version, acting_user=None)
    drop(setup["in"], "time-01.csv", "t1,ann,ACME-042,2026-11-02,7.5,approved,not a number\n")

    run_flow(setup["inbound"])

    failed = RunItem.objects.get(run__flow=setup["outbound"])
    assert failed.outcome == ItemOutcome.FAILED and failed.error_category == "mapping"
    assert "minutes" in failed.error_message


def test_unapproving_after_posting_reverses_the_entry(setup):
    drop(setup["in"], "time-01.csv", "t1,ann,ACME-042,2026-11-02,7.5,approved,ok\n")
    run_flow(setup["inbound"])
    drop(setup["in"], "time-02.csv", "t1,ann,ACME-042,2026-11-02,7.5,submitted,ok\n")

    run_flow(setup["inbound"])

    reversal = RunItem.objects.filter(run__flow=setup["outbound"]).latest("created_at")
    assert reversal.outcome == ItemOutcome.DELETED and "Reversed" in reversal.error_message
    assert not ExternalRef.objects.filter(connection=setup["journal"], object_type="time_entry").exists()


def test_replay_after_fixing_the_rule_sends_the_failed_item(setup):
    drop(setup["in"], "time-01.csv", "t1,bob,ACME-042,2026-11-03,13,approved,long day\n")
    run_flow(setup["inbound"])
    failed = RunItem.objects.filter(run__flow=setup["outbound"], outcome=ItemOutcome.FAILED)
    assert failed.count() == 1

    preview = replay.replay_preview(items=failed)
    assert preview[0]["action"] == "fail"
    ValidationRule.objects.filter(kind=RuleKind.DAILY_HOURS_LIMIT).update(params={"limit": 14})
    preview = replay.replay_preview(items=failed)
    assert preview[0]["action"] == "write" and preview[0]["payload"]["minutes"] == 780

    [run] = replay.replay_request(items=failed)
    engine.run_execute(run_id=run.pk)

    assert RunItem.objects.get(run=run).outcome == ItemOutcome.CREATED
    assert len(journal_lines(setup["journal"])) == 1
