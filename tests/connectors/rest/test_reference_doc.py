"""The manifest reference in docs/ is generated from the JSON Schema; it must be regenerated when the schema changes."""

from apps.connectors.kinds.rest.manifest import manifest_schema
from apps.connectors.kinds.rest.reference import DOC_PATH, reference_markdown


def test_the_reference_doc_is_up_to_date_with_the_schema():
    assert DOC_PATH.read_text(encoding="utf-8") == reference_markdown(), (
        "docs/rest-manifest-reference.md is out of date: run `manage.py rest_manifest_reference`.")


def test_every_field_of_the_schema_is_in_the_reference():
    text = reference_markdown()
    for name, definition in manifest_schema()["$defs"].items():
        assert f"## `{name}`" in text
        for field in (definition.get("properties") or {}):
            assert f"| `{field}` |" in text, (name, field)
