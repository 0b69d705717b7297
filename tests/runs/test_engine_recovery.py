"""The engine survives crashes and slow workers: backlogs larger than a slice finish, a crash between the
target's write and the ledger leaves nothing half-recorded, a worker that was taken over stops, and an
abandoned run is picked up again. On real CSV files (time export in, journal export out)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.canonical.models import ExternalRef, TimeEntry
from apps.connectors.flatfiles.csvread import CsvFile
from apps.connectors.flatfiles.resume import open_files_clear
from apps.connectors.services import connection_files_root
from apps.runs import engine, lease, outbound
from apps.runs.models import ItemOutcome, Run, RunItem, RunStatus, Trigger
from tests.runs.journal import drop, journal_lines


@pytest.fixture(autouse=True)
def _inline_hub_changes(monkeypatch):
    original = engine.hub_changed  # hub changes post in the same call (tests run tasks synchronously)
    monkeypatch.setattr("apps.runs.engine.hub_changed", lambda **kw: original(**{**kw, "inline": True}))


def rows(count: int, *, start: int = 1, status: str = "approved") -> str:
    # Two hours a day, one day per entry: no daily limit is reached.
    return "".join(f"t{n},ann,ACME-042,2026-{1 + n // 28 % 12:02d}-{1 + n % 28:02d},2,{status},entry {n}\n"
                   for n in range(start, start + count))


def run_to_end(run: Run, *, max_slices: int = 50) -> tuple[Run, int]:
    """Execute slices as the queue would, until the run finishes; fail if it never does."""
    for slices in range(1, max_slices + 1):
        engine.run_execute(run_id=run.pk)
        run.refresh_from_db()
        if run.status != RunStatus.QUEUED:
            return run, slices
    raise AssertionError(f"run {run.pk} still {run.status} after {max_slices} slices: {run.counts}")


def test_a_file_larger_than_a_slice_is_read_to_the_end_once(setup, settings, monkeypatch):
    settings.WEFT_RUN_SLICE_ITEMS = 100
    setup["in"].settings = {**setup["in"].settings, "batch_size": 100}
    setup["in"].save()
    drop(setup["in"], "time-01.csv", rows(350))
    drop(setup["in"], "time-02.csv", rows(150, start=351))
    monkeypatch.setattr("apps.runs.engine.hub_changed", lambda **kw: [])  # the catch-up run below posts

    run = engine.flow_run_request(flow=setup["inbound"], trigger=Trigger.MANUAL, enqueue=False, acting_user=None)
    run, slices = run_to_end(run)
    posting, posting_slices = run_to_end(engine.flow_run_request(flow=setup["outbound"], trigger=Trigger.MANUAL,
                                                                 enqueue=False, acting_user=None))

    assert run.status == RunStatus.SUCCEEDED and run.counts["created"] == 500
    assert slices <= 5  # a slice stops at its budget (100 items): 500 rows take five
    assert run.counts.get("unchanged", 0) == 0  # pages stored by an earlier slice are not given again
    assert TimeEntry.objects.count() == 500
    assert posting.counts == {"created": 500} and posting_slices == 5
    assert len(journal_lines(setup["journal"])) == 500
    archive = connection_files_root(setup["in"]) / "archive"
    assert sorted(p.name for p in archive.rglob("time-*.csv")) == ["time-01.csv", "time-02.csv"]
    assert not list((connection_files_root(setup["in"]) / "inbox").glob("*.csv"))


@pytest.mark.parametrize("kept", [True, False], ids=["same-process", "reader-lost"])
def test_a_file_read_over_several_slices_is_parsed_once_and_every_row_lands_once(setup, settings, monkeypatch, kept):
    """A slice goes on with the reader its run's last slice stopped in (``flatfiles.resume``): each line is parsed
    once, and a duplicate id is still found across slices. A slice in another process (``reader-lost``) reads the
    file from its start again, with the same outcome."""
    settings.WEFT_RUN_SLICE_ITEMS = 100
    setup["in"].settings = {**setup["in"].settings, "batch_size": 100}
    setup["in"].save()
    drop(setup["in"], "time-01.csv", rows(350) + "t5,ann,ACME-042,2026-12-30,2,approved,t5 again\n")
    monkeypatch.setattr("apps.runs.engine.hub_changed", lambda **kw: [])
    parsed, lines = [], CsvFile._lines

    def counted(reader, text):
        for line in lines(reader, text):
            parsed.append(line)
            yield line

    monkeypatch.setattr(CsvFile, "_lines", counted)
    run = engine.flow_run_request(flow=setup["inbound"], trigger=Trigger.MANUAL, enqueue=False, acting_user=None)
    for _ in range(10):
        if not kept:
            open_files_clear()  # as if the next slice ran in another worker
        engine.run_execute(run_id=run.pk)
        run.refresh_from_db()
        if run.status != RunStatus.QUEUED:
            break

    assert run.counts == {"created": 350, "failed": 1}  # the second t5 (row 352) is a duplicate of row 6
    assert RunItem.objects.filter(run=run).count() == 351 and TimeEntry.objects.count() == 350
    duplicate = RunItem.objects.get(run=run, outcome=ItemOutcome.FAILED)
    assert "row 352" in duplicate.error_message and "row 6" in duplicate.error_message
    assert not list((connection_files_root(setup["in"]) / "inbox").glob("*.csv"))  # archived
    if kept:
        assert len(parsed) == 352  # the header and each row once
    else:
        assert len(parsed) > 2 * 352  # each slice parsed from the start


def test_export_rotation_run_writes_one_file_per_run_however_many_slices_it_takes(setup, settings, monkeypatch):
    settings.WEFT_RUN_SLICE_ITEMS = 2
    setup["journal"].settings = {**setup["journal"].settings, "export_rotation": "run"}
    setup["journal"].save()
    drop(setup["in"], "time-01.csv", rows(5))
    monkeypatch.setattr("apps.runs.engine.hub_changed", lambda **kw: [])  # the catch-up runs below post
    run_to_end(engine.flow_run_request(flow=setup["inbound"], trigger=Trigger.MANUAL, enqueue=False,
                                       acting_user=None))

    first, slices = run_to_end(engine.flow_run_request(flow=setup["outbound"], trigger=Trigger.MANUAL, enqueue=False,
                                                       acting_user=None))
    drop(setup["in"], "time-02.csv", rows(1, start=6))
    run_to_end(engine.flow_run_request(flow=setup["inbound"], trigger=Trigger.MANUAL, enqueue=False,
                                       acting_user=None))
    second, _ = run_to_end(engine.flow_run_request(flow=setup["outbound"], trigger=Trigger.MANUAL, enqueue=False,
                                                   acting_user=None))

    assert first.counts == {"created": 5} and slices == 3 and second.counts == {"created": 1}
    files = sorted(p.name for p in (connection_files_root(setup["journal"]) / "outbox").glob("journal-*.csv"))
    assert [name.rsplit("-", 1)[1] for name in files] == [f"run{first.pk}.csv", f"run{second.pk}.csv"]
    assert len(journal_lines(setup["journal"])) == 6


def test_a_crash_between_the_write_and_the_ledger_leaves_the_record_for_the_resumed_run(setup, monkeypatch):
    drop(setup["in"], "time-01.csv", rows(3))
    monkeypatch.setattr("apps.runs.engine.hub_changed", lambda **kw: [])  # post later, in the run below
    engine.run_execute(run_id=engine.flow_run_request(flow=setup["inbound"], trigger="manual", enqueue=False,
                                                      acting_user=None).pk)
    setup["outbound"].batch_size = 1  # settled record by record: the crash comes after one was recorded
    setup["outbound"].save()
    original, calls = outbound.run_item_rows_write, []

    def dies_on_the_second_record(items):
        calls.extend(item.canonical_id for item in items)
        if len(calls) == 2:
            raise SystemExit("worker killed")  # not an error the engine handles: the process dies here
        return original(items)

    monkeypatch.setattr(outbound, "run_item_rows_write", dies_on_the_second_record)
    run = engine.flow_run_request(flow=setup["outbound"], trigger=Trigger.MANUAL, enqueue=False, acting_user=None)
    with pytest.raises(SystemExit):
        engine.run_execute(run_id=run.pk)
    monkeypatch.setattr(outbound, "run_item_rows_write", original)
    # The line went out, but neither its cross-reference nor its ledger item nor the run's progress did.
    assert len(journal_lines(setup["journal"])) == 2
    assert ExternalRef.objects.filter(connection=setup["journal"], canonical_id=calls[1]).count() == 0
    run.refresh_from_db()
    assert run.counts == {"created": 1} and run.cursor_end == str(calls[0])

    Run.objects.filter(pk=run.pk).update(updated_at=timezone.now() - timedelta(minutes=5))  # the heartbeat ages
    run, _ = run_to_end(run)

    # Found by its reference: no second line, and the ledger says created (it never recorded creating it).
    assert run.status == RunStatus.SUCCEEDED and run.counts == {"created": 3}
    assert len(journal_lines(setup["journal"])) == 3
    outcomes = dict(RunItem.objects.filter(run=run).values_list("canonical_id", "outcome"))
    assert len(outcomes) == 3 and outcomes[calls[1]] == ItemOutcome.CREATED


def test_a_crash_before_a_batch_is_recorded_leaves_all_its_records_for_the_resumed_run(setup, monkeypatch):
    drop(setup["in"], "time-01.csv", rows(3))
    monkeypatch.setattr("apps.runs.engine.hub_changed", lambda **kw: [])
    engine.run_execute(run_id=engine.flow_run_request(flow=setup["inbound"], trigger="manual", enqueue=False,
                                                      acting_user=None).pk)

    def dies(items):
        raise SystemExit("worker killed")

    monkeypatch.setattr(outbound, "run_item_rows_write", dies)
    run = engine.flow_run_request(flow=setup["outbound"], trigger=Trigger.MANUAL, enqueue=False, acting_user=None)
    with pytest.raises(SystemExit):
        engine.run_execute(run_id=run.pk)
    monkeypatch.undo()
    assert len(journal_lines(setup["journal"])) == 3  # the batch went out; nothing of it was recorded
    assert not ExternalRef.objects.filter(connection=setup["journal"], object_type="time_entry").exists()

    Run.objects.filter(pk=run.pk).update(updated_at=timezone.now() - timedelta(minutes=5))
    run, _ = run_to_end(run)

    assert run.status == RunStatus.SUCCEEDED and run.counts == {"created": 3}  # first creations, as they were
    assert len(journal_lines(setup["journal"])) == 3  # each found by its reference
    assert RunItem.objects.filter(run=run, outcome=ItemOutcome.CREATED).count() == 3


def test_a_worker_that_was_taken_over_stops_and_each_record_is_recorded_once(setup, monkeypatch, settings):
    drop(setup["in"], "time-01.csv", rows(4))
    monkeypatch.setattr("apps.runs.engine.hub_changed", lambda **kw: [])
    engine.run_execute(run_id=engine.flow_run_request(flow=setup["inbound"], trigger="manual", enqueue=False,
                                                      acting_user=None).pk)
    setup["outbound"].batch_size = 1  # worker A writes one record, then records it
    setup["outbound"].save()
    run = engine.flow_run_request(flow=setup["outbound"], trigger=Trigger.MANUAL, enqueue=False, acting_user=None)
    original_settle, taken_over = outbound._settle, []

    def slow_first_worker(run_, done):
        if not taken_over:  # worker A stalls after its first write; it is presumed dead and taken over
            taken_over.append(True)
            settings.WEFT_RUN_STALE_SECONDS = 0
            taken_over.append(engine.run_execute(run_id=run_.pk))  # worker B: claims and does the rest
        return original_settle(run_, done)

    monkeypatch.setattr(outbound, "_settle", slow_first_worker)
    assert engine.run_execute(run_id=run.pk) is None  # worker A notices at its next heartbeat and stops

    assert taken_over[1].status == RunStatus.SUCCEEDED
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and sum(run.counts.values()) == 4
    items = list(RunItem.objects.filter(run=run).values_list("canonical_id", flat=True))
    assert sorted(items) == sorted(set(items)) and len(items) == 4  # one ledger item per record
    assert len(journal_lines(setup["journal"])) == 4


def test_a_stale_run_is_taken_over_and_a_fresh_one_is_left_to_its_worker(setup, settings):
    settings.WEFT_RUN_STALE_SECONDS = 120
    run = Run.objects.create(flow=setup["outbound"], connection=setup["journal"], object_name="journal_export",
                             object_type="time_entry", status=RunStatus.RUNNING)
    Run.objects.filter(pk=run.pk).update(updated_at=timezone.now() - timedelta(seconds=60))
    assert lease.run_claim(run.pk) is None

    Run.objects.filter(pk=run.pk).update(updated_at=timezone.now() - timedelta(seconds=121))
    claimed = lease.run_claim(run.pk)
    assert claimed is not None and claimed.started_at is not None


def test_a_scheduled_request_queues_an_abandoned_run_again_so_it_resumes(setup, django_capture_on_commit_callbacks):
    drop(setup["in"], "time-01.csv", rows(2))
    run = engine.flow_run_request(flow=setup["inbound"], trigger=Trigger.SCHEDULE, enqueue=False, acting_user=None)
    Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING,  # its worker died mid-slice long ago
                                         updated_at=timezone.now() - timedelta(minutes=10))

    with django_capture_on_commit_callbacks(execute=True):
        again = engine.flow_run_request(flow=setup["inbound"], trigger=Trigger.SCHEDULE, acting_user=None)

    assert again.pk == run.pk  # the same run, queued again (and run: tasks run inline in tests)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.counts == {"created": 2}

    fresh = engine.flow_run_request(flow=setup["inbound"], trigger=Trigger.SCHEDULE, enqueue=False, acting_user=None)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert engine.flow_run_request(flow=setup["inbound"], trigger=Trigger.SCHEDULE, acting_user=None).pk == fresh.pk
    assert queued == []  # a run queued a moment ago is left alone
