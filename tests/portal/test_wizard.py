"""The setup wizard on the partner site: an integration engineer takes a new customer from its name to a first run,
every step through the services, resumable from the drill-in; analysts get 403, customer roles 404."""

import pytest
from django_tenants.utils import schema_context

from apps.accelerators.models import FlowTemplate, TemplateInstallation
from apps.accelerators.services import templates_sync_builtin
from apps.connectors.models import Connection, HealthStatus
from apps.runs.models import Flow, Run
from apps.tenants.choices import Role
from apps.tenants.models import Customer, Membership
from tests.conftest import member


@pytest.fixture
def engineer(cast):
    return member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner, username="xengineer")


@pytest.fixture
def journal(db):
    templates_sync_builtin()
    return FlowTemplate.objects.get(partner__isnull=True, slug="approved-time-to-journal")


def test_an_engineer_sets_up_a_customer_from_its_name_to_a_first_run(cast, partner_site, engineer, journal):
    partner_site.client.force_login(engineer)
    assert 'href="/setup/new/"' in partner_site.get("/").text

    named = partner_site.post("/setup/new/", {"name": "Kappa Advisory", "admin_email": "k@kappa.example"})
    assert named.status_code == 302 and named.url == "/setup/new/domain/"
    assert not Customer.objects.filter(slug="kappa-advisory").exists()  # nothing made before the domain step
    domain_page = partner_site.get("/setup/new/domain/").text
    assert 'value="kappa-advisory.x.test"' in domain_page and 'id="onboarding-progress"' in domain_page
    assert 'name="plan"' not in domain_page  # plans are the partner admin's

    created = partner_site.post("/setup/new/domain/", {"domain": "kappa-advisory.x.test"})
    assert created.status_code == 302, created.text[created.text.find("<main>"):][:1500]
    assert created.url == "/customers/kappa-advisory/setup/template/"
    kappa = Customer.objects.get(slug="kappa-advisory")
    assert Membership.objects.filter(customer=kappa, role=Role.CUSTOMER_ADMIN, user__email="k@kappa.example").exists()

    chosen = partner_site.get("/customers/kappa-advisory/setup/template/", template=journal.pk,
                              HTTP_HX_REQUEST="true", HTTP_HX_TARGET="template-form").text
    assert 'name="var__open_from"' in chosen and 'type="date"' in chosen and 'value="12"' in chosen
    installed = partner_site.post("/customers/kappa-advisory/setup/template/", {
        "template": journal.pk, "var__open_from": "2026-02-01", "var__max_hours_per_day": "10",
        "var__time_connection": "time-export", "var__time_object": "time_entries",
        "var__journal_connection": "erp-journal"})
    assert installed.url == "/customers/kappa-advisory/setup/connections/"
    assert TemplateInstallation.objects.get(customer=kappa).variables["max_hours_per_day"] == 10
    assert partner_site.get("/customers/kappa-advisory/setup/").url.endswith("/setup/connections/")  # resumable

    with schema_context(kappa.schema_name):
        connections = {c.slug: c for c in Connection.objects.all()}
    page = partner_site.get("/customers/kappa-advisory/setup/connections/").text
    time_export = connections["time-export"].pk
    assert f'id="connection-{time_export}"' in page and f'name="c{time_export}-setting__inbox_dir"' in page
    assert "Save and test" in page
    for connection in connections.values():
        tested = partner_site.post(f"/customers/kappa-advisory/setup/connections/{connection.pk}/",
                                   {f"c{connection.pk}-is_enabled": "on", "action": "test"}, HTTP_HX_REQUEST="true",
                                   HTTP_HX_TARGET=f"connection-{connection.pk}")
        assert tested.status_code == 200 and 'data-ok="yes"' in tested.text, tested.text
        assert "Test passed" in tested.text and 'data-health="ok"' in tested.text
    with schema_context(kappa.schema_name):
        assert all(c.is_enabled and c.health_status == HealthStatus.OK for c in Connection.objects.all())
        history = Connection.history.filter(slug="time-export").latest("history_date")
        assert history.history_user == engineer  # saved through the service, as the engineer
    assert partner_site.get("/customers/kappa-advisory/setup/").url.endswith("/setup/run/")

    started = partner_site.post("/customers/kappa-advisory/setup/run/", {"flow": "time-in"})
    with schema_context(kappa.schema_name):
        run = Run.objects.get(flow__slug="time-in")
    assert started.url == f"/customers/kappa-advisory/setup/run/?run={run.pk}"
    watched = partner_site.get("/customers/kappa-advisory/setup/run/", run=run.pk).text
    assert 'id="run-progress"' in watched and f'name="next" value="/runs/{run.pk}/"' in watched
    part = partner_site.get(f"/customers/kappa-advisory/setup/runs/{run.pk}/progress/")
    assert part.status_code == 200 and 'data-figure="processed"' in part.text
    done = partner_site.get("/customers/kappa-advisory/setup/done/").text
    assert 'id="checklist"' in done and 'href="/customers/kappa-advisory/"' in done


