"""One sign-in across the partner's hosts: from the partner site's drill-in straight into the customer's portal or
admin on the customer's own host, by a signed token that is short-lived, single-use and bound to person and host."""

from urllib.parse import urlsplit

from django.test import Client

from apps.tenants import signin
from tests.conftest import host


def open_(partner_site, slug: str, target: str) -> str:
    answer = partner_site.post(f"/customers/{slug}/open/{target}/")
    assert answer.status_code == 302, answer
    return answer.url


def follow(url: str, client=None):
    parts = urlsplit(url)
    client = client or Client()
    return client, client.get(f"{parts.path}?{parts.query}", HTTP_HOST=parts.netloc)


def test_partner_staff_go_straight_into_the_customers_portal_and_admin(cast, partner_site, partner_admin):
    partner_site.client.force_login(partner_admin)

    portal_link = open_(partner_site, "alpha", "portal")
    client, landed = follow(portal_link)
    portal = client.get("/", HTTP_HOST=host(cast.alpha))
    _, admin_landed = follow(open_(partner_site, "alpha", "admin"), client)
    console = client.get("/admin/", HTTP_HOST=host(cast.alpha))

    assert urlsplit(portal_link).netloc == host(cast.alpha) and "/signin/handoff/?t=" in portal_link
    assert landed.status_code == 302 and landed.url == "/" and portal.status_code == 200
    assert 'data-figure="unposted-hours"' in portal.text  # the portal itself, not a sign-in page
    assert admin_landed.url == "/admin/" and console.status_code == 200 and "Integration configuration" in console.text


def test_a_token_works_once_only_on_its_host_and_not_for_long(cast, partner_site, partner_admin, monkeypatch):
    partner_site.client.force_login(partner_admin)
    link = open_(partner_site, "alpha", "portal")
    parts = urlsplit(link)

    other_host = Client().get(f"{parts.path}?{parts.query}", HTTP_HOST=host(cast.beta))
    _, first = follow(link)
    _, again = follow(link)
    forged = Client().get(f"{parts.path}?t={parts.query[2:-3]}abc", HTTP_HOST=parts.netloc)
    monkeypatch.setattr(signin, "HANDOFF_SECONDS", -1)
    _, late = follow(open_(partner_site, "alpha", "portal"))

    assert other_host.status_code == 403 and "for another site" in other_host.text
    assert first.status_code == 302 and again.status_code == 403 and "already used" in again.text
    assert forged.status_code == 403 and late.status_code == 403 and "expired" in late.text


def test_only_customers_of_the_partner_and_known_places_open(cast, partner_site, partner_admin):
    partner_site.client.force_login(partner_admin)

    assert partner_site.post("/customers/gamma/open/portal/").status_code == 404  # the other partner's customer
    assert partner_site.post("/customers/alpha/open/shell/").status_code == 404
    assert partner_site.get("/customers/alpha/open/portal/").status_code == 405
    drill_in = partner_site.get("/customers/alpha/")
    assert 'id="open-portal"' in drill_in.text and 'id="open-admin"' in drill_in.text


def test_a_hand_over_may_lead_to_a_page_of_its_target_and_nowhere_else(cast, partner_site, partner_admin):
    partner_site.client.force_login(partner_admin)

    def landed(target: str, next_: str) -> str:
        answer = partner_site.post(f"/customers/alpha/open/{target}/", {"next": next_})
        return follow(answer.url)[1].url

    assert landed("portal", "/runs/7/") == "/runs/7/"  # the run the wizard started
    assert landed("admin", "/admin/mappings/ruleset/") == "/admin/mappings/ruleset/"
    assert landed("admin", "/runs/7/") == "/admin/"  # not a page of the admin: its front page
    assert landed("portal", "//evil.example/") == "/" and landed("portal", "/x?next=//evil") == "/"
