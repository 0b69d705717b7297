"""Hub records read over the API: every object listed by cursor (newest first, each record once), filtered by
change time, code and deletion, one record by id, typed in the document; the records scope is needed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context
from model_bakery import baker

from apps.canonical.api.views import HUB_OBJECTS
from apps.canonical.models import Customer, Project, TimeEntry
from apps.tenants import apikeys
from apps.tenants.choices import Role
from tests.conftest import host, member


@pytest.fixture
def get(cast):
    admin = member(Role.PARTNER_ADMIN, partner=cast.xpartner)
    tokens = {scope: apikeys.apikey_create(name=scope, customer=cast.alpha, scopes=[scope], acting_user=admin).token
              for scope in ("records:read", "runs:read")}

    def call(url: str, scope: str = "records:read"):
        return Client().get(f"/api/v1/{url}", HTTP_HOST=host(cast.alpha),
                            HTTP_AUTHORIZATION=f"Bearer {tokens[scope]}")

    return call


@pytest.fixture
def hub(cast):
    with schema_context("alpha"):
        customer = baker.make(Customer, code="ACME", name="Acme")
        project = baker.make(Project, code="ACME-104", name="Rollout", customer=customer)
        entries = baker.make(TimeEntry, project=project, hours="7.5", _quantity=5)
        TimeEntry.objects.filter(pk=entries[0].pk).update(deleted_at=timezone.now())
        TimeEntry.objects.filter(pk=entries[1].pk).update(updated_at=timezone.now() - timedelta(days=3))
    return {"customer": customer, "project": project, "entries": entries}


def test_time_entries_are_walked_by_cursor_and_filtered(get, hub):
    seen, url = [], "hub/time-entries/?page_size=2"
    while url:
        page = get(url).json()
        seen += [row["id"] for row in page["results"]]
        url = page["next"] and page["next"].split("/api/v1/", 1)[1]
    live = sorted((e.pk for e in hub["entries"][1:]), reverse=True)
    assert seen == live  # newest first, the deleted one left out
    with_deleted = get("hub/time-entries/?include_deleted=true&page_size=10").json()["results"]
    assert len(with_deleted) == 5
    since = (timezone.now() - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    recent = get(f"hub/time-entries/?updated_since={since}").json()["results"]
    assert {r["id"] for r in recent} == {e.pk for e in hub["entries"][2:]}
    first = get(f"hub/time-entries/{live[0]}/").json()
    assert first["hours"] == "7.50" and first["project"] == hub["project"].pk and "content_hash" not in first


def test_every_hub_object_is_listed_by_code_and_typed_in_the_document(cast, get, hub):
    assert [r["code"] for r in get("hub/projects/?code=ACME-104").json()["results"]] == ["ACME-104"]
    assert get("hub/customers/?code=NOPE").json()["results"] == []
    for name in HUB_OBJECTS:
        assert get(f"hub/{name}/").status_code == 200, name
    assert get(f"hub/customers/{hub['customer'].pk}/").json()["name"] == "Acme"
    assert get("hub/customers/999999/").status_code == 404
    document = Client().get("/api/v1/schema/", HTTP_HOST=host(cast.alpha), HTTP_ACCEPT="application/json").json()
    assert "hours" in document["components"]["schemas"]["HubTimeEntry"]["properties"]
    assert {"cursor", "updated_since"} <= {p["name"] for p in document["paths"]["/api/v1/hub/projects/"]["get"]
                                           ["parameters"]}


def test_hub_reads_need_the_records_scope(get, hub):
    refused = get("hub/customers/", scope="runs:read")
    assert refused.status_code == 403 and refused["Content-Type"] == "application/problem+json"
    assert get("hub/customers/?page_size=501").status_code == 400
