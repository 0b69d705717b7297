"""What a connection may hold is checked when it is saved (admin form, API, import_config), not only when it
calls out: private addresses, who may allow them, webhook secrets and tolerances, NUL characters. The SFTP
kind goes through the same private-address guard as HTTP."""

from __future__ import annotations

import json

import pytest
import yaml
from django.core.management import CommandError, call_command
from django_tenants.utils import schema_context

from apps.connectors import crypto, services
from apps.connectors.errors import ConnectionInvalid, PrivateNetworkRefused
from apps.connectors.kinds.webhook import sign
from apps.connectors.models import Connection
from apps.tenants.choices import Role
from tests.conftest import host, member
from tests.factories import UserFactory

SECRET = "whsec-0123456789abcdef0123456789abcdef"


@pytest.fixture
def engineer(cast):
    return member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner)


@pytest.fixture
def operator(cast):
    return UserFactory(is_superuser=True, is_staff=True)


def post(client, user, customer, path="/api/v1/connections/", method="post", **body):
    client.force_login(user)
    return getattr(client, method)(path, json.dumps(body), content_type="application/json",
                                   HTTP_HOST=host(customer))


# --- private addresses, refused when saved -------------------------------------------------------------


@pytest.mark.parametrize("values", [
    {"base_url": "http://127.0.0.1:8000"}, {"base_url": "http://10.0.0.7/jsonrpc"},
    {"base_url": "http://169.254.169.254/latest"}, {"base_url": "http://localhost:9/"},
    {"accounting_base_url": "http://[::1]/api"}, {"sftp_host": "192.168.1.20", "sftp_path": "/drop"},
])
def test_saving_a_connection_to_a_private_address_is_a_clear_400(cast, client, engineer, values):
    response = post(client, engineer, cast.alpha, name="ERP", kind="tryton", settings=values)

    assert response.status_code == 400
    field = next(iter(values))
    assert response.json()["field"] == field and "private, loopback or link-local" in response.json()["detail"]
    with schema_context("alpha"):
        assert not Connection.objects.filter(name="ERP").exists()


def test_changing_a_url_to_a_private_address_is_refused(cast, client, engineer):
    with schema_context("alpha"):
        services.connection_create(name="ERP", kind="tryton", settings={"base_url": "https://erp.example.com"},
                                   acting_user=None)
    response = post(client, engineer, cast.alpha, path="/api/v1/connections/erp/", method="patch",
                    settings={"base_url": "http://127.0.0.1:8000"})

    assert response.status_code == 400 and response.json()["field"] == "base_url"
    with schema_context("alpha"):
        assert Connection.objects.get(slug="erp").settings == {"base_url": "https://erp.example.com"}


def test_only_a_platform_operator_may_allow_private_networks(cast, client, engineer, operator):
    refused = post(client, engineer, cast.alpha, name="On-prem", kind="tryton",
                   settings={"base_url": "http://10.0.0.7"}, allow_private_network=True)
    allowed = post(client, operator, cast.alpha, name="On-prem", kind="tryton",
                   settings={"base_url": "http://10.0.0.7"}, allow_private_network=True)

    assert refused.status_code == 403 and "platform operator" in refused.json()["detail"]
    assert allowed.status_code == 201
    with schema_context("alpha"):
        assert Connection.objects.get(slug="on-prem").allow_private_network is True


def test_partner_staff_cannot_turn_the_private_network_switch_on(cast, client, engineer):
    with schema_context("alpha"):
        services.connection_create(name="ERP", kind="tryton", settings={"base_url": "https://erp.example.com"},
                                   acting_user=None)
    response = post(client, engineer, cast.alpha, path="/api/v1/connections/erp/", method="patch",
                    allow_private_network=True)
    assert response.status_code == 403
    with schema_context("alpha"):
        assert Connection.objects.get(slug="erp").allow_private_network is False


def test_partner_staff_cannot_point_an_operator_allowed_connection_at_a_new_private_host(cast, engineer):
    with schema_context("alpha"):
        erp = services.connection_create(name="ERP", kind="tryton", settings={"base_url": "http://10.0.0.7"},
                                         allow_private_network=True, acting_user=None)
        with pytest.raises(ConnectionInvalid, match="10.0.0.8"):
            services.connection_update(connection=erp, changes={"settings": {"base_url": "http://10.0.0.8"}},
                                       acting_user=engineer)
        services.connection_update(connection=erp, changes={"description": "the ERP"}, acting_user=engineer)


