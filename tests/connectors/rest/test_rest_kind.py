"""The manifest-driven REST kind against a small stateful fake vendor: every pagination style, incremental
cursors, child objects, exactly-once writes, rate limits, and the messages a wrong manifest gets."""

from __future__ import annotations

import copy
import json

import httpx
import pytest

from apps.common.errors import ErrorCategory
from apps.connectors.errors import ConnectorError
from apps.connectors.kinds.rest.manifest import ManifestError, manifest_check, manifest_load
from tests.connectors.rest.fakes import json_of
from tests.connectors.rest.support import rest_kind

BASE = "https://api.acme.example/v1"

MANIFEST = {
    "manifest_version": 1,
    "name": "Acme PSA",
    "client": {"base_url": BASE, "headers": {"Accept": "application/json"},
               "auth": {"type": "api_key", "in": "header", "name": "X-Api-Key"}},
    "objects": {
        "clients": {
            "canonical": "customer", "label": "client", "updated": "updated_at",
            "canonical_fields": {"code": "code", "name": "name", "currency": "currency"},
            "read": {"path": "/clients", "records": "data",
                     "pagination": {"type": "page_number", "param": "page", "size_param": "per_page", "size": 3},
                     "incremental": {"mode": "cursor_field", "field": "updated_at", "param": "updated_since"}},
            "write": {"create": {"method": "POST", "path": "/clients", "body": {"client": "{payload}"},
                                 "id": "client.id"},
                      "update": {"method": "PATCH", "path": "/clients/{id}", "body": {"client": "{payload}"}},
                      "delete": {"method": "DELETE", "path": "/clients/{id}"},
                      "reference": {"field": "external_ref",
                                    "search": {"path": "/clients", "params": {"external_ref": "{reference}"},
                                               "records": "data", "match": "external_ref"}}},
        },
    },
}


class AcmeVendor:
    """Clients in memory; pages of ``per_page``; ``?updated_since`` filters; writes land."""

    def __init__(self, count: int = 7):
        self.clients = {i: {"id": i, "code": f"C{i}", "name": f"Client {i}", "currency": "EUR",
                            "updated_at": f"2026-01-{i:02d}T10:00:00Z"} for i in range(1, count + 1)}
        self.requests: list[httpx.Request] = []
        self.lose_next_create_answer = False
        self.fail_with: list[httpx.Response] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("x-api-key") != "secret-key":
            return httpx.Response(401, json={"message": "Invalid API key"})
        if self.fail_with:
            return self.fail_with.pop(0)
        path, method = request.url.path.removeprefix("/v1"), request.method
        if path == "/clients" and method == "GET":
            return self._list(request)
        if path == "/clients" and method == "POST":
            return self._create(request)
        client_id = int(path.rsplit("/", 1)[1])
        if method == "PATCH":
            self.clients[client_id].update(json_of(request)["client"])
            return httpx.Response(200, json={"client": self.clients[client_id]})
        if method == "DELETE":
            return httpx.Response(204) if self.clients.pop(client_id, None) else httpx.Response(404)
        return httpx.Response(405)

    def _list(self, request):
        params = request.url.params
        rows = [self.clients[k] for k in sorted(self.clients)]
        if "updated_since" in params:
            rows = [c for c in rows if c["updated_at"] >= params["updated_since"]]
        if "external_ref" in params:
            rows = [c for c in rows if c.get("external_ref") == params["external_ref"]]
        size, page = int(params.get("per_page", 100)), int(params.get("page", 1))
        return httpx.Response(200, json={"data": rows[(page - 1) * size: page * size]})

    def _create(self, request):
        new_id = max(self.clients, default=0) + 1
        self.clients[new_id] = {"id": new_id, **json_of(request)["client"], "updated_at": "2026-02-01T00:00:00Z"}
        if self.lose_next_create_answer:
            self.lose_next_create_answer = False
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return httpx.Response(201, json={"client": self.clients[new_id]})


def acme(vendor=None, manifest=None, sleeps=None, key="secret-key"):
    vendor = vendor or AcmeVendor()
    kind = rest_kind(manifest or MANIFEST, httpx.MockTransport(vendor), credentials={"api_key": key}, sleeps=sleeps)
    return kind, vendor