def test_a_half_finished_setup_is_continued_from_the_drill_in(cast, partner_site, engineer):
    partner_site.client.force_login(engineer)
    page = partner_site.get("/customers/alpha/").text
    assert 'href="/customers/alpha/setup/"' in page and "Continue setup" in page
    assert partner_site.get("/customers/alpha/setup/").url == "/customers/alpha/setup/template/"
    with schema_context("alpha"):
        assert not Flow.objects.exists()


def test_analysts_get_403_and_customer_roles_404(cast, partner_site, analyst, alice):
    partner_site.client.force_login(analyst)
    for path in ("/setup/new/", "/customers/alpha/setup/", "/customers/alpha/setup/run/"):
        assert partner_site.get(path).status_code == 403, path
    assert "Continue setup" not in partner_site.get("/customers/alpha/").text
    partner_site.client.force_login(alice)
    for path in ("/setup/new/", "/customers/alpha/setup/template/"):
        assert partner_site.get(path).status_code == 404, path


def test_another_partners_customer_is_not_found(cast, partner_site, engineer):
    partner_site.client.force_login(engineer)
    assert partner_site.get("/customers/gamma/setup/template/").status_code == 404
    assert partner_site.get("/customers/alpha/setup/nowhere/").status_code == 404


def test_an_exception_says_where_an_engineer_fixes_it_and_a_viewer_sees_no_buttons(cast, alpha_site, engineer,
                                                                                  viewer):
    from django.utils import timezone

    from apps.connectors.services import connection_create
    from apps.exceptions.models import IntegrationException
    from apps.mappings.models import RuleSet

    with schema_context("alpha"):
        files = connection_create(name="Files", slug="files", kind="csv", acting_user=None)
        rules = RuleSet.objects.create(name="Export rules", slug="export-rules", object_type="time_entry")
        flow = Flow.objects.create(name="Time out", slug="time-out", direction="outbound", object_type="time_entry",
                                   connection=files, object_name="journal_export", rule_set=rules)
        now = timezone.now()
        failed = IntegrationException.objects.create(fingerprint="x", kind="validation", title="Over 12 h", flow=flow,
                                                     first_seen=now, last_seen=now, opened_at=now, open_records=1)
    alpha_site.client.force_login(engineer)
    page = alpha_site.get(f"/exceptions/{failed.pk}/").text
    assert f'href="/admin/mappings/ruleset/{rules.pk}/rules/"' in page and 'id="fix-rules"' in page
    assert f'href="/admin/exceptions/integrationexception/{failed.pk}/replay/"' in page
    alpha_site.client.force_login(viewer)
    assert 'id="fixes"' not in alpha_site.get(f"/exceptions/{failed.pk}/").text
