"""REST connector manifests: parsed from YAML or JSON, checked against the published JSON Schema
(``manifest.schema.json``) and then for what a schema cannot say (JMESPath that does not compile, a parent
object that does not exist, a cursor paginator without a cursor). Every problem names where it is and what to
write instead, because the person reading it configures connectors in a browser, not in Python.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import jmespath
import jsonschema
import yaml
from jmespath.exceptions import JMESPathError
from jmespath.visitor import TreeInterpreter

from apps.common.errors import ApplicationError

SCHEMA_PATH = Path(__file__).with_name("manifest.schema.json")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][\w.-]*)\}")
# Placeholders a manifest may use, by where they make sense; settings.* and parent.* are open-ended.
KNOWN_PLACEHOLDERS = {"id", "since", "payload", "reference", "parents", "page.number", "page.offset", "page.size",
                      "page.cursor", "body", "timestamp", "method", "url"}
HINTS = {
    "records": "the JMESPath from the answer to the list of records, e.g. results, data or @",
    "cursor": "the JMESPath to the next cursor or link in the answer, e.g. paging.next.after or links.next",
    "field": "the JMESPath to the record's change time, e.g. updated_at",
    "path": "the endpoint path starting with /, e.g. /v1/customers",
    "base_url": "the API's address, e.g. https://api.example.com/v1",
    "canonical": "the hub object, one of customer, project, person, assignment, time_entry, expense, invoice",
    "name": "the header or query parameter name the vendor documents",
    "token_url": "the vendor's OAuth2 token endpoint",
    "authorize_url": "the vendor's OAuth2 authorization (sign-in) URL",
}


class ManifestError(ApplicationError):
    """A manifest that cannot be used; ``problems`` says each thing to fix, with where it is."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("The manifest has problems: " + " ".join(problems), extra={"problems": problems})


@cache
def manifest_schema() -> dict:
    """The published JSON Schema of manifests."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(manifest_schema())


def manifest_parse(text: str) -> dict:
    """A manifest from YAML or JSON text (JSON is YAML); a syntax error says which line."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ManifestError([f"The manifest is not valid YAML or JSON{where}: {getattr(error, 'problem', error)}."])
    if not isinstance(document, dict):
        raise ManifestError(["The manifest must be a mapping (YAML) or an object (JSON) with manifest_version, "
                             "name, client and objects."])
    return document


def manifest_check(document: dict) -> list[str]:
    """Every problem with a manifest, as sentences naming where and what to do; empty when it is usable."""
    problems = [_schema_problem(error) for error in sorted(_validator().iter_errors(document),
                                                           key=lambda e: list(e.absolute_path))]
    if problems:
        return _deduplicated(problems)
    return _semantic_problems(document)


def manifest_load(document: dict | str) -> Manifest:
    """A checked manifest, or ManifestError listing what to fix."""
    if isinstance(document, str):
        document = manifest_parse(document)
    problems = manifest_check(document)
    if problems:
        raise ManifestError(problems)
    return Manifest(document)


def _where(path) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "the top level"


def _schema_problem(error: jsonschema.ValidationError) -> str:
    where = _where(error.absolute_path)
    if error.validator == "required":
        missing = re.search(r"'([^']+)' is a required property", error.message)
        name = missing.group(1) if missing else "?"
        hint = f": give {HINTS[name]}" if name in HINTS else ""
        return f"At {where}: '{name}' is missing{hint}."
    if error.validator == "additionalProperties":
        return f"At {where}: {error.message}; remove it or check its spelling."
    if error.validator == "oneOf" and where.endswith("auth"):
        return _auth_problem(error, where)
    if error.validator == "enum":
        allowed = ", ".join(str(v) for v in error.validator_value)
        return f"At {where}: {error.instance!r} is not allowed; use one of {allowed}."
    if error.validator == "pattern" and where.endswith("path"):
        return f"At {where}: {error.instance!r} must start with / (the part after the base URL)."
    if error.validator == "pattern" and where.endswith("base_url"):
        return f"At {where}: {error.instance!r} must start with https:// or http://."
    if error.validator == "propertyNames":
        return (f"At {where}: object name {error.instance!r} must be lower case letters, digits and _ "
                "(e.g. time_entries).")
    return f"At {where}: {error.message}."


