"""In a real Chromium: the partner site and both customer portals, their brand, their figures, their limits.

Logs in as partner staff on the partner's host and as customer users on their own customer domains,
checks the partner's name, logo and colours (and that Weft's own brand never shows on customer pages),
checks that numbers the reporting selectors compute appear on the pages, checks who gets a 404, and
saves screenshots of the main pages (and the monthly review as PDF) under artifacts/browser/.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from tests.browser.conftest import ARTIFACTS, browser_unavailable, login, screenshot

UNAVAILABLE = browser_unavailable()
# django_db: so the test database is set up; the data the live server shows is committed by ``harbour``.
pytestmark = [pytest.mark.browser, pytest.mark.django_db,
              pytest.mark.skipif(UNAVAILABLE is not None, reason=f"Browser tests did not run: {UNAVAILABLE}.")]

TOPBAR_COLOUR = "rgb(122, 31, 92)"  # the partner's primary colour, #7A1F5C
REVIEW_MONTH = date(2025, 6, 1)  # the month of the hand-computed data set


def selector(schema: str, name: str, **filters):
    """A figure straight from the reporting selectors, to compare with what the page shows."""
    from apps.reporting import selectors
    from apps.reporting.filters import ReportFilters

    with schema_context(schema):
        return getattr(selectors, name)(filters=ReportFilters(**filters))


def hours(value) -> str:
    return f"{value:,.1f}"


def assert_partner_brand(page) -> None:
    assert page.inner_text(".brand-name") == "Harbour Sync"
    assert page.eval_on_selector(".topbar", "el => getComputedStyle(el).backgroundColor") == TOPBAR_COLOUR
    assert page.eval_on_selector(".brand-logo", "img => img.complete && img.naturalWidth") == 96
    assert "help@harbour.example" in page.inner_text("footer")


def assert_no_weft(page) -> None:
    """The partner set a brand: customers never see ours, in the text or the title."""
    assert "weft" not in page.inner_text("body").lower() and "weft" not in page.title().lower()


def charts_drawn(page) -> int:
    return int(page.eval_on_selector("body", "b => b.dataset.charts || '0'"))


def test_partner_staff_see_every_customer_at_a_glance_in_their_brand(harbour, browser_page):
    page = browser_page
    login(page, harbour.url(harbour.partner_host, "/login/"), "harbour.admin")
    assert page.url == harbour.url(harbour.partner_host, "/")
    assert_partner_brand(page)
    rows = page.locator("#overview tbody tr")
    assert rows.count() == 2 and {rows.nth(i).get_attribute("data-customer") for i in range(2)} == {"acme", "globex"}
    acme = page.locator("tr[data-customer=acme]")
    # The summary row holds what the selectors computed inside acme's schema.
    unposted = selector("acme", "unposted_time", as_of=timezone.localdate()).summary["hours"]
    assert hours(unposted) in acme.inner_text() and "Essentials" in acme.inner_text()
    assert acme.locator(".sla").inner_text() in ("Breached", "At risk")  # the data set has old open exceptions
    assert charts_drawn(page) >= 1
    screenshot(page, "partner-overview")

    page.click("text=Acme Consulting")
    page.wait_for_load_state("networkidle")
    assert page.inner_text("h1") == "Acme Consulting"
    assert page.inner_text("[data-figure=unposted-hours]") == f"{hours(unposted)} h"
    assert charts_drawn(page) >= 1
    screenshot(page, "partner-customer")

    page.goto(harbour.url(harbour.partner_host, "/plans/"))
    assert page.locator("tr[data-plan=essentials]").inner_text().startswith("Essentials")
    screenshot(page, "partner-plans")
    page.goto(harbour.url(harbour.partner_host, "/usage/"))
    cells = page.locator("#usage tr[data-customer=acme] td").all_inner_texts()
    assert cells[1:6] == ["Essentials", "EUR 490.00", "180", "100", "80"]  # 80 records over the plan
    with page.expect_download() as download:
        page.click("text=Export CSV for invoicing")
    assert download.value.suggested_filename == f"harbour-usage-{timezone.localdate():%Y-%m}.csv"
    exported = Path(download.value.path()).read_text(encoding="utf-8").splitlines()
    assert exported[0].startswith("month,customer,customer_slug,plan")
    assert ",acme,Essentials,490.00,EUR,180,100,80," in exported[1]
    screenshot(page, "partner-usage")


def test_customer_user_sees_their_portal_in_the_partners_brand_with_live_figures(harbour, browser_page):
    page = browser_page
    acme_host = harbour.host(harbour.acme)
    login(page, harbour.url(acme_host, "/login/"), "acme.finance")
    assert_partner_brand(page)
    assert_no_weft(page)
    assert page.inner_text(".tenant-name") == "Acme Consulting"
    unposted = selector("acme", "unposted_time", as_of=timezone.localdate()).summary
    assert page.inner_text("[data-figure=unposted-hours]") == f"{hours(unposted['hours'])} h"
    blocked = selector("acme", "blocked_invoices", as_of=timezone.localdate()).summary
    assert page.inner_text("[data-figure=blocked-invoices]") == str(blocked["invoices"])
    assert page.locator("#flows tbody tr").count() == 1  # the data set's one flow, with its sync status
    assert charts_drawn(page) >= 1
    screenshot(page, "portal-home")

    # A figure worked out by hand in tests/reporting (30 June 2025): 6 h at 120 EUR on ACME-1, 15–30 days old.
    page.goto(harbour.url(acme_host, "/reports/unposted-time/?as_of=2025-06-30"))
    table = page.inner_text("table.figures")
    assert "720.00" in table and "1,000.00" in table and "750.00" in table
    assert charts_drawn(page) == 1
    assert_no_weft(page)
    screenshot(page, "portal-report-unposted-time")
    with page.expect_download() as download:
        page.click("text=Export CSV")
    csv_text = Path(download.value.path()).read_text(encoding="utf-8")
    assert csv_text.startswith("Project,Project name,Customer,Age since approval") and "720.00" in csv_text

    page.goto(harbour.url(acme_host, "/reports/"))
    gated = page.locator("li", has_text="Reconciliation")
    assert "not in your plan" in gated.inner_text()  # Essentials has no reconciliation
    response = page.goto(harbour.url(acme_host, "/reports/reconciliation/"))
    assert response.status == 403 and "not part of the Essentials plan" in page.inner_text("main")
    assert_no_weft(page)


def test_customer_users_work_exceptions_as_their_role_allows(harbour, browser_page):
    from apps.exceptions.models import IntegrationException

    with schema_context("acme"):
        x1 = IntegrationException.objects.get(fingerprint="X1")
    page = browser_page
    acme_host = harbour.host(harbour.acme)
    login(page, harbour.url(acme_host, "/login/"), "acme.finance")
    page.goto(harbour.url(acme_host, "/exceptions/"))
    assert page.locator(f"tr[data-exception='{x1.pk}']").count() == 1
    page.click(f"tr[data-exception='{x1.pk}'] a")
    page.fill("textarea[name=body]", "Rate for E4 agreed with the client; please post.")
    page.click("text=Add comment")
    page.wait_for_selector("ul.comments li:has-text('Rate for E4 agreed')")  # swapped in by htmx, no reload
    page.click("#acknowledge")
    page.wait_for_load_state("networkidle")
    assert page.inner_text("#exception-status") == "Acknowledged"
    assert_no_weft(page)
    screenshot(page, "portal-exception")
    with schema_context("acme"):
        x1.refresh_from_db()
        assert x1.status == "acknowledged" and x1.comments.get().author.username == "acme.finance"

    viewer = page.context.browser.new_context().new_page()
    login(viewer, harbour.url(acme_host, "/login/"), "acme.viewer")
    viewer.goto(harbour.url(acme_host, f"/exceptions/{x1.pk}/"))
    assert viewer.locator("textarea[name=body]").count() == 0 and viewer.locator("#acknowledge").count() == 0
    viewer.context.close()


def test_the_monthly_review_prints_in_the_partners_brand(harbour, browser_page):
    page = browser_page
    acme_host = harbour.host(harbour.acme)
    login(page, harbour.url(acme_host, "/login/"), "acme.finance")
    page.goto(harbour.url(acme_host, f"/review/{REVIEW_MONTH:%Y-%m}/"))
    assert "Monthly operational review" in page.inner_text("h1")
    assert "June 2025" in page.inner_text(".review-sub") and "Harbour Sync" in page.inner_text(".review-sub")
    run_health = selector("acme", "run_health", start=date(2025, 6, 1), end=date(2025, 6, 30)).summary
    assert f"{run_health['runs']:,}" in page.inner_text("#review-run-health table")
    assert page.locator("#review-reconciliation").count() == 0  # not in the Essentials plan
    assert charts_drawn(page) >= 3
    assert_no_weft(page)
    screenshot(page, "portal-monthly-review")
    page.emulate_media(media="print")
    assert page.eval_on_selector(".topbar", "el => getComputedStyle(el).display") == "none"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.pdf(path=str(ARTIFACTS / "portal-monthly-review.pdf"), format="A4", print_background=True)
    assert (ARTIFACTS / "portal-monthly-review.pdf").stat().st_size > 10_000


def test_a_customer_user_reaches_neither_the_other_customer_nor_partner_pages(harbour, browser_page):
    page = browser_page
    acme_host, globex_host = harbour.host(harbour.acme), harbour.host(harbour.globex)
    login(page, harbour.url(acme_host, "/login/"), "acme.finance")
    for path in ("/plans/", "/usage/", "/onboard/", "/customers/globex/"):  # partner-only pages
        response = page.goto(harbour.url(acme_host, path))
        assert response.status == 404, path
    assert_partner_brand(page)  # even the 404 page is the partner's
    assert_no_weft(page)
    screenshot(page, "portal-404")

    # Their login is refused on the other customer's domain and on the partner site.
    for host in (globex_host, harbour.partner_host):
        other = page.context.browser.new_context().new_page()
        login(other, harbour.url(host, "/login/"), "acme.finance")
        assert "/login/" in other.url and "correct username and password" in other.inner_text("main")
        other.context.close()

    # Even carrying acme's session cookie there (a shared cookie domain, say), the session is not used on a host
    # that did not issue it: every page asks for a sign-in and shows nothing.
    session = next(c for c in page.context.cookies() if c["name"] == "sessionid")
    for host, path in ((globex_host, "/"), (globex_host, "/reports/unposted-time/"), (harbour.partner_host, "/"),
                       (harbour.partner_host, "/customers/acme/"), (harbour.partner_host, "/usage/")):
        page.context.add_cookies([{"name": "sessionid", "value": session["value"], "domain": host, "path": "/"}])
        page.goto(harbour.url(host, path))
        assert "/login/" in page.url, f"{host}{path}"
        assert page.locator("nav.topnav a").count() == 0 and "data-figure" not in page.content()
    screenshot(page, "globex-sign-in-for-acme-cookie")
