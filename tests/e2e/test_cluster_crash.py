"""A worker killed mid-run: a real django-q2 cluster posts approved time from a CSV export to the real Tryton;
the whole cluster is SIGKILLed while it is writing; a new cluster picks the run up (the broker re-delivers
the task after WEFT_Q_RETRY seconds, the claim takes over once the heartbeat is WEFT_RUN_STALE_SECONDS old)
and finishes it. Every entry ends up in Tryton exactly once and in the ledger exactly once."""

from __future__ import annotations

import uuid
from collections import Counter

import pytest
from django_q.models import Schedule
from django_tenants.utils import schema_context

from apps.accelerators.services import templates_sync_builtin
from apps.canonical.models import Project, TimeEntry
from apps.connectors.services import connection_create, connection_files_root
from apps.runs import engine
from apps.runs.models import Flow, ItemOutcome, Run, RunItem, RunStatus, Trigger
from apps.runs.services import pull_run
from tests.cluster import Cluster, wait_for
from tests.e2e.support import (
    canonical_id,
    connect_tryton,
    entry_reference,
    install,
    lines_tagged,
    run_flow,
    start_reading_now,
    tryton_customer,
    tryton_employee,
    tryton_project,
)
from tests.tryton.conftest_plugin import unique

pytestmark = [pytest.mark.cluster, pytest.mark.django_db]
ENTRIES = 60
CLUSTER_ENV = {"WEFT_Q_WORKERS": "1", "WEFT_RUN_SLICE_ITEMS": "10", "WEFT_RUN_STALE_SECONDS": "3",
               "WEFT_Q_TIMEOUT": "8", "WEFT_Q_RETRY": "10", "WEFT_Q_MAX_ATTEMPTS": "5"}


def _time_export_to_tryton(customer, tryton, token: str) -> dict:
    """Approved time → ERP for a CSV time export, with the project and one employee known to Tryton."""
    export = connection_create(name="Time export", slug="time-export", kind="csv", settings={"settle_seconds": 0},
                               acting_user=None)
    # A create the kill caught in flight is looked for until its write window has passed (120 s by default, for a
    # Tryton behind a slow network); this local server has answered or dropped it within seconds.
    erp = connect_tryton(tryton, write_window_seconds=10)
    templates_sync_builtin()
    install(customer, "approved-time-to-erp", time_connection="time-export", read_people=False)
    Schedule.objects.filter(name__startswith="flow:alpha:").delete()  # this test starts every run itself
    start_reading_now(erp, tryton, "customers", "projects")
    project = tryton_project(tryton, tryton_customer(tryton))
    code = f"{unique('kim')}@example.com"
    tryton_employee(tryton, code=code, name="Kim Example")
    for name in ("customers", "projects"):  # project setup's reads, without its flows to Harvest
        assert pull_run(connection=erp, object_name=name).status == RunStatus.SUCCEEDED
    assert run_flow("erp-employees-in").status == RunStatus.SUCCEEDED
    project_code = Project.objects.get(pk=canonical_id(erp, "project", project)).code
    inbox = connection_files_root(export) / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "time-crash.csv").write_text("id,person,project,date,hours,approval_status,notes\n" + "".join(
        f"k{n},{code},{project_code},2026-{1 + n // 28:02d}-{1 + n % 28:02d},1.5,approved,{token} {n}\n"
        for n in range(ENTRIES)))
    return {"export": export, "erp": erp}


def _lines_with(tryton, token: str) -> int:
    return len(tryton.client.search("timesheet.line", [["description", "ilike", f"%{token}%"]]))


def _posting_runs():
    return Run.objects.filter(flow__slug="time-to-erp")


def test_a_cluster_killed_mid_run_resumes_and_every_entry_is_in_tryton_and_the_ledger_once(live, tryton, settings):
    token = f"crash-{uuid.uuid4().hex[:8]}"
    with schema_context("alpha"):
        _time_export_to_tryton(live["alpha"], tryton, token)
    env = {**CLUSTER_ENV, "WEFT_DATA_DIR": str(settings.WEFT_DATA_DIR)}
    first = Cluster(**env)
    try:
        with schema_context("alpha"):
            engine.flow_run_request(flow=Flow.objects.get(slug="time-in"), trigger=Trigger.MANUAL, acting_user=None)
        wait_for(lambda: _lines_with(tryton, token) >= 15, timeout=60, interval=0.05, cluster=first)
        first.kill()  # SIGKILL to the whole process group, mid-slice
    finally:
        first.stop()
        first.log_path.rename(first.log_path.with_suffix(".first.log"))  # the second cluster logs to the same name
    at_kill = _lines_with(tryton, token)
    with schema_context("alpha"):
        unfinished = list(_posting_runs().exclude(status__in=[RunStatus.SUCCEEDED, RunStatus.PARTIAL]))
    assert at_kill < ENTRIES and unfinished, f"the run finished before the kill ({at_kill} lines); lengthen it"

    second = Cluster(**env)
    try:
        def finished() -> bool:
            with schema_context("alpha"):
                runs = list(_posting_runs())
                return bool(runs) and all(r.status == RunStatus.SUCCEEDED for r in runs)

        wait_for(finished, timeout=90, interval=0.5, cluster=second)
    finally:
        second.stop()

    with schema_context("alpha"):
        entries = list(TimeEntry.objects.filter(notes__startswith=token).values_list("pk", flat=True))
        assert len(entries) == ENTRIES
        for pk in entries:
            assert len(lines_tagged(tryton, entry_reference(pk))) == 1, f"entry {pk}"
        written = Counter(RunItem.objects.filter(run__flow__slug="time-to-erp", outcome__in=[
            ItemOutcome.CREATED, ItemOutcome.UPDATED]).values_list("canonical_id", flat=True))
        assert set(written) == set(entries) and set(written.values()) == {1}  # each in the ledger once
        resumed = _posting_runs().get(pk=unfinished[0].pk)
        assert resumed.counts.get("created", 0) + resumed.counts.get("updated", 0) == ENTRIES
    assert _lines_with(tryton, token) == ENTRIES
