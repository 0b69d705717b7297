"""Mapping and rule failures on the way to the real Tryton: a mapping expression that fails on some records,
one that runs away, and a validation rule each fail their own items with a message naming the problem,
while the rest of the batch is posted. An expression that reaches outside the sandbox is refused: it
cannot be published, and a draft holding it fails every item it is replayed with, sending nothing."""

from __future__ import annotations

import pytest

from apps.mappings.errors import MappingError
from apps.mappings.models import Mapping, RuleKind, ValidationRule
from apps.mappings.services import mapping_version_create, mapping_version_publish
from apps.runs import engine, replay
from apps.runs.models import ItemOutcome, RunItem
from tests.e2e.support import approved_time_chain, canonical_id, entry_reference, lines_tagged, run_flow

pytestmark = pytest.mark.usefixtures("templates", "fanout")

# A partner's description rule: notes like "90 min" become hours. The other two branches are what a careless
# or hostile author might write: a range of 10^8 numbers, and a recursion that never ends.
DESCRIPTION = (
    "notes = 'huge' ? $string($sum([1..100000000])) : "
    "notes = 'loop' ? $string(($f := function($n){ $n > 0 ? $f($n - 1) : 0 }; $f(1000000000))) : "
    "$contains(notes, ' min') ? task & ': ' & $string($number($substringBefore(notes, ' min')) / 60) & ' h' : "
    "task & ': ' & notes"
)


@pytest.fixture
def chain(in_alpha, tryton, harvest):
    return approved_time_chain(in_alpha, tryton, harvest, people=("ann",), strangers=())


def with_description(expression: str, *, publish: bool = True):
    mapping = Mapping.objects.get(slug="time-entry-to-tryton")
    rules = [rule for rule in mapping.published_version().rules if rule["target"] != "description"]
    version = mapping_version_create(mapping=mapping, acting_user=None,
                                     rules=[*rules, {"target": "description", "expression": expression}])
    return mapping_version_publish(version=version, acting_user=None) if publish else version


def test_failing_expressions_and_rules_fail_their_own_items_and_the_rest_is_posted(chain, tryton, harvest):
    with_description(DESCRIPTION)
    ann, project = chain.user("ann"), chain.harvest_project
    entries = {notes: harvest.add_time_entry(ann, project, spent_date=f"2026-05-{day:02d}", hours=hours,
                                             approved=True, notes=notes)
               for day, (notes, hours) in enumerate([("Workshop", 2), ("90 min", 1.5), ("ninety min", 1),
                                                     ("huge", 1), ("loop", 1), ("Long day", 13)], start=1)}

    run_flow("time-in")

    def outcome(notes: str) -> RunItem:
        return RunItem.objects.get(run__flow__slug="time-to-erp",
                                   canonical_id=canonical_id(chain.harvest, "time_entry", entries[notes]["id"]))

    def lines(notes: str) -> list[dict]:
        return lines_tagged(tryton, entry_reference(outcome(notes).canonical_id))

    assert [line["description"].split("] ", 1)[1] for line in lines("Workshop") + lines("90 min")] == [
        "Development: Workshop", "Development: 1.5 h"]
    failures = {notes: outcome(notes) for notes in ("ninety min", "huge", "loop", "Long day")}
    assert all(item.outcome == ItemOutcome.FAILED and lines(notes) == [] for notes, item in failures.items())
    assert [failures[n].error_category for n in ("ninety min", "huge", "loop", "Long day")] == [
        "mapping", "mapping", "mapping", "validation"]
    assert failures["ninety min"].error_message == (
        "Mapping failed: description: The expression failed: could not convert string to float: 'ninety'")
    assert "must not exceed 1e6" in failures["huge"].error_message
    assert "description: Evaluation timeout" in failures["loop"].error_message
    assert failures["Long day"].error_message == "Ann Example has 13.00 h on 2026-05-06, over the 12 h limit."


def test_an_expression_reaching_outside_the_sandbox_is_refused_and_sends_nothing(chain, tryton, harvest):
    with pytest.raises(MappingError, match=r"\$eval is not available in Weft expressions"):
        with_description('$eval("1")')  # publishing checks every expression
    draft = with_description('$eval("$import(\'os\')")', publish=False)
    entry = harvest.add_time_entry(chain.user("ann"), chain.harvest_project, spent_date="2026-05-07", hours=14,
                                   approved=True, notes="Over the limit, to be replayed")
    run_flow("time-in")
    failed = RunItem.objects.filter(run__flow__slug="time-to-erp", outcome=ItemOutcome.FAILED)
    ValidationRule.objects.filter(kind=RuleKind.DAILY_HOURS_LIMIT).update(params={"limit": 16})  # the rule fixed

    [preview] = replay.replay_preview(items=failed, mapping_version=draft)
    [run] = replay.replay_request(items=failed, mapping_version=draft,
                                  acting_user=None)  # a draft is not checked for publishing
    engine.run_execute(run_id=run.pk)

    assert preview["action"] == "fail" and "$eval is not available" in preview["message"]
    [item] = RunItem.objects.filter(run=run)
    assert item.outcome == ItemOutcome.FAILED and item.error_category == "mapping"
    assert item.error_message == "Mapping failed: description: $eval is not available in Weft expressions."
    assert lines_tagged(tryton, entry_reference(canonical_id(chain.harvest, "time_entry", entry["id"]))) == []
