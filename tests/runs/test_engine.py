"""The engine end to end on real files: CSV time export → hub → journal export, with rules, mapping,
idempotent re-runs, failures that don't stop the batch, reversals and replay."""

from decimal import Decimal

import pytest

from apps.canonical.models import ExternalRef
from apps.exceptions.models import IntegrationException
from apps.mappings.models import RuleKind, ValidationRule
from apps.mappings.services import mapping_version_create, mapping_version_publish
from apps.runs import engine, replay
from apps.runs.models import ItemOutcome, RunItem, RunStatus
from apps.runs.services import pull_run
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


def test_a_run_that_leaves_a_too_new_file_for_later_says_so(setup):
    setup["in"].settings = {**setup["in"].settings, "settle_seconds": 3600}
    setup["in"].save()
    drop(setup["in"], "time-01.csv", "t1,ann,ACME-042,2026-11-02,7.5,approved,Workshop\n")

    run = run_flow(setup["inbound"])
    pulled = pull_run(connection=setup["in"], object_name="time_entries")

    hint = ("Not read yet: time-01.csv changed less than 3600 s ago (the settle time) and may still be being "
            "written; the next run reads it.")
    assert (run.status, run.counts, run.error_message) == (RunStatus.SUCCEEDED, {}, hint)
    assert (pulled.status, pulled.error_message) == (RunStatus.SUCCEEDED, hint)
    assert not IntegrationException.objects.exists()  # a hint, not a failure


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


def test_a_run_writes_nothing_while_another_holds_its_targets_lock(setup, monkeypatch):
    """Two runs of one flow (a catch-up run and one a hub change started, say) never plan and write the same
    records at once: each batch is planned, written and settled under the target object's lock, so the second
    plans after the first settled and finds the record sent. Here another session holds that lock: the run waits
    (until the test's lock_timeout), writing nothing; once it is free, the run posts the entry once."""
    import psycopg
    from django.db import connection, transaction

    from apps.runs.models import Run
    from apps.runs.outbound import target_lock_name

    drop(setup["in"], "time-01.csv", "t1,ann,ACME-042,2026-11-02,7.5,approved,Workshop\n")
    monkeypatch.setattr(engine, "hub_changed", lambda **kw: None)  # the entry waits; the run is started below
    run_flow(setup["inbound"])
    run = engine.flow_run_request(flow=setup["outbound"], trigger="manual", enqueue=False, acting_user=None)
    name = target_lock_name(Run.objects.select_related("connection").get(pk=run.pk))
    params = connection.get_connection_params()
    with psycopg.connect(**{k: v for k, v in params.items() if k in ("host", "port", "user", "password", "dbname")},
                         autocommit=True) as other:
        other.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [name])
        with pytest.raises(Exception, match="lock timeout"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '300ms'")
            engine.run_execute(run_id=run.pk)
        assert journal_lines(setup["journal"]) == [] and not RunItem.objects.filter(run=run).exists()
        other.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [name])

    Run.objects.filter(pk=run.pk).update(status=RunStatus.QUEUED)  # as the sweep re-queues an unfinished run
    while engine.run_execute(run_id=run.pk) and Run.objects.get(pk=run.pk).status == RunStatus.RUNNING:
        pass
    assert len(journal_lines(setup["journal"])) == 1
    assert RunItem.objects.filter(run=run, outcome=ItemOutcome.CREATED).count() == 1
