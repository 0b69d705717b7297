"""One contract across the API: every error is an RFC 9457 problem, page_size is honoured up to a stated
maximum, the root lists every group, and a POST retried with its Idempotency-Key gets the first answer."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from apps.common.api import MAX_PAGE_SIZE
from apps.connectors.models import Connection
from apps.runs.models import Flow, Run
from apps.tenants import access, apikeys
from apps.tenants.choices import Role
from config.api_router import GROUPS
from tests.conftest import host, member
from tests.security import boundary as b

PROBLEM = "application/problem+json"


@pytest.fixture
def token(cast):
    admin = member(Role.PARTNER_ADMIN, partner=cast.xpartner)
    return apikeys.apikey_create(name="Contract", scopes=access.key_scopes(partner_key=False), customer=cast.alpha,
                                 acting_user=admin).token


def call(method, path, customer, token=None, data=None, **headers):
    if token:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return getattr(Client(raise_request_exception=False), method)(
        path, data, content_type="application/json", HTTP_HOST=host(customer), **headers)


def assert_problem(answer, status: int) -> dict:
    assert answer.status_code == status, answer.content[:300]
    assert answer["Content-Type"] == PROBLEM, answer["Content-Type"]
    body = answer.json()
    assert body["type"] == "about:blank" and body["status"] == status and body["title"] and body["detail"]
    return body


def test_every_kind_of_error_is_a_problem(cast, token):
    assert_problem(call("get", "/api/v1/runs/", cast.alpha), 401)
    assert "errors" in assert_problem(call("get", "/api/v1/runs/?status=bogus", cast.alpha, token), 400)
    assert assert_problem(call("get", "/api/v1/runs/?status=bogus", cast.alpha, token), 400)["errors"]["status"]
    assert_problem(call("get", "/api/v1/exceptions/987654/", cast.alpha, token), 404)
    assert_problem(call("get", "/api/v1/no-such-group/", cast.alpha, token), 404)
    assert_problem(call("get", "/api/v1/runs/?flow=a%00b", cast.alpha, token), 400)
    assert_problem(call("get", "/api/v1/runs/", cast.beta, token), 403)  # a key for alpha, on beta
    assert_problem(call("post", "/api/v1/connections/", cast.alpha, token, "[1"), 400)
    assert_problem(call("post", "/api/v1/templates/no-such/install/", cast.alpha, token, {}), 404)


def test_page_size_is_honoured_up_to_the_stated_maximum(cast, token):
    with schema_context("alpha"):
        flow = Flow.objects.create(name="F", slug="f", direction="inbound", object_type="time_entry",
                                   object_name="x", connection=Connection.objects.create(name="C", slug="c",
                                                                                         kind="csv"))
        for _ in range(3):
            Run.objects.create(flow=flow, connection=flow.connection, object_name="x", object_type="time_entry")
    page = call("get", "/api/v1/runs/?page_size=2", cast.alpha, token).json()
    assert page["count"] == 3 and len(page["results"]) == 2 and "page_size=2" in page["next"]
    for bad in (MAX_PAGE_SIZE + 1, 0, "x"):
        body = assert_problem(call("get", f"/api/v1/runs/?page_size={bad}", cast.alpha, token), 400)
        assert str(MAX_PAGE_SIZE) in body["errors"]["page_size"][0]
    assert len(call("get", "/api/v1/exceptions/?page_size=1", cast.alpha, token).json()["results"]) <= 1


def test_the_root_lists_every_group_of_the_api(cast, token):
    root = call("get", "/api/v1/", cast.alpha, token)
    assert root.status_code == 200 and set(root.json()) == set(GROUPS)
    first_segments = {r.text.split("/")[2] for r in b.routes("config.urls_tenant")
                      if r.text.startswith("api/v1/") and r.text.count("/") > 2}
    assert {s.lstrip("^") for s in first_segments} <= set(GROUPS), first_segments
    for name, url in root.json().items():
        if "{" not in url and name != "docs":
            assert call("get", urlsplit(url).path, cast.alpha, token).status_code in (200, 405), name


def test_a_post_retried_with_its_idempotency_key_gets_the_first_answer(cast, token):
    first = call("post", "/api/v1/connections/", cast.alpha, token, {"name": "ERP", "kind": "csv"},
                 HTTP_IDEMPOTENCY_KEY="create-erp-1")
    again = call("post", "/api/v1/connections/", cast.alpha, token, {"name": "ERP", "kind": "csv"},
                 HTTP_IDEMPOTENCY_KEY="create-erp-1")
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    with schema_context("alpha"):
        assert Connection.objects.filter(name="ERP").count() == 1
    changed = call("post", "/api/v1/connections/", cast.alpha, token, {"name": "ERP 2", "kind": "csv"},
                   HTTP_IDEMPOTENCY_KEY="create-erp-1")
    assert_problem(changed, 422)
    anonymous = call("post", "/api/v1/connections/", cast.alpha, None, {"name": "ERP", "kind": "csv"},
                          HTTP_IDEMPOTENCY_KEY="create-erp-1")
    assert anonymous.status_code == 401  # another caller's key is no answer for this one
    without = [call("post", "/api/v1/connections/", cast.alpha, token, {"name": "Twice", "kind": "csv"})
               for _ in range(2)]
    assert [a.status_code for a in without] == [201, 400]  # without a key the retry is a second create


def test_answers_kept_for_retries_are_purged_after_a_day_and_only_then(cast, token):
    from datetime import timedelta

    from django.utils import timezone

    from apps.tenants.idempotency import KEEP, idempotent_requests_purge
    from apps.tenants.models import IdempotentRequest

    for key in ("old", "fresh"):
        assert call("post", "/api/v1/connections/", cast.alpha, token, {"name": f"ERP {key}", "kind": "csv"},
                    HTTP_IDEMPOTENCY_KEY=key).status_code == 201
    IdempotentRequest.objects.filter(key="old").update(created_at=timezone.now() - KEEP - timedelta(minutes=1))

    assert idempotent_requests_purge() == 1
    assert list(IdempotentRequest.objects.values_list("key", flat=True)) == ["fresh"]
    again = call("post", "/api/v1/connections/", cast.alpha, token, {"name": "ERP fresh", "kind": "csv"},
                 HTTP_IDEMPOTENCY_KEY="fresh")
    assert again["Idempotent-Replayed"] == "true"  # the kept answer still answers its retry
