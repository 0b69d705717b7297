"""In a real Chromium: a partner admin makes a partner key on the partner site, copies the secret shown once,
calls the partner API with it, and revokes it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from tests.browser.conftest import browser_unavailable, login, screenshot

UNAVAILABLE = browser_unavailable()
pytestmark = [pytest.mark.browser, pytest.mark.django_db,
              pytest.mark.skipif(UNAVAILABLE is not None, reason=f"Browser tests did not run: {UNAVAILABLE}.")]


def partner_api(harbour, path: str, token: str) -> tuple[int, dict]:
    """A call from Python: its resolver does not know *.localhost, so 127.0.0.1 and a Host header."""
    request = urllib.request.Request(f"http://127.0.0.1:{harbour.port}/api/v1/{path}",
                                     headers={"Host": harbour.partner_host, "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refusal:
        return refusal.code, json.loads(refusal.read())


def test_a_partner_admin_makes_a_key_on_the_partner_site_uses_it_and_revokes_it(harbour, browser_page):
    page = browser_page
    login(page, harbour.url(harbour.partner_host, "/login/"), "harbour.admin")
    page.click("nav >> text=API keys")
    page.wait_for_load_state("networkidle")
    assert page.inner_text("h1") == "API keys" and "No keys yet." in page.inner_text("#keys")
    page.fill("input[name=name]", "Invoicing robot")
    page.select_option("select[name=owner]", label="Harbour Integrations (partner key)")
    for scope in ("customers:write", "configuration:read", "reports:read"):
        page.check(f"input[name=scopes][value='{scope}']")
    page.fill("input[name=expires_in_days]", "90")
    page.click("#new-key button[type=submit]")
    page.wait_for_load_state("networkidle")
    token = page.inner_text("[data-key=secret]")
    prefix = page.get_attribute("#issued-key", "data-prefix")
    assert token.startswith(f"weft_{prefix}_")
    row = page.locator(f"tr[data-key='{prefix}']").inner_text()
    assert "Invoicing robot" in row and "customers:write" in row and "never" in row  # not used yet
    screenshot(page, "partner-api-keys")

    status, answer = partner_api(harbour, "customers/", token)
    assert status == 200 and [c["slug"] for c in answer["results"]] == ["acme", "globex"]

    page.goto(harbour.url(harbour.partner_host, "/keys/"))
    assert token not in page.content()  # shown once
    assert "never" not in page.locator(f"tr[data-key='{prefix}'] td").nth(5).inner_text()  # last used: just now
    page.click(f"[data-revoke='{prefix}']")
    page.wait_for_load_state("networkidle")
    assert "revoked" in page.locator(f"tr[data-key='{prefix}']").inner_text()
    status, answer = partner_api(harbour, "customers/", token)
    assert status == 401 and answer["status"] == 401
