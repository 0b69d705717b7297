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
    assert 'data-todo="flows"' in page and 'href="#install"' in page and 'id="install"' in page
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
    assert items[f"connection-{paused.pk}"].fix == f"/admin/connectors/connection/{paused.pk}/change/"
