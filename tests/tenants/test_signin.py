"""Signing in: throttled and locked out on every path, the same answer for people who exist and people who
do not, partner staff only on their own partner's hosts, and a session only on the host that issued it."""

from __future__ import annotations

import base64
import re

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from apps.exceptions.models import IntegrationException
from apps.tenants.choices import Role
from tests.conftest import host, member
from tests.factories import UserFactory

LIMIT = 3


@pytest.fixture(autouse=True)
def _small_limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT


def form_login(path: str, where: str, username: str, password: str):
    return Client().post(path, {"username": username, "password": password}, HTTP_HOST=where)


def basic(where: str, username: str, password: str):
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return Client().get("/api/v1/connections/", HTTP_HOST=where, HTTP_AUTHORIZATION=f"Basic {token}")


def signed_in(response) -> bool:
    return response.status_code == 302 and "login" not in response.url


# --- lock-out on every path ----------------------------------------------------------------------------


def _paths(cast):
    """(path, host, a user who may sign in there) for each form sign-in path."""
    return {
        "portal": ("/login/", host(cast.alpha), member(Role.CUSTOMER_ADMIN, customer=cast.alpha)),
        "partner site": ("/login/", cast.xpartner.domain_suffix, member(Role.PARTNER_ADMIN, partner=cast.xpartner)),
        "partner admin": ("/admin/login/", cast.xpartner.domain_suffix,
                          member(Role.PARTNER_ADMIN, partner=cast.xpartner)),
        "tenant admin": ("/admin/login/", host(cast.alpha), member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner)),
        "platform admin": ("/admin/login/", "localhost", UserFactory(is_superuser=True, is_staff=True)),
    }


@pytest.mark.parametrize("where", ["portal", "partner site", "partner admin", "tenant admin", "platform admin"])
def test_wrong_passwords_lock_the_username_out_and_then_the_right_one_fails_too(cast, where):
    path, site, user = _paths(cast)[where]
    assert signed_in(form_login(path, site, user.username, "pw"))  # the right password works at first

    answers = [form_login(path, site, user.username, "wrong").status_code for _ in range(LIMIT)]
    locked = form_login(path, site, user.username, "pw")

    assert answers[:-1] == [200] * (LIMIT - 1)
    assert locked.status_code == 429 and not signed_in(locked)
    assert "Too many failed sign-ins" in locked.content.decode()


def test_api_basic_auth_is_locked_out_too(cast):
    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner)
    alpha = host(cast.alpha)
    assert basic(alpha, engineer.username, "pw").status_code == 200
    answers = [basic(alpha, engineer.username, "wrong").status_code for _ in range(LIMIT)]
    assert answers[:-1] == [401] * (LIMIT - 1)
    locked = basic(alpha, engineer.username, "pw")
    assert locked.status_code == 429 and int(locked["Retry-After"]) > 0  # not "wrong password": wait, then retry
    assert "Too many failed sign-ins" in locked.json()["detail"]


def test_a_lock_out_on_one_path_holds_on_every_other(cast):
    user = member(Role.PARTNER_ADMIN, partner=cast.xpartner)
    for _ in range(LIMIT):
        form_login("/login/", cast.xpartner.domain_suffix, user.username, "wrong")
    assert not signed_in(form_login("/admin/login/", host(cast.alpha), user.username, "pw"))
    assert basic(host(cast.alpha), user.username, "pw").status_code == 429


def test_a_successful_sign_in_resets_the_count(cast):
    alice = member(Role.CUSTOMER_ADMIN, customer=cast.alpha)
    alpha = host(cast.alpha)
    for _ in range(LIMIT - 1):
        form_login("/login/", alpha, alice.username, "wrong")
    assert signed_in(form_login("/login/", alpha, alice.username, "pw"))
    for _ in range(LIMIT - 1):
        form_login("/login/", alpha, alice.username, "wrong")
    assert signed_in(form_login("/login/", alpha, alice.username, "pw"))


# --- the same answer for existing and missing usernames ------------------------------------------------


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_a_missing_username_gets_the_same_answers_as_an_existing_one(cast, path):
    alice = member(Role.CUSTOMER_ADMIN, customer=cast.alpha, username="alice")
    alpha = host(cast.alpha)

    def answers(username):
        return [(r.status_code, re.sub(r"[A-Za-z0-9]{32,}", "TOKEN", r.content.decode().replace(username, "NAME")))
                for r in (form_login(path, alpha, username, "wrong") for _ in range(LIMIT + 1))]

    assert answers(alice.username) == answers("nobodyx")


