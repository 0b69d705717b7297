"""docs/accelerators.md is generated from the built-in templates: every template, every variable, every flow."""

import yaml

from apps.accelerators.reference import DOC_PATH, reference_markdown
from apps.accelerators.services import BUILTIN_DIR


def test_the_accelerators_doc_is_up_to_date_with_the_templates():
    assert DOC_PATH.read_text(encoding="utf-8") == reference_markdown(), (
        "docs/accelerators.md is out of date: run `manage.py accelerators_reference`.")


def test_every_template_variable_and_flow_is_documented():
    text = reference_markdown()
    for path in BUILTIN_DIR.glob("*.yaml"):
        definition = yaml.safe_load(path.read_text())
        assert f"## {definition['name']}" in text
        for name in definition.get("variables") or {}:
            assert f"| `{name}` |" in text, (definition["slug"], name)
        for flow in definition.get("flows", []):
            assert f"Flow `{flow['slug']}`" in text, (definition["slug"], flow["slug"])