def test_the_admin_form_refuses_a_private_address_and_hides_the_switch_from_partner_staff(cast, client, engineer):
    client.force_login(engineer)
    alpha = host(cast.alpha)
    form = client.get("/admin/connectors/connection/add/", HTTP_HOST=alpha)
    assert form.status_code == 200 and 'name="allow_private_network"' not in form.text

    response = client.post("/admin/connectors/connection/add/", {
        "name": "ERP", "slug": "erp", "kind": "tryton", "description": "", "is_enabled": "on",
        "settings": '{"base_url": "http://127.0.0.1:8000", "database": "erp"}', "allow_private_network": "on",
    }, HTTP_HOST=alpha)
    assert response.status_code == 200 and "private, loopback or link-local" in response.text
    with schema_context("alpha"):
        assert not Connection.objects.filter(slug="erp").exists()


def test_import_config_refuses_a_private_address(cast, tmp_path):
    definition = {"connections": [{"slug": "erp", "kind": "tryton", "settings": {"base_url": "http://10.0.0.7"}}]}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(definition))
    with pytest.raises(CommandError, match="private, loopback or link-local"):
        call_command("import_config", "--customer", "alpha", str(path))


def test_the_sftp_kind_goes_through_the_guard(in_alpha):
    connection = services.connection_create(
        name="Drop", kind="csv", settings={"sftp_host": "files.example.com", "sftp_path": "/drop",
                                           "sftp_host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEXAMPLE"},
        credentials={"sftp_username": "weft", "sftp_password": "pw"}, acting_user=None)
    # The name resolved to a public address when saved and to loopback now (or was changed in the database).
    Connection.objects.filter(pk=connection.pk).update(settings={**connection.settings, "sftp_host": "127.0.0.1"})
    connection.refresh_from_db()

    result = services.connection_test(connection=connection, acting_user=None)

    assert not result.ok and "refusing to call 127.0.0.1" in result.message


# --- webhook connections -------------------------------------------------------------------------------


@pytest.mark.parametrize("body, field", [
    ({"credentials": {"signing_secret": "short"}}, "signing_secret"),
    ({"credentials": {"signing_secret": "x" * 31}}, "signing_secret"),
    ({"settings": {"tolerance_seconds": 10**12}}, "tolerance_seconds"),
    ({"settings": {"tolerance_seconds": 29}}, "tolerance_seconds"),
    ({"settings": {"tolerance_seconds": 3601}}, "tolerance_seconds"),
    ({"settings": {"tolerance_seconds": "soon"}}, "tolerance_seconds"),
])
def test_weak_webhook_settings_are_refused_when_saved(cast, client, engineer, body, field):
    response = post(client, engineer, cast.alpha, name="Hooks", kind="webhook", **body)
    assert response.status_code == 400 and response.json()["field"] == field
    with schema_context("alpha"):
        assert not Connection.objects.filter(name="Hooks").exists()


@pytest.mark.parametrize("tolerance", [30, 300, "600", 3600])
def test_webhook_settings_within_the_bounds_are_saved(cast, client, engineer, tolerance):
    response = post(client, engineer, cast.alpha, name="Hooks", kind="webhook",
                    settings={"tolerance_seconds": tolerance}, credentials={"signing_secret": "x" * 32})
    assert response.status_code == 201


def test_a_short_secret_is_refused_when_replaced_too(cast, client, engineer):
    with schema_context("alpha"):
        services.connection_create(name="Hooks", kind="webhook", credentials={"signing_secret": SECRET},
                                   acting_user=None)
    response = post(client, engineer, cast.alpha, path="/api/v1/connections/hooks/", method="patch",
                    credentials={"signing_secret": "short"})
    assert response.status_code == 400
    with schema_context("alpha"), pytest.raises(ConnectionInvalid):
        services.connection_set_credentials(connection=Connection.objects.get(slug="hooks"),
                                            credentials={"signing_secret": "short"}, acting_user=None)