# --- reading ------------------------------------------------------------------------------------------------
def test_reads_every_page_and_hands_over_the_newest_change_as_cursor():
    kind, vendor = acme()
    pages = list(kind.read("clients"))
    assert [len(p.records) for p in pages] == [3, 3, 1]
    assert [r.url.params["page"] for r in vendor.requests] == ["1", "2", "3"]
    assert [p.next_cursor for p in pages] == [None, None, "2026-01-07T10:00:00Z"]
    canonical = kind.to_canonical("clients", pages[0].records[0])
    assert (canonical.object_type, canonical.external_id, canonical.fields["code"]) == ("customer", "1", "C1")
    assert canonical.source_updated_at.isoformat() == "2026-01-01T10:00:00+00:00"


def test_the_next_read_asks_only_for_changes_since_the_cursor_less_the_overlap():
    kind, vendor = acme()
    [page] = list(kind.read("clients", cursor="2026-01-06T10:05:00Z"))
    assert vendor.requests[0].url.params["updated_since"] == "2026-01-06T10:00:00Z"  # 300 s overlap
    assert [r["id"] for r in page.records] == [6, 7]


def test_a_record_without_an_id_fails_alone_and_names_the_field():
    vendor = AcmeVendor(2)
    vendor.clients[2]["id"] = None
    kind, _ = acme(vendor)
    [page] = list(kind.read("clients"))
    assert [r["code"] for r in page.records] == ["C1"]
    [error] = page.errors
    assert error.field == "id" and "Acme PSA client #2 on page" in error.reference


def test_a_wrong_record_selector_says_where_the_records_are():
    manifest = copy.deepcopy(MANIFEST)
    manifest["objects"]["clients"]["read"]["records"] = "items"
    kind, _ = acme(manifest=manifest)
    with pytest.raises(ConnectorError) as caught:
        list(kind.read("clients"))
    message = caught.value.message
    assert caught.value.permanent and caught.value.category == ErrorCategory.CONFIG
    assert "objects.clients.read.records = 'items' found nothing" in message
    assert "the answer has a list at data" in message


def test_a_page_parameter_the_vendor_ignores_stops_the_read_with_what_to_check():
    manifest = copy.deepcopy(MANIFEST)
    manifest["objects"]["clients"]["read"]["pagination"]["param"] = "pg"  # the vendor's is "page"
    kind, vendor = acme(manifest=manifest)
    with pytest.raises(ConnectorError) as caught:
        list(kind.read("clients"))
    assert "sent the same 3 records again" in caught.value.message
    assert "Check pagination.param ('pg')" in caught.value.message
    assert len(vendor.requests) == 2


def test_refused_credentials_say_which_credential_to_check():
    kind, _ = acme(key="wrong")
    with pytest.raises(ConnectorError) as caught:
        list(kind.read("clients"))
    assert caught.value.category == ErrorCategory.AUTH and caught.value.permanent
    assert "answered 401: Invalid API key" in caught.value.message
    assert "check the credential 'api_key' (sent as header 'X-Api-Key')" in caught.value.message


def test_a_missing_credential_is_named_before_any_call():
    kind = rest_kind(MANIFEST, httpx.MockTransport(AcmeVendor()), credentials={})
    with pytest.raises(ConnectorError, match="the credential 'api_key' is not set"):
        list(kind.read("clients"))


def test_429_waits_for_retry_after_then_goes_on():
    vendor = AcmeVendor(2)
    vendor.fail_with = [httpx.Response(429, headers={"Retry-After": "7"}, json={"message": "slow down"})]
    sleeps: list[float] = []
    kind, _ = acme(vendor, sleeps=sleeps)
    [page] = list(kind.read("clients"))
    assert len(page.records) == 2 and sleeps[0] == 7.0


def test_the_vendors_remaining_quota_header_pauses_until_its_window_resets():
    manifest = copy.deepcopy(MANIFEST)
    manifest["client"]["rate_limit"] = {"remaining_header": "X-RateLimit-Remaining",
                                        "reset_header": "X-RateLimit-Reset"}
    vendor = AcmeVendor(7)
    original = vendor._list
    vendor._list = lambda request: httpx.Response(200, json=original(request).json(),
                                                  headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "4"})
    sleeps: list[float] = []
    kind, _ = acme(vendor, manifest=manifest, sleeps=sleeps)
    kind.clock = lambda: 1000.0
    list(kind.read("clients"))
    assert sleeps == [4.0, 4.0]  # before pages 2 and 3


