"""Checked at the door: inbound records pass the rule set (and the defaults for their type) before any of them
lands in the hub; what fails is an exception with its business context, and never reaches a target."""

from decimal import Decimal

import pytest

from apps.canonical.models import TimeEntry
from apps.canonical.services import hub_upsert_all
from apps.common.objects import CanonicalInput, Ref
from apps.exceptions.models import IntegrationException
from apps.mappings.models import RuleKind, RuleSet, ValidationRule
from apps.runs import engine
from apps.runs.models import ItemOutcome, RunItem, RunStatus
from apps.runs.services import pull_run
from tests.runs.journal import drop, journal_lines, run_flow, run_until_done


@pytest.fixture(autouse=True)
def _inline_hub_changes(monkeypatch):
    original = engine.hub_changed
    monkeypatch.setattr("apps.runs.engine.hub_changed", lambda **kw: original(**{**kw, "inline": True}))


def _hours_in_hub() -> dict[str, Decimal]:
    return dict(TimeEntry.objects.values_list("notes", "hours"))


def test_negative_zero_and_over_24_hour_rows_stop_at_the_door_and_never_reach_the_journal(setup):
    drop(setup["in"], "time-01.csv",
         "t1,ann,ACME-042,2026-11-02,7.5,approved,good\n"
         "t2,ann,ACME-042,2026-11-03,-3,approved,negative\n"
         "t3,bob,ACME-042,2026-11-04,25,approved,over a day\n"
         "t4,bob,ACME-042,2026-11-05,0,approved,nothing\n")

    run = run_flow(setup["inbound"])

    assert run.status == RunStatus.PARTIAL and run.counts == {"created": 1, "failed": 3}
    assert _hours_in_hub() == {"good": Decimal("7.50")}
    assert [line["memo"] for line in journal_lines(setup["journal"])] == ["good"]
    failed = {i.external_id: i for i in RunItem.objects.filter(run=run, outcome=ItemOutcome.FAILED)}
    assert "-3 h is negative" in failed["t2"].error_message and failed["t2"].error_field == "hours"
    assert "25 h in one entry is beyond the 24 h limit" in failed["t3"].error_message
    assert "0 h" in failed["t4"].error_message
    assert failed["t2"].error_message.startswith("time-01.csv row 3: ")  # where to find the row


def test_what_the_door_keeps_out_is_an_exception_with_hours_project_person_and_money(setup):
    TimeEntry._meta.get_field("project").related_model.objects.update(default_bill_rate=Decimal("100"),
                                                                       currency="EUR")
    drop(setup["in"], "time-01.csv",
         "t2,ann,ACME-042,2026-11-03,-3,approved,negative\n"
         "t3,bob,ACME-042,2026-11-04,26,approved,over a day\n")

    run_flow(setup["inbound"])

    exceptions = {e.title: e for e in IntegrationException.objects.all()}
    negative = next(e for title, e in exceptions.items() if "negative" in title)
    assert negative.kind == "validation" and negative.projects == ["ACME-042"] and negative.people == ["ann"]
    record = negative.records.get()
    assert record.hours == Decimal("-3.00") and record.context["date"] == "2026-11-03"
    over = next(e for title, e in exceptions.items() if "beyond" in title)
    assert over.records.get().hours == Decimal("26.00") and over.amount_at_risk == Decimal("2600.00")


def test_a_correction_the_source_marks_may_take_hours_back(setup):
    path = drop(setup["in"], "time-01.csv", "")
    path.write_text("id,person,project,date,hours,approval_status,notes,Correction\n"
                    "t1,ann,ACME-042,2026-11-02,8,approved,booked,\n"
                    "t2,ann,ACME-042,2026-11-02,-2,approved,took back,yes\n"
                    "t3,ann,ACME-042,2026-11-02,-1,approved,not marked,no\n")

    run = run_flow(setup["inbound"])

    assert run.counts == {"created": 2, "failed": 1}
    assert _hours_in_hub() == {"booked": Decimal("8.00"), "took back": Decimal("-2.00")}
    assert TimeEntry.objects.get(notes="took back").extra == {"correction": True}
    assert sorted(line["memo"] for line in journal_lines(setup["journal"])) == ["booked", "took back"]


def test_the_inbound_flows_rule_set_applies_at_the_door_and_replaces_a_default_of_its_kind(setup):
    rules = RuleSet.objects.create(name="Door", slug="door", object_type="time_entry")
    ValidationRule.objects.create(rule_set=rules, kind=RuleKind.OPEN_PERIOD, position=0,
                                  params={"field": "date", "open_from": "2026-11-01"})
    ValidationRule.objects.create(rule_set=rules, kind=RuleKind.HOURS_RANGE, position=1, params={"max": 10})
    setup["inbound"].rule_set = rules
    setup["inbound"].save()
    drop(setup["in"], "time-01.csv",
         "t1,ann,ACME-042,2026-10-31,2,approved,closed period\n"
         "t2,ann,ACME-042,2026-11-02,11,approved,over ten\n"
         "t3,ann,ACME-042,2026-11-31,2,approved,no such day\n"
         "t4,ann,ACME-042,2026-11-03,9,approved,fine\n")

    run = run_flow(setup["inbound"])

    assert _hours_in_hub() == {"fine": Decimal("9.00")}
    messages = dict(RunItem.objects.filter(run=run, outcome=ItemOutcome.FAILED).values_list("external_id",
                                                                                           "error_message"))
    assert "closed period (open from 2026-11-01)" in messages["t1"]
    assert "beyond the 10 h limit" in messages["t2"]
    assert "'2026-11-31' is not a real date" in messages["t3"]


def test_a_pull_without_a_flow_is_checked_at_the_door_too(setup):
    drop(setup["in"], "time-01.csv", "t1,ann,ACME-042,2026-11-02,-4,approved,negative\n")
    setup["inbound"].delete()

    run = pull_run(connection=setup["in"], object_name="time_entries")

    assert run.counts == {"failed": 1} and not TimeEntry.objects.exists()
    assert "negative" in run.items.get().error_message


def test_hub_rows_that_predate_the_door_are_not_exported(setup):
    hub_upsert_all(connection=setup["in"], object_type="time_entry", records=[
        CanonicalInput("time_entry", "old", {"date": "2026-11-02", "hours": "-5", "approval_status": "approved",
                                             "notes": "landed before the door"},
                       refs={"person": Ref.code("ann"), "project": Ref.code("ACME-042")})])

    run = run_flow(setup["outbound"])

    assert run.counts == {"failed": 1} and journal_lines(setup["journal"]) == []
    assert "negative" in run.items.get().error_message


def test_an_edited_payload_that_would_fail_at_the_door_is_refused_before_replay(setup):
    from apps.exceptions import fixing
    from apps.exceptions.errors import PayloadInvalid

    drop(setup["in"], "time-01.csv", "t2,ann,ACME-042,2026-11-03,-3,approved,negative\n")
    run_flow(setup["inbound"])
    exception = IntegrationException.objects.get()
    original = exception.records.get().last_item.payload_before

    with pytest.raises(PayloadInvalid, match="-30 h is negative"):
        fixing.exception_payload_edit(exception=exception, record_key="t2", acting_user=None,
                                      payload={**original, "hours": "-30"})
    fixing.exception_payload_edit(exception=exception, record_key="t2", acting_user=None,
                                  payload={**original, "hours": "3"})
    [replayed] = fixing.exception_replay(exception=exception, acting_user=None)
    run_until_done(replayed)

    assert _hours_in_hub() == {"negative": Decimal("3.00")}
    exception.refresh_from_db()
    assert exception.status == "resolved"
