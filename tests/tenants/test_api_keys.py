"""API keys as an integrator meets them: made in the admin and shown once, sent as a Bearer token, limited to
their customer or partner and to their scopes, rate-limited, expired and revoked; 401 for bad credentials."""

from __future__ import annotations

import base64
import hashlib
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.connectors.models import Connection
from apps.tenants import access, apikeys
from apps.tenants.choices import Role
from apps.tenants.errors import AccessDenied, NotVisible
from apps.tenants.models import ApiKey
from tests.conftest import host, member


@pytest.fixture
def partner_admin(cast):
    return member(Role.PARTNER_ADMIN, partner=cast.xpartner)


def call(method: str, path: str, customer, token: str | None = None, data=None, **headers):
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    client = Client(raise_request_exception=False)
    return getattr(client, method)(f"/api/v1/{path}", data, content_type="application/json",
                                   HTTP_HOST=host(customer), **headers)


def key_for(admin, scopes, **owner) -> str:
    return apikeys.apikey_create(name="Billing sync", scopes=scopes, acting_user=admin, **owner).token


def test_a_customer_key_reads_its_customer_quickly_and_is_stored_only_as_a_hash(cast, partner_admin):
    issued = apikeys.apikey_create(name="Billing sync", scopes=["runs:read"], customer=cast.alpha,
                                   acting_user=partner_admin)
    key = ApiKey.objects.get(pk=issued.key.pk)
    assert issued.token.startswith(f"weft_{key.prefix}_") and issued.token not in str(vars(key))
    assert key.secret_hash == hashlib.sha256(issued.token.encode()).hexdigest()
    started = time.perf_counter()
    answer = call("get", "runs/", cast.alpha, issued.token)
    assert answer.status_code == 200 and time.perf_counter() - started < 0.5  # no password hash per call
    key.refresh_from_db()
    assert key.last_used_at is not None and key.window_calls == 1


def test_missing_or_bad_credentials_answer_401_with_a_bearer_challenge(cast, partner_admin):
    token = key_for(partner_admin, ["runs:read"], customer=cast.alpha)
    for headers in [{}, {"HTTP_AUTHORIZATION": "Bearer weft_nothing_here"},
                    {"HTTP_AUTHORIZATION": f"Bearer {token[:-2]}xx"}, {"HTTP_AUTHORIZATION": "Bearer"},
                    {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(b"alpha-admin:wrong").decode()}]:
        answer = call("get", "runs/", cast.alpha, **headers)
        assert answer.status_code == 401, headers
        assert answer.headers["WWW-Authenticate"].startswith("Bearer"), headers


def test_a_key_needs_the_scope_of_the_area_and_write_for_writes(cast, partner_admin):
    reader = key_for(partner_admin, ["runs:read"], customer=cast.alpha)
    assert call("get", "exceptions/", cast.alpha, reader).status_code == 403  # another area
    assert call("post", "connections/", cast.alpha, reader, {"name": "ERP", "kind": "csv"}).status_code == 403
    configurer = key_for(partner_admin, ["configuration:write"], customer=cast.alpha)
    assert call("get", "connections/", cast.alpha, configurer).status_code == 200  # write includes read
    made = call("post", "connections/", cast.alpha, configurer, {"name": "ERP", "kind": "csv"})
    assert made.status_code == 201, made.content
    with schema_context("alpha"):
        history = Connection.objects.get(slug=made.json()["slug"]).history.latest()
    assert history.history_user.api_key.name == "Billing sync"  # the audit names the key, not a person


def test_a_customer_key_reaches_its_customer_and_a_partner_key_its_partners_customers(cast, partner_admin):
    customer_key = key_for(partner_admin, ["runs:read"], customer=cast.alpha)
    partner_key = key_for(partner_admin, ["runs:read"], partner=cast.xpartner)
    assert call("get", "runs/", cast.beta, customer_key).status_code == 403
    assert call("get", "runs/", cast.alpha, partner_key).status_code == 200
    assert call("get", "runs/", cast.beta, partner_key).status_code == 200
    assert call("get", "runs/", cast.gamma, partner_key).status_code == 403