def test_statuses_the_manifest_calls_transient_are_retried_later():
    manifest = copy.deepcopy(MANIFEST)
    manifest["client"]["errors"] = {"transient": [423]}
    vendor = AcmeVendor(2)
    vendor.fail_with = [httpx.Response(423, json={"message": "locked for maintenance"})]
    kind, _ = acme(vendor, manifest=manifest)
    with pytest.raises(ConnectorError) as caught:
        list(kind.read("clients"))
    assert not caught.value.permanent and "423" in caught.value.message


# --- other pagination styles -----------------------------------------------------------------------------
def listing_vendor(style: str, total: int = 5, size: int = 2):
    rows = [{"id": f"r{i}", "name": f"Row {i}"} for i in range(total)]
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        params = request.url.params
        if style == "cursor_body":
            after = int((json_of(request) or {}).get("after") or 0)
            page = rows[after:after + size]
            paging = {"next": {"after": str(after + size)}} if after + size < total else {}
            return httpx.Response(200, json={"results": page, "paging": paging})
        if style == "offset":
            start = int(params.get("start", 0))
            more = start + size < total
            return httpx.Response(200, json={"data": rows[start:start + size], "additional_data": {
                "pagination": {"more_items_in_collection": more, "next_start": start + size}}})
        page = int(params.get("page", 1))
        chunk = rows[(page - 1) * size: page * size]
        following = f"{BASE}/rows?page={page + 1}" if page * size < total else None
        if style == "next_link":
            return httpx.Response(200, json={"rows": chunk, "links": {"next": following}})
        headers = {"Link": f'<{following}>; rel="next"'} if following else {}
        return httpx.Response(200, json=chunk, headers=headers)

    return handler, calls


def rows_manifest(read: dict) -> dict:
    return {"manifest_version": 1, "name": "Rows", "client": {"base_url": BASE, "auth": {"type": "none"}},
            "objects": {"rows": {"canonical": "customer", "read": {"path": "/rows", **read}}}}


@pytest.mark.parametrize(("style", "read"), [
    ("cursor_body", {"method": "POST", "body": {"limit": 2}, "records": "results",
                     "pagination": {"type": "cursor", "cursor": "paging.next.after", "param": "after", "in": "body"}}),
    ("offset", {"records": "data", "pagination": {
        "type": "offset", "param": "start", "size_param": "limit", "size": 2,
        "has_more": "additional_data.pagination.more_items_in_collection",
        "next_offset": "additional_data.pagination.next_start"}}),
    ("next_link", {"records": "rows", "pagination": {"type": "next_link", "cursor": "links.next"}}),
    ("link_header", {"records": "@", "pagination": {"type": "link_header"}}),
])
def test_every_pagination_style_reads_every_record_once(style, read):
    handler, calls = listing_vendor(style)
    kind = rest_kind(rows_manifest(read), httpx.MockTransport(handler))
    ids = [r["id"] for page in kind.read("rows") for r in page.records]
    assert ids == [f"r{i}" for i in range(5)]
    assert len(calls) == 3


def test_a_next_link_to_another_host_is_refused():
    def handler(request):
        return httpx.Response(200, json={"rows": [{"id": 1}], "links": {"next": "https://evil.example/rows?page=2"}})

    kind = rest_kind(rows_manifest({"records": "rows", "pagination": {"type": "next_link", "cursor": "links.next"}}),
                     httpx.MockTransport(handler))
    with pytest.raises(ConnectorError, match="points at evil.example"):
        list(kind.read("rows"))


