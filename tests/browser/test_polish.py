"""In a real Chromium at 1366 px: the customer's admin console in the partner's brand with its lists readable
without scrolling sideways, pages of a customer with no data yet that say why and what to do, and a run page that
updates itself while the run works and finds its items by project code."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

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


def committed(work):
    """Run ``work`` on a thread of its own: its own connection, autocommitting, so the live server sees it
    (this test's connection is inside the test's transaction)."""
    from django.db import connection

    result, error = [], []

    def target():
        try:
            with schema_context("acme"):
                result.append(work())
        except Exception as problem:  # noqa: BLE001 - re-raised on the test's thread
            error.append(problem)
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def _start_run():
    from apps.canonical.models import TimeEntry
    from apps.runs.models import Flow, Run, RunStatus

    flow = Flow.objects.order_by("pk").first()
    entries = list(TimeEntry.objects.select_related("project").order_by("pk")[:20])
    run = Run.objects.create(flow=flow, connection=flow.connection, object_name=flow.object_name,
                             object_type="time_entry", status=RunStatus.RUNNING, record_ids=[e.pk for e in entries],
                             started_at=timezone.now() - timedelta(seconds=5),
                             cursor_end=str(entries[len(entries) // 2 - 1].pk))
    _items(run, entries[:len(entries) // 2])
    return run, entries


def _items(run, entries):
    from apps.runs.models import ItemOutcome, RunItem

    RunItem.objects.bulk_create([RunItem(
        run=run, object_type="time_entry", canonical_id=e.pk, external_id=f"T-{e.pk}",
        outcome=ItemOutcome.FAILED if n == 0 else ItemOutcome.CREATED,
        error_message="hours over the daily limit" if n == 0 else "",
        payload_before={"project": e.project.code, "hours": str(e.hours)},
        payload_after={"project": e.project.code, "hours": str(e.hours), "account": "7000"},
        target_response={"id": f"J-{e.pk}"}) for n, e in enumerate(entries)])


def _finish_run(run, entries):
    from apps.runs.models import Run, RunStatus

    _items(run, entries[len(entries) // 2:])
    Run.objects.filter(pk=run.pk).update(status=RunStatus.PARTIAL, finished_at=timezone.now(),
                                         cursor_end=str(entries[-1].pk))


def test_a_run_page_updates_itself_while_the_run_works_and_finds_items_by_project(harbour, browser_page):
    page = browser_page
    acme_host = harbour.host(harbour.acme)
    login(page, harbour.url(acme_host, "/login/"), "harbour.admin")
    run, entries = committed(_start_run)

    page.goto(harbour.url(acme_host, f"/runs/{run.pk}/"))
    assert page.inner_text("#run-status") == "Running"
    half = len(entries) // 2  # the items written so far
    assert page.inner_text("[data-figure=processed]") == str(half)
    assert page.inner_text("[data-figure=remaining]") == f"{len(entries) - half} records"
    assert "about" in page.inner_text("[data-figure=eta]")
    screenshot(page, "portal-run-live")
    page.evaluate("window.notReloaded = true")

    committed(lambda: _finish_run(run, entries))
    page.wait_for_selector("#run-progress[data-status=partial]", timeout=10_000)  # htmx polls every 2 s
    assert page.evaluate("window.notReloaded") is True  # updated in place, not by a reload
    assert page.inner_text("[data-outcome=created] .value") == str(len(entries) - 2)
    assert page.inner_text("[data-outcome=failed] .value") == "2"
    assert page.locator("#run-progress[hx-trigger]").count() == 0  # finished: polling stops
    screenshot(page, "portal-run-finished")

    code = entries[0].project.code
    page.fill("input[name=q]", code)
    page.select_option("select[name=outcome]", "failed")
    page.click("form.filters button[type=submit]")
    rows = page.locator("#items tr[data-item]")
    assert rows.count() >= 1 and all(r.get_attribute("data-outcome") == "failed" for r in rows.all())
    page.locator("#items details summary").first.click()
    assert f'"project": "{code}"' in page.locator("#items details pre").first.inner_text()
    assert '"id": "J-' in page.locator("#items details").first.inner_text()
    screenshot(page, "portal-run-items-by-project")
