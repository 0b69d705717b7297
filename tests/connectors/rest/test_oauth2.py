"""OAuth2 for every kind: the authorization request (state, PKCE), code exchange, client credentials, refresh
before expiry with rotating refresh tokens, both token-endpoint client authentication styles, tokens sealed in the
connection's credentials, and a refused refresh turning into "re-authorization needed". The Xero kind runs
unattended across its 30-minute token expiry against a fake token endpoint, every Xero call checked against
Xero's published OpenAPI document."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from apps.common.http import OutboundClient
from apps.connectors import crypto
from apps.connectors.errors import ConnectorError
from apps.connectors.kinds.xero import XeroKind
from apps.connectors.models import Connection, GrantStatus, OAuthGrant
from apps.connectors.oauth2 import (
    MemoryTokenStore,
    OAuth2Spec,
    ReauthorizationNeeded,
    TokenManager,
    authorization_request,
    code_exchange,
)
from apps.connectors.services import connection_create
from apps.connectors.tokens import DatabaseTokenStore
from tests.connectors.rest.fakes import Clock, TokenEndpoint
from tests.connectors.scripted import kind_with
from tests.vendor_mocks.openapi import spec_checked_transport

TOKEN_URL = "https://identity.example/connect/token"
SPEC = OAuth2Spec(authorize_url="https://login.example/authorize", token_url=TOKEN_URL, scopes=("offline_access",
                  "accounting.contacts"), token_auth="client_secret_basic")


def factory(handler, sleeps=None):
    def http_factory(base_url, headers):
        return OutboundClient(base_url=base_url, name="Test", headers=headers, transport=httpx.MockTransport(handler),
                              allow_private_network=True, sleep=(sleeps if sleeps is not None else []).append)

    return http_factory


def test_the_authorization_request_has_state_and_an_s256_pkce_challenge():
    request = authorization_request(SPEC, client_id="app-1", redirect_uri="https://acme.example/oauth/callback/")
    query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
    assert request.url.startswith("https://login.example/authorize?")
    assert query["response_type"] == "code" and query["client_id"] == "app-1"
    assert query["redirect_uri"] == "https://acme.example/oauth/callback/"
    assert query["scope"] == "offline_access accounting.contacts"
    assert query["state"] == request.state and len(request.state) >= 32
    expected = base64.urlsafe_b64encode(hashlib.sha256(request.code_verifier.encode()).digest()).rstrip(b"=")
    assert (query["code_challenge"], query["code_challenge_method"]) == (expected.decode(), "S256")
    assert authorization_request(SPEC, client_id="app-1", redirect_uri="x").state != request.state


def test_the_code_exchange_sends_the_verifier_and_authenticates_the_client_with_basic_auth():
    clock = Clock()
    endpoint = TokenEndpoint(clock=clock)
    tokens = code_exchange(SPEC, http_factory=factory(endpoint), client_id="app-1", client_secret="s3cret",
                           code="good-code", redirect_uri="https://acme.example/oauth/callback/",
                           code_verifier="v" * 64, now=clock())
    [form] = endpoint.requests
    assert form == {"grant_type": "authorization_code", "code": "good-code", "code_verifier": "v" * 64,
                    "redirect_uri": "https://acme.example/oauth/callback/"}
    assert endpoint.auth_headers[0] == "Basic " + base64.b64encode(b"app-1:s3cret").decode()
    assert tokens == {"access_token": "access-1", "refresh_token": "refresh-1", "token_type": "Bearer",
                      "expires_at": str(int(clock() + 1800))}


def test_client_secret_post_puts_the_client_in_the_form_instead():
    clock = Clock()
    endpoint = TokenEndpoint(clock=clock)
    spec = OAuth2Spec(token_url=TOKEN_URL, grant="client_credentials", token_auth="client_secret_post",
                      scopes=("read",))
    manager = TokenManager(spec, store=MemoryTokenStore({"client_id": "c", "client_secret": "s"}),
                           credentials={"client_id": "c", "client_secret": "s"}, http_factory=factory(endpoint),
                           clock=clock)
    assert manager.access_token() == "access-1"
    assert endpoint.requests[0] == {"grant_type": "client_credentials", "scope": "read", "client_id": "c",
                                    "client_secret": "s"}
    assert endpoint.auth_headers[0] == ""
    assert manager.access_token() == "access-1"  # still fresh: no second call
    clock.advance(1600)
    assert manager.access_token() == "access-2"


def test_a_refused_refresh_token_means_reauthorization_and_is_recorded():
    clock = Clock()
    endpoint = TokenEndpoint(clock=clock, revoked=True)
    store = MemoryTokenStore({"access_token": "old", "refresh_token": "refresh-0", "expires_at": str(int(clock()))})
    manager = TokenManager(SPEC, store=store, credentials=store.credentials, http_factory=factory(endpoint),
                           clock=clock)
    with pytest.raises(ReauthorizationNeeded) as caught:
        manager.access_token()
    assert "Re-authorization needed" in caught.value.message and "refresh token is invalid" in caught.value.message
    assert caught.value.permanent
    assert store.status[0] is False and "click Connect again" in store.status[1]


def test_a_token_endpoint_outage_is_transient_not_reauthorization():
    clock = Clock()
    store = MemoryTokenStore({"access_token": "old", "refresh_token": "r", "expires_at": str(int(clock()))})
    manager = TokenManager(SPEC, store=store, credentials=store.credentials,
                           http_factory=factory(lambda request: httpx.Response(503, text="down")), clock=clock)
    with pytest.raises(Exception) as caught:
        manager.access_token()
    assert not isinstance(caught.value, ReauthorizationNeeded) and not caught.value.permanent


# --- Xero, unattended across token expiry ------------------------------------------------------------------
XERO_TENANT = "9c2a8f4e-0000-4000-8000-000000000001"


def contacts_page():
    return {"pagination": {"page": 1, "pageSize": 500, "pageCount": 1, "itemCount": 1}, "Contacts": [
        {"ContactID": "430fa14a-f945-44d3-9f97-5df5e28441b8", "Name": "Acme Ltd", "ContactStatus": "ACTIVE",
         "UpdatedDateUTC": "/Date(1709287200000+0000)/"}]}


def xero_with_tokens(clock, endpoint, store):
    def xero_api(request: httpx.Request) -> httpx.Response:
        if not endpoint.accepts(request):
            return httpx.Response(401, json={"Title": "Unauthorized", "Detail": "TokenExpired"})
        return httpx.Response(200, json=contacts_page())

    api = spec_checked_transport("xero_accounting", xero_api)

    def route(request: httpx.Request) -> httpx.Response:
        if str(request.url).startswith(TOKEN_URL):
            return endpoint(request)
        return api.handle_request(request)

    kind = kind_with(XeroKind, httpx.MockTransport(route), settings={"tenant_id": XERO_TENANT,
                                                                    "oauth_token_url": TOKEN_URL},
                     credentials=store.credentials)
    kind.context.token_store = store
    kind.clock = clock
    return kind, api


def connected_credentials(clock, endpoint) -> dict:
    """What Connect stores: the app's client and the first tokens (issued now, 30 minutes)."""
    endpoint.valid_access.add("access-0")
    endpoint.expiry["access-0"] = clock() + 1800
    return {"client_id": "app-1", "client_secret": "s3cret", "access_token": "access-0",
            "refresh_token": "refresh-0", "expires_at": str(int(clock() + 1800))}


