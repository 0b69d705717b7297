"""django-simple-history's views (history list, history form, revert) in every admin site.

The findings reproduced here: a Northwind analyst (view-only) read and rewrote Contoso's users, brand,
customer, memberships, domains and the platform superuser through ``…/history/`` and
``…/history/<history_id>/``; a customer admin (who may only view configuration) turned a connection's
private-network guard off by POSTing its history form. History is now scoped to objects the user may
see (404 alike for missing and not yours) and read-only for everyone.
"""

from __future__ import annotations

import pytest
from django.forms.models import model_to_dict
from django_tenants.utils import schema_context

from apps.connectors import services as connector_services
from apps.connectors.models import Connection
from apps.tenants.choices import Role
from apps.tenants.models import Domain, Membership, Partner, User
from tests.conftest import host, member
from tests.security.forms import form_data

# The partner host of the analyst's own partner (X): partner staff sign in only there (and on their
# customers' hosts), and every object below is looked up through that partner admin's scope.
PUBLIC = "x.test"


@pytest.fixture
def analyst(cast):
    return member(Role.ANALYST, partner=cast.xpartner, username="northwind.analyst")


@pytest.fixture
def operator(cast):
    return User.objects.create_superuser("operator", "operator@example.com", "pw")


def _contoso(cast, operator) -> dict:
    """Rows of the other partner (Contoso: ypartner, its customer gamma), and the platform superuser."""
    contoso_admin = member(Role.PARTNER_ADMIN, partner=cast.ypartner, username="contoso.admin")
    return {
        "user": (contoso_admin, "email", "attacker@example.com"),
        "partner": (cast.ypartner, "display_name", "Pwned Sync"),
        "customer": (cast.gamma, "name", "Pwned Customer"),
        "membership": (Membership.objects.get(user=contoso_admin), "role", Role.ANALYST),
        "domain": (Domain.objects.get(tenant=cast.gamma, is_primary=True), "domain", "pwned.example"),
        "superuser": (operator, "email", "attacker@example.com"),
    }


def _urls(obj) -> tuple[str, str]:
    opts = obj._meta
    base = f"/admin/{opts.app_label}/{opts.model_name}/{obj.pk}/history/"
    return base, f"{base}{obj.history.filter(**{opts.pk.attname: obj.pk}).latest().history_id}/"


def _snapshot(obj) -> tuple[dict, int]:
    fresh = type(obj).objects.get(pk=obj.pk)
    return model_to_dict(fresh), type(obj).history.filter(**{obj._meta.pk.attname: obj.pk}).count()


FOREIGN = ["user", "partner", "customer", "membership", "domain", "superuser"]


@pytest.mark.parametrize("name", FOREIGN)
def test_an_analyst_cannot_read_another_partners_history(cast, client, analyst, operator, name):
    obj, _, _ = _contoso(cast, operator)[name]
    history_url, form_url = _urls(obj)
    client.force_login(analyst)

    listing = client.get(history_url, HTTP_HOST=PUBLIC)
    form = client.get(form_url, HTTP_HOST=PUBLIC)

    assert listing.status_code == 404 and form.status_code == 404
    assert obj.history.model._meta.pk.name not in form.text  # nothing of the form leaks through a 404 page


@pytest.mark.parametrize("name", FOREIGN)
def test_an_analyst_cannot_rewrite_another_partners_rows_through_the_history_form(cast, client, analyst, operator,
                                                                                  name):
    obj, field, value = _contoso(cast, operator)[name]
    history_url, form_url = _urls(obj)
    client.force_login(operator)  # the attacker's body: the form as it was shown before the fix
    data = {**form_data(client.get(form_url, HTTP_HOST=PUBLIC).context["adminform"].form), field: value}
    before = _snapshot(obj)
    client.force_login(analyst)

    response = client.post(form_url, data, HTTP_HOST=PUBLIC)

    assert response.status_code == 404
    assert _snapshot(obj) == before


