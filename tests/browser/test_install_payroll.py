"""In a real Chromium: a partner admin installs "hours to payroll" into a customer from the partner site's customer
page (template picked from the list, its variables typed into the fields it shows), and the customer's schema then
has its flows and its Xero Payroll connection waiting, disabled, for credentials."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from tests.browser.conftest import browser_unavailable, login, operation_followed, screenshot, variables_typed

UNAVAILABLE = browser_unavailable()
pytestmark = [pytest.mark.browser, pytest.mark.django_db,
              pytest.mark.skipif(UNAVAILABLE is not None, reason=f"Browser tests did not run: {UNAVAILABLE}.")]


@pytest.fixture(scope="module")
def builtin_templates(harbour, django_db_blocker):
    """The shipped templates, committed for this module; those this module added are removed after it."""
    from apps.accelerators.models import FlowTemplate
    from apps.accelerators.services import templates_sync_builtin

    with django_db_blocker.unblock():
        before = set(FlowTemplate.objects.values_list("pk", flat=True))
        templates_sync_builtin()
    yield
    with django_db_blocker.unblock():
        FlowTemplate.objects.exclude(pk__in=before).delete()  # their installations go with them (cascade)


def test_a_partner_admin_installs_hours_to_payroll_from_the_customer_page(harbour, builtin_templates,
                                                                          browser_page):
    from apps.accelerators.models import FlowTemplate
    from apps.connectors.models import Connection
    from apps.runs.models import Flow

    page = browser_page
    login(page, harbour.url(harbour.partner_host, "/login/"), "harbour.admin")
    page.goto(harbour.url(harbour.partner_host, "/customers/globex/"))
    template = FlowTemplate.objects.get(partner=None, slug="hours-to-payroll")
    page.select_option("select[name=template]", value=str(template.pk))
    variables_typed(page.locator("#install ~ form"), template.slug, {
        "payroll_calendar_id": "216d80e6-af55-47b1-b718-9457c3f5d2fe",
        "earnings_rate_id": "87f5b43a-cf51-4b74-92de-94c819e82d27", "payroll_lock_date": "2026-04-01"})
    page.click("#install ~ form button[type=submit]")
    progress = operation_followed(page)
    screenshot(page, "partner-install-hours-to-payroll")

    assert f"{template.name} installed into Globex Advisory" in progress
    assert f"{template.name} v{template.version}" in page.inner_text("ul.installations")
    with schema_context("globex"):
        flow = Flow.objects.select_related("connection", "rule_set").get(slug="hours-to-payroll")
        assert (flow.object_name, flow.connection.slug, flow.connection.kind) == (
            "payroll_timesheet_lines", "xero-payroll", "xero")
        assert flow.connection.settings["payroll_calendar_id"] == "216d80e6-af55-47b1-b718-9457c3f5d2fe"
        assert not Connection.objects.get(slug="xero-payroll").is_enabled  # waits for the customer's Xero sign-in
        lock = flow.rule_set.rules.get(kind="open_period")
        assert lock.params["open_from"] == "2026-04-01" and "Payroll is locked before 2026-04-01" in lock.message