def test_revoked_and_expired_keys_answer_401(cast, partner_admin):
    issued = apikeys.apikey_create(name="Old", scopes=["runs:read"], customer=cast.alpha, acting_user=partner_admin)
    assert call("get", "runs/", cast.alpha, issued.token).status_code == 200
    apikeys.apikey_revoke(key=issued.key, acting_user=partner_admin)
    assert call("get", "runs/", cast.alpha, issued.token).status_code == 401
    expiring = apikeys.apikey_create(name="Soon", scopes=["runs:read"], customer=cast.alpha,
                                     expires_at=timezone.now() + timedelta(minutes=5), acting_user=partner_admin)
    ApiKey.objects.filter(pk=expiring.key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert call("get", "runs/", cast.alpha, expiring.token).status_code == 401


def test_a_key_over_its_rate_limit_gets_429_with_retry_after(cast, partner_admin):
    issued = apikeys.apikey_create(name="Chatty", scopes=["runs:read"], customer=cast.alpha,
                                   rate_limit_per_minute=2, acting_user=partner_admin)
    assert [call("get", "runs/", cast.alpha, issued.token).status_code for _ in range(2)] == [200, 200]
    limited = call("get", "runs/", cast.alpha, issued.token)
    assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
    other = key_for(partner_admin, ["runs:read"], customer=cast.alpha)  # the limit is per key
    assert call("get", "runs/", cast.alpha, other).status_code == 200


def test_keys_never_hold_people_admin_or_platform_rights(cast, partner_admin):
    issued = apikeys.apikey_create(name="All", scopes=access.key_scopes(partner_key=True), partner=cast.xpartner,
                                   acting_user=partner_admin)
    principal = apikeys.apikey_for_token(issued.token).principal
    for action in ("people.manage", "apikey.manage", "partner.change", "platform.manage", "console.enter",
                   "ledger.delete"):
        assert not access.can(principal, action, partner=cast.xpartner, customer=cast.alpha), action
    assert access.can(principal, "customer.onboard", partner=cast.xpartner)
    assert not access.can(principal, "customer.onboard", partner=cast.ypartner)
    assert not ApiKey.objects.get(pk=issued.key.pk).principal.has_usable_password()
    with pytest.raises(ValidationError):  # partner areas are for partner keys
        apikeys.apikey_create(name="x", scopes=["customers:read"], customer=cast.alpha, acting_user=partner_admin)


def test_only_partner_admins_make_keys_and_only_for_their_own_customers(cast, partner_admin, charlie):
    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner)
    with pytest.raises(AccessDenied):
        apikeys.apikey_create(name="x", scopes=["runs:read"], customer=cast.alpha, acting_user=engineer)
    with pytest.raises(NotVisible):
        apikeys.apikey_create(name="x", scopes=["runs:read"], customer=cast.alpha, acting_user=charlie)


def test_the_admin_shows_a_new_key_once_lists_it_by_prefix_and_revokes_it(cast, partner_admin, charlie):
    client = Client()
    client.force_login(partner_admin)
    partner_host = cast.xpartner.domain_suffix
    made = client.post("/admin/tenants/apikey/add/", {
        "name": "Payroll export", "customer": cast.alpha.pk, "scopes": ["runs:read", "records:write"],
        "rate_limit_per_minute": 120}, HTTP_HOST=partner_host)
    key = ApiKey.objects.get(name="Payroll export")
    token = made.context["issued"].token
    assert made.status_code == 200 and token in made.text and key.scopes == ["records:write", "runs:read"]
    listing = client.get("/admin/tenants/apikey/", HTTP_HOST=partner_host)
    assert key.prefix in listing.text and token not in listing.text
    assert token not in client.get(f"/admin/tenants/apikey/{key.pk}/change/", HTTP_HOST=partner_host).text
    client.post("/admin/tenants/apikey/", {"action": "revoke", "_selected_action": [key.pk], "index": "0"},
                HTTP_HOST=partner_host)
    key.refresh_from_db()
    assert key.revoked_at is not None and call("get", "runs/", cast.alpha, token).status_code == 401
    client.force_login(charlie)
    other = client.get("/admin/tenants/apikey/", HTTP_HOST=cast.ypartner.domain_suffix)
    assert other.status_code == 200 and key.prefix not in other.text


def test_every_api_endpoint_says_which_key_scope_reads_it():
    """A view without ``api_area`` is shut to keys; the only ones without are those that take no credentials."""
    from django.urls import resolve

    from tests.security import boundary as b

    unnamed = []
    for route in b.routes("config.urls_tenant"):
        if not route.text.startswith("api/v1/"):
            continue
        names = [name for name, _ in route.params()]
        view = resolve(route.url(dict.fromkeys(names, "1"), ["1"] * len(names)), "config.urls_tenant").func
        cls = getattr(view, "cls", None) or getattr(view, "view_class", None)
        open_to_all = getattr(cls, "authentication_classes", None) == ()
        if not open_to_all and getattr(cls, "api_area", None) not in (*access.KEY_AREAS, access.ANY_AREA):
            unnamed.append(route.name)
    assert not unnamed, unnamed
