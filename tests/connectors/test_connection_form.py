"""The connection form in the customer's admin is built from the kind's declared settings and credentials: typed
fields with their help, secrets write-only (blank keeps them), and a Test button whose result shows on the page."""

import pytest
from django_tenants.utils import schema_context

from apps.connectors import crypto, services
from apps.connectors.models import Connection, HealthStatus
from apps.tenants.choices import Role
from tests.conftest import host, member

URL = "/admin/connectors/connection/"


@pytest.fixture
def tryton(cast):
    with schema_context("alpha"):
        return services.connection_create(
            name="Tryton ERP", kind="tryton", settings={"base_url": "https://erp.example.com", "database": "acme"},
            credentials={"username": "weft", "password": "old-password"}, acting_user=None)


@pytest.fixture
def engineer(cast, client):
    user = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner, username="eng")
    client.force_login(user)
    return user


def post(client, cast, path, data):
    return client.post(URL + path, data, HTTP_HOST=host(cast.alpha))


def test_the_form_asks_for_the_kinds_settings_and_secrets_as_typed_fields(cast, client, engineer, tryton):
    page = client.get(f"{URL}{tryton.pk}/change/", HTTP_HOST=host(cast.alpha)).text

    assert 'type="url" name="setting__base_url"' in page and 'value="https://erp.example.com"' in page
    assert 'type="number" name="setting__page_size"' in page and "Records per call (default 100)." in page
    assert 'type="password" name="secret__password"' in page and "old-password" not in page
    assert "Stored; leave blank to keep it." in page and 'id="test-connection"' in page


def test_typed_settings_are_saved_and_a_blank_secret_keeps_the_stored_one(cast, client, engineer, tryton):
    form = {"name": "Tryton ERP", "slug": tryton.slug, "kind": "tryton", "is_enabled": "on", "settings": "{}",
            "setting__base_url": "https://erp2.example.com", "setting__database": "acme",
            "setting__page_size": "250", "secret__username": "", "secret__password": "new-password"}

    saved = post(client, cast, f"{tryton.pk}/change/", form)
    refused = post(client, cast, f"{tryton.pk}/change/", form | {"setting__page_size": "lots"})

    assert saved.status_code == 302 and refused.status_code == 200 and "Enter a whole number." in refused.text
    with schema_context("alpha"):
        stored = Connection.objects.get(pk=tryton.pk)
        assert stored.settings == {"base_url": "https://erp2.example.com", "database": "acme", "page_size": 250}
        assert crypto.unseal(stored.credentials_token) == {"username": "weft", "password": "new-password"}
        assert stored.history.latest("history_date").history_user == engineer


def test_the_add_page_offers_each_kind_then_its_fields(cast, client, engineer):
    start = client.get(f"{URL}add/", HTTP_HOST=host(cast.alpha)).text
    harvest = client.get(f"{URL}add/?kind=harvest", HTTP_HOST=host(cast.alpha)).text

    assert 'href="?kind=harvest"' in start and "setting__" not in start
    assert 'name="setting__account_id"' in harvest and 'type="password" name="secret__access_token"' in harvest


def test_the_test_button_records_and_shows_the_result(cast, client, engineer, tryton, monkeypatch):
    from apps.connectors.kinds.base import TestResult
    from apps.connectors.kinds.tryton.kind import TrytonKind

    monkeypatch.setattr(TrytonKind, "test", lambda self: TestResult(False, "Tryton refused the user weft."))

    tested = post(client, cast, f"{tryton.pk}/test/", {})
    page = client.get(tested.url, HTTP_HOST=host(cast.alpha)).text

    assert tested.status_code == 302 and tested.url == f"{URL}{tryton.pk}/change/"
    assert "Test: Tryton refused the user weft." in page and 'id="health">Failing' in page
    with schema_context("alpha"):
        assert Connection.objects.get(pk=tryton.pk).health_status == HealthStatus.FAILING


def test_an_analyst_may_not_test(cast, client, tryton):
    client.force_login(member(Role.ANALYST, partner=cast.xpartner, username="ana"))

    assert post(client, cast, f"{tryton.pk}/test/", {}).status_code == 403


def test_an_analyst_reads_the_connection_without_any_secret_field(cast, client, tryton):
    client.force_login(member(Role.ANALYST, partner=cast.xpartner, username="ana"))

    page = client.get(f"{URL}{tryton.pk}/change/", HTTP_HOST=host(cast.alpha))

    assert page.status_code == 200 and "erp.example.com" in page.text and "secret__" not in page.text
