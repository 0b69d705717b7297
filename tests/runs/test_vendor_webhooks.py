"""Vendor-native webhooks for REST connections, with the shipped HubSpot manifest: HubSpot's v3 signature (base64
HMAC-SHA256 over method, URL, body and timestamp), a timestamp tolerance, one stored event per event id, and the
changed company fetched by id and stored in the hub."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apps.accelerators.configuration import configuration_install
from apps.canonical.models import Customer
from apps.connectors.manifests import manifest_template_install
from apps.connectors.services import connection_create
from apps.runs.models import InboundEvent
from tests.conftest import host

SECRET = "hubspot-app-secret"


class _HubSpot(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        company_id = self.path.split("?")[0].rsplit("/", 1)[1]
        body = json.dumps({"id": company_id, "properties": {"name": f"Company {company_id}"},
                           "createdAt": "2026-03-01T10:00:00Z", "updatedAt": "2026-03-02T10:00:00Z",
                           "archived": False}).encode()
        self.send_response(200 if self.headers.get("Authorization") == "Bearer pat-1" else 401)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def hubspot_api():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HubSpot)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def hubspot(in_alpha, hubspot_api):
    manifest_template_install(template="hubspot-crm", acting_user=None)
    connection = connection_create(name="HubSpot", slug="hubspot", kind="rest", allow_private_network=True,
                                   settings={"manifest": "hubspot-crm", "base_url": hubspot_api},
                                   credentials={"access_token": "pat-1", "client_secret": SECRET}, acting_user=None)
    configuration_install(definition={"flows": [{
        "slug": "hubspot-companies-in", "name": "HubSpot companies", "direction": "inbound",
        "object_type": "customer", "connection": "hubspot", "object_name": "companies", "on_webhook": True,
        "on_schedule": False}]}, acting_user=None)
    return connection


def signed(client, cast, body: bytes, *, secret=SECRET, timestamp=None):
    url = f"http://{host(cast.alpha)}/api/v1/hooks/vendor/hubspot/"
    stamp = str(int((timestamp or time.time()) * 1000))
    digest = hmac.new(secret.encode(), b"POST" + url.encode() + body + stamp.encode(), hashlib.sha256).digest()
    return client.post("/api/v1/hooks/vendor/hubspot/", body, content_type="application/json",
                       HTTP_HOST=host(cast.alpha), HTTP_X_HUBSPOT_SIGNATURE_V3=base64.b64encode(digest).decode(),
                       HTTP_X_HUBSPOT_REQUEST_TIMESTAMP=stamp)


EVENTS = json.dumps([
    {"eventId": 9001, "subscriptionType": "company.propertyChange", "objectId": 77, "propertyName": "name"},
    {"eventId": 9002, "subscriptionType": "contact.creation", "objectId": 5},  # a type the manifest does not take
]).encode()


def test_a_signed_hubspot_event_is_stored_once_and_the_company_lands_in_the_hub(
        client, cast, hubspot, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        answer = signed(client, cast, EVENTS)
    assert answer.status_code == 202 and answer.json() == {"status": "accepted", "events": ["9001"]}
    event = InboundEvent.objects.get(connection=hubspot)
    assert (event.event_type, event.status) == ("rest.changed", InboundEvent.Status.PROCESSED), event.error_message
    assert Customer.objects.get(code="HUBSPOT-77").name == "Company 77"

    again = signed(client, cast, EVENTS)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert InboundEvent.objects.get(connection=hubspot).deliveries == 2


def test_a_wrong_signature_or_a_stale_timestamp_is_refused_and_nothing_is_stored(client, cast, hubspot):
    assert signed(client, cast, EVENTS, secret="guessed").status_code == 401
    stale = signed(client, cast, EVENTS, timestamp=time.time() - 3600)
    assert stale.status_code == 401 and "more than 300 seconds" in stale.json()["detail"]
    unknown = client.post("/api/v1/hooks/vendor/nobody/", EVENTS, content_type="application/json",
                          HTTP_HOST=host(cast.alpha))
    assert unknown.status_code == 401 and unknown.json()["detail"] == "Invalid signature."
    assert not InboundEvent.objects.exists()


def test_a_vendor_event_that_is_not_json_gets_415_and_nothing_is_stored(client, cast, hubspot):
    answer = client.generic("POST", "/api/v1/hooks/vendor/hubspot/", b"eventId=9001", HTTP_HOST=host(cast.alpha),
                            content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 415 and "application/json" in answer.json()["detail"]
    assert not InboundEvent.objects.exists()