def test_missing_and_foreign_history_answer_alike(cast, client, analyst, operator):
    client.force_login(analyst)
    foreign, _ = _urls(cast.ypartner)
    for url in (foreign, "/admin/tenants/partner/999999/history/"):
        assert client.get(url, HTTP_HOST=PUBLIC).status_code == 404, url
    # A NUL in the path is refused before any lookup, so it too tells nothing about what exists.
    assert client.get("/admin/tenants/partner/x%00/history/", HTTP_HOST=PUBLIC).status_code == 400
    history_id = cast.ypartner.history.latest().history_id
    for url in (f"/admin/tenants/partner/{cast.ypartner.pk}/history/{history_id}/",
                f"/admin/tenants/partner/999999/history/{history_id}/",
                f"/admin/tenants/partner/{cast.xpartner.pk}/history/{history_id}/"):  # own object, foreign version
        assert client.get(url, HTTP_HOST=PUBLIC).status_code == 404, url


def test_own_partners_history_stays_readable_and_cannot_be_reverted(cast, client, analyst):
    partner_admin = member(Role.PARTNER_ADMIN, partner=cast.xpartner)
    history_url, form_url = _urls(cast.xpartner)
    client.force_login(analyst)
    listing = client.get(history_url, HTTP_HOST=PUBLIC)
    form = client.get(form_url, HTTP_HOST=PUBLIC)
    assert listing.status_code == 200 and form.status_code == 200
    assert 'name="_save"' not in form.text  # no Revert button: history is read-only

    client.force_login(partner_admin)  # even someone who may change the partner cannot revert through history
    data = {**form_data(client.get(form_url, HTTP_HOST=PUBLIC).context["adminform"].form), "display_name": "Reverted"}
    before = _snapshot(cast.xpartner)
    response = client.post(form_url, data, HTTP_HOST=PUBLIC)
    assert response.status_code == 405
    assert _snapshot(cast.xpartner) == before and Partner.objects.get(pk=cast.xpartner.pk).display_name != "Reverted"


@pytest.mark.parametrize("role", [Role.CUSTOMER_ADMIN, Role.INTEGRATION_ENGINEER])
def test_nobody_rewrites_a_connection_through_its_history_form(cast, client, role):
    """The customer admin (view-only on configuration) turned the private-address guard off this way."""
    user = (member(role, customer=cast.alpha) if role == Role.CUSTOMER_ADMIN
            else member(role, partner=cast.xpartner))
    with schema_context("alpha"):
        connection = connector_services.connection_create(name="ERP", kind="webhook", allow_private_network=True,
                                                          acting_user=None)
        history_id = connection.history.latest().history_id
        versions = connection.history.count()
    url = f"/admin/connectors/connection/{connection.pk}/history/{history_id}/"
    client.force_login(user)
    page = client.get(url, HTTP_HOST=host(cast.alpha))
    assert page.status_code == 200  # reading history is part of viewing configuration
    data = form_data(page.context["adminform"].form)
    # An unticked checkbox turned the guard off, as reported (the form now shows the switch read-only to
    # everyone but the operator, so it may not be there at all).
    data.pop("allow_private_network", None)

    response = client.post(url, data, HTTP_HOST=host(cast.alpha))

    assert response.status_code == 405
    with schema_context("alpha"):
        assert Connection.objects.get(pk=connection.pk).allow_private_network is True
        assert connection.history.count() == versions


def test_tenant_history_of_another_customer_is_out_of_reach(cast, client):
    """Customer users on another firm's host: the tenant admin's history pages refuse like any other."""
    with schema_context("beta"):
        connection = connector_services.connection_create(name="ERP", kind="webhook", acting_user=None)
        history_id = connection.history.latest().history_id
    client.force_login(member(Role.CUSTOMER_ADMIN, customer=cast.alpha))
    for url in (f"/admin/connectors/connection/{connection.pk}/history/",
                f"/admin/connectors/connection/{connection.pk}/history/{history_id}/"):
        response = client.get(url, HTTP_HOST=host(cast.beta))
        assert response.status_code == 302 and "/admin/login/" in response.url


def test_history_never_shows_a_password_hash(cast, client, operator):
    """Not even to the operator, nor for one's own partner's people: history keeps no password at all."""
    person = member(Role.ANALYST, partner=cast.xpartner, username="northwind.engineer")
    algorithm, salt, digest = User.objects.get(pk=person.pk).password.split("$")[:3]
    assert "password" not in {f.name for f in User.history.model._meta.fields}
    _, form_url = _urls(person)
    for viewer in (member(Role.PARTNER_ADMIN, partner=cast.xpartner), operator):
        client.force_login(viewer)
        page = client.get(form_url, HTTP_HOST=PUBLIC)
        assert page.status_code == 200 and person.username in page.text
        assert salt not in page.text and digest[:6] not in page.text and "algorithm" not in page.text
