"""Hostile input gets a clear 4xx, never a 500: every API endpoint, walked from the URL resolver.

The walk finds endpoints by resolving ``config.api_router`` (so an endpoint added later is walked without
editing this file) and sends each one every class of bad value: a wrong type, a NUL character, a huge
number, JSON nested thousands of levels deep and a body of the wrong shape, in query parameters and in
bodies. Then the cases the probes found are pinned one by one.
"""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.connectors.services import connection_create
from apps.exceptions.models import IntegrationException
from apps.runs.models import Flow
from apps.tenants.choices import Role
from tests.conftest import host, member

# Query parameters the API reads today, and names any list endpoint might read tomorrow.
QUERY_NAMES = [
    "run", "flow", "status", "outcome", "project", "object_type", "external_id", "canonical_id", "date_from",
    "date_to", "since", "kind", "owner", "min_age_hours", "min_amount", "min_severity", "page", "page_size",
    "month", "person", "connection",
]
NUL = "a\x00b"
# A wrong type, a NUL character, a huge float and a huge integer.
BAD_QUERY_VALUES = ["abc", NUL, "1e23", "9" * 40]


def _deep(levels: int) -> str:
    return "[" * levels + "]" * levels


def bad_bodies() -> list[tuple[str, str, str]]:
    """(label, body, content type): one of each class of bad value a client can send."""
    return [
        ("list", "[]", "application/json"),
        ("string", '"x"', "application/json"),
        ("number", "1e400", "application/json"),
        ("null", "null", "application/json"),
        ("not json", "{nope", "application/json"),
        ("deep", _deep(5000), "application/json"),
        ("deep object", '{"a":' * 3000 + "1" + "}" * 3000, "application/json"),
        ("nul", json.dumps({"name": NUL, "kind": NUL, "settings": {"base_url": NUL}, "reason": NUL, "body": NUL,
                            "owner": NUL, "ids": [1], "action": "resolve", "variables": {"a": NUL},
                            "flow": NUL, "items": [1]}), "application/json"),
        ("wrong types", json.dumps({"name": 1, "kind": [], "settings": "x", "ids": "x", "action": [], "reason": {},
                                    "owner": 5, "variables": [], "items": "x", "run": "abc", "flow": 7,
                                    "mapping_version": "abc", "record_keys": "x", "payload": 1, "body": [],
                                    "credentials": "x", "records": "x"}), "application/json"),
        ("huge numbers", json.dumps({"ids": [10**30], "items": [10**30], "run": 10**30, "mapping_version": 10**30,
                                     "tolerance_seconds": 10**30, "settings": {"batch_size": 10**30}}),
         "application/json"),
        ("form", "a=1&b=2", "application/x-www-form-urlencoded"),
        ("xml", "<a/>", "application/xml"),
    ]


DETAIL = re.compile(r"<(?:\w+:)?(pk|slug|number|connection_slug)>|\(\?P<(pk|slug|number|connection_slug)>")


def api_endpoints(values: dict[str, str] | None = None) -> list[tuple[str, list[str], bool]]:
    """Every API URL (path parameters filled from ``values``) with the methods its view answers, and whether it
    is a listing (no object in its path: the endpoints that read filters)."""
    values = {**VALUES, **(values or {})}
    found = []
    resolver = get_resolver("config.urls_tenant")
    for prefix, pattern in _walk(resolver.url_patterns, ""):
        if not prefix.startswith("api/v1/"):
            continue
        view = pattern.callback
        cls = getattr(view, "cls", None) or getattr(view, "view_class", None)
        actions = getattr(view, "actions", None)
        methods = sorted(m.upper() for m in (actions or {})) if actions else [
            m.upper() for m in ("get", "post", "put", "patch", "delete") if cls and hasattr(cls, m)]
        route = prefix + str(pattern.pattern)
        found.append((_fill(route, values), methods, not DETAIL.search(route)))
    return found


def _walk(patterns, prefix):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix, pattern


def _fill(route: str, values: dict[str, str]) -> str:
    """A concrete path for a route: regex routes (the router's) and converters alike."""
    route = route.replace("^", "").replace("$", "").replace("\\.", ".").replace("/?", "/")
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: values.get(m.group(1), "1"), route)
    route = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: values.get(m.group(1), "1"), route)
    return "/" + route


VALUES = {"slug": "hooks", "pk": "1", "name": "unposted-time", "connection_slug": "hooks", "number": "1",
          "format": "json"}


