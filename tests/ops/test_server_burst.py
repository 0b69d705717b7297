"""A burst of signed webhook deliveries from 20 concurrent clients, each on a new connection, against the real
web server (gunicorn with threads, pooled connections): no 5xx, every event stored once in its own tenant,
and the server never holds more database connections than its workers × threads, whatever the clients do.

Django's development server, in the same burst, kept a connection per request thread until PostgreSQL's
limit and answered 500 (issue 17; bench/server_burst.py measures both)."""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django_tenants.utils import schema_context

from apps.connectors.services import connection_create
from apps.runs.models import InboundEvent
from tests.cluster import database_url_for_tests
from tests.conftest import host
from tests.ops.server import BackendSampler, WebServer, signed

pytestmark = [pytest.mark.cluster, pytest.mark.django_db]
CLIENTS, DELIVERIES, WORKERS, THREADS = 20, 600, 2, 4
APP_NAME = "weft-burst-web"  # the server's sessions say so, and only they are counted
SECRETS = {"alpha": "whsec-alpha-0123456789abcdef0123", "beta": "whsec-beta-0123456789abcdef01234"}


def _deliver(server: WebServer, hosts: dict[str, str], n: int) -> int:
    schema = "alpha" if n % 2 == 0 else "beta"  # alternate tenants: pooled connections must never mix them
    body, headers = signed(SECRETS[schema], {"id": f"burst-{schema}-{n}", "type": "record.changed", "data": {}})
    try:
        return server.request("POST", "/api/v1/hooks/burst/", host=hosts[schema], body=body, headers=headers)[0]
    except OSError:
        return 0  # refused or reset: counted as a failure like a 5xx


def test_a_burst_of_signed_deliveries_gets_no_5xx_stores_every_event_and_bounds_connections(live, settings,
                                                                                            tmp_path):
    hosts = {}
    for schema, secret in SECRETS.items():
        with schema_context(schema):
            connection_create(name="Burst", slug="burst", kind="webhook", credentials={"signing_secret": secret})
        hosts[schema] = host(live[schema])
    database_url = f"{database_url_for_tests()}?application_name={APP_NAME}"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "DATABASE_URL": database_url,
           "WEFT_Q_SYNC": "0", "WEFT_WEB_WORKERS": str(WORKERS), "WEFT_WEB_THREADS": str(THREADS),
           "WEFT_DATA_DIR": str(settings.WEFT_DATA_DIR), "WEFT_LOG_LEVEL": "WARNING"}
    env.pop("WEFT_DB_POOL_SIZE", None)  # the server's config sets it to its thread count
    server = WebServer(env, tmp_path / "web.log")
    try:
        sampler = BackendSampler(application_name=APP_NAME)
        with ThreadPoolExecutor(CLIENTS) as clients:
            statuses = Counter(clients.map(lambda n: _deliver(server, hosts, n), range(DELIVERIES)))
        peak = sampler.done()
    finally:
        server.stop()

    assert statuses == Counter({202: DELIVERIES}), statuses
    for schema in SECRETS:
        with schema_context(schema):
            ids = list(InboundEvent.objects.filter(event_id__startswith="burst-").values_list("event_id", flat=True))
        assert sorted(ids) == sorted(f"burst-{schema}-{n}" for n in range(DELIVERIES) if (n % 2 == 0) == (
            schema == "alpha")), f"{schema}: events missing, doubled or in the wrong tenant"
    assert 0 < peak <= WORKERS * THREADS, f"the server held {peak} database connections"