def _auth_problem(error: jsonschema.ValidationError, where: str) -> str:
    kind = error.instance.get("type") if isinstance(error.instance, dict) else None
    types = ["none", "api_key", "basic", "bearer", "oauth2_client_credentials", "oauth2_authorization_code"]
    if kind not in types:
        return f"At {where}: type {kind!r} is not an authentication this kind knows; use one of {', '.join(types)}."
    for sub in error.context or []:
        branch = sub.schema_path[0] if sub.schema_path else None
        if branch is not None and types[branch] == kind:
            return _schema_problem(sub).replace("At the top level", f"At {where}")
    return f"At {where}: the {kind} settings are not complete."


def _deduplicated(problems: list[str]) -> list[str]:
    seen: dict[str, None] = {}
    for problem in problems:
        seen.setdefault(problem, None)
    return list(seen)


# --- what the schema cannot say ---------------------------------------------------------------------------
def _semantic_problems(document: dict) -> list[str]:
    problems: list[str] = []
    objects = document["objects"]
    for name, spec in objects.items():
        where = f"objects.{name}"
        problems += _paths_problems(spec, where)
        read = spec.get("read")
        if read:
            problems += _read_problems(read, f"{where}.read", objects, name)
        write = spec.get("write") or {}
        if write.get("update") and not write.get("create") and not write.get("reference"):
            pass  # update-only objects are fine (records Weft never creates)
        if write.get("create") and not (write.get("idempotency_header") or write.get("reference")):
            problems.append(f"At {where}.write: a create needs exactly-once protection: set idempotency_header (if "
                            "the vendor honours one) or reference (a field for Weft's reference and a search).")
    problems += _placeholder_problems(document)
    hooks = document.get("webhooks")
    if hooks:
        for event_type, meaning in hooks["types"].items():
            if meaning["object"] not in objects:
                problems.append(f"At webhooks.types.{event_type}: object {meaning['object']!r} is not in objects.")
            elif meaning["action"] == "changed" and not hooks.get("record") and not objects[meaning["object"]].get(
                    "get"):
                problems.append(f"At webhooks.types.{event_type}: events carry no record (set webhooks.record) and "
                                f"objects.{meaning['object']} has no get request to fetch it by id.")
        if not hooks.get("record") and not hooks.get("object_id"):
            problems.append("At webhooks: set object_id (JMESPath to the changed record's id) or record.")
    return problems


def _read_problems(read: dict, where: str, objects: dict, name: str) -> list[str]:
    problems = []
    paging = read.get("pagination") or {"type": "none"}
    kind = paging["type"]
    if kind in ("cursor", "next_link") and not paging.get("cursor"):
        example = "paging.next.after" if kind == "cursor" else "links.next"
        problems.append(f"At {where}.pagination: type {kind} needs 'cursor': the JMESPath to the next "
                        f"{'cursor' if kind == 'cursor' else 'page link'} in the answer (e.g. {example}).")
    placed = kind in ("page_number", "offset", "cursor") and _uses(read, f"page.{_var(kind)}")
    if kind in ("page_number", "offset", "cursor") and not paging.get("param") and not placed:
        problems.append(f"At {where}.pagination: say where the {_var(kind)} goes: set 'param' (e.g. "
                        f"{ {'page_number': 'page', 'offset': 'offset', 'cursor': 'after'}[kind]}) or put "
                        f"{{page.{_var(kind)}}} in the params or body.")
    incremental = read.get("incremental")
    if incremental:
        if incremental["mode"] == "cursor_field" and not incremental.get("field"):
            problems.append(f"At {where}.incremental: mode cursor_field needs 'field': {HINTS['field']}.")
        if not incremental.get("param") and not _uses(read, "since"):
            problems.append(f"At {where}.incremental: say where the cursor goes: set 'param' (e.g. updated_since) or "
                            "put {since} in the params or body.")
    parent = read.get("parent")
    if parent:
        if parent["object"] == name or parent["object"] not in objects:
            problems.append(f"At {where}.parent: object {parent['object']!r} is not another object of this manifest.")
        elif not (objects[parent["object"]].get("read")):
            problems.append(f"At {where}.parent: object {parent['object']!r} cannot be read (it has no read).")
        if parent.get("batch_size", 1) > 1 and "item" not in parent:
            problems.append(f"At {where}.parent: batch_size above 1 needs 'item', what each parent adds to "
                            "{parents}.")
    return problems


def uses_placeholder(node: Any, name: str) -> bool:
    """Whether ``{name}`` appears anywhere in ``node`` (a request, a read)."""
    return _uses(node, name)