def test_xero_refreshes_before_expiry_keeps_the_rotated_refresh_token_and_runs_unattended():
    clock = Clock()
    endpoint = TokenEndpoint(clock=clock, lifetime=1800)
    store = MemoryTokenStore(connected_credentials(clock, endpoint))
    for _ in range(16):  # a scheduled flow every 15 minutes for four hours
        kind, api = xero_with_tokens(clock, endpoint, store)
        [page] = list(kind.read("contacts"))
        assert page.records[0]["Name"] == "Acme Ltd"
        api.assert_clean()
        clock.advance(15 * 60)
    # Runs at 0, 15, ..., 225 minutes: a refresh at 30, 60, ..., 210 (each token lives 30 minutes), never a 401.
    assert endpoint.issued == 7
    assert [form["refresh_token"] for form in endpoint.requests] == [f"refresh-{n}" for n in range(7)]
    assert store.credentials["refresh_token"] == "refresh-7" and store.status == (True, "")


def test_xero_whose_token_was_revoked_early_refreshes_once_on_401():
    clock = Clock()
    endpoint = TokenEndpoint(clock=clock)
    store = MemoryTokenStore(connected_credentials(clock, endpoint))
    endpoint.valid_access.clear()  # revoked by Xero before its expiry
    kind, api = xero_with_tokens(clock, endpoint, store)
    [page] = list(kind.read("contacts"))
    assert page.records and endpoint.issued == 1


def test_xero_with_a_revoked_grant_asks_for_reauthorization():
    clock = Clock()
    endpoint = TokenEndpoint(clock=clock, revoked=True)
    store = MemoryTokenStore(connected_credentials(clock, endpoint))
    clock.advance(1700)
    kind, _ = xero_with_tokens(clock, endpoint, store)
    with pytest.raises(ConnectorError, match="Re-authorization needed.*click Connect again") as caught:
        list(kind.read("contacts"))
    assert caught.value.permanent and caught.value.category == "auth"
    assert store.status[0] is False


# --- tokens sealed in the database -------------------------------------------------------------------------
def test_refreshed_tokens_are_sealed_in_the_connection_without_a_history_row(in_alpha):
    clock = Clock()
    endpoint = TokenEndpoint(clock=clock)
    credentials = {"client_id": "app-1", "client_secret": "s3cret", "access_token": "access-0",
                   "refresh_token": "refresh-0", "expires_at": str(int(clock() + 100))}
    connection = connection_create(name="Xero", kind="xero", settings={"tenant_id": XERO_TENANT},
                                   credentials=credentials)
    history_rows = connection.history.count()
    store = DatabaseTokenStore(connection.pk)
    manager = TokenManager(SPEC, store=store, credentials=credentials, http_factory=factory(endpoint), clock=clock)

    assert manager.access_token() == "access-1"

    connection.refresh_from_db()
    stored = crypto.unseal(connection.credentials_token)
    assert (stored["access_token"], stored["refresh_token"], stored["client_secret"]) == (
        "access-1", "refresh-1", "s3cret")
    assert "refresh-1" not in connection.credentials_token  # sealed, not plain
    assert connection.history.count() == history_rows
    grant = OAuthGrant.objects.get(connection=connection)
    assert grant.status == GrantStatus.CONNECTED and grant.expires_at is not None

    # A second worker still holding the old token finds the new one under the lock instead of refreshing again.
    other = TokenManager(SPEC, store=store, credentials=credentials, http_factory=factory(endpoint), clock=clock)
    assert other.access_token() == "access-1" and endpoint.issued == 1

    endpoint.revoked = True
    clock.advance(3600)
    with pytest.raises(ReauthorizationNeeded):
        manager.access_token()
    grant.refresh_from_db()
    assert grant.status == GrantStatus.REAUTHORIZE and "refresh token is invalid" in grant.message
    assert Connection.objects.filter(pk=connection.pk).exists()
