"""API keys made on the partner site and in a customer's portal: the secret shown once, lists with prefix, scopes,
expiry and last use, revocation; nobody gives a key more than their own role may do."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from apps.tenants import access, apikeys
from apps.tenants.errors import NotVisible
from apps.tenants.models import ApiKey
from tests.conftest import host
from tests.portal.conftest import Site


def _made(page: str) -> str:
    start = page.index('data-key="secret">') + len('data-key="secret">')
    return page[start:page.index("<", start)]


def test_a_partner_admin_makes_lists_and_revokes_partner_and_customer_keys(cast, partner_site, partner_admin):
    partner_site.client.force_login(partner_admin)
    made = partner_site.post("/keys/", {"name": "Billing sync", "owner": "*partner*", "expires_in_days": "30",
                                        "scopes": ["customers:read", "reports:read"], "rate_limit_per_minute": "600"})
    assert made.status_code == 200 and made["Cache-Control"].startswith("max-age=0")
    token = _made(made.text)
    key = ApiKey.objects.get(name="Billing sync")
    assert key.partner == cast.xpartner and token.startswith(f"weft_{key.prefix}_") and key.expires_at
    assert Client().get("/api/v1/customers/", HTTP_HOST="x.test",
                        HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    partner_site.post("/keys/", {"name": "Alpha ERP", "owner": "alpha", "scopes": ["runs:read"],
                                 "rate_limit_per_minute": "60"})
    listing = partner_site.get("/keys/").text
    assert token not in listing and key.prefix in listing and "Alpha ERP" in listing and "customers:read" in listing
    refused = partner_site.post("/keys/", {"name": "Bad", "owner": "alpha", "scopes": ["customers:read"],
                                           "rate_limit_per_minute": "60"})
    assert "Unknown scopes" in refused.text and not ApiKey.objects.filter(name="Bad").exists()
    partner_site.post(f"/keys/{key.prefix}/revoke/")
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert Client().get("/api/v1/customers/", HTTP_HOST="x.test",
                        HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401


def test_others_cannot_manage_the_partners_keys(cast, partner_site, analyst, alice, charlie, partner_admin):
    other = apikeys.apikey_create(name="Y key", scopes=["runs:read"], partner=cast.ypartner,
                                  acting_user=None).key
    for person, status in ((analyst, 403), (alice, 404), (charlie, 404)):
        partner_site.client.force_login(person)
        assert partner_site.get("/keys/").status_code == status, person
    partner_site.client.force_login(analyst)
    assert 'href="/keys/"' not in partner_site.get("/").text  # the menu offers it only to those who may
    partner_site.client.force_login(partner_admin)
    assert 'href="/keys/"' in partner_site.get("/").text
    partner_site.client.force_login(partner_admin)
    assert partner_site.post(f"/keys/{other.prefix}/revoke/").status_code == 404  # another partner's key
    other.refresh_from_db()
    assert other.revoked_at is None


def test_a_customer_admin_makes_keys_for_their_own_firm_no_wider_than_their_role(cast, client, alice, viewer):
    site = Site(client, host(cast.alpha))
    site.client.force_login(alice)
    page = site.get("/api-keys/")
    assert page.status_code == 200 and "exceptions:read" in page.text and "configuration:write" not in page.text
    made = site.post("/api-keys/", {"name": "Dashboard", "owner": "alpha", "scopes": ["reports:read"],
                                    "rate_limit_per_minute": "60"})
    key = ApiKey.objects.get(name="Dashboard")
    assert key.customer == cast.alpha and _made(made.text).startswith(f"weft_{key.prefix}_")
    assert access.grantable_scopes(alice, partner_key=False, customer=cast.alpha) == [
        s for s in access.key_scopes(partner_key=False) if s.endswith(":read")]
    with pytest.raises(ValidationError, match="cannot give"):
        apikeys.apikey_create(name="Wide", scopes=["runs:write"], customer=cast.alpha, acting_user=alice)
    with pytest.raises(NotVisible):  # another firm: answered as if it did not exist
        apikeys.apikey_create(name="Beta", scopes=["runs:read"], customer=cast.beta, acting_user=alice)
    site.post(f"/api-keys/{key.prefix}/revoke/")
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert 'href="/api-keys/"' in site.get("/").text
    site.client.force_login(viewer)
    assert 'href="/api-keys/"' not in site.get("/").text and site.get("/api-keys/").status_code == 403
    site.client.force_login(alice)
    beta_site = Site(client, host(cast.beta))
    assert beta_site.get("/api-keys/").status_code in (302, 404)  # another firm: not theirs
