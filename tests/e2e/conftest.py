"""Fixtures for the end-to-end tests: the stateful fake vendors routed behind the engine, accelerators
loaded, and hub-change fan-out that runs in the same call (the cluster tests use a real queue instead)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django_q.conf import Conf

from apps.accelerators.services import templates_sync_builtin
from apps.common.http import OutboundClient
from apps.runs import engine
from apps.tenants.models import Customer
from tests.e2e.live import committed
from tests.e2e.vendors import (
    FINCH_URL,
    HARVEST_URL,
    HUBSPOT_URL,
    PIPEDRIVE_URL,
    XERO_ACCOUNTING_URL,
    XERO_PROJECTS_URL,
    FakeFinch,
    FakeHarvest,
    FakeHubSpot,
    FakePipedrive,
    FakeXeroAccounting,
    FakeXeroProjects,
    Routes,
)


@pytest.fixture
def routes(monkeypatch) -> Routes:
    routes = Routes()
    monkeypatch.setattr("apps.connectors.services.OutboundClient", routes.client_factory(OutboundClient))
    return routes


def _served(routes, fake, url: str):
    """``fake`` answers for ``url``; afterwards, no request (or scripted answer) broke the vendor's spec, even if
    the engine swallowed the error."""
    routes.vendors[url] = fake
    yield fake
    fake.transport.assert_clean()


@pytest.fixture
def harvest(routes):
    yield from _served(routes, FakeHarvest(), HARVEST_URL)


@pytest.fixture
def xero_projects(routes):
    yield from _served(routes, FakeXeroProjects(), XERO_PROJECTS_URL)


@pytest.fixture
def xero_accounting(routes):
    yield from _served(routes, FakeXeroAccounting(), XERO_ACCOUNTING_URL)


@pytest.fixture
def finch(routes):
    yield from _served(routes, FakeFinch(), FINCH_URL)


@pytest.fixture
def hubspot(routes):
    yield from _served(routes, FakeHubSpot(), HUBSPOT_URL)


@pytest.fixture
def pipedrive(routes):
    yield from _served(routes, FakePipedrive(), PIPEDRIVE_URL)


@pytest.fixture
def templates(db) -> None:
    templates_sync_builtin()


@dataclass
class Fanout:
    """Whether hub changes run their outbound flows at once (True) or only queue them (False)."""

    inline: bool = True


@pytest.fixture
def fanout(monkeypatch) -> Fanout:
    switch = Fanout()
    original = engine.hub_changed
    monkeypatch.setattr("apps.runs.engine.hub_changed", lambda **kw: original(**{**kw, "inline": switch.inline}))
    return switch


# --- tests with a real cluster process -----------------------------------------------------------------
@pytest.fixture(autouse=True)
def _django_db_marker(request) -> None:
    """pytest-django's marker fixture, except for cluster tests: their ``django_db`` marker only makes sure
    the test database is set up (even when they run alone); they commit, so no transaction is wrapped
    around them (``live``)."""
    if request.node.get_closest_marker("cluster"):
        return
    if request.node.get_closest_marker("django_db"):
        request.getfixturevalue("_django_db_helper")


@pytest.fixture
def live(django_db_setup, django_db_blocker, monkeypatch):
    """Committed writes a cluster process can see, in alpha and beta; all of it removed afterwards."""
    monkeypatch.setattr(Conf, "SYNC", False)  # this process queues; the cluster process runs
    with django_db_blocker.unblock(), committed(["alpha", "beta"]):
        yield {c.schema_name: c for c in Customer.objects.filter(schema_name__in=["alpha", "beta"])}
