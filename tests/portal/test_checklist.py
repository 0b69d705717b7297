"""The drill-in's checklist: what is left before a customer runs on its own, each item a link to where it is fixed."""

from django_tenants.utils import schema_context

from apps.connectors.services import connection_create
from apps.exceptions.defaults.models import PartnerEscalationPolicy
from apps.portal.selectors import customer_checklist
from tests.conftest import host


def keys(customer) -> set[str]:
    return {item.key for item in customer_checklist(customer)}


def test_a_new_customer_is_told_everything_that_is_left_with_links(cast, partner_site, partner_admin):
    partner_site.client.force_login(partner_admin)

    page = partner_site.get("/customers/alpha/").text

    assert {"flows", "no-people", "no-projects", "escalation"} <= keys(cast.alpha)
    assert 'data-todo="flows"' in page and 'href="/customers/alpha/setup/template/"' in page
    assert "no flow reads them" in page  # no people or projects, and nothing to read them: an accelerator
    assert f'href="//{host(cast.alpha)}/admin/exceptions/escalationpolicy/add/"' in page.replace(":80/", "/")


def test_items_go_as_they_are_done_and_a_paused_connection_shows(cast):
    PartnerEscalationPolicy.objects.create(partner=cast.xpartner, name="Default", email_recipients=["noc@x.example"])
    with schema_context("alpha"):
        paused = connection_create(name="Time export", slug="time-export", kind="csv", settings={}, acting_user=None)
        paused.is_enabled = False
        paused.save(update_fields=["is_enabled"])

    items = {item.key: item for item in customer_checklist(cast.alpha)}

    assert "escalation" not in items
    assert items[f"connection-{paused.pk}"].says == "Connection Time export is paused."
    assert items[f"connection-{paused.pk}"].fix == f"/customers/alpha/setup/connections/#connection-{paused.pk}"
    assert not items[f"connection-{paused.pk}"].on_customer_host  # the wizard's step: no second sign-in


def test_missing_people_lead_to_the_flow_that_reads_them_once_there_is_one(cast):
    from apps.runs.models import Flow

    with schema_context("alpha"):
        files = connection_create(name="Files", slug="files", kind="csv", settings={}, acting_user=None)
        Flow.objects.create(name="People in", slug="people-in", direction="inbound", object_type="person",
                            connection=files, object_name="people")

    items = {item.key: item for item in customer_checklist(cast.alpha)}

    assert items["no-people"].fix == "/customers/alpha/setup/run/"
    assert items["no-projects"].fix == "/customers/alpha/setup/template/"
