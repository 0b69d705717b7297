"""In a real Chromium at 1366 px: the customer's admin console in the partner's brand with its lists readable
without scrolling sideways, and pages of a customer with no data yet that say why and what to do."""

from __future__ import annotations

import pytest

from tests.browser.conftest import browser_unavailable, login, screenshot

UNAVAILABLE = browser_unavailable()
pytestmark = [pytest.mark.browser, pytest.mark.django_db,
              pytest.mark.skipif(UNAVAILABLE is not None, reason=f"Browser tests did not run: {UNAVAILABLE}.")]

PRIMARY = "rgb(122, 31, 92)"  # Harbour's primary colour, #7A1F5C
LISTS = {"runs": "/admin/runs/run/", "run-items": "/admin/runs/runitem/",
         "exceptions": "/admin/exceptions/integrationexception/"}


def overflow(page) -> int:
    """How many pixels the page or its result table sticks out sideways (0: readable as is)."""
    return page.evaluate("""() => {
        const page = document.documentElement.scrollWidth - window.innerWidth;
        const table = document.querySelector('#result_list');
        const box = table && table.closest('.results');
        return Math.max(page, box ? box.scrollWidth - box.clientWidth : 0);
    }""")


def test_the_admin_console_wears_the_partners_colours_and_fits_1366_px(harbour, browser_page):
    page = browser_page
    acme_host = harbour.host(harbour.acme)
    login(page, harbour.url(acme_host, "/login/"), "harbour.admin")
    page.goto(harbour.url(acme_host, "/admin/"))
    headers = page.eval_on_selector_all(".module caption", "cs => cs.map(c => getComputedStyle(c).backgroundColor)")
    assert headers and set(headers) == {PRIMARY}  # never django-tenants' green
    assert page.eval_on_selector("#header", "h => getComputedStyle(h).backgroundColor") == PRIMARY
    screenshot(page, "admin-index")
    for name, path in LISTS.items():
        page.goto(harbour.url(acme_host, path))
        assert page.locator("#result_list tbody tr").count() > 0, name
        assert page.eval_on_selector("div.breadcrumbs", "b => getComputedStyle(b).backgroundColor") == PRIMARY
        assert overflow(page) <= 0, f"{name} list overflows by {overflow(page)} px"
        screenshot(page, f"admin-{name}")


def test_a_customer_without_data_is_told_why_each_chart_and_table_is_empty(harbour, browser_page):
    page = browser_page
    globex_host = harbour.host(harbour.globex)  # onboarded, nothing run yet
    login(page, harbour.url(globex_host, "/login/"), "globex.admin")
    explained = page.eval_on_selector_all("[data-empty-chart] .empty", "ps => ps.map(p => p.innerText)")
    assert len(explained) == 2 and all("Sync status" in text for text in explained), explained
    screenshot(page, "portal-home-empty")
    page.goto(harbour.url(globex_host, "/reports/blocked-invoices/"))
    assert "resolve or replay it to release them" in page.inner_text("[data-empty-table]")
    page.goto(harbour.url(globex_host, "/reports/assignment-mismatches/"))
    assert "assignments with start and end dates" in page.inner_text("[data-empty-table]")
    screenshot(page, "portal-report-empty")

    partner = page.context.browser.new_context(viewport={"width": 1366, "height": 900}).new_page()
    login(partner, harbour.url(harbour.partner_host, "/login/"), "harbour.admin")
    partner.goto(harbour.url(harbour.partner_host, "/customers/globex/"))
    assert "Run now" in partner.inner_text("[data-empty-chart=usage-chart]")
    screenshot(partner, "partner-customer-empty")
    partner.context.close()
