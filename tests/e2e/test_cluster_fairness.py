"""Fairness across tenants on one worker: alpha drops a 3,000-row time export (posted to a journal export in
slices of WEFT_RUN_SLICE_ITEMS), then beta drops one row. Each slice goes back on the queue behind other
tenants' work, so beta's entry is posted long before alpha's backlog is done."""

from __future__ import annotations

import time
from datetime import date, timedelta

import pytest
from django.db.models import Max, Min
from django_q.models import Schedule
from django_tenants.utils import schema_context

from apps.accelerators.services import templates_sync_builtin
from apps.canonical.services import hub_upsert_all
from apps.common.objects import CanonicalInput, Ref
from apps.connectors.models import Connection
from apps.connectors.services import connection_create, connection_files_root
from apps.runs import engine
from apps.runs.models import Flow, ItemOutcome, Run, RunItem, RunStatus, Trigger
from tests.cluster import Cluster, wait_for
from tests.e2e.support import install
from tests.runs.journal import journal_lines

pytestmark = [pytest.mark.cluster, pytest.mark.django_db]
BACKLOG = 3000
PEOPLE = 10


def _journal_setup(customer, rows: int) -> None:
    """A CSV time export → journal export (the accelerator), its people and project in the hub, and a
    file of ``rows`` approved entries in the inbox: one per person and day, two hours each."""
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
    (inbox / "time-backlog.csv").write_text("id,person,project,date,hours,approval_status\n" + "".join(
        f"e{n},p{n % PEOPLE},WEB,{date(2026, 1, 1) + timedelta(days=n // PEOPLE)},2,approved\n" for n in range(rows)))


def _posted(schema: str) -> int:
    with schema_context(schema):
        return RunItem.objects.filter(run__flow__slug="time-to-journal", outcome=ItemOutcome.CREATED).count()


def _start_time_in(schema: str) -> None:
    with schema_context(schema):
        engine.flow_run_request(flow=Flow.objects.get(slug="time-in"), trigger=Trigger.MANUAL)


def test_one_item_of_another_tenant_is_not_stuck_behind_a_big_backlog(live, settings):
    templates_sync_builtin()
    for schema, rows in (("alpha", BACKLOG), ("beta", 1)):
        with schema_context(schema):
            _journal_setup(live[schema], rows)
    cluster = Cluster(WEFT_Q_WORKERS="1", WEFT_RUN_SLICE_ITEMS="100", WEFT_DATA_DIR=str(settings.WEFT_DATA_DIR))
    try:
        _start_time_in("alpha")
        wait_for(lambda: _posted("alpha") >= 300, timeout=90, cluster=cluster)
        beta_queued = time.monotonic()
        _start_time_in("beta")
        wait_for(lambda: _posted("beta") == 1, timeout=60, interval=0.1, cluster=cluster)
        beta_waited, alpha_then = time.monotonic() - beta_queued, _posted("alpha")
        wait_for(lambda: _posted("alpha") == BACKLOG, timeout=240, interval=0.5, cluster=cluster)
    finally:
        cluster.stop()

    with schema_context("alpha"):
        alpha_runs = Run.objects.filter(flow__slug="time-to-journal")
        span = alpha_runs.aggregate(start=Min("started_at"), end=Max("finished_at"))
        assert {r.status for r in alpha_runs} == {RunStatus.SUCCEEDED}
        assert len(journal_lines(Connection.objects.get(slug="erp-journal"))) == BACKLOG  # each line once
    alpha_seconds = (span["end"] - span["start"]).total_seconds()
    assert alpha_then < BACKLOG - 1000, f"beta waited until alpha had posted {alpha_then} of {BACKLOG}"
    assert beta_waited < alpha_seconds / 4, f"beta waited {beta_waited:.1f} s; alpha's took {alpha_seconds:.1f} s"
