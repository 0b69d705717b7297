"""From a vendor's OpenAPI 3.0/3.1 document to a manifest: list the operations, and for the ones picked fill in the
base URL, authentication, paths and parameters, the record selector, a guessed pagination and incremental cursor,
the record schema (for the mapping editor's field picker) and, where the document shows them, writes.

Guesses are only guesses: every one is named in the notes returned beside the manifest, and "Try it" shows
whether they hold before anything is saved.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from apps.connectors.kinds.rest.manifest import ManifestError

METHODS = ("get", "post", "put", "patch", "delete")
CURSOR_PARAMS = ("after", "cursor", "page_token", "pageToken", "starting_after", "next_page_token", "continuation")
PAGE_PARAMS = ("page", "page_number", "pageNumber")
OFFSET_PARAMS = ("offset", "start", "skip", "startPosition")
SIZE_PARAMS = ("limit", "per_page", "page_size", "pageSize", "size", "count", "maxResults")
SINCE_PARAMS = ("updated_since", "modified_since", "updated_after", "since", "changed_since", "updatedSince",
                "modifiedSince", "updated_at_min", "since_timestamp")
UPDATED_FIELDS = ("updated_at", "updatedAt", "update_time", "modified", "modified_at", "last_modified",
                  "lastModified", "UpdatedDateUTC", "MetaData.LastUpdatedTime", "hs_lastmodifieddate")
LIST_KEYS = ("results", "data", "items", "records", "entries", "values", "rows")
CANONICAL_WORDS = {
    "customer": ("compan", "client", "organi", "customer", "account", "contact"),
    "project": ("deal", "project", "engagement", "job", "matter", "opportunit"),
    "person": ("user", "owner", "employee", "people", "person", "individual", "director", "staff", "member",
               "worker", "employment", "consultant", "resource", "contractor"),
    "time_entry": ("time", "timesheet", "hour"),
    "expense": ("expense", "receipt"),
    "invoice": ("invoice", "bill"),
    "assignment": ("assignment", "allocation"),
}


@dataclass
class Operation:
    """One operation of the document, as the import page lists it."""

    key: str  # "GET /crm/v3/objects/companies"
    method: str
    path: str
    summary: str
    lists: bool  # answers with a list of records: a candidate for reading


@dataclass
class Imported:
    manifest: dict
    notes: list[str] = field(default_factory=list)


def openapi_parse(text: str) -> dict:
    """An OpenAPI document from JSON or YAML text; refuses what is not OpenAPI 3.x with a clear message."""
    try:
        document = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as error:
        raise ManifestError([f"The document is not valid JSON or YAML: {error}."]) from None
    if not isinstance(document, dict) or not str(document.get("openapi", "")).startswith("3."):
        raise ManifestError(["This is not an OpenAPI 3.0 or 3.1 document (it needs an openapi: 3.x field); convert "
                             "Swagger 2.0 documents first."])
    if not isinstance(document.get("paths"), dict) or not document["paths"]:
        raise ManifestError(["The document has no paths."])
    return json.loads(json.dumps(document, default=str))  # YAML dates and integer keys become JSON


def openapi_operations(document: dict) -> list[Operation]:
    found = []
    for path, item in document["paths"].items():
        for method in METHODS:
            op = item.get(method) if isinstance(item, dict) else None
            if isinstance(op, dict):
                schema = _response_schema(document, op)
                lists = method == "get" and bool(_list_path(document, schema))
                found.append(Operation(f"{method.upper()} {path}", method.upper(), path,
                                       op.get("summary") or op.get("operationId") or "", lists))
    return found


def manifest_from_openapi(document: dict, *, operations: list[str], name: str | None = None) -> Imported:
    """A manifest for the picked operations (keys as ``openapi_operations`` gives them)."""
    notes: list[str] = []
    info = document.get("info") or {}
    settings: dict[str, dict] = {}
    manifest: dict[str, Any] = {
        "manifest_version": 1, "name": (name or info.get("title") or "Imported API")[:120],
        "description": f"Imported from the OpenAPI document {info.get('title', '')} {info.get('version', '')}".strip(),
        "documentation": info.get("title", ""),
        "client": {"base_url": _base_url(document, settings, notes), "headers": {"Accept": "application/json"},
                   "auth": _auth(document, notes)},
        "objects": {},
        "openapi": {"title": str(info.get("title", "")), "version": str(info.get("version", "")), "validate": False},
    }
    picked = set(operations)
    for op in openapi_operations(document):
        if op.key in picked and op.method == "GET":
            name_, obj = _read_object(document, op, settings, notes)
            manifest["objects"][name_] = obj
    for op in openapi_operations(document):
        if op.key in picked and op.method != "GET":
            _attach_write(document, manifest["objects"], op, notes)
    if not manifest["objects"]:
        raise ManifestError(["Pick at least one GET operation that lists records."])
    if settings:
        manifest["settings"] = settings
    return Imported(manifest, notes)


# --- pieces ---------------------------------------------------------------------------------------------------
def _base_url(document: dict, settings: dict, notes: list[str]) -> str:
    servers = document.get("servers") or [{"url": "https://api.example.com"}]
    server = servers[0]
    url = str(server.get("url", ""))
    for variable in re.findall(r"\{(\w+)\}", url):
        spec = (server.get("variables") or {}).get(variable) or {}
        setting = re.sub(r"(?<!^)(?=[A-Z])", "_", variable).lower()
        settings[setting] = {"label": spec.get("description") or variable, **(
            {"default": str(spec["default"])} if spec.get("default") else {})}
        url = url.replace("{" + variable + "}", "{settings." + setting + "}")
        notes.append(f"The server URL has the variable {variable}: asked for per connection as {setting}.")
    if not url.startswith("http"):
        notes.append(f"The document's server URL {url!r} is relative: set the connection's base URL.")
        url = "https://api.example.com" + url
    return url.rstrip("/")


def _auth(document: dict, notes: list[str]) -> dict:
    schemes = (document.get("components") or {}).get("securitySchemes") or {}
    ranked = sorted(schemes.items(), key=lambda kv: ["oauth2", "http", "apiKey"].index(kv[1].get("type"))
                    if kv[1].get("type") in ("oauth2", "http", "apiKey") else 9)
    for name, scheme in ranked:
        kind = scheme.get("type")
        if kind == "http" and str(scheme.get("scheme", "")).lower() == "bearer":
            return {"type": "bearer", "credential": "access_token"}
        if kind == "http" and str(scheme.get("scheme", "")).lower() == "basic":
            return {"type": "basic"}
        if kind == "apiKey" and scheme.get("in") in ("header", "query"):
            return {"type": "api_key", "in": scheme["in"], "name": scheme["name"], "credential": "api_key"}
        if kind == "oauth2":
            flows = scheme.get("flows") or {}
            if "authorizationCode" in flows and flows["authorizationCode"].get("tokenUrl"):
                flow = flows["authorizationCode"]
                return {"type": "oauth2_authorization_code", "authorize_url": flow["authorizationUrl"],
                        "token_url": flow["tokenUrl"], "scopes": []}
            if "clientCredentials" in flows and flows["clientCredentials"].get("tokenUrl"):
                return {"type": "oauth2_client_credentials", "token_url": flows["clientCredentials"]["tokenUrl"]}
            notes.append(f"Security scheme {name} is OAuth2 without endpoints in the document: fill in auth.")
    notes.append("The document declares no usable security scheme: auth is none; change it if the API needs one.")
    return {"type": "none"}


def _read_object(document: dict, op: Operation, settings: dict, notes: list[str]) -> tuple[str, dict]:
    raw = document["paths"][op.path]
    params = {p["name"]: p for p in (_resolve(document, p) for p in [*raw.get("parameters", []),
                                                                      *raw["get"].get("parameters", [])])
              if isinstance(p, dict) and p.get("name")}
    schema = _response_schema(document, raw["get"])
    records = _list_path(document, schema) or "@"
    item = _item_schema(document, schema, records)
    name = _object_name(op.path)
    read: dict[str, Any] = {"path": re.sub(r"\{(\w+)\}", r"{settings.\1}", op.path), "records": records}
    for pname, param in params.items():
        if param.get("in") == "path":
            settings.setdefault(pname, {"label": param.get("description") or pname})
        elif param.get("in") == "query" and param.get("required") and pname not in (*SIZE_PARAMS, *PAGE_PARAMS,
                                                                                    *OFFSET_PARAMS, *CURSOR_PARAMS):
            settings.setdefault(pname, {"label": param.get("description") or pname})
            read.setdefault("params", {})[pname] = "{settings." + pname + "}"
    pagination = _pagination(params, schema, document, records)
    if pagination:
        read["pagination"] = pagination
        notes.append(f"{name}: pagination guessed as {pagination['type']}; check it with Try it.")
    incremental = _incremental(params, item)
    if incremental:
        read["incremental"] = incremental
    obj: dict[str, Any] = {"label": name.rstrip("s").replace("_", " "), "canonical": _canonical(name),
                           "id": _id_field(item), "read": read, "record_schema": _trimmed(document, item)}
    updated = _first_present(item, UPDATED_FIELDS)
    if updated:
        obj["updated"] = updated
    return name, obj


def _attach_write(document: dict, objects: dict, op: Operation, notes: list[str]) -> None:
    base = re.sub(r"/\{[^}]+\}$", "", op.path)
    target = next((n for n, o in objects.items() if o["read"]["path"] == base), None)
    if target is None:
        notes.append(f"{op.key}: no picked list operation at {base}; add it to objects by hand.")
        return
    write = objects[target].setdefault("write", {})
    path = re.sub(r"\{[^}]+\}$", "{id}", op.path)
    raw = document["paths"][op.path][op.method.lower()]
    if op.method == "POST" and op.path == base:
        write["create"] = {"method": "POST", "path": base, "id": "id"}
        headers = [p["name"] for p in (_resolve(document, p) for p in raw.get("parameters", []))
                   if isinstance(p, dict) and p.get("in") == "header"]
        key = next((h for h in headers if h.lower() == "idempotency-key"), None)
        if key:
            write["idempotency_header"] = key
        else:
            notes.append(f"{target}: the document shows no idempotency header for creates: set write.reference (a "
                         "field for Weft's reference and a search) before publishing, or remove write.create.")
    elif op.method in ("PUT", "PATCH") and path != base:
        write["update"] = {"method": op.method, "path": path}
    elif op.method == "DELETE" and path != base:
        write["delete"] = {"method": "DELETE", "path": path}


def _pagination(params: dict, schema: dict, document: dict, records: str) -> dict | None:
    names = set(params)
    size_param = next((p for p in SIZE_PARAMS if p in names), None)
    sized = {"size_param": size_param, "size": 100} if size_param else {}
    cursor_param = next((p for p in CURSOR_PARAMS if p in names), None)
    link = _find_path(document, schema, ("next",), want_string=True)
    if cursor_param:
        path = _find_path(document, schema, ("after", "next_cursor", "nextCursor", "cursor", "nextPageToken",
                                             "next_page_token", "continuation"), prefer_under="next")
        if path or not link:
            return {"type": "cursor", "param": cursor_param, "cursor": path or "next_cursor", **sized}
    if link:
        return {"type": "next_link", "cursor": link, **sized}
    page_param = next((p for p in PAGE_PARAMS if p in names), None)
    if page_param:
        return {"type": "page_number", "param": page_param, **sized}
    offset_param = next((p for p in OFFSET_PARAMS if p in names), None)
    if offset_param:
        more = _find_path(document, schema, ("more_items_in_collection", "has_more", "hasMore", "more"))
        following = _find_path(document, schema, ("next_start", "next_offset", "nextOffset"))
        extra = {"has_more": more} if more else {}
        if following:
            extra["next_offset"] = following
        return {"type": "offset", "param": offset_param, **sized, **extra}
    return None


def _incremental(params: dict, item: dict) -> dict | None:
    param = next((p for p in SINCE_PARAMS if p in params), None)
    if not param:
        return None
    field_ = _first_present(item, UPDATED_FIELDS)
    if field_:
        return {"mode": "cursor_field", "field": field_, "param": param}
    return {"mode": "since", "param": param}


# --- schemas ---------------------------------------------------------------------------------------------------
def _resolve(document: dict, node: Any, depth: int = 0) -> Any:
    """Follow local ``$ref``s and merge ``allOf`` (enough of JSON Schema to see a record's fields)."""
    if depth > 30 or not isinstance(node, dict):
        return node
    if "$ref" in node and isinstance(node["$ref"], str) and node["$ref"].startswith("#/"):
        target: Any = document
        for part in node["$ref"][2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
        return _resolve(document, target, depth + 1)
    if "allOf" in node:
        merged: dict = {"type": "object", "properties": {}}
        for part in node["allOf"]:
            part = _resolve(document, part, depth + 1)
            if isinstance(part, dict):
                merged["properties"].update(part.get("properties") or {})
                if part.get("type") == "array":
                    merged = {**part}
        return merged
    return node


def _response_schema(document: dict, op: dict) -> dict:
    responses = op.get("responses") or {}
    answer = _resolve(document, responses.get("200") or responses.get(200) or responses.get("201") or {})
    content = (answer or {}).get("content") or {}
    media = content.get("application/json") or next(iter(content.values()), {}) if content else {}
    return _resolve(document, (media or {}).get("schema") or {})


def _properties(document: dict, schema: dict) -> dict:
    schema = _resolve(document, schema)
    return {k: _resolve(document, v) for k, v in (schema.get("properties") or {}).items()} if isinstance(
        schema, dict) else {}


def _list_path(document: dict, schema: dict, prefix: str = "", depth: int = 0) -> str | None:
    schema = _resolve(document, schema)
    if not isinstance(schema, dict) or depth > 2:
        return None
    if schema.get("type") == "array" or "items" in schema:
        return prefix or "@"
    props = _properties(document, schema)
    ordered = sorted(props, key=lambda k: (k not in LIST_KEYS, k))
    for key in ordered:
        value = props[key]
        if isinstance(value, dict) and (value.get("type") == "array" or "items" in value):
            item = _resolve(document, value.get("items") or {})
            if isinstance(item, dict) and (item.get("type") == "object" or item.get("properties") or not item):
                return f"{prefix}.{key}" if prefix else key
    for key in ordered:
        if isinstance(props[key], dict) and (props[key].get("properties") or props[key].get("allOf")):
            found = _list_path(document, props[key], f"{prefix}.{key}" if prefix else key, depth + 1)
            if found:
                return found
    return None


def _item_schema(document: dict, schema: dict, records: str) -> dict:
    node = _resolve(document, schema)
    if records != "@":
        for part in records.split("."):
            node = _properties(document, node).get(part, {})
    return _resolve(document, (node or {}).get("items") or {})


def _find_path(document: dict, schema: dict, names: tuple[str, ...], *, prefer_under: str = "",
               want_string: bool = False, prefix: str = "", depth: int = 0) -> str | None:
    if depth > 3:
        return None
    props = _properties(document, schema)
    for key, value in props.items():
        path = f"{prefix}.{key}" if prefix else key
        placed = not prefer_under or prefer_under in path or depth == 0
        typed = not want_string or (isinstance(value, dict) and value.get("type") == "string")
        if key in names and placed and typed:
            return path
    for key, value in props.items():
        if isinstance(value, dict) and value.get("type") != "array":
            found = _find_path(document, value, names, prefer_under=prefer_under, want_string=want_string,
                               prefix=f"{prefix}.{key}" if prefix else key, depth=depth + 1)
            if found:
                return found
    return None


def _trimmed(document: dict, schema: Any, depth: int = 0) -> dict:
    """The record schema with references resolved, three levels deep (enough for a field picker)."""
    schema = _resolve(document, schema)
    if not isinstance(schema, dict):
        return {}
    out = {k: schema[k] for k in ("type", "description", "format", "enum") if k in schema and k != "description"}
    if depth < 3 and (schema.get("properties") or schema.get("allOf")):
        out["type"] = "object"
        out["properties"] = {k: _trimmed(document, v, depth + 1) for k, v in _properties(document, schema).items()}
    if depth < 3 and schema.get("items"):
        out["items"] = _trimmed(document, schema["items"], depth + 1)
    return out


def _first_present(item: dict, names: tuple[str, ...]) -> str | None:
    props = (item or {}).get("properties") or {}
    for name in names:
        head, _, rest = name.partition(".")
        if head in props and (not rest or rest in ((props[head] or {}).get("properties") or {})):
            return name
    return None


def _id_field(item: dict) -> str:
    props = (item or {}).get("properties") or {}
    return next((name for name in ("id", "Id", "ID", "uuid", "key") if name in props), "id")


def _object_name(path: str) -> str:
    segments = [s for s in path.strip("/").split("/") if s and not s.startswith("{")]
    last = segments[-1] if segments else "records"
    snake = re.sub(r"[^a-z0-9]+", "_", re.sub(r"(?<!^)(?=[A-Z])", "_", last).lower()).strip("_") or "records"
    return (snake if snake[0].isalpha() else f"o_{snake}")[:60]


def _canonical(name: str) -> str:
    for canonical, words in CANONICAL_WORDS.items():
        if any(word in name for word in words):
            return canonical
    return "customer"
