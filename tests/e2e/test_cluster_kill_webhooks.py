"""The django-q2 cluster SIGKILLed in the middle of a burst of signed webhooks, with the default settings (no
shortened retry or stale threshold): after a new cluster starts, every event is handled, exactly once. Events
arrive through the real web server; each becomes a hub time entry (the "time-in" webhook flow) and one line of
the journal export (the "time-to-journal" flow), on real CSV files."""

from __future__ import annotations

import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.core.management import call_command
from django_tenants.utils import schema_context

from apps.accelerators.services import templates_sync_builtin
from apps.canonical.models import Customer as HubCustomer
from apps.canonical.models import Person, Project, TimeEntry
from apps.connectors.models import Connection
from apps.connectors.services import connection_create
from apps.runs.models import InboundEvent, ItemOutcome, Run, RunItem, RunStatus, Trigger
from tests.cluster import Cluster, database_url_for_tests, wait_for
from tests.conftest import host
from tests.e2e.support import install
from tests.ops.server import WebServer, signed

pytestmark = [pytest.mark.cluster, pytest.mark.django_db]
SECRET = "whsec-kill-0123456789abcdef0123456"
EVENTS = 120
TAKEOVER_BOUND_SECONDS = 90  # the default lease (20 s) plus the minutely sweep's first pass after a restart


def _journal_setup(customer) -> None:
    templates_sync_builtin()
    install(customer, "approved-time-to-journal")
    Connection.objects.filter(slug__in=["time-export", "erp-journal"]).update(is_enabled=True)
    firm = HubCustomer.objects.create(code="KILL", name="Kill Client", currency="EUR")
    Project.objects.create(code="KILL-1", name="Rollout", customer=firm, currency="EUR",
                           default_bill_rate=Decimal("100"))
    Person.objects.create(code="kim@kill.example", name="Kim", capacity_hours_per_week=40)
    connection_create(name="Hooks", slug="hooks", kind="webhook", credentials={"signing_secret": SECRET},
                      settings={"source_connection": "time-export"}, acting_user=None)


def _deliver(server: WebServer, hostname: str, n: int) -> int:
    record = {"external_id": f"kill-{n}", "person": "kim@kill.example", "project": "KILL-1",
              "date": f"2026-04-{1 + n % 28:02d}", "hours": "1", "approval_status": "approved", "notes": f"kill {n}"}
    body, headers = signed(SECRET, {"id": f"evt-kill-{n}", "type": "record.changed",
                                    "data": {"object": "time_entries", "record": record}})
    return server.request("POST", "/api/v1/hooks/hooks/", host=hostname, body=body, headers=headers)[0]


def _settled() -> int:
    with schema_context("alpha"):
        return InboundEvent.objects.filter(event_id__startswith="evt-kill-").exclude(
            status=InboundEvent.Status.RECEIVED).count()


def test_a_cluster_killed_mid_burst_leaves_no_event_behind_and_handles_each_once(live, settings, tmp_path):
    with schema_context("alpha"):
        _journal_setup(live["alpha"])
    call_command("weft_schedules", verbosity=0)  # the platform's sweep among them, as weft_setup writes them
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "DATABASE_URL": database_url_for_tests(),
           "WEFT_Q_SYNC": "0", "WEFT_WEB_WORKERS": "1", "WEFT_WEB_THREADS": "4",
           "WEFT_DATA_DIR": str(settings.WEFT_DATA_DIR), "WEFT_LOG_LEVEL": "WARNING"}
    env.pop("WEFT_DB_POOL_SIZE", None)
    for name in ("WEFT_Q_RETRY", "WEFT_RUN_STALE_SECONDS", "WEFT_Q_TIMEOUT"):
        env.pop(name, None)  # the defaults are what is tested
    server = WebServer(env, tmp_path / "web.log")
    first = Cluster(WEFT_DATA_DIR=str(settings.WEFT_DATA_DIR))
    try:
        with ThreadPoolExecutor(6) as clients:
            answers = Counter(clients.map(lambda n: _deliver(server, host(live["alpha"]), n), range(EVENTS)))
        wait_for(lambda: _settled() >= 20, timeout=60, interval=0.05, cluster=first)
        first.kill()  # SIGKILL to every process of the cluster, mid-burst
    finally:
        first.stop()
        server.stop()
        first.log_path.rename(first.log_path.with_suffix(".first.log"))
    assert answers == Counter({202: EVENTS}), answers
    at_kill = _settled()
    assert at_kill < EVENTS, f"every event was handled before the kill ({at_kill}); lengthen the burst"

    second = Cluster(WEFT_DATA_DIR=str(settings.WEFT_DATA_DIR))
    restarted = time.monotonic()
    try:
        wait_for(lambda: _settled() == EVENTS, timeout=TAKEOVER_BOUND_SECONDS, interval=0.2, cluster=second)
        took = time.monotonic() - restarted

        def outbound_done() -> bool:
            with schema_context("alpha"):
                return not Run.objects.exclude(status__in=[RunStatus.SUCCEEDED, RunStatus.PARTIAL]).filter(
                    flow__slug="time-to-journal").exists()

        wait_for(outbound_done, timeout=TAKEOVER_BOUND_SECONDS, interval=0.2, cluster=second)
    finally:
        second.stop()
    print(f"settled at the kill: {at_kill}/{EVENTS}; all settled {took:.1f} s after the restart")

    with schema_context("alpha"):
        statuses = Counter(InboundEvent.objects.filter(event_id__startswith="evt-kill-").values_list("status",
                                                                                                    flat=True))
        assert statuses == Counter({InboundEvent.Status.PROCESSED: EVENTS}), statuses
        webhook_runs = Run.objects.filter(flow__slug="time-in", trigger=Trigger.WEBHOOK)
        assert webhook_runs.count() == EVENTS and set(webhook_runs.values_list("status", flat=True)) == {
            RunStatus.SUCCEEDED}, "one inbound run per event: none doubled by a retry"
        entries = set(TimeEntry.objects.filter(notes__startswith="kill ").values_list("pk", flat=True))
        assert len(entries) == EVENTS
        journaled = Counter(RunItem.objects.filter(run__flow__slug="time-to-journal", outcome__in=[
            ItemOutcome.CREATED, ItemOutcome.UPDATED]).values_list("canonical_id", flat=True))
        assert set(journaled) == entries and set(journaled.values()) == {1}, "each entry journaled once"
