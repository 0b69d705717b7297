"""The REST workbench and the Connect button on the customer's host, through Django's test client against a fake
vendor served over real HTTP: import a document, pick operations, try, map, pull into the hub; who may do what;
OAuth2 Connect with state and PKCE; a manifest with a mistake explained."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django_tenants.utils import schema_context

from apps.canonical.models import Person
from apps.connectors import crypto
from apps.connectors.models import Connection, ConnectorManifest, GrantStatus, OAuthGrant
from apps.connectors.services import connection_create
from apps.runs.models import Flow
from apps.tenants.choices import Role
from tests.conftest import member
from tests.connectors.rest.live_fake import API_KEY, acme_resourcing, openapi_document


@pytest.fixture
def engineer(cast):
    return member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner, username="x-engineer")


@pytest.fixture(autouse=True)
def _vendor_on_loopback_is_allowed(settings):
    """The fake vendor listens on loopback: the operator's allow-list admits it (partner staff may not tick
    "allow private network" themselves; see tests/connectors/test_connection_safety.py)."""
    settings.WEFT_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]


@pytest.fixture
def vendor():
    with acme_resourcing() as server:
        yield server


def import_and_pick(site, vendor, operations=("GET /consultants",)):
    answer = site.post("/connectors/import/", {"text": json.dumps(openapi_document(vendor.base_url))})
    assert answer.status_code == 302, answer.content[:500]
    operations_url = answer["Location"]
    assert site.post(operations_url, {"operation": list(operations)}).status_code == 302
    return ConnectorManifest.objects.get(slug="acme-resourcing")


def test_an_engineer_connects_a_new_vendor_without_code(cast, alpha_site, engineer, vendor, in_alpha,
                                                        django_capture_on_commit_callbacks):
    alpha_site.client.force_login(engineer)
    manifest = import_and_pick(alpha_site, vendor)
    draft = manifest.versions.get()
    read = draft.document["objects"]["consultants"]["read"]
    assert read["pagination"]["type"] == "page_number" and read["incremental"]["field"] == "updated_at"

    tried = alpha_site.post("/connectors/acme-resourcing/", {
        "action": "try", "object": "consultants", "credential-api_key": API_KEY})
    page = tried.content.decode()
    assert "25 records on the first page (the first 20 shown)" in page, page[:3000]
    assert "Consultant 1" in page and "c1@acme-resourcing.example" in page
    assert 'id="map-email"' in page and "name=Consultant 1" in page  # suggested: displayName → name
    assert not Connection.objects.filter(slug="acme-resourcing").exists()  # nothing saved by trying

    with django_capture_on_commit_callbacks(execute=True):
        pulled = alpha_site.post("/connectors/acme-resourcing/", {
            "action": "pull", "object": "consultants",
            "map-external_id": "id", "map-code": "email", "map-name": "displayName", "map-email": "email",
            "map-is_active": "active"})
    assert pulled.status_code == 302
    assert Person.objects.filter(email__endswith="@acme-resourcing.example").count() == 25
    connection = Connection.objects.get(slug="acme-resourcing")
    assert crypto.unseal(connection.credentials_token) == {"api_key": API_KEY}
    assert connection.settings["manifest"] == "acme-resourcing"
    assert manifest.published_version().number == 1
    assert Flow.objects.get(connection=connection).mapping.published_version().rules[0] == {
        "target": "external_id", "source": "id"}


def test_a_manifest_with_a_mistake_is_refused_with_what_to_fix(cast, alpha_site, engineer, vendor, in_alpha):
    alpha_site.client.force_login(engineer)
    import_and_pick(alpha_site, vendor)
    broken = alpha_site.post("/connectors/acme-resourcing/", {"action": "save", "yaml": (
        "manifest_version: 1\nname: Acme\nclient:\n  base_url: api.acme.example\n  auth: {type: api_key}\n"
        "objects:\n  consultants:\n    canonical: person\n    read: {path: /consultants}\n")})
    page = broken.content.decode()
    assert "must start with https:// or http://" in page
    assert "&#x27;name&#x27; is missing: give the header or query parameter name" in page
    assert "&#x27;records&#x27; is missing: give the JMESPath from the answer to the list of records" in page

    wrong_key = alpha_site.post("/connectors/acme-resourcing/", {
        "action": "try", "object": "consultants", "credential-api_key": "nope"})
    assert "The vendor refused the credentials: check the credential &#x27;api_key&#x27;" in wrong_key.content.decode()


def test_customers_see_connections_but_only_configurers_change_them(cast, alpha_site, vendor, in_alpha):
    viewer = member(Role.VIEWER, customer=cast.alpha, username="alpha-viewer-2")
    alpha_site.client.force_login(viewer)
    assert alpha_site.get("/connections/").status_code == 200
    assert alpha_site.get("/connectors/import/").status_code == 403
    assert alpha_site.post("/connectors/import/", {"text": "{}"}).status_code == 403


def test_connect_signs_in_at_the_vendor_with_state_and_pkce_and_seals_the_tokens(cast, alpha_site, vendor, in_alpha):
    admin = member(Role.CUSTOMER_ADMIN, customer=cast.alpha, username="alpha-admin-2")
    connection = connection_create(
        name="Xero", kind="xero", allow_private_network=True,
        settings={"tenant_id": "t-1", "oauth_authorize_url": "https://login.example/authorize",
                  "oauth_token_url": f"{vendor.base_url}/oauth/token"},
        credentials={"client_id": "app-1", "client_secret": "s3cret"}, acting_user=None)
    alpha_site.client.force_login(admin)
    assert "Connect</button>" in alpha_site.get("/connections/").content.decode()

    started = alpha_site.post(f"/connections/{connection.slug}/connect/")
    location = urlsplit(started["Location"])
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert f"{location.scheme}://{location.netloc}{location.path}" == "https://login.example/authorize"
    assert query["redirect_uri"] == f"http://{alpha_site.host}/oauth/callback/"
    assert query["code_challenge_method"] == "S256" and query["state"]

    forged = alpha_site.get("/oauth/callback/", code="good-code", state="not-the-state")
    assert forged.status_code == 302 and not vendor.token_requests

    alpha_site.post(f"/connections/{connection.slug}/connect/")
    again = alpha_site.post(f"/connections/{connection.slug}/connect/")
    state = parse_qs(urlsplit(again["Location"]).query)["state"][0]
    done = alpha_site.get("/oauth/callback/", code="good-code", state=state)
    assert done.status_code == 302
    [form] = vendor.token_requests
    assert form["code_verifier"] and form["redirect_uri"] == f"http://{alpha_site.host}/oauth/callback/"
    connection.refresh_from_db()
    stored = crypto.unseal(connection.credentials_token)
    assert (stored["access_token"], stored["refresh_token"], stored["client_secret"]) == (
        "live-access", "live-refresh", "s3cret")
    grant = OAuthGrant.objects.get(connection=connection)
    assert (grant.status, grant.connected_by) == (GrantStatus.CONNECTED, "alpha-admin-2")


def test_the_other_tenant_never_sees_these_connections(cast, alpha_site, beta_site, engineer, vendor, in_alpha):
    alpha_site.client.force_login(engineer)
    import_and_pick(alpha_site, vendor)
    with schema_context("beta"):
        assert not ConnectorManifest.objects.filter(slug="acme-resourcing").exists()
    beta_site.client.force_login(engineer)
    assert beta_site.get("/connectors/acme-resourcing/").status_code == 404