def _var(kind: str) -> str:
    return {"page_number": "number", "offset": "offset", "cursor": "cursor"}[kind]


def _uses(node: Any, name: str) -> bool:
    return any(match == name for text in _strings(node) for match in PLACEHOLDER.findall(text))


def _strings(node: Any):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            if key not in ("record_schema", "pagination", "incremental"):
                yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _paths_problems(node: Any, where: str) -> list[str]:
    """Every JMESPath in an object must compile; the message quotes the expression and the parser's complaint."""
    problems = []
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}.{key}"
            if key in JMESPATH_KEYS and isinstance(value, str) and not where.endswith(".reference"):
                problem = jmespath_problem(value)
                if problem:
                    problems.append(f"At {here}: {value!r} is not a valid JMESPath expression ({problem}).")
            elif key == "canonical_fields" and isinstance(value, dict):
                for target, path in value.items():
                    problem = jmespath_problem(_canonical_path(path))
                    if problem:
                        problems.append(f"At {here}.{target}: {path!r} is not a valid JMESPath expression ({problem}).")
            elif key != "record_schema":
                problems += _paths_problems(value, here)
    return problems


JMESPATH_KEYS = {"id", "updated", "records", "cursor", "next_offset", "has_more", "total", "field", "record",
                 "filter", "match", "object_id", "events", "type"}


def _placeholder_problems(document: dict) -> list[str]:
    declared = set((document.get("settings") or {}).keys())
    problems = []
    for text in _strings({k: v for k, v in document.items() if k != "webhooks"}):
        for name in PLACEHOLDER.findall(text):
            if name.startswith("settings."):
                if name.split(".", 1)[1] not in declared and name != "settings.base_url":
                    problems.append(f"Placeholder {{{name}}} names a setting that is not declared under settings.")
            elif not name.startswith("parent.") and name not in KNOWN_PLACEHOLDERS:
                problems.append(f"Placeholder {{{name}}} is unknown; known: {', '.join(sorted(KNOWN_PLACEHOLDERS))}, "
                                "settings.<name>, parent.<path>.")
    return _deduplicated(problems)


def _canonical_path(path: str) -> str:
    return path.split(":", 2)[2] if path.startswith("ref:") and path.count(":") >= 2 else path


def jmespath_problem(expression: str) -> str | None:
    try:
        compiled(expression)
    except JMESPathError as error:
        return str(error).splitlines()[0]
    return None


@lru_cache(maxsize=2048)
def compiled(expression: str):
    """A compiled JMESPath expression (compiling costs more than searching a small record)."""
    return jmespath.compile(expression)


def search(expression: str | None, data: Any, default: Any = None) -> Any:
    if not expression:
        return default
    try:
        value = getter(expression)(data)
    except JMESPathError:  # a function given the wrong type (join over a null): no value, reported by the caller
        return default
    return default if value is None else value


_INTERPRETER = TreeInterpreter()  # stateless between searches; jmespath builds a new one per search otherwise
_FIELD_CHAIN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


@lru_cache(maxsize=2048)
def getter(expression: str):
    """A function evaluating ``expression`` on one value. A plain chain of field names (``project.id``) is read
    with dictionary lookups, which is what JMESPath does for it, without the tree walk: a page of records costs
    one lookup per field instead of an interpreter run."""
    if _FIELD_CHAIN.fullmatch(expression):
        names = expression.split(".")

        def chain(data: Any) -> Any:
            for name in names:
                if not isinstance(data, dict):
                    return None
                data = data.get(name)
            return data

        return chain
    parsed = compiled(expression).parsed
    return lambda data: _INTERPRETER.visit(parsed, data)


# --- the checked manifest ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Manifest:
    """A manifest that passed ``manifest_check``; accessors fill in the schema's defaults."""

    document: dict

    @property
    def name(self) -> str:
        return self.document["name"]

    @property
    def client(self) -> dict:
        return self.document["client"]

    @property
    def auth(self) -> dict:
        return self.client["auth"]

    @property
    def objects(self) -> dict[str, dict]:
        return self.document["objects"]

    @property
    def settings(self) -> dict[str, dict]:
        return self.document.get("settings") or {}

    @property
    def webhooks(self) -> dict | None:
        return self.document.get("webhooks")

    def object(self, name: str) -> dict:
        return self.objects[name]

    def label(self, name: str) -> str:
        return self.objects[name].get("label") or name.rstrip("s").replace("_", " ")

    def to_json(self) -> str:
        return json.dumps(self.document, sort_keys=True)