@pytest.fixture
def objects(cast):
    with schema_context("alpha"):
        hooks = connection_create(name="Hooks", kind="webhook",
                                  credentials={"signing_secret": "s" * 40}, acting_user=None)
        flow = Flow.objects.create(name="Time in", slug="hooks", direction="inbound", object_type="time_entry",
                                   connection=hooks, object_name="events", on_schedule=False)
        now = timezone.now()
        exception = IntegrationException.objects.create(
            fingerprint="f" * 64, kind="validation", title="Bad", first_seen=now, last_seen=now, opened_at=now)
    return {"flow": flow, "exception": exception}


@pytest.fixture
def admin_client(cast):
    # A 500 must show up as a status code to count, not as an exception raised into the test.
    client = Client(raise_request_exception=False)
    client.force_login(member(Role.PARTNER_ADMIN, partner=cast.xpartner))
    return client


def test_every_api_endpoint_answers_bad_values_with_4xx_not_5xx(cast, admin_client, objects):
    endpoints = api_endpoints({"pk": str(objects["exception"].pk)})
    assert len(endpoints) > 20, "the walk should find the whole API"
    alpha = host(cast.alpha)
    failures, slowest = [], (0.0, "")

    def timed(label: str, send, *args, **kwargs):
        nonlocal slowest
        started = time.monotonic()
        response = send(*args, **kwargs)
        slowest = max(slowest, (time.monotonic() - started, label))
        return response

    for path, methods, listing in endpoints:
        if "GET" in methods:
            # Listings: one parameter at a time (a 400 for one must not hide a 500 for another); an object's
            # page: every parameter at once, per class of bad value.
            queries = ([{name: value} for name in QUERY_NAMES for value in BAD_QUERY_VALUES] if listing else
                       [dict.fromkeys(QUERY_NAMES, value) for value in BAD_QUERY_VALUES])
            for query in queries:
                response = timed(f"GET {path}?{query}", admin_client.get, path, query, HTTP_HOST=alpha)
                if response.status_code >= 500:
                    failures.append(f"GET {path}?{query}: {response.status_code}")
        for method in set(methods) & {"POST", "PUT", "PATCH"}:
            for label, body, content_type in bad_bodies():
                response = timed(f"{method} {path} {label}", admin_client.generic, method, path, body,
                                 content_type=content_type, HTTP_HOST=alpha)
                if response.status_code >= 500:
                    failures.append(f"{method} {path} {label}: {response.status_code}")
    assert not failures, "\n".join(failures)
    # Bad input is refused quickly, not after a hang or a scan: bounded per request, not in total, so a loaded
    # machine (the whole walk took 177 s beside four benchmarks) does not fail it.
    assert slowest[0] < 10, f"{slowest[1]} took {slowest[0]:.1f} s"


def test_the_walk_reaches_endpoints_added_by_every_app():
    paths = {path for path, *_ in api_endpoints()}
    for expected in ("/api/v1/run-items/", "/api/v1/exceptions/bulk/", "/api/v1/connections/",
                     "/api/v1/hooks/hooks/", "/api/v1/replay/"):
        assert expected in paths


# --- the cases the probes found, each with the answer it gets ---------------------------------------


def test_non_integer_run_filter_is_a_clear_400(cast, admin_client, objects):
    response = admin_client.get("/api/v1/run-items/", {"run": "abc"}, HTTP_HOST=host(cast.alpha))
    assert response.status_code == 400
    assert "run" in response.json()["errors"]


@pytest.mark.parametrize("path,name", [
    ("/api/v1/runs/", "status"), ("/api/v1/runs/", "flow"), ("/api/v1/run-items/", "outcome"),
    ("/api/v1/run-items/", "project"), ("/api/v1/run-items/", "object_type"), ("/api/v1/exceptions/", "project"),
])
def test_nul_in_a_filter_is_a_clear_400(cast, admin_client, objects, path, name):
    response = admin_client.get(path, {name: NUL}, HTTP_HOST=host(cast.alpha))
    assert response.status_code == 400
    assert "NUL" in response.content.decode()


def test_huge_min_age_hours_is_a_clear_400(cast, admin_client, objects):
    response = admin_client.get("/api/v1/exceptions/", {"min_age_hours": "1e23"}, HTTP_HOST=host(cast.alpha))
    assert response.status_code == 400
    assert "min_age_hours" in response.json()["errors"]


