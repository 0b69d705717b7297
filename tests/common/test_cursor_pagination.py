"""Cursor pagination on the large lists (runs, the ledger, exceptions): a walk by ``next`` sees every row once,
even when rows are added during the walk; ``page_size`` keeps its bounds; the document names ``cursor``."""

from __future__ import annotations

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from apps.connectors.services import connection_create
from apps.exceptions.choices import Kind, Source
from apps.exceptions.services import exception_raise
from apps.runs.models import Flow, ItemOutcome, Run, RunItem
from apps.tenants import access, apikeys
from apps.tenants.choices import Role
from tests.conftest import host, member


@pytest.fixture
def get(cast):
    admin = member(Role.PARTNER_ADMIN, partner=cast.xpartner)
    token = apikeys.apikey_create(name="reader", customer=cast.alpha, acting_user=admin,
                                  scopes=[s for s in access.key_scopes(partner_key=False) if s.endswith(":read")]).token
    client = Client()

    def call(url: str):
        answer = client.get(url, HTTP_HOST=host(cast.alpha), HTTP_AUTHORIZATION=f"Bearer {token}")
        assert answer.status_code in (200, 400), answer.content
        return answer

    return call


@pytest.fixture
def ledger(cast):
    with schema_context("alpha"):
        source = connection_create(name="Time export", slug="time-export", kind="csv", acting_user=None)
        flow = Flow.objects.create(name="Time", slug="time", direction="inbound", object_type="time_entry",
                                   connection=source, object_name="time_entries")
        runs = [Run.objects.create(flow=flow, connection=source, object_name="time_entries",
                                   object_type="time_entry", status="failed") for _ in range(7)]
        for run in runs:
            RunItem.objects.create(run=run, object_type="time_entry", outcome=ItemOutcome.FAILED)
        for n in range(5):
            exception_raise(kind=Kind.AUTH, source=Source.MONITOR, scope=f"scope-{n}", message=f"down {n}")
    return flow


def _walk(get, first: str, *, during=None) -> list[list[int]]:
    pages, url = [], first
    while url:
        answer = get(url).json()
        assert "count" not in answer
        pages.append([row["id"] for row in answer["results"]])
        if during and len(pages) == 1:
            during()
        url = answer["next"]
    return pages


def test_a_cursor_walk_over_runs_sees_every_run_once_even_while_runs_are_added(cast, get, ledger):
    with schema_context("alpha"):
        every = list(Run.objects.order_by("-pk").values_list("pk", flat=True))

    def add_a_run():
        with schema_context("alpha"):
            Run.objects.create(flow=ledger, connection=ledger.connection, object_name="time_entries",
                               object_type="time_entry", status="queued")

    pages = _walk(get, "/api/v1/runs/?cursor=&page_size=3", during=add_a_run)
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [pk for page in pages for pk in page] == every  # the run added meanwhile is newer: not in this walk


def test_the_ledger_and_exceptions_page_by_cursor_with_their_filters(get, ledger):
    items = _walk(get, "/api/v1/run-items/?cursor=&page_size=2&outcome=failed")
    assert [len(p) for p in items] == [2, 2, 2, 1] and len({pk for p in items for pk in p}) == 7
    exceptions = _walk(get, "/api/v1/exceptions/?cursor=&page_size=4")
    assert [len(p) for p in exceptions] == [4, 1]
    by_page = get("/api/v1/runs/?page=2&page_size=5").json()
    assert by_page["count"] == 7 and len(by_page["results"]) == 2  # page numbers still work


@pytest.mark.parametrize("size", ["0", "501", "x"])
def test_page_size_keeps_its_bounds_when_paging_by_cursor(get, ledger, size):
    refused = get(f"/api/v1/runs/?cursor=&page_size={size}")
    assert refused.status_code == 400 and "page_size" in refused.json()["errors"]


def test_the_document_names_the_cursor_parameter_on_large_lists(cast):
    document = Client().get("/api/v1/schema/", HTTP_HOST=host(cast.alpha), HTTP_ACCEPT="application/json").json()
    for path in ("/api/v1/runs/", "/api/v1/run-items/", "/api/v1/exceptions/"):
        names = {p["name"] for p in document["paths"][path]["get"]["parameters"]}
        assert {"cursor", "page_size"} <= names, path
