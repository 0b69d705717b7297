"""Secrets never reach an error page: Django's debug page (DEBUG on) for a failure while a connection's
password is being handled shows the frames' variables, and the password must be masked in every one."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from apps.connectors import crypto, services
from apps.connectors.kinds.webhook import InboundWebhookKind
from apps.tenants.choices import Role
from tests.conftest import host, member

PLAIN = "Pl41nT3xt-hunter2-DO-NOT-SHOW-0123456789abcdef"  # long enough for a webhook secret


@pytest.fixture
def debug_client(cast, settings):
    settings.DEBUG = True
    client = Client(raise_request_exception=False, HTTP_ACCEPT="text/html")
    client.force_login(member(Role.PARTNER_ADMIN, partner=cast.xpartner))
    return client


@pytest.fixture
def sealing_fails(monkeypatch):
    def broken():
        raise RuntimeError("the key store is down")

    monkeypatch.setattr(crypto, "_fernet", broken)


def assert_debug_page_without_secret(response) -> None:
    page = response.content.decode()
    assert response.status_code == 500
    assert "the key store is down" in page or "kind test exploded" in page  # the debug page, with its frames
    assert "Local vars" in page or "local vars" in page.lower()
    assert PLAIN not in page


def test_the_api_debug_page_masks_a_password_being_saved(cast, debug_client, sealing_fails):
    body = json.dumps({"name": "ERP", "kind": "tryton", "settings": {"base_url": "https://erp.example.com"},
                       "credentials": {"username": "weft", "password": PLAIN}})
    response = debug_client.post("/api/v1/connections/", body, content_type="application/json",
                                 HTTP_HOST=host(cast.alpha))
    assert_debug_page_without_secret(response)


def test_the_admin_debug_page_masks_a_password_typed_into_the_form(cast, debug_client, sealing_fails):
    response = debug_client.post("/admin/connectors/connection/add/", {
        "name": "ERP", "slug": "erp", "kind": "tryton", "description": "", "is_enabled": "on",
        "settings": '{"base_url": "https://erp.example.com", "database": "erp"}',
        "new_credentials": json.dumps({"username": "weft", "password": PLAIN}),
    }, HTTP_HOST=host(cast.alpha))
    assert_debug_page_without_secret(response)


def test_the_debug_page_masks_a_secret_a_kind_was_using(cast, debug_client, monkeypatch):
    with schema_context("alpha"):
        services.connection_create(name="Hooks", kind="webhook", credentials={"signing_secret": PLAIN},
                                   acting_user=None)

    def exploding_test(self):
        secret = self.credential("signing_secret")  # noqa: F841  (a local holding the secret when it fails)
        raise RuntimeError("kind test exploded")

    monkeypatch.setattr(InboundWebhookKind, "test", exploding_test)
    response = debug_client.post("/api/v1/connections/hooks/test/", HTTP_HOST=host(cast.alpha))
    assert_debug_page_without_secret(response)


def test_kind_context_and_sftp_target_never_show_secrets_in_their_repr(in_alpha):
    from apps.connectors.flatfiles.sftp import SftpTarget

    connection = services.connection_create(name="Hooks", kind="webhook", credentials={"signing_secret": PLAIN},
                                            acting_user=None)
    assert PLAIN not in repr(services.connection_kind(connection).context)
    assert PLAIN not in repr(SftpTarget(host="h", port=22, username="u", host_key="k", password=PLAIN,
                                        private_key=PLAIN, passphrase=PLAIN))
