"""In a real Chromium: a partner admin installs "resource plan from files" into a customer from the partner site;
the resource tool's bookings file dropped in the connection's folder is read by the installed flow, and the
customer's own portal then shows the forward resource plan with the booked hours, over- and under-booked."""

from __future__ import annotations

import os
import time

import pytest
from django_tenants.utils import schema_context

from tests.browser.conftest import browser_unavailable, login, screenshot, variables_typed

UNAVAILABLE = browser_unavailable()
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(UNAVAILABLE is not None, reason=f"Browser tests did not run: {UNAVAILABLE}.")]

BOOKINGS = ("Person Code,Project Code,Role,Start,End,Hours per week\n"
            "RP-ANN,RP-1,Lead,2026-03-02,2026-03-13,46\n"
            "RP-BOB,RP-1,Analyst,2026-03-02,2026-03-13,8\n"
            "RP-ZED,RP-1,Analyst,2026-03-02,2026-03-13,8\n")


@pytest.fixture(scope="module")
def planned(harbour, django_db_blocker):
    """The shipped templates and Globex's people and project, committed for the live server (the customer's
    schema, and all in it, is dropped by harbour's teardown)."""
    from apps.accelerators.models import FlowTemplate
    from apps.accelerators.services import templates_sync_builtin
    from apps.canonical.models import Customer, Person, Project

    with django_db_blocker.unblock():
        before = set(FlowTemplate.objects.values_list("pk", flat=True))
        templates_sync_builtin()
        with schema_context("globex"):
            client = Customer.objects.create(code="RP-C", name="Initech", currency="EUR")
            Project.objects.create(code="RP-1", name="Replatform", customer=client, currency="EUR")
            Person.objects.create(code="RP-ANN", name="Ann Planner", practice="Data", capacity_hours_per_week=40)
            Person.objects.create(code="RP-BOB", name="Bob Spare", practice="Data", capacity_hours_per_week=40)
        template = FlowTemplate.objects.get(partner__isnull=True, slug="resource-plan-from-files")
    yield template
    with django_db_blocker.unblock():
        FlowTemplate.objects.exclude(pk__in=before).filter(installations__isnull=True).delete()


def test_install_resource_plan_from_the_partner_site_and_see_the_plan(harbour, planned, browser_page,
                                                                       django_db_blocker):
    from apps.connectors.models import Connection
    from apps.connectors.services import connection_files_root, connection_update
    from apps.exceptions.models import IntegrationException
    from tests.e2e.support import run_flow

    page = browser_page
    login(page, harbour.url(harbour.partner_host, "/login/"), "harbour.admin")
    page.goto(harbour.url(harbour.partner_host, "/customers/globex/"))
    page.select_option("#install ~ form select[name=template]", label=f"{planned.name} v{planned.version}")
    variables_typed(page.locator("#install ~ form"), planned.slug, {"files_connection": "resource-tool"})
    page.click("#install ~ form button[type=submit]")
    page.wait_for_load_state("networkidle")
    body = page.inner_text("body")  # back on the customer's page, or the install's progress page: done, no errors
    assert (f"{planned.name} installed into Globex Advisory." in body
            or ("Done" in body and "4 of 4" in body and "Errors\n0" in body)), body
    screenshot(page, "partner-install-resource-plan")

    with django_db_blocker.unblock(), schema_context("globex"):
        connection = Connection.objects.get(slug="resource-tool")
        assert (connection.kind, connection.is_enabled) == ("csv", False)  # waits for its folder to be set up
        connection_update(connection=connection, changes={"is_enabled": True}, acting_user=None)
        inbox = connection_files_root(connection) / "inbox"
        inbox.mkdir(parents=True, exist_ok=True)
        (inbox / "bookings.csv").write_text(BOOKINGS)
        os.utime(inbox / "bookings.csv", (time.time() - 60, time.time() - 60))
        run = run_flow("bookings-in")
        assert {k: v for k, v in run.counts.items() if v} == {"created": 2, "failed": 1}
        assert IntegrationException.objects.filter(flow__slug="bookings-in", message__contains="RP-ZED").exists()

    page.context.clear_cookies()
    login(page, harbour.url(harbour.host(harbour.globex), "/login/"), "globex.admin")
    page.goto(harbour.url(harbour.host(harbour.globex), "/reports/resource-plan/?start=2026-03-02&weeks=2"))
    screenshot(page, "portal-resource-plan")
    rows = [line.split("\t") for line in page.inner_text("table").splitlines()[1:]]
    assert [(r[0], r[3], r[4], r[5], r[6], r[7]) for r in rows] == [
        ("RP-ANN", "2026-03-02", "40.0", "46.0", "115.0%", "over"),  # 46 h a week booked of 40
        ("RP-ANN", "2026-03-09", "40.0", "46.0", "115.0%", "over"),
        ("RP-BOB", "2026-03-02", "40.0", "8.0", "20.0%", "under"),  # 8 of 40: under half
        ("RP-BOB", "2026-03-09", "40.0", "8.0", "20.0%", "under")]