# --- child objects ------------------------------------------------------------------------------------------
def test_child_objects_are_read_per_parent_and_per_batch_of_parents():
    requests: list[httpx.Request] = []

    def handler(request):
        requests.append(request)
        if request.url.path.endswith("/payments"):
            return httpx.Response(200, json=[{"id": "p1"}, {"id": "p2"}, {"id": "p3"}])
        if request.url.path.endswith("/statements"):
            wanted = [item["payment_id"] for item in json_of(request)["requests"]]
            return httpx.Response(200, json={"responses": [{"body": {"lines": [{"id": f"{p}-a"}]}} for p in wanted]})
        payment = request.url.path.split("/")[-2]
        return httpx.Response(200, json={"items": [{"id": f"{payment}-x"}]})

    manifest = {"manifest_version": 1, "name": "Pay", "client": {"base_url": BASE, "auth": {"type": "none"}},
                "objects": {
                    "payments": {"canonical": "invoice", "read": {"path": "/payments", "records": "@"}},
                    "items": {"canonical": "expense", "read": {
                        "path": "/payments/{parent.id}/items", "records": "items",
                        "parent": {"object": "payments", "attach": {"payment_id": "id"}}}},
                    "statements": {"canonical": "expense", "read": {
                        "method": "POST", "path": "/statements", "body": {"requests": "{parents}"},
                        "records": "responses[].body.lines[]",
                        "parent": {"object": "payments", "batch_size": 2, "item": {"payment_id": "{parent.id}"}}}}}}
    kind = rest_kind(manifest, httpx.MockTransport(handler))

    items = [r for page in kind.read("items") for r in page.records]
    assert items == [{"id": f"p{i}-x", "payment_id": f"p{i}"} for i in (1, 2, 3)]
    statements = [r["id"] for page in kind.read("statements") for r in page.records]
    assert statements == ["p1-a", "p2-a", "p3-a"]
    assert [json_of(r)["requests"] for r in requests if r.url.path.endswith("/statements")] == [
        [{"payment_id": "p1"}, {"payment_id": "p2"}], [{"payment_id": "p3"}]]


# --- writing exactly once -----------------------------------------------------------------------------------
def test_a_create_carries_our_reference_and_the_id_comes_from_the_answer():
    kind, vendor = acme(AcmeVendor(0))
    result = kind.write("clients", {"name": "Globex", "code": "GLX"}, reference="weft-alpha-customer-9")
    assert (result.external_id, result.created) == ("1", True)
    assert vendor.clients[1]["external_ref"] == "weft-alpha-customer-9"
    assert [r.method for r in vendor.requests] == ["GET", "POST"]  # searched for the reference first


def test_a_create_whose_answer_was_lost_is_found_on_retry_not_made_twice():
    vendor = AcmeVendor(0)
    vendor.lose_next_create_answer = True
    kind, _ = acme(vendor)
    with pytest.raises(ConnectorError) as caught:
        kind.write("clients", {"name": "Globex"}, reference="weft-alpha-customer-9")
    assert not caught.value.permanent  # the engine will try again
    assert sum(r.method == "POST" for r in vendor.requests) == 1  # a POST is never repeated blindly

    retry_kind, _ = acme(vendor)
    found = retry_kind.find("clients", reference="weft-alpha-customer-9")
    result = retry_kind.write("clients", {"name": "Globex Inc"}, reference="weft-alpha-customer-9", external_id=found)
    assert (result.external_id, result.created) == ("1", False)
    assert len(vendor.clients) == 1 and vendor.clients[1]["name"] == "Globex Inc"


def test_an_idempotency_header_lets_the_client_repeat_a_create_after_a_5xx():
    manifest = copy.deepcopy(MANIFEST)
    write = manifest["objects"]["clients"]["write"]
    del write["reference"]
    write["idempotency_header"] = "Idempotency-Key"
    vendor = AcmeVendor(0)
    vendor.fail_with = [httpx.Response(503, json={"message": "busy"})]
    kind, _ = acme(vendor, manifest=manifest)
    result = kind.write("clients", {"name": "Globex"}, reference="ref-1", idempotency_key="key-1")
    posts = [r for r in vendor.requests if r.method == "POST"]
    assert result.created and len(posts) == 2
    assert {p.headers["Idempotency-Key"] for p in posts} == {"create-key-1"}


def test_delete_of_a_record_already_gone_counts_as_done():
    kind, vendor = acme(AcmeVendor(1))
    kind.delete("clients", "1")
    kind.delete("clients", "1")
    assert [r.method for r in vendor.requests] == ["DELETE", "DELETE"] and not vendor.clients


