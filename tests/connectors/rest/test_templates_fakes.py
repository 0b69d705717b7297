"""The shipped manifests against small stateful fakes derived from the vendors' documents: many pages, a 429 with
Retry-After in the middle, OAuth2 tokens that expire and are refreshed (rotating), and a create whose answer is
lost and whose retry finds the record instead of making a second one. Requests are checked against the vendor's
OpenAPI document as they arrive."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import unquote

import httpx
import pytest

from apps.connectors.errors import ConnectorError
from apps.connectors.manifests import manifest_templates
from apps.connectors.oauth2 import MemoryTokenStore
from tests.connectors.rest.fakes import Clock, TokenEndpoint, json_of
from tests.connectors.rest.support import rest_kind
from tests.connectors.scripted import RequestCheckedTransport

TOKEN_URL = "https://tokens.example/oauth/token"


class Fake:
    """Common parts: a 429 with Retry-After on one chosen request, a create whose answer is lost once."""

    def __init__(self, *, throttle_at: int | None = None):
        self.calls = 0
        self.throttle_at = throttle_at
        self.lose_create = False

    def throttled(self) -> httpx.Response | None:
        self.calls += 1
        if self.calls == self.throttle_at:
            return httpx.Response(429, headers={"Retry-After": "3"}, json={"message": "rate limited"})
        return None

    def created(self, request, answer: httpx.Response) -> httpx.Response:
        if self.lose_create:
            self.lose_create = False
            raise httpx.ReadError("connection reset after the record was made", request=request)
        return answer


def route(spec_name: str, fake, endpoint: TokenEndpoint | None = None) -> httpx.MockTransport:
    checked = RequestCheckedTransport(spec_name, fake)

    def handler(request: httpx.Request) -> httpx.Response:
        if endpoint is not None and str(request.url).startswith(TOKEN_URL):
            return endpoint(request)
        return checked.handle_request(request)

    return httpx.MockTransport(handler)


# --- HubSpot ------------------------------------------------------------------------------------------------
class HubSpotFake(Fake):
    def __init__(self, count: int, tokens: TokenEndpoint | None = None, **kwargs):
        super().__init__(**kwargs)
        self.tokens = tokens
        self.companies = {str(i): self._company(i) for i in range(1, count + 1)}

    @staticmethod
    def _company(i: int, **properties) -> dict:
        stamp = f"2026-03-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z"
        return {"id": str(i), "properties": {"name": f"Company {i}", **properties}, "createdAt": stamp,
                "updatedAt": stamp, "archived": False}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        bearer = request.headers.get("authorization", "")
        if (self.tokens and not self.tokens.accepts(request)) or (not self.tokens and bearer != "Bearer pat-1"):
            return httpx.Response(401, json={"status": "error", "message": "Authentication credentials not found."})
        if throttled := self.throttled():
            return throttled
        path = request.url.path
        if path.endswith("/search"):
            return self._search(json_of(request))
        if request.method == "POST":
            new_id = str(len(self.companies) + 1)
            self.companies[new_id] = self._company(int(new_id), **json_of(request)["properties"])
            return self.created(request, httpx.Response(201, json=self.companies[new_id]))
        company = self.companies[path.rsplit("/", 1)[1]]
        company["properties"].update(json_of(request)["properties"])
        return httpx.Response(200, json=company)

    def _search(self, body: dict) -> httpx.Response:
        [flt] = body["filterGroups"][0]["filters"]
        if flt["propertyName"] == "weft_reference":
            rows = [c for c in self.companies.values() if c["properties"].get("weft_reference") == flt["value"]]
        else:
            rows = sorted((c for c in self.companies.values() if c["updatedAt"] >= flt["value"]),
                          key=lambda c: c["updatedAt"])
        start, limit = int(body.get("after") or 0), body["limit"]
        answer = {"total": len(rows), "results": rows[start:start + limit]}
        if start + limit < len(rows):
            answer["paging"] = {"next": {"after": str(start + limit)}}
        return httpx.Response(200, json=answer)


def test_hubspot_reads_many_pages_through_a_429():
    fake = HubSpotFake(250, throttle_at=2)
    sleeps: list[float] = []
    kind = rest_kind(manifest_templates()["hubspot-crm"], route("hubspot_companies", fake),
                     credentials={"access_token": "pat-1"}, sleeps=sleeps)
    pages = list(kind.read("companies"))
    ids = [r["id"] for p in pages for r in p.records]
    assert len(ids) == 250 and len(set(ids)) == 250 and len(pages) == 3
    assert 3.0 in sleeps  # waited as Retry-After said
    assert pages[-1].next_cursor == "2026-03-01T00:04:10Z"
    assert kind.to_canonical("companies", pages[0].records[0]).fields == {
        "code": "HUBSPOT-1", "name": "Company 1", "is_active": True}


def test_hubspot_oauth2_refreshes_expired_tokens_between_pages():
    clock = Clock()
    endpoint = TokenEndpoint(clock=clock, lifetime=400)  # renewed 300 s before expiry (the manifest's default)
    endpoint.valid_access.add("access-0")
    endpoint.expiry["access-0"] = clock() + 400
    fake = HubSpotFake(250, tokens=endpoint)
    credentials = {"client_id": "app", "client_secret": "sec", "access_token": "access-0",
                   "refresh_token": "refresh-0", "expires_at": str(int(clock() + 400))}
    manifest = manifest_templates()["hubspot-crm-oauth2"]
    manifest = {**manifest, "client": {**manifest["client"], "auth": {**manifest["client"]["auth"],
                                                                      "token_url": TOKEN_URL}}}
    store = MemoryTokenStore(credentials)
    kind = rest_kind(manifest, route("hubspot_companies", fake, endpoint), credentials=credentials, clock=clock,
                     token_store=store)
    ids = []
    for page in kind.read("companies"):
        ids += [r["id"] for r in page.records]
        clock.advance(150)  # slow pages: the token nears its end twice during the read
    assert len(ids) == 250
    assert endpoint.issued == 2 and store.credentials["refresh_token"] == "refresh-2"
    assert endpoint.requests[0]["client_secret"] == "sec"  # HubSpot takes the client in the form (client_secret_post)


def test_hubspot_create_after_a_lost_answer_is_found_not_duplicated():
    fake = HubSpotFake(0)
    fake.lose_create = True
    kind = rest_kind(manifest_templates()["hubspot-crm"], route("hubspot_companies", fake),
                     credentials={"access_token": "pat-1"})
    with pytest.raises(ConnectorError) as caught:
        kind.write("companies", {"name": "Acme"}, reference="weft-alpha-customer-1")
    assert not caught.value.permanent
    retry = rest_kind(manifest_templates()["hubspot-crm"], route("hubspot_companies", fake),
                      credentials={"access_token": "pat-1"})
    result = retry.write("companies", {"name": "Acme Ltd"}, reference="weft-alpha-customer-1")
    assert (result.external_id, result.created) == ("1", False)
    assert len(fake.companies) == 1 and fake.companies["1"]["properties"]["name"] == "Acme Ltd"


# --- Pipedrive ----------------------------------------------------------------------------------------------
class PipedriveFake(Fake):
    REF = "f3a9_weft_reference"

    def __init__(self, count: int, **kwargs):
        super().__init__(**kwargs)
        self.orgs = {i: {"id": i, "name": f"Org {i}", "active_flag": True, "update_time": "2026-03-01 10:00:00"}
                     for i in range(1, count + 1)}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.params.get("api_token") != "pd-1":
            return httpx.Response(401, json={"success": False, "error": "You need to be authorized"})
        if throttled := self.throttled():
            return throttled
        path, params = request.url.path, request.url.params
        if path == "/v1/organizations/search":
            found = [{"result_score": 1, "item": {"id": o["id"], "name": o["name"], "custom_fields": [o[self.REF]]}}
                     for o in self.orgs.values() if o.get(self.REF) == params["term"]]
            return httpx.Response(200, json={"success": True, "data": {"items": found}})
        if path == "/v1/organizations" and request.method == "GET":
            start, limit = int(params["start"]), int(params["limit"])
            rows = list(self.orgs.values())[start:start + limit]
            more = start + limit < len(self.orgs)
            return httpx.Response(200, json={"success": True, "data": rows, "additional_data": {"pagination": {
                "start": start, "limit": limit, "more_items_in_collection": more, "next_start": start + limit}}})
        if request.method == "POST":
            new_id = len(self.orgs) + 1
            self.orgs[new_id] = {"id": new_id, "active_flag": True, **json_of(request)}
            return self.created(request, httpx.Response(201, json={"success": True, "data": self.orgs[new_id]}))
        org = self.orgs[int(path.rsplit("/", 1)[1])]
        org.update(json_of(request))
        return httpx.Response(200, json={"success": True, "data": org})


def pipedrive(fake, sleeps=None):
    return rest_kind(manifest_templates()["pipedrive"], route("pipedrive", fake), credentials={"api_token": "pd-1"},
                     settings={"reference_field": PipedriveFake.REF}, sleeps=sleeps)


def test_pipedrive_reads_many_pages_through_a_429():
    fake = PipedriveFake(230, throttle_at=3)
    sleeps: list[float] = []
    ids = [r["id"] for p in pipedrive(fake, sleeps).read("organizations") for r in p.records]
    assert ids == list(range(1, 231)) and 3.0 in sleeps


def test_pipedrive_create_after_a_lost_answer_is_found_by_its_reference_field():
    fake = PipedriveFake(2)
    fake.lose_create = True
    with pytest.raises(ConnectorError):
        pipedrive(fake).write("organizations", {"name": "Acme"}, reference="weft-alpha-customer-7")
    result = pipedrive(fake).write("organizations", {"name": "Acme"}, reference="weft-alpha-customer-7")
    assert (result.external_id, result.created) == ("3", False) and len(fake.orgs) == 3


def test_pipedrive_with_a_wrong_token_says_which_credential_to_fix():
    kind = rest_kind(manifest_templates()["pipedrive"], route("pipedrive", PipedriveFake(1)),
                     credentials={"api_token": "expired"}, settings={"reference_field": "x"})
    with pytest.raises(ConnectorError, match="check the credential 'api_token' \\(sent as query 'api_token'\\)"):
        list(kind.read("organizations"))


# --- Finch ------------------------------------------------------------------------------------------------
class FinchFake(Fake):
    def __init__(self, count: int, **kwargs):
        super().__init__(**kwargs)
        self.people = [{"id": f"00000000-0000-4000-8000-{i:012d}", "first_name": f"P{i}", "last_name": "Doe",
                        "is_active": True} for i in range(count)]
        self.batches: list[int] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.headers.get("authorization") != "Bearer finch-1":
            return httpx.Response(401, json={"message": "Unauthorized"})
        if throttled := self.throttled():
            return throttled
        if request.url.path == "/employer/directory":
            offset, limit = int(request.url.params["offset"]), int(request.url.params["limit"])
            return httpx.Response(200, json={"paging": {"count": len(self.people), "offset": offset},
                                             "individuals": self.people[offset:offset + limit]})
        wanted = [r["individual_id"] for r in json_of(request)["requests"]]
        self.batches.append(len(wanted))
        return httpx.Response(200, json={"responses": [
            {"individual_id": i, "code": 200, "body": {"id": i, "first_name": "P", "last_name": "Doe",
                                                       "department": {"name": "Advisory"}}} for i in wanted]})


def test_finch_reads_the_directory_in_pages_and_individuals_in_batches_through_a_429():
    fake = FinchFake(240, throttle_at=4)
    sleeps: list[float] = []
    kind = rest_kind(manifest_templates()["finch"], route("finch", fake), credentials={"access_token": "finch-1"},
                     sleeps=sleeps)
    directory = [r["id"] for p in kind.read("directory") for r in p.records]
    assert len(directory) == 240 and len(set(directory)) == 240
    employment = [r for p in kind.read("employment") for r in p.records]
    assert len(employment) == 240 and fake.batches == [100, 100, 40] and 3.0 in sleeps
    assert kind.to_canonical("employment", employment[0]).fields["practice"] == "Advisory"


# --- QuickBooks Online ----------------------------------------------------------------------------------
QUERY = re.compile(r"select \* from (\w+) where Metadata.LastUpdatedTime >= '([^']+)' orderby "
                   r"Metadata.LastUpdatedTime startposition (\d+) maxresults (\d+)")


class QuickBooksFake(Fake):
    def __init__(self, count: int, tokens: TokenEndpoint, **kwargs):
        super().__init__(**kwargs)
        self.tokens = tokens
        self.customers = [{"Id": str(i), "DisplayName": f"Customer {i}", "Active": True,
                           "MetaData": {"CreateTime": "2026-01-01T00:00:00-08:00",
                                        "LastUpdatedTime": f"2026-02-{1 + i // 100:02d}T10:00:00-08:00"}}
                          for i in range(1, count + 1)]

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if not self.tokens.accepts(request):
            return httpx.Response(401, json={"fault": {"error": [{"message": "AuthenticationFailed"}]}})
        if throttled := self.throttled():
            return throttled
        entity, since, start, size = QUERY.fullmatch(unquote(request.url.params["query"])).groups()
        since_time = datetime.fromisoformat(since.replace("Z", "+00:00"))
        rows = [c for c in self.customers if datetime.fromisoformat(c["MetaData"]["LastUpdatedTime"]) >= since_time]
        rows = rows[int(start) - 1:][:int(size)]
        found = {entity: rows} if rows else {}
        return httpx.Response(200, json={"QueryResponse": {**found, "startPosition": int(start),
                                                           "maxResults": len(rows)},
                                         "time": "2026-03-01T10:00:00.000-08:00"})


def test_quickbooks_reads_every_page_across_token_expiry_and_a_429():
    clock = Clock()
    endpoint = TokenEndpoint(clock=clock, lifetime=3600)
    endpoint.valid_access.add("access-0")
    endpoint.expiry["access-0"] = clock() + 200
    fake = QuickBooksFake(350, endpoint, throttle_at=2)
    credentials = {"client_id": "app", "client_secret": "sec", "access_token": "access-0",
                   "refresh_token": "refresh-0", "expires_at": str(int(clock() + 200))}
    sleeps: list[float] = []
    kind = rest_kind(manifest_templates()["quickbooks-online"], route("quickbooks", fake, endpoint),
                     credentials=credentials, sleeps=sleeps, clock=clock,
                     settings={"realm_id": "9130350000000000", "oauth_token_url": TOKEN_URL})
    pages = list(kind.read("customers"))
    assert sum(len(p.records) for p in pages) == 350 and len(pages) == 4
    assert endpoint.issued == 1 and endpoint.auth_headers[0].startswith("Basic ")  # refreshed before the first call
    assert 3.0 in sleeps
    assert pages[-1].next_cursor == "2026-02-04T18:00:00Z"
    again = list(kind.read("customers", cursor=pages[-1].next_cursor))
    assert [r["Id"] for p in again for r in p.records] == [str(i) for i in range(300, 351)]
