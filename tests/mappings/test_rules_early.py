"""A mapping's expressions evaluated in the background before the plan needs them (``expressions_start``) give
``apply_rules`` exactly what evaluating them in its own loop gives: values, per-record errors, a refused
expression, and for a subset of the records."""

from apps.mappings.rules import apply_rules, evaluated_subset, expressions_start

RULES = [
    {"target": "id", "source": "id"},
    {"target": "notes", "expression": "$substring(notes ? notes : '', 0, 5)"},
    {"target": "twice", "expression": "hours * 2", "transform": "decimal"},
    {"target": "bad", "expression": "$error('no ' & id)"},
    {"target": "refused", "expression": "$eval('1')"},
    {"target": "code", "expression": "$vars.code"},
]
RECORDS = [{"id": 1, "notes": "Kick-off workshop", "hours": "7.5"}, {"id": 2, "notes": None, "hours": "x"},
           {"id": 3, "hours": 2}]


def _plain(results):
    return [(r.value, [(e.target, e.message) for e in r.errors]) for r in results]


def test_early_evaluation_maps_as_the_rules_loop_does():
    variables = {"code": "C1"}
    direct = apply_rules(RULES, RECORDS, variables=variables)
    evaluated = expressions_start(RULES, RECORDS, variables=variables).result()

    assert _plain(apply_rules(RULES, RECORDS, variables=variables, evaluated=evaluated)) == _plain(direct)
    assert direct[0].value["notes"] == "Kick-" and direct[0].value["code"] == "C1"
    assert any(e.target == "bad" for e in direct[0].errors) and any(e.target == "refused" for e in direct[2].errors)
    subset = [RECORDS[2], RECORDS[0]]
    assert _plain(apply_rules(RULES, subset, variables=variables, evaluated=evaluated_subset(evaluated, [2, 0]))) \
        == _plain(apply_rules(RULES, subset, variables=variables))