# --- manifests that cannot work -----------------------------------------------------------------------------
def test_schema_problems_name_the_place_and_what_to_write():
    broken = copy.deepcopy(MANIFEST)
    del broken["objects"]["clients"]["read"]["records"]
    broken["objects"]["clients"]["read"]["pagination"]["type"] = "pages"
    broken["client"]["auth"] = {"type": "api_key"}
    problems = manifest_check(broken)
    assert ("At client.auth: 'name' is missing: give the header or query parameter name the vendor documents."
            in problems)
    assert any(p.startswith("At objects.clients.read: 'records' is missing: give the JMESPath") for p in problems)
    assert any("At objects.clients.read.pagination.type: 'pages' is not allowed; use one of none, page_number" in p
               for p in problems)


def test_semantic_problems_bad_jmespath_unknown_parent_and_unprotected_creates():
    broken = copy.deepcopy(MANIFEST)
    clients = broken["objects"]["clients"]
    clients["read"]["records"] = "data[?"
    clients["read"]["pagination"] = {"type": "cursor"}
    clients["read"]["parent"] = {"object": "nowhere"}
    del clients["write"]["reference"]
    problems = manifest_check(broken)
    joined = "\n".join(problems)
    assert "At objects.clients.read.records: 'data[?' is not a valid JMESPath expression" in joined
    assert "type cursor needs 'cursor'" in joined
    assert "object 'nowhere' is not another object of this manifest" in joined
    assert "a create needs exactly-once protection" in joined
    with pytest.raises(ManifestError) as caught:
        manifest_load(json.dumps(broken))
    assert caught.value.problems == problems


def test_yaml_syntax_errors_say_the_line():
    with pytest.raises(ManifestError, match="at line 2"):
        manifest_load("name: x\n  bad: [indent\n")


# --- live checks against the OpenAPI document ----------------------------------------------------------------
def test_live_calls_are_checked_against_the_vendors_openapi_document():
    from apps.connectors.kinds.rest.live_check import OpenAPICheck

    document = {"openapi": "3.0.3", "info": {"title": "Acme", "version": "1"}, "servers": [{"url": BASE}],
                "paths": {"/clients": {"get": {"parameters": [
                    {"name": "page", "in": "query", "schema": {"type": "integer"}},
                    {"name": "per_page", "in": "query", "schema": {"type": "integer", "maximum": 2}},
                    {"name": "updated_since", "in": "query", "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {
                        "type": "object", "required": ["data"], "properties": {"data": {"type": "array", "items": {
                            "type": "object", "required": ["id", "name"],
                            "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}}}}}}}}}}}}
    kind, _ = acme()
    kind.validator = OpenAPICheck(document, BASE)
    with pytest.raises(ConnectorError) as caught:
        list(kind.read("clients"))  # asks for 3 a page; the document allows at most 2
    assert "does not match the vendor's OpenAPI document" in caught.value.message
    assert "per_page" in caught.value.message and caught.value.category == ErrorCategory.VALIDATION

    manifest = copy.deepcopy(MANIFEST)
    manifest["objects"]["clients"]["read"]["pagination"]["size"] = 2
    vendor = AcmeVendor(1)
    vendor.clients[1]["name"] = 42  # the vendor breaks its own document
    kind, _ = acme(vendor, manifest=manifest)
    kind.validator = OpenAPICheck(document, BASE)
    with pytest.raises(ConnectorError, match="at data/0/name: 42 is not of type 'string'"):
        list(kind.read("clients"))


def test_an_api_key_in_the_query_never_reaches_the_logs(caplog):
    import logging

    manifest = copy.deepcopy(MANIFEST)
    manifest["client"]["auth"] = {"type": "api_key", "in": "query", "name": "api_token"}
    seen: list[httpx.Request] = []

    def handler(request):
        seen.append(request)
        return httpx.Response(200, json={"data": []})

    kind = rest_kind(manifest, httpx.MockTransport(handler), credentials={"api_key": "very-secret-token"})
    with caplog.at_level(logging.DEBUG):
        list(kind.read("clients"))
    assert seen[0].url.params["api_token"] == "very-secret-token"
    logged = "\n".join(r.getMessage() + str(getattr(r, "request_headers", "")) for r in caplog.records)
    assert "/v1/clients" in logged and "very-secret-token" not in logged
