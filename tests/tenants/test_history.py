"""Every configuration change is attributed and kept; the admin shows it."""

from apps.connectors.models import Connection
from apps.tenants.choices import Role
from tests.conftest import host, member


def test_partner_brand_change_in_admin_is_attributed(cast, client):
    admin_user = member(Role.PARTNER_ADMIN, partner=cast.xpartner)
    client.force_login(admin_user)
    url = f"/admin/tenants/partner/{cast.xpartner.pk}/change/"
    form = client.get(url, HTTP_HOST=cast.xpartner.domain_suffix).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "logo"}
    data.update(accent_colour="#00AA55")

    response = client.post(url, data, HTTP_HOST=cast.xpartner.domain_suffix)

    assert response.status_code == 302, getattr(response, "context", None) and response.context["adminform"].errors
    latest = cast.xpartner.history.latest()
    assert latest.accent_colour == "#00AA55" and latest.history_user == admin_user
    history_page = client.get(f"{url.removesuffix('change/')}history/", HTTP_HOST=cast.xpartner.domain_suffix)
    assert history_page.status_code == 200 and admin_user.username in history_page.text


def test_partner_admin_cannot_change_another_partners_brand(cast, client):
    client.force_login(member(Role.PARTNER_ADMIN, partner=cast.ypartner))
    response = client.get(f"/admin/tenants/partner/{cast.xpartner.pk}/change/", HTTP_HOST="localhost")
    assert response.status_code == 302  # "does not exist": same as a missing partner


def test_invalid_brand_colour_is_refused(cast, client):
    client.force_login(member(Role.PARTNER_ADMIN, partner=cast.xpartner))
    url = f"/admin/tenants/partner/{cast.xpartner.pk}/change/"
    form = client.get(url, HTTP_HOST=cast.xpartner.domain_suffix).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "logo"}
    data.update(primary_colour="red;}x")
    response = client.post(url, data, HTTP_HOST=cast.xpartner.domain_suffix)
    assert response.status_code == 200 and "#RRGGBB" in response.text


def test_tenant_configuration_change_is_attributed(cast, client):
    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner)
    client.force_login(engineer)
    response = client.post(
        "/admin/connectors/connection/add/",
        {"name": "Hooks", "slug": "hooks", "kind": "webhook", "description": "", "is_enabled": "on",
         "settings": "{}", "new_credentials": '{"signing_secret": "s3cret-s3cret-s3cret-s3cret-s3cret"}'},
        HTTP_HOST=host(cast.alpha),
    )
    assert response.status_code == 302
    from django_tenants.utils import schema_context

    with schema_context("alpha"):
        # This test's rows only: the engineer is new to this test (another test may have left a "hooks" behind).
        created, credentials = Connection.history.filter(slug="hooks", history_user=engineer).order_by("history_id")
        assert created.history_type == "+" and created.history_user == engineer
        assert credentials.history_change_reason == "Credentials replaced" and credentials.history_user == engineer
