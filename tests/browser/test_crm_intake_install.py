"""In a real Chromium: partner staff install the CRM-to-project intake accelerator into a customer from the partner
site, with their own variables (Harvest as the time tool too), and the customer gets its flows, write-back and
the Harvest leg included, and its HubSpot and Harvest connections waiting for credentials."""

from __future__ import annotations

import pytest
from django_tenants.utils import schema_context

from tests.browser.conftest import browser_unavailable, login, operation_followed, screenshot, variables_typed

UNAVAILABLE = browser_unavailable()
pytestmark = [pytest.mark.browser, pytest.mark.django_db,
              pytest.mark.skipif(UNAVAILABLE is not None, reason=f"Browser tests did not run: {UNAVAILABLE}.")]


@pytest.fixture(scope="module")
def builtin_templates(django_db_setup, django_db_blocker):
    """The shipped templates, committed for the live server (before ``harbour``, so removed after its customers)."""
    from apps.accelerators.models import FlowTemplate
    from apps.accelerators.services import templates_sync_builtin

    with django_db_blocker.unblock():
        before = set(FlowTemplate.objects.values_list("pk", flat=True))
        templates_sync_builtin()
        yield
        FlowTemplate.objects.exclude(pk__in=before).delete()


def test_partner_staff_install_crm_intake_from_the_partner_site(builtin_templates, harbour, browser_page):
    page = browser_page
    login(page, harbour.url(harbour.partner_host, "/login/"), "harbour.admin")
    page.goto(harbour.url(harbour.partner_host, "/customers/globex/"))
    form = page.locator("form:has(select[name=template])")
    option = form.locator("select[name=template] option", has_text="CRM-to-project intake").first
    form.locator("select[name=template]").select_option(value=option.get_attribute("value"))
    variables = {"won_stages": "closedwon,contractsigned", "default_rate": 180, "time_connection": "harvest"}
    variables_typed(form, "crm-intake", variables)
    form.locator("button[type=submit]").click()
    progress = operation_followed(page)

    body = page.inner_text("body")
    assert "installed into Globex Advisory" in progress
    installed = page.inner_text(".installations")
    assert "CRM-to-project intake (HubSpot won deals → hub → ERP and time tool, code written back) v2" in installed
    assert "Project code and link written back to the HubSpot deal" in body  # the sync status lists its flows
    assert "Connection HubSpot CRM is paused" in body  # until someone enters its token and enables it
    screenshot(page, "partner-crm-intake-installed")

    from apps.connectors.models import Connection
    from apps.runs.models import Flow

    with schema_context("globex"):
        flows = {f.slug: f for f in Flow.objects.select_related("after_flow")}
        assert {"crm-companies-in", "crm-deals-in", "crm-customers-to-erp", "crm-projects-to-erp",
                "crm-deal-write-back", "crm-customers-to-time", "projects-to-time-system"} <= set(flows)
        assert flows["projects-to-time-system"].connection.slug == "harvest"
        assert flows["crm-deal-write-back"].write_back
        assert flows["crm-deal-write-back"].after_flow.slug == "crm-projects-to-erp"
        assert flows["crm-deals-in"].variables["won_stages"] == "closedwon,contractsigned"
        assert flows["crm-deals-in"].variables["default_rate"] == 180
        hubspot = Connection.objects.get(slug="hubspot")
        assert hubspot.settings["manifest"] == "hubspot-crm" and not hubspot.is_enabled
        assert not Connection.objects.get(slug="harvest").is_enabled
