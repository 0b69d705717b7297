"""SIGTERM to the django-q2 cluster in the middle of a long run: the cluster stops taking work, the run's slice
ends after its current batch (no worker journals more than the batch in hand), saves its place and queues itself
again, and every process exits within STOP_BOUND_SECONDS. The next cluster finishes the run: each time entry of
the CSV is in the hub and in the journal export exactly once."""

from __future__ import annotations

from collections import Counter

import pytest
from django_tenants.utils import schema_context

from apps.canonical.models import TimeEntry
from apps.connectors.models import Connection
from apps.connectors.services import connection_files_root
from apps.runs import engine
from apps.runs.models import Flow, ItemOutcome, Run, RunItem, RunStatus, Trigger
from tests.cluster import Cluster, wait_for
from tests.e2e.test_cluster_kill_webhooks import _journal_setup

pytestmark = [pytest.mark.cluster, pytest.mark.django_db]
ENTRIES = 4000
STOP_BOUND_SECONDS = 10


def _journaled() -> int:
    with schema_context("alpha"):
        return RunItem.objects.filter(run__flow__slug="time-to-journal", outcome=ItemOutcome.CREATED).count()


def test_sigterm_mid_run_exits_within_the_bound_and_the_next_cluster_finishes_the_run(live, settings):
    with schema_context("alpha"):
        _journal_setup(live["alpha"])
        export = Connection.objects.get(slug="time-export")
        Connection.objects.filter(pk=export.pk).update(settings={**export.settings, "settle_seconds": 0})
        inbox = connection_files_root(export) / "inbox"
        inbox.mkdir(parents=True, exist_ok=True)
        (inbox / "time-stop.csv").write_text("id,person,project,date,hours,approval_status,notes\n" + "".join(
            f"st{n},kim@kill.example,KILL-1,2026-{1 + n % 12:02d}-{1 + n % 28:02d},0.25,approved,stop {n}\n"
            for n in range(ENTRIES)))
        engine.flow_run_request(flow=Flow.objects.get(slug="time-in"), trigger=Trigger.MANUAL, acting_user=None)
    env = {"WEFT_DATA_DIR": str(settings.WEFT_DATA_DIR), "WEFT_RUN_SLICE_ITEMS": "100000"}  # one long slice
    first = Cluster(**env)
    try:
        wait_for(lambda: _journaled() >= 100, timeout=120, interval=0.05, cluster=first)
        at_signal = _journaled()
        took = first.terminate()
    finally:
        first.stop()
        first.log_path.rename(first.log_path.with_suffix(".first.log"))
    at_stop = _journaled()
    print(f"cluster exited {took:.1f} s after SIGTERM, with {at_stop}/{ENTRIES} entries journaled")
    assert took < STOP_BOUND_SECONDS
    with schema_context("alpha"):
        batch = Flow.objects.get(slug="time-to-journal").batch_size
    # Each worker finished the batch in hand and no more (without the hand-back, the run went on to its end).
    assert at_stop - at_signal <= 2 * batch, (at_signal, at_stop)
    assert at_stop < ENTRIES, "the run finished before the stop; lengthen it"
    with schema_context("alpha"):
        assert not Run.objects.filter(status=RunStatus.RUNNING).exists(), "no run is left held by a stopped worker"

    second = Cluster(**env)
    try:
        def finished() -> bool:
            with schema_context("alpha"):
                runs = Run.objects.filter(flow__slug__in=["time-in", "time-to-journal"])
                return runs.exists() and not runs.exclude(status=RunStatus.SUCCEEDED).exists()

        wait_for(finished, timeout=120, interval=0.5, cluster=second)
    finally:
        second.stop()
    with schema_context("alpha"):
        entries = set(TimeEntry.objects.filter(notes__startswith="stop ").values_list("pk", flat=True))
        assert len(entries) == ENTRIES
        journaled = Counter(RunItem.objects.filter(run__flow__slug="time-to-journal", outcome__in=[
            ItemOutcome.CREATED, ItemOutcome.UPDATED]).values_list("canonical_id", flat=True))
        assert set(journaled) == entries and set(journaled.values()) == {1}, "each entry journaled once"