def test_a_right_password_on_a_host_the_person_may_not_use_counts_as_a_failure(cast):
    charlie = member(Role.PARTNER_ADMIN, partner=cast.ypartner, username="charlie")
    alpha = host(cast.alpha)
    refused = [form_login("/login/", alpha, charlie.username, "pw") for _ in range(LIMIT)]
    assert not any(signed_in(r) for r in refused) and refused[0].status_code == 200
    assert form_login("/login/", cast.ypartner.domain_suffix, charlie.username, "pw").status_code == 429


def test_assigning_to_another_partners_user_and_to_nobody_answer_alike(cast):
    member(Role.PARTNER_ADMIN, partner=cast.ypartner, username="charlie")
    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner)
    from django.utils import timezone

    with schema_context("alpha"):
        now = timezone.now()
        exception = IntegrationException.objects.create(fingerprint="f" * 64, kind="validation", title="Bad",
                                                        first_seen=now, last_seen=now, opened_at=now)
    client = Client()
    client.force_login(engineer)

    def assign(owner):
        response = client.post(f"/api/v1/exceptions/{exception.pk}/assign/", {"owner": owner},
                               content_type="application/json", HTTP_HOST=host(cast.alpha))
        return response.status_code, response.json()["detail"].replace(owner, "NAME")

    assert assign("charlie") == assign("nobody-at-all")


# --- partner staff only on their own partner's hosts ----------------------------------------------------


def test_partner_staff_cannot_sign_in_to_the_platform_admin_or_another_partners(cast):
    staff = member(Role.PARTNER_ADMIN, partner=cast.xpartner)
    assert not signed_in(form_login("/admin/login/", "localhost", staff.username, "pw"))
    assert not signed_in(form_login("/admin/login/", cast.ypartner.domain_suffix, staff.username, "pw"))
    assert not signed_in(form_login("/login/", "localhost", staff.username, "pw"))
    assert not signed_in(form_login("/login/", cast.ypartner.domain_suffix, staff.username, "pw"))
    assert not signed_in(form_login("/login/", host(cast.gamma), staff.username, "pw"))


def test_partner_staff_sign_in_on_their_own_hosts_and_their_customers(cast):
    staff = member(Role.PARTNER_ADMIN, partner=cast.xpartner)
    for path, where in [("/admin/login/", cast.xpartner.domain_suffix), ("/login/", cast.xpartner.domain_suffix),
                        ("/admin/login/", host(cast.alpha)), ("/login/", host(cast.beta))]:
        assert signed_in(form_login(path, where, staff.username, "pw")), (path, where)


def test_a_partner_staff_session_opens_no_admin_page_on_the_platform_host(cast):
    client = Client()
    client.force_login(member(Role.PARTNER_ADMIN, partner=cast.xpartner))
    assert client.get("/admin/", HTTP_HOST=cast.xpartner.domain_suffix).status_code == 200
    platform = Client()
    platform.force_login(member(Role.PARTNER_ADMIN, partner=cast.xpartner))
    assert platform.get("/admin/", HTTP_HOST="localhost").status_code == 302


# --- a session belongs to the host that issued it ------------------------------------------------------


def copied(client: Client) -> Client:
    """Another browser holding a copy of ``client``'s cookies (a browser keeps cookies per host; a test
    client does not, so each host gets its own client)."""
    other = Client()
    for name, morsel in client.cookies.items():
        other.cookies[name] = morsel.value
    return other


def test_a_session_cookie_presented_on_another_host_is_not_signed_in(cast):
    staff = member(Role.PARTNER_ADMIN, partner=cast.xpartner)
    client = Client()
    response = client.post("/login/", {"username": staff.username, "password": "pw"}, HTTP_HOST=host(cast.alpha))
    assert signed_in(response)
    assert client.get("/", HTTP_HOST=host(cast.alpha)).status_code == 200

    # The same cookie on the partner's host, on a sibling customer's host and on the API there.
    assert copied(client).get("/", HTTP_HOST=cast.xpartner.domain_suffix).status_code == 302
    assert copied(client).get("/", HTTP_HOST=host(cast.beta)).status_code == 302
    assert copied(client).get("/api/v1/connections/", HTTP_HOST=host(cast.beta)).status_code == 401
    assert copied(client).get("/admin/", HTTP_HOST=host(cast.beta)).status_code == 302
    # ...and it still works where it was issued.
    assert client.get("/", HTTP_HOST=host(cast.alpha)).status_code == 200


def test_a_copied_cookie_does_not_sign_out_its_owner(cast):
    staff = member(Role.PARTNER_ADMIN, partner=cast.xpartner)
    owner = Client()
    owner.post("/login/", {"username": staff.username, "password": "pw"}, HTTP_HOST=cast.xpartner.domain_suffix)
    assert copied(owner).get("/", HTTP_HOST=cast.ypartner.domain_suffix).status_code in (302, 404)
    assert owner.get("/", HTTP_HOST=cast.xpartner.domain_suffix).status_code == 200
