"""Connections API: secrets go in and never come out; roles decide who reads, changes and tests."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from apps.connectors import crypto, services
from apps.connectors.models import Connection, HealthStatus
from apps.tenants.choices import Role
from tests.conftest import host, member

SECRET = "whsec-0123456789abcdef0123456789abcdef"
LIST_FIELDS = {"name", "slug", "kind", "is_enabled", "health_status", "last_checked_at", "has_credentials"}


@pytest.fixture
def hooks(cast) -> Connection:
    with schema_context("alpha"):
        return services.connection_create(name="Hooks", kind="webhook", credentials={"signing_secret": SECRET},
                                          acting_user=None)


@pytest.fixture
def engineer(cast):
    return member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner)


def api(client, user, method: str, path: str, customer, **data):
    client.force_login(user)
    call = getattr(client, method)
    kwargs = {"data": data, "content_type": "application/json"} if method in ("post", "patch", "put") else {}
    return call(f"/api/v1/connections/{path}", HTTP_HOST=host(customer), **kwargs)


def assert_no_secrets(response, connection: Connection) -> None:
    assert SECRET not in response.text
    assert connection.credentials_token not in response.text
    assert "credentials" not in response.text.replace("has_credentials", "").replace("credentials_updated_at", "")


def test_list_and_detail_never_show_secrets(cast, client, hooks, engineer):
    listing = api(client, engineer, "get", "", cast.alpha)
    assert listing.status_code == 200
    [row] = listing.json()["results"]
    assert set(row) == LIST_FIELDS
    assert row["has_credentials"] is True and row["kind"] == "webhook"
    assert_no_secrets(listing, hooks)

    detail = api(client, engineer, "get", "hooks/", cast.alpha)
    assert detail.status_code == 200 and detail.json()["slug"] == "hooks"
    assert_no_secrets(detail, hooks)


def test_listing_costs_the_same_queries_for_one_or_many_connections(cast, client, hooks, engineer):
    client.force_login(engineer)
    alpha = host(cast.alpha)

    def list_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/v1/connections/", HTTP_HOST=alpha).status_code == 200
        return len(queries)

    list_queries()  # the first request after sign-in binds the session to its host (one write)
    one = list_queries()
    with schema_context("alpha"):
        for n in range(10):
            services.connection_create(name=f"Hooks {n}", kind="webhook", credentials={"signing_secret": SECRET},
                                       acting_user=None)
    assert list_queries() == one


def test_viewer_can_read_but_not_create_change_or_test(cast, client, hooks):
    viewer = member(Role.VIEWER, customer=cast.alpha)
    assert api(client, viewer, "get", "", cast.alpha).status_code == 200
    assert api(client, viewer, "post", "", cast.alpha, name="Mine", kind="webhook").status_code == 403
    assert api(client, viewer, "patch", "hooks/", cast.alpha, is_enabled=False).status_code == 403
    assert api(client, viewer, "post", "hooks/test/", cast.alpha).status_code == 403
    with schema_context("alpha"):
        assert list(Connection.objects.values_list("name", "is_enabled", "health_status")) == [
            ("Hooks", True, HealthStatus.UNKNOWN)]


def test_engineer_creates_a_connection_with_sealed_credentials(cast, client, engineer):
    response = api(client, engineer, "post", "", cast.alpha, name="Harvest hooks", kind="webhook",
                   settings={"tolerance_seconds": 120}, credentials={"signing_secret": SECRET})

    assert response.status_code == 201
    assert response.json()["slug"] == "harvest-hooks" and response.json()["has_credentials"] is True
    assert SECRET not in response.text
    with schema_context("alpha"):
        connection = Connection.objects.get(slug="harvest-hooks")
        assert crypto.unseal(connection.credentials_token) == {"signing_secret": SECRET}
        assert connection.settings == {"tolerance_seconds": 120}
        first = connection.history.earliest()
        assert (first.history_user, first.history_change_reason) == (engineer, "Connection created")


@pytest.mark.parametrize("body, message", [
    ({"name": "SAP", "kind": "sap-rfc"}, "Unknown connector kind 'sap-rfc'"),
    ({"name": "Hooks", "kind": "webhook"}, "already exists"),
    ({"name": "Bad", "kind": "webhook", "credentials": {"signing_secret": 42}}, "valid string"),
    ({"kind": "webhook"}, "required"),
])
def test_bad_input_is_refused_with_the_reason(cast, client, hooks, engineer, body, message):
    response = api(client, engineer, "post", "", cast.alpha, **body)
    assert response.status_code == 400
    assert message in response.text
    with schema_context("alpha"):
        assert Connection.objects.count() == 1


def test_engineer_changes_a_connection_and_history_names_them(cast, client, hooks, engineer):
    new_secret = SECRET[::-1]
    response = api(client, engineer, "patch", "hooks/", cast.alpha, is_enabled=False,
                   description="Harvest's webhooks", credentials={"signing_secret": new_secret})

    assert response.status_code == 200
    assert response.json()["is_enabled"] is False and new_secret not in response.text
    with schema_context("alpha"):
        connection = Connection.objects.get(pk=hooks.pk)
        assert crypto.unseal(connection.credentials_token) == {"signing_secret": new_secret}
        reasons = [(h.history_user, h.history_change_reason) for h in connection.history.order_by("history_id")]
    assert reasons[1:] == [(engineer, "Changed description, is_enabled"), (engineer, "Credentials replaced")]
    assert api(client, engineer, "put", "hooks/", cast.alpha, name="Hooks").status_code == 405


def test_customer_user_of_beta_cannot_see_alphas_connections(cast, client, hooks):
    beta_admin = member(Role.CUSTOMER_ADMIN, customer=cast.beta)
    assert api(client, beta_admin, "get", "", cast.alpha).status_code == 403
    assert api(client, beta_admin, "get", "hooks/", cast.alpha).status_code == 403
    on_own_domain = api(client, beta_admin, "get", "", cast.beta)  # beta's schema: alpha's rows are not there
    assert on_own_domain.status_code == 200 and on_own_domain.json()["results"] == []


def test_anonymous_callers_get_nothing(cast, client, hooks):
    assert client.get("/api/v1/connections/", HTTP_HOST=host(cast.alpha)).status_code == 401


def test_testing_a_connection_answers_and_records_health(cast, client, hooks, engineer):
    with schema_context("alpha"):  # saved before secrets had to be 32 characters: saving one now is refused
        Connection.objects.create(name="Weak", slug="weak", kind="webhook",
                                  credentials_token=crypto.seal({"signing_secret": "short"}))

    ok = api(client, engineer, "post", "hooks/test/", cast.alpha)
    weak = api(client, engineer, "post", "weak/test/", cast.alpha)

    assert ok.status_code == weak.status_code == 200
    assert ok.json() == {"ok": True, "message": "Ready to receive signed events."}
    assert weak.json()["ok"] is False and "32 characters" in weak.json()["message"]
    with schema_context("alpha"):
        health = dict(Connection.objects.values_list("slug", "health_status"))
        assert health == {"hooks": HealthStatus.OK, "weak": HealthStatus.FAILING}
        assert Connection.objects.get(slug="hooks").last_checked_at is not None


def test_testing_needs_operate_not_just_view(cast, client, hooks):
    analyst = member(Role.ANALYST, partner=cast.xpartner)  # views and comments only
    assert api(client, analyst, "post", "hooks/test/", cast.alpha).status_code == 403
