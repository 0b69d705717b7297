"""Workers on two hosts share one PostgreSQL and one Redis (WEFT_BROKER_URL): 10,000 approved time entries from
two customers' CSV exports go through the hub into their journal exports. Both hosts work; one is SIGKILLed
mid-way; the other takes over its run (the broker hands the unacknowledged task out again, the run's lease has
gone stale) and finishes. Every entry is in its customer's journal exactly once and in the ledger once.

Each host is a django-q2 cluster in network and host-name namespaces of its own (``unshare --net --uts``, where
this machine allows it): it has no network at all, only the database's and Redis's Unix sockets, as if on
another machine sharing nothing but those two services (and the file area, as a shared volume would be)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import pytest
from django_q.conf import Conf
from django_q.models import Schedule
from django_tenants.utils import schema_context

from apps.accelerators.services import templates_sync_builtin
from apps.canonical.services import hub_upsert_all
from apps.common.objects import CanonicalInput, Ref
from apps.connectors.models import Connection
from apps.connectors.services import connection_create, connection_files_root
from apps.runs import engine
from apps.runs.models import Flow, ItemOutcome, Run, RunItem, RunStatus, Trigger
from tests.cluster import database_url_for_tests
from tests.e2e.support import install
from tests.ops.server import Process
from tests.runs.journal import journal_lines

pytestmark = [pytest.mark.cluster, pytest.mark.django_db]
PER_TENANT = 5000
PEOPLE = 20
HOST_ENV = {"WEFT_Q_WORKERS": "1", "WEFT_RUN_SLICE_ITEMS": "250", "WEFT_RUN_STALE_SECONDS": "3",
            "WEFT_Q_TIMEOUT": "8", "WEFT_Q_RETRY": "10", "WEFT_Q_MAX_ATTEMPTS": "10", "WEFT_Q_POLL_SECONDS": "0.05",
            "WEFT_Q_SYNC": "0", "WEFT_LOG_LEVEL": "INFO", "WEFT_LOG_FORMAT": "json"}


def _namespaces_work() -> bool:
    try:
        return subprocess.run(["unshare", "--net", "--uts", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _host(name: str, env: dict[str, str], log_dir: Path, isolated: bool) -> Process:
    command = [sys.executable, "manage.py", "qcluster"]
    if isolated:
        command = ["unshare", "--net", "--uts", "--", "sh", "-c", f'hostname {name} && exec "$@"', "sh", *command]
    return Process(command, env, log_dir / f"{name}.log")


def _tenant_setup(customer) -> None:
    export = connection_create(name="Time export", slug="time-export", kind="csv", settings={"settle_seconds": 0})
    connection_create(name="ERP journal", slug="erp-journal", kind="csv")
    install(customer, "approved-time-to-journal")
    Schedule.objects.filter(name__startswith=f"flow:{customer.schema_name}:").delete()  # runs start here
    hub_upsert_all(connection=export, object_type="person", records=[
        CanonicalInput("person", f"p{n}", {"code": f"p{n}", "name": f"Person {n}"}) for n in range(PEOPLE)])
    hub_upsert_all(connection=export, object_type="customer",
                   records=[CanonicalInput("customer", "acme", {"code": "ACME", "name": "Acme"})])
    hub_upsert_all(connection=export, object_type="project", records=[
        CanonicalInput("project", "web", {"code": "WEB", "name": "Website"}, refs={"customer": Ref.code("ACME")})])
    inbox = connection_files_root(export) / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "time-hosts.csv").write_text("id,person,project,date,hours,approval_status\n" + "".join(
        f"{customer.schema_name}-{n},p{n % PEOPLE},WEB,{date(2026, 1, 1) + timedelta(days=n // PEOPLE)},1,approved\n"
        for n in range(PER_TENANT)))


def _posted() -> int:
    total = 0
    for schema in ("alpha", "beta"):
        with schema_context(schema):
            total += RunItem.objects.filter(run__flow__slug="time-to-journal", outcome=ItemOutcome.CREATED).count()
    return total


def _wait(condition, *, timeout: float, hosts: list[Process], what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"{what} within {timeout} s\n" + "\n".join(h.log()[-2500:] for h in hosts))


def _slices_worked(host: Process) -> int:
    return len(re.findall(r"Processed '[^']*' \((?:alpha|beta):run_execute\)", host.log()))


def test_two_worker_hosts_share_10000_items_and_one_finishes_when_the_other_is_killed(live, settings, redis_socket,
                                                                                       monkeypatch, tmp_path):
    templates_sync_builtin()
    for schema in ("alpha", "beta"):
        with schema_context(schema):
            _tenant_setup(live[schema])
    # This process queues into the hosts' Redis, as any web host would with WEFT_BROKER_URL set.
    monkeypatch.setattr(Conf, "BROKER_CLASS", "apps.runs.queue.AckingRedisBroker")
    monkeypatch.setattr(Conf, "REDIS", redis_socket)
    env = {**os.environ, **HOST_ENV, "DJANGO_SETTINGS_MODULE": "config.settings.test",
           "DATABASE_URL": database_url_for_tests(), "WEFT_BROKER_URL": redis_socket,
           "WEFT_DATA_DIR": str(settings.WEFT_DATA_DIR)}
    isolated = _namespaces_work()
    first, second = (_host(name, env, tmp_path, isolated) for name in ("weft-host-a", "weft-host-b"))
    hosts = [first, second]
    try:
        for schema in ("alpha", "beta"):
            with schema_context(schema):
                engine.flow_run_request(flow=Flow.objects.get(slug="time-in"), trigger=Trigger.MANUAL)
        _wait(lambda: _posted() >= 3000 and _slices_worked(first) and _slices_worked(second), timeout=240,
              hosts=hosts, what="both hosts did not work on 3,000 items")
        os.killpg(first.process.pid, signal.SIGKILL)  # host A dies mid-slice, its task unacknowledged
        at_kill = _posted()
        first.stop()
        _wait(lambda: _posted() == 2 * PER_TENANT, timeout=240, hosts=hosts, what="host B did not finish")
        after_kill = _slices_worked(second)
    finally:
        for host in hosts:
            host.stop()

    assert at_kill < 2 * PER_TENANT, "everything was done before the kill: make the work longer"
    assert after_kill > 0
    for schema in ("alpha", "beta"):
        with schema_context(schema):
            runs = Run.objects.filter(flow__slug__in=["time-in", "time-to-journal"])
            assert {r.status for r in runs} == {RunStatus.SUCCEEDED}, [(r.pk, r.status) for r in runs]
            lines = journal_lines(Connection.objects.get(slug="erp-journal"))
            created = Counter(RunItem.objects.filter(run__flow__slug="time-to-journal", outcome=ItemOutcome.CREATED)
                              .values_list("canonical_id", flat=True))
        references = Counter(line["reference"] for line in lines)
        assert len(references) == PER_TENANT and set(references.values()) == {1}, f"{schema}: journal lines"
        assert len(created) == PER_TENANT and set(created.values()) == {1}, f"{schema}: ledger items"
    if isolated:
        assert '"host": "weft-host-a"' in first.log() and '"host": "weft-host-b"' in second.log()
