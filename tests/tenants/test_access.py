"""Each role's reach and limits, through the one permission check and through the pages that use it."""

import pytest
from django.test import Client

from apps.tenants import access
from apps.tenants.choices import Capability, Role
from tests.conftest import host, member

EXPECTED = {
    Role.PARTNER_ADMIN: {"view", "inspect", "comment", "approve", "authorize", "operate", "configure", "administer"},
    Role.INTEGRATION_ENGINEER: {"view", "inspect", "comment", "operate", "configure"},
    Role.ANALYST: {"view", "inspect", "comment"},
    Role.CUSTOMER_ADMIN: {"view", "inspect", "comment", "approve", "authorize"},
    Role.FINANCE_APPROVER: {"view", "comment", "approve"},
    Role.VIEWER: {"view"},
}


@pytest.mark.parametrize("role", [Role.PARTNER_ADMIN, Role.INTEGRATION_ENGINEER, Role.ANALYST])
def test_partner_staff_reach_every_customer_of_their_partner_and_no_other(cast, role):
    user = member(role, partner=cast.xpartner)
    assert access.capabilities_on_customer(user, cast.alpha) == EXPECTED[role]
    assert access.capabilities_on_customer(user, cast.beta) == EXPECTED[role]
    assert access.capabilities_on_customer(user, cast.gamma) == frozenset()
    assert set(access.customers_for_user(user).values_list("slug", flat=True)) == {"alpha", "beta"}


@pytest.mark.parametrize("role", [Role.CUSTOMER_ADMIN, Role.FINANCE_APPROVER, Role.VIEWER])
def test_customer_users_reach_only_their_own_firm(cast, role):
    user = member(role, customer=cast.alpha)
    assert access.capabilities_on_customer(user, cast.alpha) == EXPECTED[role]
    assert access.capabilities_on_customer(user, cast.beta) == frozenset()
    assert list(access.customers_for_user(user).values_list("slug", flat=True)) == ["alpha"]
    assert not access.user_can_on_partner(user, cast.xpartner, Capability.VIEW)


def test_inactive_people_reach_nothing(cast):
    user = member(Role.PARTNER_ADMIN, partner=cast.xpartner)
    user.is_active = False
    user.save()
    assert access.capabilities_on_customer(user, cast.alpha) == frozenset()
    assert not access.customers_for_user(user).exists()


def test_platform_operator_reaches_everything(cast, django_user_model):
    operator = django_user_model.objects.create_superuser("op", "op@example.com", "pw")
    assert access.user_can(operator, cast.gamma, Capability.ADMINISTER)


def test_template_and_platform_rows_are_never_reachable(cast):
    from apps.tenants.models import Customer

    user = member(Role.PARTNER_ADMIN, partner=cast.xpartner)
    for row in Customer.objects.exclude(kind="firm"):
        assert access.capabilities_on_customer(user, row) == frozenset()


def test_guessing_another_partners_customer_looks_like_a_missing_one(cast, client):
    charlie = member(Role.PARTNER_ADMIN, partner=cast.ypartner)
    client.force_login(charlie)
    theirs = client.get(f"/admin/tenants/customer/{cast.alpha.pk}/change/", HTTP_HOST=cast.ypartner.domain_suffix)
    missing = client.get("/admin/tenants/customer/999999/change/", HTTP_HOST=cast.ypartner.domain_suffix)
    assert theirs.status_code == missing.status_code == 302
    assert theirs.url == missing.url
    with pytest.raises(Exception) as theirs_error:
        access.customer_for_user(charlie, "alpha")
    with pytest.raises(Exception) as missing_error:
        access.customer_for_user(charlie, "no-such-customer")
    assert type(theirs_error.value) is type(missing_error.value)
    assert str(theirs_error.value) == str(missing_error.value)


def test_partner_admin_list_shows_only_own_customers(cast, client):
    client.force_login(member(Role.ANALYST, partner=cast.xpartner))
    page = client.get("/admin/tenants/customer/", HTTP_HOST=cast.xpartner.domain_suffix)
    assert page.status_code == 200
    assert "Alpha" in page.text and "Beta" in page.text and "Gamma" not in page.text


def test_partner_staff_of_another_partner_cannot_enter_a_customer_domain(cast, client):
    charlie = member(Role.PARTNER_ADMIN, partner=cast.ypartner, username="charlie")
    login = client.post("/login/", {"username": "charlie", "password": "pw"}, HTTP_HOST=host(cast.alpha))
    assert login.status_code == 200 and "correct username and password" in login.text
    client.force_login(charlie)  # even with a session, the portal, admin and API stay shut
    assert client.get("/", HTTP_HOST=host(cast.alpha)).status_code == 404
    assert client.get("/admin/", HTTP_HOST=host(cast.alpha)).status_code == 302
    assert client.get("/api/v1/", HTTP_HOST=host(cast.alpha)).status_code == 403


def test_customer_user_signs_in_to_their_own_portal_only(cast, client):
    member(Role.VIEWER, customer=cast.alpha, username="alice")
    own = client.post("/login/", {"username": "alice", "password": "pw"}, HTTP_HOST=host(cast.alpha))
    assert own.status_code == 302
    assert client.get("/", HTTP_HOST=host(cast.alpha)).status_code == 200
    browser_on_beta = Client()  # cookies are per host in a browser; the test client shares them
    other = browser_on_beta.post("/login/", {"username": "alice", "password": "pw"}, HTTP_HOST=host(cast.beta))
    assert other.status_code == 200 and "correct username and password" in other.text


def test_viewer_cannot_enter_tenant_admin_but_engineer_can(cast, client):
    client.force_login(member(Role.VIEWER, customer=cast.alpha))
    assert client.get("/admin/", HTTP_HOST=host(cast.alpha)).status_code == 302
    client.force_login(member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner))
    assert client.get("/admin/", HTTP_HOST=host(cast.alpha)).status_code == 200


def test_analyst_sees_connections_but_cannot_change_them(cast, client):
    client.force_login(member(Role.ANALYST, partner=cast.xpartner))
    listing = client.get("/admin/connectors/connection/", HTTP_HOST=host(cast.alpha))
    assert listing.status_code == 200
    assert client.get("/admin/connectors/connection/add/", HTTP_HOST=host(cast.alpha)).status_code == 403
