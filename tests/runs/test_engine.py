"""The engine end to end on real files: CSV time export → hub → journal export, with rules, mapping,
idempotent re-runs, failures that don't stop the batch, reversals and replay."""

from decimal import Decimal

import pytest

from apps.canonical.models import ExternalRef
from apps.mappings.models import RuleKind, ValidationRule
from apps.mappings.services import mapping_version_create, mapping_version_publish
from apps.runs import engine, replay
from apps.runs.models import ItemOutcome, RunItem, RunStatus
from tests.runs.journal import drop, journal_lines, run_flow

# The ``setup`` fixture (a CSV time export, a journal export and the flows between them) is in conftest.py.


@pytest.fixture(autouse=True)
def _inline_hub_changes(monkeypatch):
    # Tests run tasks synchronously; hub changes fan out inline so one call does the whole chain.
    original = engine.hub_changed
    monkeypatch.setattr("apps.runs.engine.hub_changed", lambda **kw: original(**{**kw, "inline": True}))


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


def test_a_run_where_every_item_failed_is_failed_and_one_with_some_done_is_partial(setup):
    drop(setup["in"], "time-01.csv", "t1,ann,NOPE-1,2026-11-02,7.5,approved,unknown project\n"
                                     "t2,bob,NOPE-2,2026-11-03,2,approved,unknown too\n")
    nothing_done = run_flow(setup["inbound"])
    drop(setup["in"], "time-02.csv", "t3,ann,ACME-042,2026-11-04,2,approved,ok\n"
                                     "t4,bob,NOPE-1,2026-11-05,2,approved,unknown project\n")
    some_done = run_flow(setup["inbound"])

    assert nothing_done.counts == {"failed": 2} and nothing_done.status == RunStatus.FAILED
    assert some_done.counts == {"created": 1, "failed": 1} and some_done.status == RunStatus.PARTIAL


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

    [run] = replay.replay_request(items=failed, acting_user=None)
    engine.run_execute(run_id=run.pk)

    assert RunItem.objects.get(run=run).outcome == ItemOutcome.CREATED
    assert len(journal_lines(setup["journal"])) == 1
