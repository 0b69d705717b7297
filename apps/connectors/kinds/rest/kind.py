"""The ``rest`` connector kind: any REST API, described by a manifest instead of code.

A connection names a stored manifest (``settings.manifest``: its slug; the published version is used, or the
version in ``settings.manifest_version``) or carries one (``settings.manifest_document``, for "Try it" before
anything is saved). The manifest decides objects, paths, pagination, incremental cursors, writes and limits;
this class gives them the same guarantees as the coded kinds: bad records become ``RecordError``s naming the
record and the field while the rest of the page lands, writes are exactly once (the vendor's idempotency
header, or Weft's reference stored in a field and searched for before any create), and every call goes through
the one outbound HTTP client.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import islice
from typing import Any

from django.utils import timezone
from jmespath.exceptions import JMESPathError

from apps.common.errors import ErrorCategory, ExternalSystemError
from apps.common.objects import CanonicalInput, Ref
from apps.connectors.errors import ConnectorError
from apps.connectors.kinds import register
from apps.connectors.kinds.base import (
    Capabilities,
    ConnectorKind,
    FieldSpec,
    ObjectSpec,
    Page,
    RecordError,
    TestResult,
    WriteResult,
)
from apps.connectors.kinds.rest.client import RestClient, base_url, oauth2_spec
from apps.connectors.kinds.rest.live_check import OpenAPICheck
from apps.connectors.kinds.rest.manifest import Manifest, getter, search, uses_placeholder
from apps.connectors.kinds.rest.paging import Incremental, Paginator, to_time
from apps.connectors.kinds.rest.render import Variables, render, render_path
from apps.connectors.kinds.rest.webhooks import BAD_SIGNATURE, webhook_events, webhook_verify
from apps.connectors.manifests import manifest_for_settings, openapi_document_for_settings
from apps.connectors.oauth2 import MemoryTokenStore
from apps.connectors.ratelimit import RateLimit

IDEMPOTENCY_KEY_MAX = 128


@dataclass
class Preview:
    """The first page of an object as "Try it" shows it: records, unreadable ones, and hints about the manifest."""

    records: list[dict]
    errors: list[RecordError]
    request: str
    warnings: list[str] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)


@register
class RestKind(ConnectorKind):
    """A REST API described by a manifest (``apps/connectors/kinds/rest/manifest.schema.json``)."""

    slug = "rest"
    label = "REST API (manifest)"
    capabilities = Capabilities(objects=())  # each connection's come from its manifest (see __init__)
    settings_fields = (
        FieldSpec("manifest", "Manifest", required=False,
                  help="The slug of a stored manifest (its published version)."),
        FieldSpec("manifest_version", "Manifest version", required=False, help="Pin a version number instead."),
        FieldSpec("base_url", "Base URL", required=False, help="Overrides the manifest's (a sandbox, a test server)."),
    )

    def __init__(self, context):
        self.manifest = connection_manifest(context.settings)
        super().__init__(context)
        self.capabilities = manifest_capabilities(self.manifest)
        declared = {name: spec["default"] for name, spec in self.manifest.settings.items() if "default" in spec}
        self.settings = {**declared, **{k: v for k, v in context.settings.items() if v not in (None, "")}}
        self._client: RestClient | None = None
        self._found: dict[tuple[str, str], str | None] = {}  # what find() just answered, for the write after it
        self.validator = None  # set by callers that check live calls against the OpenAPI document
        self.clock, self.sleep = time.time, time.sleep  # tests move time by hand (token expiry, quota resets)

    def _check_configuration(self) -> None:
        missing = [name for name, spec in self.manifest.settings.items()
                   if spec.get("required", True) and "default" not in spec and not self.context.settings.get(name)]
        if missing:
            raise ConnectorError(f"{self.context.connection_name}: set the setting(s) {', '.join(missing)} "
                                 f"({'; '.join(self.manifest.settings[m]['label'] for m in missing)}).",
                                 permanent=True, category=ErrorCategory.CONFIG)

    # --- the interface ------------------------------------------------------------------------------------
    def test(self) -> TestResult:
        name = next((n for n, o in self.manifest.objects.items() if o.get("read") and not o["read"].get("parent")),
                    None)
        if name is None:
            return TestResult(True, f"{self.manifest.name}: nothing to read; writes are tried when a flow runs.")
        try:
            page = next(iter(self.read(name)), None)
        except ExternalSystemError as error:
            return TestResult(False, error.message)
        count = len(page.records) if page else 0
        return TestResult(True, f"Connected to {self.manifest.name}: the first page of {name} has {count} record(s).")

    def read(self, object_name: str, *, cursor: str | None = None) -> Iterator[Page]:
        obj = self._readable(object_name)
        read = obj["read"]
        if read.get("parent"):
            yield from self._read_children(object_name, read)
            return
        incremental = Incremental(read.get("incremental"), cursor, timezone.now(), f"objects.{object_name}.read")
        variables = Variables({"since": incremental.since()}, settings=self.settings)
        for records, last in self._pages(object_name, read, variables, incremental):
            page = self._checked(object_name, records, incremental)
            if last:
                page.next_cursor = incremental.cursor()
            yield page

    def to_canonical(self, object_name: str, record: dict) -> CanonicalInput:
        obj = self._object(object_name)
        plan = obj.get("canonical_fields")
        if not plan:
            raise ConnectorError(f"{self.manifest.name} {object_name} has no default translation: give the flow a "
                                 "mapping (the mapping editor offers this object's fields), or add canonical_fields "
                                 "to the manifest.", permanent=True, category=ErrorCategory.MAPPING)
        fields, refs, deleted = {}, {}, False
        for target, kind, read in _translation(object_name, tuple(plan.items())):
            value = _safely(read, record)
            if kind == "field":
                fields[target] = value
            elif kind == "deleted":
                deleted = bool(value)
            else:
                refs[target] = (Ref.code if kind == "code" else Ref.external)(value)
        updated = to_time(search(obj.get("updated"), record)) if obj.get("updated") else None
        return CanonicalInput(obj["canonical"], self._record_id(object_name, record), fields, refs, deleted=deleted,
                              source_updated_at=updated)

    def record_location(self, object_name: str, record: dict) -> str:
        return f"{self.manifest.name} {self.manifest.label(object_name)} {search(self._id_path(object_name), record)}"

    def from_canonical(self, object_name: str, canonical: dict, refs: dict[str, str | None]) -> dict:
        raise ConnectorError(f"{self.manifest.name} {object_name}: a manifest has no default payload; give the flow a "
                             "mapping that builds the body.", permanent=True, category=ErrorCategory.MAPPING)

    def find(self, object_name: str, *, reference: str) -> str | None:
        """The record carrying our reference, by the manifest's search (checked exactly here, not trusted)."""
        config = ((self._object(object_name).get("write") or {}).get("reference"))
        if not config:
            return None
        request = config["search"]
        variables = Variables({"reference": reference}, settings=self.settings)
        answer = self._request(request, variables, f"Looking up {self.manifest.name} {object_name} {reference}")
        found = search(request["records"], answer.data) or []
        match = next((r for r in found if isinstance(r, dict) and str(search(request["match"], r)) == reference), None)
        external_id = None if match is None else self._record_id(object_name, match)
        self._found[(object_name, reference)] = external_id
        return external_id

    def write(self, object_name: str, payload: dict, *, reference: str, external_id: str | None = None,
              idempotency_key: str | None = None) -> WriteResult:
        config = self._object(object_name).get("write") or {}
        if not external_id and config.get("reference"):
            looked_up = (object_name, reference)
            external_id = self._found.pop(looked_up) if looked_up in self._found else self.find(
                object_name, reference=reference)
        operation = "update" if external_id else "create"
        request = config.get(operation)
        if not request:
            raise ConnectorError(f"{self.manifest.name} cannot {operation} {object_name}: add write.{operation} to "
                                 f"objects.{object_name} in the manifest.", permanent=True,
                                 category=ErrorCategory.CONFIG)
        body = dict(payload)
        if config.get("reference"):
            _set_path(body, render(config["reference"]["field"], Variables({}, settings=self.settings)), reference)
        headers = {}
        if config.get("idempotency_header"):
            headers[config["idempotency_header"]] = idempotency_value(operation, idempotency_key or reference)
        variables = Variables({"payload": body, "id": external_id, "reference": reference}, settings=self.settings)
        label = f"{self.manifest.name} {self.manifest.label(object_name)}"
        what = f"{operation.capitalize()} {label} {external_id or reference}"
        answer = self._request(request, variables, what, default_body="{payload}", headers=headers)
        written = search(request.get("id", "id"), answer.data) if answer.data is not None else None
        if operation == "create" and written in (None, ""):
            raise ConnectorError(f"{what}: the answer has no id at {request.get('id', 'id')!r}; set "
                                 f"objects.{object_name}.write.create.id to where the vendor puts it.",
                                 permanent=False, category=ErrorCategory.PARSE)
        data = answer.data if isinstance(answer.data, dict) else None
        return WriteResult(str(written or external_id), created=operation == "create", response=data)

    def delete(self, object_name: str, external_id: str) -> None:
        request = (self._object(object_name).get("write") or {}).get("delete")
        if not request:
            super().delete(object_name, external_id)
        variables = Variables({"id": external_id}, settings=self.settings)
        try:
            self._request(request, variables, f"Deleting {self.manifest.name} {object_name} {external_id}",
                          expect_body=False)
        except ConnectorError as error:
            if error.status not in (404, 410):  # already gone counts as done
                raise

    # --- for "Try it", webhooks and the OAuth2 Connect button --------------------------------------------
    def preview(self, object_name: str) -> Preview:
        """The first page only, with hints when the manifest looks wrong (a cursor path that finds nothing)."""
        obj = self._readable(object_name)
        read = obj["read"]
        incremental = Incremental(read.get("incremental"), None, timezone.now(), f"objects.{object_name}.read")
        variables = Variables({"since": incremental.since()}, settings=self.settings)
        pages = self._pages(object_name, read, variables, incremental, keep_answer=True)
        records, _last, answer = next(pages)
        page = self._checked(object_name, records, incremental)
        paging = read.get("pagination") or {"type": "none"}
        warnings = []
        if paging["type"] in ("cursor", "next_link") and search(paging["cursor"], answer.data) is None and \
                len(records) >= paging.get("size", 100):
            warnings.append(f"The first page is full ({len(records)} records) but pagination.cursor "
                            f"{paging['cursor']!r} found nothing in the answer: if there are more records, the cursor "
                            "path is wrong and only this page would be read.")
        return Preview(page.records, page.errors, f"{self.manifest.name} {object_name}", warnings,
                       sorted({key for r in page.records[:50] for key in _leaf_paths(r)}))

    def webhook_events(self, *, headers, method: str, url: str, body: bytes, now: float) -> list:
        """Verify a vendor's webhook request by the manifest's scheme and return its events (``VendorEvent``)."""
        if not self.manifest.webhooks:
            raise ConnectorError(BAD_SIGNATURE, permanent=True, category=ErrorCategory.AUTH)
        secret = str(self.context.credentials.get(self.manifest.webhooks.get("secret", "webhook_secret")) or "")
        webhook_verify(self.manifest, secret=secret, headers=headers, method=method, url=url, body=body, now=now)
        try:
            payload = json.loads(body)
        except ValueError:
            raise ConnectorError("The body is not JSON.", permanent=True, category=ErrorCategory.PARSE) from None
        return webhook_events(self.manifest, payload)

    def fetch(self, object_name: str, record_id: str) -> dict:
        """One record by id (webhooks that send only ids)."""
        request = self._object(object_name).get("get")
        if not request:
            raise ConnectorError(f"{self.manifest.name} {object_name} has no get request to fetch a record by id.",
                                 permanent=True, category=ErrorCategory.CONFIG)
        answer = self._request(request, Variables({"id": record_id}, settings=self.settings),
                               f"Fetching {self.manifest.name} {object_name} {record_id}")
        record = search(request.get("record", "@"), answer.data)
        if not isinstance(record, dict):
            raise ConnectorError(f"Fetching {object_name} {record_id}: no record at {request.get('record', '@')!r}.",
                                 permanent=True, category=ErrorCategory.PARSE)
        return record

    def oauth2_spec(self):
        return oauth2_spec(self.manifest, self.settings)

    @property
    def client(self) -> RestClient:
        if self._client is None:
            if self.validator is None and (self.manifest.document.get("openapi") or {}).get("validate"):
                self.validator = self._openapi_check()
            store = self.context.token_store or MemoryTokenStore(self.context.credentials)
            self._client = RestClient(manifest=self.manifest, connection_name=self.context.connection_name,
                                      settings=self.settings, credentials=self.context.credentials,
                                      http_factory=self.context.http_factory, token_store=store,
                                      validator=self.validator, clock=self.clock, sleep=self.sleep)
        return self._client

    def _openapi_check(self):
        document = openapi_document_for_settings(self.context.settings)
        if not document:
            raise ConnectorError(f"{self.manifest.name}: openapi.validate is on but no OpenAPI document is stored "
                                 "with the manifest; import it from the document or turn validation off.",
                                 permanent=True, category=ErrorCategory.CONFIG)
        return OpenAPICheck(document, base_url(self.manifest, self.settings))

    # --- reading --------------------------------------------------------------------------------------------
    def _pages(self, object_name: str, read: dict, variables: Variables, incremental: Incremental | None = None,
               keep_answer: bool = False):
        """(records, is last page) per page, following the manifest's pagination."""
        where = f"objects.{object_name}.read"
        paginator = Paginator(read.get("pagination"), where, self.client.base_url,
                              size_sent=uses_placeholder(read, "page.size"))
        inc_query, inc_body = incremental.params() if incremental else ({}, {})
        for number in range(1, paginator.max_pages + 1):
            what = f"Reading {self.manifest.name} {object_name} (page {number})"
            page_vars = variables.with_values(**paginator.variables())
            target, params, body = self._page_request(read, page_vars, paginator, inc_query, inc_body)
            answer = self.client.call(read.get("method", "GET"), target, params=params, body=body,
                                      headers=read.get("headers"), what=what)
            records = self._records(read, answer.data, where, what)
            ids = [search(self._id_path(object_name), r) for r in records[:1000] if isinstance(r, dict)]
            more = paginator.advance(answer.data, answer.response, records, ids)
            yield (records, not more, answer) if keep_answer else (records, not more)
            if not more:
                return
        raise ConnectorError(f"Reading {self.manifest.name} {object_name}: more than {paginator.max_pages} pages; "
                             f"raise {where}.pagination.max_pages if that is right.", permanent=True,
                             category=ErrorCategory.TOO_LARGE)

    @staticmethod
    def _page_request(read: dict, variables: Variables, paginator: Paginator, inc_query: dict, inc_body: dict):
        page_query, page_body = paginator.params()
        body = render(read.get("body"), variables)
        if page_body or inc_body:
            body = {**(body or {}), **inc_body, **page_body}
        if paginator.next_url:  # a link from the vendor carries its own query
            return paginator.next_url, None, body
        params = render(read.get("params") or {}, variables)
        return render_path(read["path"], variables), {**params, **inc_query, **page_query}, body

    def _records(self, read: dict, data: Any, where: str, what: str) -> list:
        selector = read["records"]
        found = search(selector, data)
        if found is None and _parent_present(selector, data):
            return []  # the vendor leaves the list out when it is empty (QuickBooks does)
        if isinstance(found, list):
            kept = found if not read.get("filter") else [r for r in found if search(read["filter"], r)]
            return kept
        got = "nothing" if found is None else f"a {type(found).__name__}, not a list"
        suggestion = _list_paths(data)
        hint = f"; the answer has a list at {', '.join(suggestion)}" if suggestion else ""
        raise ConnectorError(f"{what}: the record selector {where}.records = {selector!r} found {got} in the answer "
                             f"(top-level keys: {_keys(data)}){hint}. Set {where}.records to the path of the list of "
                             "records.", permanent=True, category=ErrorCategory.CONFIG)

    def _checked(self, object_name: str, records: list, incremental: Incremental) -> Page:
        page = Page(records=[], next_cursor=None)
        id_path, label = self._id_path(object_name), f"{self.manifest.name} {self.manifest.label(object_name)}"
        for index, record in enumerate(records):
            if not isinstance(record, dict):
                page.errors.append(RecordError(f"{label} #{index + 1} on page", f"is a {type(record).__name__}, not "
                                               "an object", raw=record))
                continue
            record_id = search(id_path, record)
            if record_id in (None, "") or isinstance(record_id, dict | list | bool):
                page.errors.append(RecordError(f"{label} #{index + 1} on page", f"{id_path} is missing or not an id "
                                               f"(objects.{object_name}.id)", field=id_path, raw=record))
                continue
            incremental.see(record)
            page.records.append(record)
        return page

    def _read_children(self, object_name: str, read: dict) -> Iterator[Page]:
        parent = read["parent"]
        parent_read = self.manifest.object(parent["object"])["read"]
        base = Variables({}, settings=self.settings)
        parents = (record for records, _ in self._pages(parent["object"], parent_read, base) for record in records
                   if isinstance(record, dict))
        size = parent.get("batch_size", 1)
        incremental = Incremental(None, None, timezone.now(), "")
        while group := list(islice(parents, size)):
            if size == 1:
                variables = base.with_parent(group[0])
            else:
                variables = base.with_values(parents=[render(parent["item"], base.with_parent(p)) for p in group])
            for records, _ in self._pages(object_name, read, variables):
                for record in records:
                    if size == 1 and isinstance(record, dict):
                        attached = parent.get("attach") or {}
                        record.update({name: search(path, group[0]) for name, path in attached.items()})
                yield self._checked(object_name, records, incremental)

    # --- helpers ------------------------------------------------------------------------------------------
    def _request(self, request: dict, variables: Variables, what: str, *, default_body: str | None = None,
                 headers: dict | None = None, expect_body: bool = True):
        body_template = request.get("body", default_body)
        body = render(body_template, variables) if body_template is not None else None
        return self.client.call(request.get("method", "GET"), render_path(request["path"], variables),
                                params=render(request.get("params") or {}, variables), body=body,
                                headers={**(request.get("headers") or {}), **(headers or {})}, what=what,
                                expect_body=expect_body)

    def _object(self, object_name: str) -> dict:
        self.capabilities.spec(object_name)  # unknown names fail with the list of known ones
        return self.manifest.object(object_name)

    def _readable(self, object_name: str) -> dict:
        obj = self._object(object_name)
        if not obj.get("read"):
            raise ConnectorError(f"{self.manifest.name} {object_name} cannot be read: the manifest has no read for it.",
                                 permanent=True, category=ErrorCategory.CONFIG)
        return obj

    def _id_path(self, object_name: str) -> str:
        return self.manifest.object(object_name).get("id", "id")

    def _record_id(self, object_name: str, record: dict) -> str:
        value = search(self._id_path(object_name), record)
        if value in (None, ""):
            raise ConnectorError(f"{self.manifest.name} {self.manifest.label(object_name)}: no id at "
                                 f"{self._id_path(object_name)!r}.", permanent=True, category=ErrorCategory.PARSE)
        return str(value)


