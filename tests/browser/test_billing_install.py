"""In a real Chromium: partner staff install the billing-readiness accelerator into a customer from the partner
site, with a variable of their own (weekly billing), and the customer then has its flows, rule set and
connections (the connections disabled until their credentials are entered)."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from tests.browser.conftest import browser_unavailable, login, operation_followed, screenshot, variables_typed

UNAVAILABLE = browser_unavailable()
pytestmark = [pytest.mark.browser, pytest.mark.django_db,
              pytest.mark.skipif(UNAVAILABLE is not None, reason=f"Browser tests did not run: {UNAVAILABLE}.")]


@pytest.fixture(scope="module")
def builtin(harbour, django_db_blocker):
    """The shipped templates, committed for the live server; those this module added are removed after it."""
    from apps.accelerators.models import FlowTemplate
    from apps.accelerators.services import templates_sync_builtin

    with django_db_blocker.unblock():
        before = set(FlowTemplate.objects.values_list("pk", flat=True))
        templates_sync_builtin()
    yield FlowTemplate.objects.get(partner__isnull=True, slug="billing-readiness")
    # harbour's teardown drops the customers (and their installations) after this one has run
    with django_db_blocker.unblock():
        added = FlowTemplate.objects.exclude(pk__in=before)
        added.filter(installations__isnull=True).delete()


def test_partner_staff_install_billing_readiness_into_a_customer_from_the_partner_site(harbour, builtin,
                                                                                     browser_page):
    page = browser_page
    login(page, harbour.url(harbour.partner_host, "/login/"), "harbour.admin")
    page.goto(harbour.url(harbour.partner_host, "/customers/globex/"))
    page.select_option("#install ~ form select[name=template]", label=f"{builtin.name} v{builtin.version}")
    variables_typed(page.locator("#install ~ form"), builtin.slug, {"period": "week", "open_from": "2026-06-01"})
    page.click("#install ~ form button[type=submit]")
    progress = operation_followed(page)

    assert f"{builtin.name} installed into Globex Advisory" in progress
    assert f"{builtin.name} v1" in page.inner_text(".installations")
    screenshot(page, "partner-install-billing-readiness")
    from apps.connectors.models import Connection
    from apps.runs.models import Flow

    with schema_context("globex"):
        flow = Flow.objects.get(slug="invoices-to-xero")
        assert (flow.object_type, flow.connection.slug, flow.rule_set.slug) == ("invoice", "xero", "billing-ready")
        assert flow.variables["period"] == "week" and flow.variables["open_from"] == "2026-06-01"
        assert flow.installed_from == "billing-readiness@1"
        assert set(Flow.objects.values_list("slug", flat=True)) >= {"time-in", "expenses-in", "xero-contacts-in",
                                                                     "revenue-to-export", "revenue-to-xero"}
        revenue = Flow.objects.get(slug="revenue-to-xero")  # revenue inputs as draft manual journals
        assert (revenue.object_name, revenue.rule_set.slug, revenue.is_enabled) == (
            "revenue_journals", "revenue-to-accrue", True)
        assert not Connection.objects.get(slug="xero").is_enabled  # until its credentials are entered