def test_a_tolerance_saved_before_the_bounds_cannot_widen_the_window(cast, client):
    with schema_context("alpha"):
        Connection.objects.create(name="Old hooks", slug="old", kind="webhook",
                                  settings={"tolerance_seconds": 10**12},
                                  credentials_token=crypto.seal({"signing_secret": SECRET}))
    body = json.dumps({"id": "evt-1", "type": "record.changed"}).encode()
    stamp = "1000000000"  # 2001: far outside any allowed window
    response = client.post("/api/v1/hooks/old/", body, content_type="application/json", HTTP_HOST=host(cast.alpha),
                           HTTP_X_WEFT_TIMESTAMP=stamp, HTTP_X_WEFT_SIGNATURE=sign(SECRET, stamp, body))
    assert response.status_code == 401


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml",
                                          "multipart/form-data; boundary=x", ""])
def test_the_hook_endpoint_answers_415_to_anything_but_json(cast, client, content_type):
    with schema_context("alpha"):
        services.connection_create(name="Hooks", kind="webhook", credentials={"signing_secret": SECRET},
                                   acting_user=None)
    body = json.dumps({"id": "evt-1", "type": "record.changed"}).encode()
    stamp = "1900000000"
    response = client.generic("POST", "/api/v1/hooks/hooks/", body, content_type=content_type,
                              HTTP_HOST=host(cast.alpha), HTTP_X_WEFT_TIMESTAMP=stamp,
                              HTTP_X_WEFT_SIGNATURE=sign(SECRET, stamp, body))
    assert response.status_code == 415 and "application/json" in response.json()["detail"]


# --- NUL characters ------------------------------------------------------------------------------------


def test_a_nul_in_settings_is_refused_by_the_service_and_the_admin_form(cast, client, engineer):
    with schema_context("alpha"), pytest.raises(ConnectionInvalid, match="NUL"):
        services.connection_create(name="Drop", kind="csv", settings={"inbox_dir": "in\x00box"}, acting_user=None)
    client.force_login(engineer)
    response = client.post("/admin/connectors/connection/add/", {
        "name": "Drop", "slug": "drop", "kind": "csv", "description": "", "is_enabled": "on",
        "settings": '{"inbox_dir": "in\\u0000box"}'}, HTTP_HOST=host(cast.alpha))
    assert response.status_code == 200 and "NUL" in response.text
    with schema_context("alpha"):
        assert not Connection.objects.filter(slug="drop").exists()


def test_the_refusal_errors_are_application_errors_with_the_right_status():
    assert ConnectionInvalid("x").status_code == 400 and PrivateNetworkRefused("x").status_code == 403


def test_the_admin_form_keeps_partner_staff_from_moving_an_allowed_connection_to_a_new_private_host(cast, client,
                                                                                                     engineer):
    with schema_context("alpha"):
        erp = services.connection_create(name="ERP", kind="tryton", allow_private_network=True,
                                         settings={"base_url": "http://10.0.0.7", "database": "erp"}, acting_user=None)
    client.force_login(engineer)
    response = client.post(f"/admin/connectors/connection/{erp.pk}/change/", {
        "name": "ERP", "kind": "tryton", "description": "", "is_enabled": "on",
        "settings": '{"base_url": "http://10.0.0.8", "database": "erp"}'}, HTTP_HOST=host(cast.alpha))
    assert response.status_code == 200 and "10.0.0.8" in response.text and "private" in response.text
    with schema_context("alpha"):
        assert Connection.objects.get(pk=erp.pk).settings["base_url"] == "http://10.0.0.7"


def test_partner_staff_cannot_try_a_rest_vendor_on_a_private_address(cast, engineer):
    from apps.connectors.services import private_network_effective

    assert not private_network_effective(acting_user=engineer, requested=True, connection=None)
    assert private_network_effective(acting_user=None, requested=True, connection=None)
    with schema_context("alpha"):
        allowed = services.connection_create(name="ERP", kind="tryton", allow_private_network=True,
                                             settings={"base_url": "http://10.0.0.7"}, acting_user=None)
    assert private_network_effective(acting_user=engineer, requested=True, connection=allowed)