@lru_cache(maxsize=256)
def _translation(object_name: str, plan: tuple) -> tuple:
    """``canonical_fields`` as (target, field|deleted|external|code, getter), worked out once per manifest object."""
    steps = []
    for target, path in plan:
        if path.startswith("ref:"):
            _, by, where = path.split(":", 2)
            steps.append((target, "code" if by == "code" else "external", getter(where)))
        else:
            steps.append((target, "deleted" if target == "deleted" else "field", getter(path)))
    return tuple(steps)


def _safely(read, record: Any) -> Any:
    try:
        return read(record)
    except JMESPathError:
        return None


def connection_manifest(settings: dict) -> Manifest:
    """The manifest a connection's settings name (stored, by slug) or carry (inline, for "Try it")."""
    return manifest_for_settings(settings)


def manifest_capabilities(manifest: Manifest) -> Capabilities:
    objects = []
    for name, obj in manifest.objects.items():
        read, write = obj.get("read"), obj.get("write") or {}
        objects.append(ObjectSpec(name, obj["canonical"], readable=bool(read),
                                  writable=bool(write.get("create") or write.get("update")),
                                  incremental=bool(read and read.get("incremental") and not read.get("parent"))))
    limits = manifest.client.get("rate_limit") or {}
    windows = tuple((w["calls"], w["seconds"]) for w in limits.get("windows") or ())
    return Capabilities(objects=tuple(objects), rate_limit=RateLimit(windows=windows,
                                                                     concurrency=limits.get("concurrency")))


