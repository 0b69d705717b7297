"""The manifest reference (docs/rest-manifest-reference.md), generated from the published JSON Schema so the two
never disagree: ``manage.py rest_manifest_reference`` writes it, and a test fails when it is out of date."""

from __future__ import annotations

import json
from pathlib import Path

from apps.connectors.kinds.rest.manifest import manifest_schema

DOC_PATH = Path(__file__).resolve().parents[4] / "docs" / "rest-manifest-reference.md"
PLACEHOLDERS = [
    ("{settings.<name>}", "anywhere", "a value from the connection's settings (declared under `settings`)"),
    ("{page.number}, {page.offset}, {page.size}, {page.cursor}", "read requests", "the page being asked for"),
    ("{since}", "read requests", "the incremental cursor (less the overlap), in `incremental.format`; "
                                 "`incremental.initial` on a first read"),
    ("{parent.<JMESPath>}", "child reads", "a field of the parent record (batch_size 1)"),
    ("{parents}", "child reads", "the list of `parent.item`, one per parent (batch_size above 1)"),
    ("{id}", "get, update, delete", "the record's id in the vendor"),
    ("{payload}", "create, update bodies", "the flow mapping's output (the default body)"),
    ("{reference}", "reference search", "Weft's reference for the record"),
    ("{body}, {timestamp}, {method}, {url}", "webhooks.signature.payload", "what the vendor signs"),
]


def reference_markdown() -> str:
    schema = manifest_schema()
    lines = ["# REST connector manifest reference", "",
             "Generated from `apps/connectors/kinds/rest/manifest.schema.json` by "
             "`manage.py rest_manifest_reference`; do not edit by hand. The walk-through is in "
             "[rest-connector.md](rest-connector.md).", "", schema["description"], "",
             "## Placeholders", "", "| placeholder | where | value |", "|---|---|---|"]
    lines += [f"| `{name}` | {where} | {what} |" for name, where, what in PLACEHOLDERS]
    lines += ["", "## The manifest", ""] + _table(schema, schema)
    for name, definition in schema["$defs"].items():
        lines += ["", f"## `{name}`", ""]
        if definition.get("description"):
            lines += [definition["description"], ""]
        lines += _table(definition, schema)
    return "\n".join(lines).rstrip() + "\n"


def reference_write(path: Path = DOC_PATH) -> Path:
    path.write_text(reference_markdown(), encoding="utf-8")
    return path


def _table(node: dict, schema: dict) -> list[str]:
    if "oneOf" in node:
        rows = []
        for option in node["oneOf"]:
            rows += [f"**`type: {option['title']}`** — {option['properties']['type'].get('description', '')}", ""]
            rows += _properties(option, schema) + [""]
        return rows
    if "enum" in node:
        return ["One of " + ", ".join(f"`{v}`" for v in node["enum"]) + (
            f" (default `{node['default']}`)." if "default" in node else ".")]
    if "items" in node and "properties" not in node:
        return [f"A list of {_type(node['items'])}."]
    return _properties(node, schema)


def _properties(node: dict, schema: dict) -> list[str]:
    props = dict(node.get("properties") or {})
    if "$ref" in node:
        props = {**_ref(node["$ref"], schema).get("properties", {}), **props}
    required = set(node.get("required") or [])
    if not props:
        return []
    rows = ["| field | type | required | default | meaning |", "|---|---|---|---|---|"]
    for name, prop in props.items():
        default = f"`{json.dumps(prop['default'])}`" if "default" in prop else ""
        description = (prop.get("description") or (_ref(prop["$ref"], schema).get("description", "")
                                                   if "$ref" in prop else "")).replace("|", "\\|").replace("\n", " ")
        rows.append(f"| `{name}` | {_type(prop)} | {'yes' if name in required else ''} | {default} | {description} |")
    return rows


def _type(prop: dict) -> str:
    if "$ref" in prop:
        target = prop["$ref"].rsplit("/", 1)[1]
        return f"[{target}](#{target.replace('_', '_')})"
    if "const" in prop:
        return f"`{json.dumps(prop['const'])}`"
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    kind = prop.get("type")
    if kind == "array":
        return f"list of {_type(prop.get('items') or {})}"
    if kind == "object" and "additionalProperties" in prop and isinstance(prop["additionalProperties"], dict):
        return f"map of {_type(prop['additionalProperties'])}"
    if isinstance(kind, list):
        return " or ".join(kind)
    return kind or "any JSON"


def _ref(ref: str, schema: dict) -> dict:
    node = schema
    for part in ref[2:].split("/"):
        node = node[part]
    return node
