"""Duplicates without ids: a file with no id column is keyed by its rows' content (a natural key or the row's
fingerprint); a second row with a key, in the same file or a later one, is a `duplicate` exception that shows
both rows, and never a second record in the hub or the journal."""

from decimal import Decimal

import pytest

from apps.canonical.models import ExternalRef, TimeEntry
from apps.connectors.services import connection_files_root
from apps.exceptions.models import IntegrationException
from apps.runs import engine
from apps.runs.models import ItemOutcome, RunItem
from tests.runs.journal import journal_lines, run_flow

NO_ID = "person,project,date,hours,approval_status,notes\n"


@pytest.fixture(autouse=True)
def _inline_hub_changes(monkeypatch):
    original = engine.hub_changed
    monkeypatch.setattr("apps.runs.engine.hub_changed", lambda **kw: original(**{**kw, "inline": True}))


def put(connection, name: str, rows: str, header: str = NO_ID) -> None:
    inbox = connection_files_root(connection) / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / name).write_text(header + rows)


def configure(connection, **settings) -> None:
    connection.settings = {**connection.settings, **settings}
    connection.save()


def test_an_exact_duplicate_in_a_file_without_ids_lands_once_and_is_an_exception_showing_both_rows(setup):
    put(setup["in"], "time-01.csv",
        "ann,ACME-042,2026-11-02,7.5,approved,Workshop\n"
        "bob,ACME-042,2026-11-02,3,approved,Review\n"
        "ann,ACME-042,2026-11-02,7.5,approved,Workshop\n")

    run = run_flow(setup["inbound"])

    assert run.counts == {"created": 2, "failed": 1}
    assert sorted(TimeEntry.objects.values_list("notes", flat=True)) == ["Review", "Workshop"]
    assert sorted(line["memo"] for line in journal_lines(setup["journal"])) == ["Review", "Workshop"]
    exception = IntegrationException.objects.get()
    assert exception.kind == "duplicate" and exception.title == "duplicate time entry in one file"
    record = exception.records.get()
    assert record.external_id == "time-01.csv row 4" and record.hours == Decimal("7.50")
    assert record.context["date"] == "2026-11-02" and exception.people == ["ann"]
    item = record.last_item
    assert "row 4" in item.error_message and "already on row 2" in item.error_message
    assert item.payload_before["notes"] == "Workshop" and item.payload_before["_row"] == 4  # this row ...
    first = item.payload_before["_duplicate_of"]  # ... and the one stored before it
    assert (first["file"], first["row"]) == ("time-01.csv", 2)
    assert first["record"]["hours"] == "7.50" and first["record"]["notes"] == "Workshop"
    assert first["canonical_id"] == TimeEntry.objects.get(notes="Workshop").pk


def test_a_row_repeated_in_a_later_file_is_a_duplicate_but_the_same_file_read_again_is_not(setup):
    put(setup["in"], "time-01.csv", "ann,ACME-042,2026-11-02,7.5,approved,Workshop\n")
    run_flow(setup["inbound"])
    put(setup["in"], "time-02.csv",
        "ann,ACME-042,2026-11-02,7.5,approved,Workshop\n"
        "ann,ACME-042,2026-11-03,2,approved,Follow-up\n")

    later = run_flow(setup["inbound"])

    assert later.counts == {"created": 1, "failed": 1}
    duplicate = RunItem.objects.get(run=later, outcome=ItemOutcome.FAILED)
    assert duplicate.error_category == "duplicate" and duplicate.external_id == "time-02.csv row 2"
    assert "loaded before from time-01.csv row 2" in duplicate.error_message
    assert duplicate.payload_before["_duplicate_of"]["file"] == "time-01.csv"
    assert IntegrationException.objects.get().title == "duplicate of a row loaded from an earlier file"
    assert TimeEntry.objects.count() == 2 and len(journal_lines(setup["journal"])) == 2

    put(setup["in"], "time-01.csv", "ann,ACME-042,2026-11-02,7.5,approved,Workshop\n")  # re-sent as it was
    again = run_flow(setup["inbound"])

    assert again.counts == {"unchanged": 1}
    assert IntegrationException.objects.get().open_records == 1  # the re-read does not clear the duplicate


def test_genuinely_repeated_entries_can_be_allowed_and_stay_idempotent(setup):
    configure(setup["in"], repeats="allow")
    rows = ("ann,ACME-042,2026-11-02,0.5,approved,Stand-up\n"
            "ann,ACME-042,2026-11-02,0.5,approved,Stand-up\n")
    put(setup["in"], "time-01.csv", rows)

    first = run_flow(setup["inbound"])
    put(setup["in"], "time-01.csv", rows)
    again = run_flow(setup["inbound"])

    assert first.counts == {"created": 2} and again.counts == {"unchanged": 2}
    assert TimeEntry.objects.count() == 2 and len(journal_lines(setup["journal"])) == 2
    refs = ExternalRef.objects.filter(connection=setup["in"], object_type="time_entry")
    keys = sorted(refs.values_list("external_id", flat=True))
    assert keys[0].startswith("fp-") and keys[1] == f"{keys[0]}#2"


def test_a_natural_key_names_the_entry_a_later_file_may_update_it(setup):
    configure(setup["in"], key=["date", "person", "project", "notes"], later_files="update")
    put(setup["in"], "time-01.csv",
        "ann,ACME-042,2026-11-02,2,approved,Workshop\n"
        "ann,ACME-042,2026-11-02,3,approved,Workshop\n")

    first = run_flow(setup["inbound"])
    put(setup["in"], "time-02.csv", "ann,ACME-042,2026-11-02,4,approved,Workshop\n")
    later = run_flow(setup["inbound"])

    assert first.counts == {"created": 1, "failed": 1}
    duplicate = RunItem.objects.get(run=first, outcome=ItemOutcome.FAILED)
    assert "the same time entry (date, person, project, notes) is already on row 2" in duplicate.error_message
    assert later.counts == {"updated": 1}
    assert TimeEntry.objects.get().hours == Decimal("4.00")
    ref = ExternalRef.objects.get(connection=setup["in"], object_type="time_entry")
    assert ref.external_id == "2026-11-02|ann|ACME-042|Workshop"


def test_the_key_settings_are_checked_before_any_file_is_read(setup):
    from apps.connectors.errors import ConnectorError
    from apps.connectors.services import connection_kind

    configure(setup["in"], key=["date", "mood"], repeats="sometimes")

    with pytest.raises(ConnectorError) as refused:
        connection_kind(setup["in"])

    assert "repeats must be duplicate or allow" in refused.value.message
    assert "key names 'mood'" in refused.value.message


def test_the_fingerprint_ignores_column_order_and_spelling_of_numbers(setup):
    configure(setup["in"], decimal_separator=",")
    put(setup["in"], "time-01.csv", "ann,ACME-042,2026-11-02,\"7,5\",approved,Workshop\n")
    run_flow(setup["inbound"])
    put(setup["in"], "time-02.csv", "Workshop,approved,7.50,2026-11-02,ACME-042,ann\n",
        header="notes,approval_status,hours,date,project,person\n")

    later = run_flow(setup["inbound"])

    assert later.counts == {"failed": 1} and TimeEntry.objects.count() == 1
    assert "loaded before from time-01.csv row 2" in RunItem.objects.get(run=later).error_message