@pytest.mark.parametrize("path", ["/api/v1/connections/", "/api/v1/exceptions/bulk/", "/api/v1/replay/preview/"])
def test_json_nested_5000_levels_is_a_clear_400(cast, admin_client, objects, path):
    response = admin_client.post(path, _deep(5000), content_type="application/json", HTTP_HOST=host(cast.alpha))
    assert response.status_code == 400
    assert "nested" in response.json()["detail"]


def test_json_larger_than_the_limit_is_413(cast, admin_client, objects, settings):
    settings.WEFT_API_MAX_JSON_BYTES = 1000
    body = json.dumps({"name": "x" * 2000, "kind": "webhook"})
    response = admin_client.post("/api/v1/connections/", body, content_type="application/json",
                                 HTTP_HOST=host(cast.alpha))
    assert response.status_code == 413
    assert "1000 bytes" in response.json()["detail"]


@pytest.mark.parametrize("body", ["[]", '"x"', "[1, 2]", "null"])
def test_exceptions_bulk_with_a_body_that_is_not_an_object_is_400(cast, admin_client, objects, body):
    response = admin_client.post("/api/v1/exceptions/bulk/", body, content_type="application/json",
                                 HTTP_HOST=host(cast.alpha))
    assert response.status_code == 400
    with schema_context("alpha"):
        assert IntegrationException.objects.get().status == "open"


def test_nul_in_a_connection_setting_is_a_clear_400_and_nothing_is_saved(cast, admin_client, objects):
    body = json.dumps({"name": "Mine", "kind": "csv", "settings": {"inbox": NUL}})
    response = admin_client.post("/api/v1/connections/", body, content_type="application/json",
                                 HTTP_HOST=host(cast.alpha))
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]
    with schema_context("alpha"):
        assert not Flow.objects.filter(connection__name="Mine").exists()


def test_since_filter_that_is_no_date_is_400(cast, admin_client, objects):
    response = admin_client.get("/api/v1/runs/", {"since": "yesterday"}, HTTP_HOST=host(cast.alpha))
    assert response.status_code == 400


def test_valid_filters_still_work(cast, admin_client, objects):
    alpha = host(cast.alpha)
    since = (timezone.now() - timedelta(days=1)).isoformat()
    assert admin_client.get("/api/v1/runs/", {"since": since, "flow": "hooks"}, HTTP_HOST=alpha).status_code == 200
    assert admin_client.get("/api/v1/run-items/", {"run": "1", "date_from": "2026-01-01"},
                            HTTP_HOST=alpha).status_code == 200
    assert admin_client.get("/api/v1/exceptions/", {"min_age_hours": "2.5"}, HTTP_HOST=alpha).status_code == 200


TRAVERSALS = ["/static/..%2f..%2f..%2fetc%2fpasswd", "/static/..%2F..%2Fconfig%2Fsettings%2Fbase.py",
              "/static/%2e%2e/%2e%2e/manage.py", "/static/..%5c..%5cmanage.py"]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_static_path_traversal_is_404_under_the_app(client, cast, path):
    response = client.get(path, HTTP_HOST="localhost")
    assert response.status_code == 404
    assert b"SECRET_KEY" not in response.content


@pytest.mark.parametrize("path", TRAVERSALS)
def test_static_path_traversal_is_404_under_make_run(cast, settings, path):
    """``make run`` serves through runserver's handler with DEBUG on; Django's own static handler there let
    ``SuspiciousFileOperation`` escape as a 500."""
    from django.core.management import get_commands, load_command_class
    from django.test import RequestFactory

    settings.DEBUG = True
    command = load_command_class(get_commands()["runserver"], "runserver")  # the one manage.py runs
    handler = command.get_handler(use_static_handler=True, insecure_serving=False)
    response = handler.get_response(RequestFactory().get(path, HTTP_HOST="localhost"))
    assert response.status_code == 404


@pytest.mark.parametrize("path", ["/exceptions/?status=a%00b", "/admin/connectors/connection/?q=a%00b",
                                  "/reports/unposted-time/?flow=%00"])
def test_nul_on_portal_and_admin_pages_is_a_400(cast, admin_client, path):
    response = admin_client.get(path, HTTP_HOST=host(cast.alpha))
    assert response.status_code == 400 and "NUL" in response.content.decode()


def test_nul_in_a_form_field_is_a_400(cast, admin_client):
    response = admin_client.post("/admin/connectors/connection/add/", "name=a%00b&slug=ab",
                                 content_type="application/x-www-form-urlencoded", HTTP_HOST=host(cast.alpha))
    assert response.status_code == 400