def idempotency_value(operation: str, key: str) -> str:
    """The operation is part of the key, so a create retried as an update is not answered from the vendor's memory
    of the create; long keys are hashed to fit the vendors' limits."""
    value = f"{operation}-{key}"
    if len(value) > IDEMPOTENCY_KEY_MAX:
        value = f"{operation}-{hashlib.sha256(key.encode()).hexdigest()}"
    return value


def _set_path(data: dict, path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        data = data.setdefault(part, {}) if isinstance(data.get(part), dict) or part not in data else data[part]
    data[parts[-1]] = value


def _parent_present(selector: str, data: Any) -> bool:
    """``QueryResponse.Customer`` absent but ``QueryResponse`` an object: an empty result, not a wrong selector."""
    if "." not in selector or not selector.replace(".", "").replace("_", "").isalnum():
        return False
    return isinstance(search(selector.rsplit(".", 1)[0], data), dict)


def _keys(data: Any) -> str:
    if isinstance(data, dict):
        return ", ".join(list(data)[:12]) or "none"
    return f"none (the answer is a {type(data).__name__})"


def _list_paths(data: Any, prefix: str = "", depth: int = 0) -> list[str]:
    """Paths to lists of objects in an answer, to suggest a record selector."""
    if isinstance(data, list) and data and isinstance(data[0], dict):
        return [prefix or "@"]
    if not isinstance(data, dict) or depth > 3:
        return []
    found = []
    for key, value in data.items():
        if isinstance(key, str) and key.isidentifier():
            found += _list_paths(value, f"{prefix}.{key}" if prefix else key, depth + 1)
    return found[:5]


def _leaf_paths(record: Any, prefix: str = "", depth: int = 0) -> list[str]:
    """Dotted paths of a record's fields, for the mapping editor's field picker."""
    if not isinstance(record, dict) or depth > 4:
        return [prefix] if prefix else []
    paths = []
    for key, value in record.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        paths += _leaf_paths(value, path, depth + 1) if isinstance(value, dict) else [path]
    return paths
