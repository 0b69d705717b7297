"""The host picks the site: customer portal, partner site, platform, or a clear 404 — never a 500."""

import pytest

from apps.tenants.choices import Role
from tests.conftest import host, member


@pytest.mark.parametrize("hostname", ["unknown.example", "alpha.x.test.evil.example", "weft-template.x.test"])
def test_unknown_hosts_get_a_clear_404_page(cast, client, hostname):
    response = client.get("/", HTTP_HOST=hostname)
    assert response.status_code == 404
    assert "No site is configured for" in response.text and hostname in response.text


def test_malformed_host_header_is_a_404_not_a_500(cast, client):
    response = client.get("/", HTTP_HOST="bad host!")
    assert response.status_code in (400, 404)


def test_inactive_customer_domain_is_not_served(cast, client):
    cast.beta.is_active = False
    cast.beta.save(update_fields=["is_active"])
    assert client.get("/login/", HTTP_HOST=host(cast.beta)).status_code == 404


def test_customer_domain_shows_the_partners_brand(cast, client):
    cast.xpartner.display_name = "X Connect"
    cast.xpartner.primary_colour = "#123456"
    cast.xpartner.save()
    page = client.get("/login/", HTTP_HOST=host(cast.alpha))
    assert page.status_code == 200
    assert "X Connect" in page.text and "#123456" in page.text
    assert "Weft" not in page.text  # the partner set a brand: customers never see ours


def test_partner_site_lists_the_partners_customers(cast, client):
    client.force_login(member(Role.ANALYST, partner=cast.xpartner))
    page = client.get("/", HTTP_HOST="x.test")
    assert page.status_code == 200
    assert "Alpha" in page.text and "alpha.x.test" in page.text and "Gamma" not in page.text


def test_platform_admin_is_branded_weft_and_requires_login(cast, client):
    response = client.get("/admin/", HTTP_HOST="localhost")
    assert response.status_code == 302 and "/admin/login/" in response.url


def test_health_endpoint_answers_alike_on_every_host_and_names_no_tenant(cast, client):
    for name in (host(cast.gamma), "localhost", "unknown.example"):
        response = client.get("/healthz", HTTP_HOST=name)
        assert (response.status_code, response.json()) == (200, {"status": "alive"}), name
