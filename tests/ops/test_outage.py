"""A database outage in the middle of a webhook burst, against the real web server (gunicorn, pooled connections):
the test's own embedded PostgreSQL is stopped and started again while a sender delivers events. No delivery is
ever answered 500; those that cannot be stored answer 503 with Retry-After and are stored when the sender comes
back; /readyz says "unavailable" while the database is down and "ready" again afterwards, with no restart."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection
from django_tenants.utils import schema_context

from apps.connectors.services import connection_create
from apps.runs.models import InboundEvent
from config import embedded_postgres
from tests.cluster import database_url_for_tests
from tests.conftest import host
from tests.ops.server import WebServer, signed

pytestmark = [pytest.mark.cluster, pytest.mark.django_db]
SECRET = "whsec-outage-0123456789abcdef0123"
EVENTS = 120
OUTAGE_SECONDS = 4


def _embedded_data_dir() -> Path | None:
    """The folder of the embedded server the tests use, or None when they use another PostgreSQL."""
    pgdata = Path(connection.settings_dict["HOST"] or "/nonexistent")
    if pgdata.name == "pgdata" and embedded_postgres.read_server_info(pgdata):
        return pgdata.parent
    return None


class Sender(threading.Thread):
    """Delivers events one after another, as a webhook sender does: a 503 is retried (sooner than its Retry-After,
    to keep the test short), a 2xx moves on. Every answer is kept."""

    def __init__(self, server: WebServer, hostname: str):
        super().__init__(daemon=True)
        self.server, self.hostname = server, hostname
        self.answers: list[tuple[int, str | None]] = []
        self.slowest = 0.0
        self.delivered = 0

    def run(self) -> None:
        deadline = time.monotonic() + 120
        n = 0
        while n < EVENTS and time.monotonic() < deadline:
            body, headers = signed(SECRET, {"id": f"outage-{n}", "type": "record.changed", "data": {}})
            started = time.monotonic()
            try:
                status, answer_headers, _ = self.server.request("POST", "/api/v1/hooks/outage/", host=self.hostname,
                                                                body=body, headers=headers, timeout=40)
            except OSError:
                status, answer_headers = 0, {}
            self.slowest = max(self.slowest, time.monotonic() - started)
            self.answers.append((status, answer_headers.get("Retry-After")))
            if status == 202:
                n += 1
                self.delivered = n
            else:
                time.sleep(0.3)


def test_a_database_outage_mid_burst_answers_503_with_retry_after_and_everything_resumes(live, settings, tmp_path):
    data_dir = _embedded_data_dir()
    if data_dir is None:
        pytest.skip("the tests use an external PostgreSQL, which this test may not stop")
    with schema_context("alpha"):
        connection_create(name="Outage", slug="outage", kind="webhook", credentials={"signing_secret": SECRET},
                          acting_user=None)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "DATABASE_URL": database_url_for_tests(),
           "WEFT_Q_SYNC": "0", "WEFT_WEB_WORKERS": "1", "WEFT_WEB_THREADS": "4",
           "WEFT_DATA_DIR": str(settings.WEFT_DATA_DIR), "WEFT_LOG_LEVEL": "WARNING"}
    env.pop("WEFT_DB_POOL_SIZE", None)
    server = WebServer(env, tmp_path / "web.log")
    sender = Sender(server, host(live["alpha"]))
    try:
        sender.start()
        while sender.delivered < 20 and sender.is_alive():
            time.sleep(0.05)
        connection.close()
        embedded_postgres.stop(data_dir)
        down_at = time.monotonic()
        time.sleep(1)
        ready_while_down = server.json("GET", "/readyz")
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - down_at)))
    finally:
        embedded_postgres.ensure_running(data_dir, connection.settings_dict["NAME"])
        connection.close()
    try:
        sender.join(timeout=150)
        ready_after = _eventually_ready(server)
    finally:
        server.stop()

    statuses = Counter(status for status, _ in sender.answers)
    assert statuses[500] == 0 and statuses[0] == 0, f"answers during the outage: {statuses}\n{server.log()[-2000:]}"
    assert statuses[503] >= 1, f"the outage was never answered 503: {statuses}"
    assert {retry for status, retry in sender.answers if status == 503} == {"5"}, "every 503 says when to retry"
    assert sender.slowest < 25, "no answer waits longer than the pool's timeout (20 s) and a little"
    print(f"answers: {dict(statuses)}, slowest {sender.slowest:.2f} s")
    assert ready_while_down[0] == 503 and ready_while_down[1]["status"] == "unavailable"
    assert ready_after == 200
    with schema_context("alpha"):
        stored = Counter(InboundEvent.objects.filter(event_id__startswith="outage-").values_list("event_id", flat=True))
    assert stored == Counter(f"outage-{n}" for n in range(EVENTS)), "every event stored once, after the outage too"


def _eventually_ready(server: WebServer) -> int:
    deadline = time.monotonic() + 30
    status = 0
    while time.monotonic() < deadline:
        status = server.request("GET", "/readyz")[0]
        if status == 200:
            break
        time.sleep(0.5)
    return status
