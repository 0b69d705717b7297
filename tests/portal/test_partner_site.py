"""The partner site: health at a glance, drill-in, onboarding from a template on a plan, plans, domains."""

import re
from decimal import Decimal

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.accelerators.models import FlowTemplate, TemplateInstallation
from apps.accelerators.services import templates_sync_builtin
from apps.mappings.models import ValidationRule
from apps.runs.models import Flow
from apps.tenants.choices import SlaStatus
from apps.tenants.models import Customer, CustomerHealth, Domain, Plan
from apps.tenants.selectors import customer_for_host

HOSTS_PAGES = ["/", "/customers/alpha/", "/onboard/", "/plans/", "/plans/new/", "/usage/", "/usage/2026-01.csv",
               "/customers/alpha/review/2026-01/", "/customers/alpha/templates/variables/", "/onboard/variables/"]


def without_tokens(html: str) -> str:
    return re.sub(r'"X-CSRFToken": "[^"]+"|name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def health(customer, **fields) -> CustomerHealth:
    values = {"computed_at": timezone.now(), **fields}
    return CustomerHealth.objects.update_or_create(customer=customer, defaults=values)[0]


def test_overview_shows_each_customers_health_worst_first(cast, partner_site, analyst):
    health(cast.alpha, open_exceptions=1, unposted_hours=Decimal("12.5"), sla_status=SlaStatus.OK)
    health(cast.beta, open_exceptions=7, money_at_risk=Decimal("4200"), money_at_risk_currency="EUR",
           money_at_risk_amounts={"EUR": "4200.00"},
           sla_status=SlaStatus.BREACHED, sla_reason="Time in: no successful run for 30 h.")
    health(cast.gamma, open_exceptions=99)  # another partner's customer
    partner_site.client.force_login(analyst)
    page = partner_site.get("/").text
    assert page.index('data-customer="beta"') < page.index('data-customer="alpha"')  # breached first
    assert "EUR 4,200.00" in page and "12.5" in page and "no successful run for 30 h" in page
    assert "Gamma" not in page and "99" not in page
    assert 'data-figure="open-exceptions">8<' in page  # 7 + 1, this partner's only


def test_overview_refreshes_its_rows_alone_for_htmx(cast, partner_site, analyst):
    partner_site.client.force_login(analyst)
    rows = partner_site.client.get("/", HTTP_HOST=partner_site.host, HTTP_HX_REQUEST="true")
    assert rows.text.lstrip().startswith("<tbody") and "<html" not in rows.text and 'data-customer="alpha"' in rows.text


def test_the_platform_host_has_no_partner_site(cast, client, analyst):
    client.force_login(analyst)
    response = client.get("/", HTTP_HOST="localhost")
    assert response.status_code == 302 and response.url == "/admin/"


@pytest.mark.parametrize("path", HOSTS_PAGES)
def test_customer_users_and_other_partners_get_404_on_every_partner_page(cast, partner_site, alice, charlie, path):
    for outsider in (alice, charlie):
        partner_site.client.force_login(outsider)
        assert partner_site.get(path).status_code == 404, (outsider, path)


def test_another_partners_customer_and_a_missing_one_answer_alike(cast, partner_site, analyst):
    partner_site.client.force_login(analyst)
    gamma, missing = partner_site.get("/customers/gamma/"), partner_site.get("/customers/no-such-firm/")
    assert gamma.status_code == missing.status_code == 404
    assert without_tokens(gamma.text) == without_tokens(missing.text)


def test_drill_in_shows_the_customers_live_figures(cast, partner_site, analyst, in_alpha):
    from apps.reporting.filters import ReportFilters
    from apps.reporting.selectors import unposted_time
    from tests.reporting.dataset import build

    data = build()
    expected = unposted_time(filters=ReportFilters(as_of=timezone.localdate())).summary["hours"]
    partner_site.client.force_login(analyst)
    page = partner_site.get("/customers/alpha/").text
    assert f'data-figure="unposted-hours">{expected:,.1f} h<' in page
    assert f'data-flow="{data.flow.slug}"' in page and "alpha.x.test" in page
    assert "Change plan" not in page and "Add domain" not in page  # an analyst looks, does not administer


def test_partner_admin_creates_and_edits_plans_with_history(cast, partner_site, partner_admin):
    partner_site.client.force_login(partner_admin)
    form = {"name": "Growth", "slug": "growth", "monthly_price": "990.00", "currency": "EUR",
            "included_records": "20000", "included_runs": "", "included_api_calls": "5000",
            "features": ["escalation", "reconciliation"], "is_active": "on"}
    assert partner_site.post("/plans/new/", form).status_code == 302
    plan = Plan.objects.get(partner=cast.xpartner, slug="growth")
    assert plan.features == ["escalation", "reconciliation"] and plan.included_runs is None
    assert partner_site.post("/plans/growth/", {**form, "monthly_price": "1090.00"}).status_code == 302
    assert [h.history_user for h in plan.history.all()] == [partner_admin, partner_admin]
    again = partner_site.post("/plans/new/", form)  # the slug is taken: a form error, not a crash
    assert again.status_code == 200 and "already exists" in again.text
    listing = partner_site.get("/plans/").text
    assert "Growth" in listing and "EUR 1,090.00" in listing and "Reconciliation reports" in listing


def test_analysts_may_not_change_plans(cast, partner_site, analyst, basic):
    partner_site.client.force_login(analyst)
    assert partner_site.post("/plans/new/", {"name": "X"}).status_code == 403
    assert partner_site.post("/customers/alpha/plan/", {"plan": basic.pk}).status_code == 403
    assert Customer.objects.get(pk=cast.alpha.pk).plan is None


def test_partner_admin_puts_a_customer_on_a_plan(cast, partner_site, partner_admin, basic):
    partner_site.client.force_login(partner_admin)
    assert partner_site.post("/customers/alpha/plan/", {"plan": basic.pk}).status_code == 302
    assert Customer.objects.get(pk=cast.alpha.pk).plan == basic


def test_custom_domains_serve_the_portal_and_cannot_take_another_partners_host(cast, partner_site, partner_admin,
                                                                               client):
    partner_site.client.force_login(partner_admin)
    partner_site.post("/customers/alpha/domains/", {"domain": "Integrations.Alpha.example"})
    assert Domain.objects.get(domain="integrations.alpha.example").tenant == cast.alpha
    assert customer_for_host("integrations.alpha.example") == cast.alpha
    for taken in ("beta.x.test", "anything.y.test", "y.test", "localhost", "not a host"):
        response = partner_site.post("/customers/alpha/domains/", {"domain": taken}, follow=True)
        assert Domain.objects.filter(domain=taken, tenant=cast.alpha).count() == 0, taken
        assert 'class="error"' in response.text, taken


@pytest.fixture
def templates_loaded(db):
    templates_sync_builtin()


def test_onboarding_from_a_template_on_a_plan(cast, partner_site, partner_admin, basic, templates_loaded):
    partner_site.client.force_login(partner_admin)
    template = FlowTemplate.objects.get(partner__isnull=True, slug="approved-time-to-journal")
    response = partner_site.post("/onboard/", {"name": "Kappa Advisory", "slug": "kappa", "plan": basic.pk,
                                               "admin_email": "k@kappa.example", "template": template.pk})
    assert response.status_code == 302 and response.url == "/customers/kappa/"
    kappa = Customer.objects.get(slug="kappa")
    assert kappa.plan == basic and kappa.domains.get().domain == "kappa.x.test"
    with schema_context("kappa"):
        assert set(Flow.objects.values_list("slug", flat=True)) == {"time-in", "time-to-journal"}


def test_onboarding_shows_the_templates_typed_fields_and_installs_what_was_typed(cast, partner_site, partner_admin,
                                                                                 templates_loaded):
    partner_site.client.force_login(partner_admin)
    template = FlowTemplate.objects.get(partner__isnull=True, slug="approved-time-to-journal")
    page = partner_site.get("/onboard/").text
    assert 'hx-get="/onboard/variables/"' in page and 'name="variables"' not in page
    shown = partner_site.get(f"/onboard/variables/?template={template.pk}").text
    assert '<label data-variable="max_hours_per_day">' in shown and 'name="var__max_hours_per_day" value="12"' in shown
    typed = {"name": "Nu Advisory", "slug": "nuadvisory", "admin_email": "n@nu.example", "template": template.pk,
             "variables_for": template.pk, "var__time_connection": "time-export", "var__time_object": "time_entries",
             "var__journal_connection": "erp-journal", "var__open_from": "2026-01-01"}
    refused = partner_site.post("/onboard/", {**typed, "var__max_hours_per_day": "a lot"})
    assert refused.status_code == 200 and "Enter a whole number." in refused.text
    assert 'name="var__max_hours_per_day" value="a lot"' in refused.text  # shown again as typed, with its error
    assert not Customer.objects.filter(slug="nuadvisory").exists()
    response = partner_site.post("/onboard/", {**typed, "var__max_hours_per_day": "9"})
    assert response.status_code == 302 and response.url == "/customers/nuadvisory/"
    installed = TemplateInstallation.objects.get(customer__slug="nuadvisory", template=template)
    assert installed.variables == {"max_hours_per_day": 9}  # what differs from the defaults


def test_choosing_a_template_to_install_shows_a_typed_field_per_variable(cast, partner_site, partner_admin, analyst,
                                                                         templates_loaded):
    template = FlowTemplate.objects.get(partner__isnull=True, slug="approved-time-to-journal")
    partner_site.client.force_login(partner_admin)
    page = partner_site.get("/customers/alpha/")
    assert 'hx-get="/customers/alpha/templates/variables/"' in page.text  # the template select asks on change
    assert 'name="variables"' not in page.text  # no JSON to write by hand
    shown = partner_site.get(f"/customers/alpha/templates/variables/?template={template.pk}").text
    fields = {name: (label.strip(), attrs) for name, label, attrs in re.findall(
        r'<label data-variable="([^"]+)">([^<]*)<input ([^>]*)>', shown)}
    assert set(fields) == {"time_connection", "time_object", "journal_connection", "open_from", "max_hours_per_day"}
    label, attrs = fields["time_connection"]
    assert label == "Time system connection (slug)" and 'value="time-export"' in attrs and 'type="text"' in attrs
    label, attrs = fields["max_hours_per_day"]
    assert label == "Most hours one person may book on one day" and 'type="number"' in attrs and 'value="12"' in attrs
    assert 'type="date"' in fields["open_from"][1] and 'value="2026-01-01"' in fields["open_from"][1]
    assert "Choose a template" in partner_site.get("/customers/alpha/templates/variables/?template=x").text
    partner_site.client.force_login(analyst)  # may see the customer, not install into it
    assert partner_site.get(f"/customers/alpha/templates/variables/?template={template.pk}").status_code == 403


def test_installing_a_template_takes_the_typed_variables_and_refuses_a_wrong_type(
        cast, partner_site, partner_admin, templates_loaded, django_capture_on_commit_callbacks):
    template = FlowTemplate.objects.get(partner__isnull=True, slug="approved-time-to-journal")
    partner_site.client.force_login(partner_admin)
    with schema_context("alpha"):
        flows_before = Flow.objects.count()
    refused = partner_site.post("/customers/alpha/templates/", {
        "template": template.pk, "variables_for": template.pk, "var__max_hours_per_day": "ten"}, follow=True)
    assert "Enter a whole number." in refused.text
    with schema_context("alpha"):
        assert Flow.objects.count() == flows_before  # nothing installed
    with django_capture_on_commit_callbacks(execute=True):
        started = partner_site.post("/customers/alpha/templates/", {
            "template": template.pk, "variables_for": template.pk, "var__time_connection": "time-export",
            "var__time_object": "time_entries", "var__journal_connection": "erp-journal",
            "var__open_from": "2026-03-01", "var__max_hours_per_day": "10"})
    assert started.status_code == 302 and started["Location"].startswith("/operations/")
    installed = TemplateInstallation.objects.get(customer=cast.alpha, template=template)
    assert (installed.variables["open_from"], installed.variables["max_hours_per_day"]) == ("2026-03-01", 10)
    with schema_context("alpha"):  # and what they configure
        rules = {r.kind: r.params for r in ValidationRule.objects.filter(rule_set__slug="approved-time-export")}
    assert rules["open_period"]["open_from"] == "2026-03-01" and rules["daily_hours_limit"]["limit"] == 10


def test_a_premium_template_needs_a_plan_that_includes_it(cast, partner_site, partner_admin, basic,
                                                          templates_loaded, django_capture_on_commit_callbacks):
    builtin = FlowTemplate.objects.get(partner__isnull=True, slug="approved-time-to-journal")
    premium = FlowTemplate.objects.create(partner=cast.xpartner, slug="premium-journal", name="Premium journal",
                                          is_premium=True, definition=builtin.definition)
    partner_site.client.force_login(partner_admin)
    response = partner_site.post("/onboard/", {"name": "Lambda", "slug": "lambda", "admin_email": "l@lambda.example",
                                               "plan": basic.pk, "template": premium.pk})
    assert response.status_code == 200 and "does not include premium templates" in response.text
    assert not Customer.objects.filter(slug="lambda").exists()  # refused before anything was made
    with django_capture_on_commit_callbacks(execute=True):  # the install runs as a task after the request
        started = partner_site.post("/customers/alpha/templates/", {"template": premium.pk})
    assert started.status_code == 302 and started["Location"].startswith("/operations/")
    installed = partner_site.get(started["Location"])  # its progress page, once the task has run
    assert "Premium journal installed into Alpha" in installed.text  # alpha has no plan: not gated
    assert 'data-state="succeeded"' in installed.text and "/customers/alpha/" in installed.text
    with schema_context("alpha"):
        assert Flow.objects.filter(installed_from="premium-journal@1").exists()


def test_monthly_review_from_the_partner_site(cast, partner_site, analyst):
    partner_site.client.force_login(analyst)
    page = partner_site.get("/customers/alpha/review/2026-01/")
    assert page.status_code == 200 and "Monthly operational review" in page.text and "January 2026" in page.text
    assert partner_site.get("/customers/alpha/review/2026-13/").status_code == 404


def test_read_only_partner_pages_answer_only_get_and_head(cast, partner_site, analyst):
    partner_site.client.force_login(analyst)
    for path in ("/customers/alpha/review/2026-01/", "/customers/alpha/", "/", "/plans/", "/usage/"):
        assert partner_site.post(path).status_code == 405, path
        assert partner_site.get(path).status_code == 200, path


def test_overview_search_and_pages_of_customers(cast, partner_site, analyst, monkeypatch):
    partner_site.client.force_login(analyst)
    found = partner_site.get("/", q="BET").text
    assert 'data-customer="beta"' in found and 'data-customer="alpha"' not in found
    monkeypatch.setattr("apps.portal.views.partner.OVERVIEW_ROWS", 1)
    capped = partner_site.get("/").text
    assert capped.count('<tr data-customer="') == 1 and 'rel="next" href="?page=2"' in capped
    assert 'data-figure="customers">2<' in capped  # totals still cover every customer
    second = partner_site.get("/", page="2").text
    assert second.count('<tr data-customer="') == 1 and 'rel="prev"' in second and 'rel="next"' not in second
    listed = {page.split('<tr data-customer="')[1].split('"')[0] for page in (capped, second)}
    assert listed == {"alpha", "beta"}  # every customer on some page
    assert partner_site.get("/", page="99").text.count('<tr data-customer="') == 1  # the last page


def test_onboarding_cannot_use_another_partners_host(cast, partner_site, partner_admin):
    partner_site.client.force_login(partner_admin)
    response = partner_site.post("/onboard/", {"name": "Mu", "slug": "mu", "admin_email": "m@mu.example",
                                               "domain": "mu.y.test"})
    assert response.status_code == 200 and "belongs to another partner" in response.text
    assert not Customer.objects.filter(slug="mu").exists()


def test_the_drill_in_shows_an_older_template_and_upgrades_it(cast, partner_site, partner_admin, analyst,
                                                               templates_loaded, django_capture_on_commit_callbacks):
    journal = FlowTemplate.objects.get(partner__isnull=True, slug="approved-time-to-journal")
    partner_site.client.force_login(partner_admin)
    with django_capture_on_commit_callbacks(execute=True):
        partner_site.post("/customers/alpha/templates/", {"template": journal.pk})
    journal.version = 2
    journal.save()

    page = partner_site.get("/customers/alpha/").text
    assert "Approved time to journal v1" in page or f"{journal.name} v1" in page
    assert "v2 available" in page
    partner_site.client.force_login(analyst)  # may see, may not configure: no button, and a POST is refused
    assert "Upgrade to v2" not in partner_site.get("/customers/alpha/").text
    assert partner_site.post(f"/customers/alpha/templates/{journal.pk}/upgrade/").status_code == 403
    partner_site.client.force_login(partner_admin)
    upgraded = partner_site.post(f"/customers/alpha/templates/{journal.pk}/upgrade/", follow=True)
    assert f"Alpha now runs {journal.name} v2" in upgraded.text and "v2 available" not in upgraded.text
    with schema_context("alpha"):
        assert Flow.objects.filter(installed_from="approved-time-to-journal@2").exists()
