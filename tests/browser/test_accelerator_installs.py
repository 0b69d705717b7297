"""In a real Chromium, issue 14's "a browser test shows it installed from the partner site" for every shipped
accelerator the other browser tests do not install from the customer's page: a partner engineer picks the
accelerator on a customer's page, types its variables, installs, follows the install's progress page (a real
django-q2 worker runs it) to its end and back to the customer, whose page then lists the accelerator, its flows and
what is left (connections paused until someone sets them up). Each accelerator goes into a customer of its own, so
what the install made is exactly what the accelerator owns. Screenshots: ``artifacts/browser/install-<slug>*.png``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django_tenants.utils import schema_context

from tests.browser.conftest import PASSWORD, browser_unavailable, login, screenshot, template_install_followed

UNAVAILABLE = browser_unavailable()
pytestmark = [pytest.mark.browser, pytest.mark.cluster,
              pytest.mark.skipif(UNAVAILABLE is not None, reason=f"Browser tests did not run: {UNAVAILABLE}.")]

ENGINEER = "harbour.engineer"  # one of the cast's usernames: harbour's teardown removes the account


def _flow(slug: str):
    from apps.runs.models import Flow

    return Flow.objects.select_related("connection", "rule_set").get(slug=slug)


def _rule(flow_slug: str, kind: str) -> dict:
    return _flow(flow_slug).rule_set.rules.get(kind=kind).params


# What each variable typed into the form became (run in the customer's schema).
def _people_from_hr():
    flow = _flow("hr-people-in")
    assert (flow.connection.slug, flow.connection.settings["manifest"]) == ("hris", "finch")
    assert flow.variables["full_time_hours"] == 37


def _expenses_to_erp():
    assert _flow("expenses-to-tryton").is_enabled and not _flow("expenses-to-xero").is_enabled  # send_to_xero off
    assert _flow("expenses-to-tryton").variables["currency"] == "GBP"


def _reference_data_from_files():
    assert {_flow(slug).connection.slug for slug in ("customers-in", "people-in", "projects-in")} == {"practice-files"}


def _approved_time_to_erp():
    assert _rule("time-to-erp", "daily_hours_limit")["limit"] == 10
    assert _rule("time-to-erp", "open_period")["open_from"] == "2026-05-01"


def _approved_time_to_xero():
    assert _flow("time-to-xero").connection.slug == "xero-uk"
    assert _rule("time-to-xero", "open_period")["open_from"] == "2026-04-01"


def _approved_time_to_journal():
    assert _flow("time-to-journal").connection.slug == "ledger-files"
    assert _rule("time-to-journal", "daily_hours_limit")["limit"] == 14


def _project_setup():
    assert {_flow(s).connection.slug for s in ("customers-to-time-system", "projects-to-time-system",
                                               "time-system-projects-in")} == {"harvest-eu"}


def _crm_intake_pipedrive():
    deals = _flow("pipedrive-won-deals-in")
    assert (deals.variables["code_prefix"], deals.variables["default_rate"]) == ("DEAL-", 175)
    assert _flow("pipedrive-deal-write-back").write_back
    assert _flow("projects-to-time-system").connection.slug == "harvest"


def _billing_readiness_tryton():
    invoices = _flow("invoices-to-tryton")
    assert (invoices.variables["period"], invoices.variables["payment_days"]) == ("week", 14)


@dataclass(frozen=True)
class Case:
    template: str  # the built-in accelerator's slug
    variables: dict  # typed into the install form: values of our own, not the defaults
    connections: dict[str, tuple[str, str]]  # slug → (kind, name), every one paused after the install
    flows: set[str]
    needs: dict[str, str] = field(default_factory=dict)  # connection slug → the secrets the progress page asks for
    check: Callable[[], None] = lambda: None


TRYTON = {"tryton": ("tryton", "Tryton ERP")}
HARVEST = {"harvest": ("harvest", "Harvest")}
CASES = [
    Case("people-from-hr", {"hr_connection": "hris", "full_time_hours": 37},
         {"hris": ("rest", "Finch (HRIS)"), **TRYTON}, {"hr-people-in", "people-to-erp"},
         {"hris": "access_token", "tryton": "username, password"}, _people_from_hr),
    Case("expenses-to-erp", {"currency": "GBP", "send_to_xero": False},
         {**HARVEST, **TRYTON, "xero": ("xero", "Xero")},
         {"erp-employees-in", "time-people-in", "expenses-in", "expenses-to-tryton", "expenses-to-xero"},
         {"harvest": "access_token", "tryton": "username, password"}, _expenses_to_erp),
    Case("reference-data-from-files", {"files_connection": "practice-files"},
         {"practice-files": ("csv", "Time export files")}, {"customers-in", "people-in", "projects-in"},
         {}, _reference_data_from_files),
    Case("approved-time-to-erp", {"max_hours_per_day": 10, "open_from": "2026-05-01"}, {**HARVEST, **TRYTON},
         {"erp-employees-in", "time-people-in", "time-in", "time-to-erp"},
         {"harvest": "access_token", "tryton": "username, password"}, _approved_time_to_erp),
    Case("approved-time-to-xero", {"xero_connection": "xero-uk", "open_from": "2026-04-01"},
         {**HARVEST, "xero-uk": ("xero", "Xero")}, {"time-people-in", "time-in", "time-to-xero"},
         {"harvest": "access_token"}, _approved_time_to_xero),
    Case("approved-time-to-journal", {"journal_connection": "ledger-files", "max_hours_per_day": 14},
         {"time-export": ("csv", "Time export files"), "ledger-files": ("csv", "ERP journal export")},
         {"time-in", "time-to-journal"}, {}, _approved_time_to_journal),
    Case("project-setup", {"time_connection": "harvest-eu"}, {**TRYTON, "harvest-eu": ("harvest", "Harvest")},
         {"erp-customers-in", "erp-projects-in", "customers-to-time-system", "projects-to-time-system",
          "time-system-projects-in"},
         {"tryton": "username, password", "harvest-eu": "access_token"}, _project_setup),
    Case("crm-intake-pipedrive", {"code_prefix": "DEAL-", "default_rate": 175, "time_connection": "harvest"},
         {"pipedrive": ("rest", "Pipedrive"), **TRYTON, **HARVEST},
         {"pipedrive-organizations-in", "pipedrive-won-deals-in", "pipedrive-deal-products-in",
          "pipedrive-customers-to-erp", "pipedrive-projects-to-erp", "pipedrive-deal-write-back",
          "pipedrive-customers-to-time", "projects-to-time-system", "pipedrive-rates-to-time"},  # time_connection set
         {"pipedrive": "api_token", "tryton": "username, password", "harvest": "access_token"},
         _crm_intake_pipedrive),
    Case("billing-readiness-tryton", {"period": "week", "payment_days": 14}, {**HARVEST, **TRYTON},
         {"erp-customers-in", "time-in", "expenses-in", "invoices-to-tryton", "revenue-to-tryton"},
         {"harvest": "access_token", "tryton": "username, password"}, _billing_readiness_tryton),
]


@pytest.fixture(scope="module")
def installs(harbour, background_worker, django_db_blocker):
    """The shipped templates, a partner engineer at Harbour, and a customer of its own per accelerator, committed
    for the live server and the worker; the customers (schemas, installations, operations) go afterwards."""
    from apps.accelerators.models import FlowTemplate
    from apps.accelerators.services import templates_sync_builtin
    from apps.tenants import services
    from apps.tenants.choices import Role

    with django_db_blocker.unblock():
        before = set(FlowTemplate.objects.values_list("pk", flat=True))
        templates_sync_builtin()
        user = services.user_create(username=ENGINEER, email="engineer@harbour.example", password=PASSWORD,
                                    acting_user=None)
        services.membership_grant(user=user, role=Role.INTEGRATION_ENGINEER, partner=harbour.partner,
                                  acting_user=None)
        customers = {}
        try:
            for n, case in enumerate(CASES):
                customers[case.template] = services.customer_onboard(
                    partner=harbour.partner, slug=f"install-{n}", name=f"Install {case.template}",
                    admin_email=f"install-{n}@example.com", admin_username=f"install-{n}.admin",
                    acting_user=None).customer
            yield {"customers": customers, "templates": {t.slug: t for t in FlowTemplate.objects.filter(
                partner__isnull=True, slug__in=customers)}}
        finally:
            for customer in customers.values():
                customer.delete(force_drop=True)
            FlowTemplate.objects.exclude(pk__in=before).filter(installations__isnull=True).delete()


@pytest.mark.parametrize("case", CASES, ids=[case.template for case in CASES])
def test_a_partner_engineer_installs_the_accelerator_from_the_customer_page(case, harbour, installs, browser_page,
                                                                             django_db_blocker):
    from apps.connectors.models import Connection
    from apps.runs.models import Flow

    page, template, customer = browser_page, installs["templates"][case.template], installs["customers"][case.template]
    login(page, harbour.url(harbour.partner_host, "/login/"), ENGINEER)
    progress = template_install_followed(page, harbour, customer, template, case.variables)
    screenshot(page, f"install-{case.template}-progress")

    assert page.get_attribute(".operation-progress", "data-state") == "succeeded", progress
    assert re.search(rf"{re.escape(template.name)} installed into {customer.name}: \d+ created, 0 updated", progress)
    assert "Latest errors" not in progress
    asked = [li.inner_text() for li in page.locator(".operation-todo li").all()]  # what is left: credentials
    assert sorted(asked) == sorted(f"Connection {slug} needs {secrets} before it can run."
                                   for slug, secrets in case.needs.items())

    page.click("[data-link=result]")  # back to the customer's page
    page.wait_for_url(f"**/customers/{customer.slug}/")
    screenshot(page, f"install-{case.template}")
    assert f"{template.name} v{template.version}" in page.inner_text(".installations")
    shown = {row.get_attribute("data-flow") for row in page.locator("#flows tr[data-flow]").all()}
    assert shown == case.flows  # the sync status lists exactly the accelerator's flows
    left = page.inner_text("#checklist")
    for _kind, name in case.connections.values():
        assert f"Connection {name} is paused." in left  # with a "Fix it" link to the setup's connections step

    with django_db_blocker.unblock(), schema_context(customer.schema_name):
        made = {c.slug: (c.kind, c.name, c.is_enabled) for c in Connection.objects.all()}
        assert made == {slug: (kind, name, False) for slug, (kind, name) in case.connections.items()}
        assert set(Flow.objects.values_list("slug", flat=True)) == case.flows
        assert set(Flow.objects.values_list("installed_from", flat=True)) == {f"{template.slug}@{template.version}"}
        case.check()
