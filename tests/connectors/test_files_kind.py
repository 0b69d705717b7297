"""The CSV files kind: drop folder and SFTP in, journal export files out — real files, a real SFTP server.

Every bad input ends as a recorded error that names the file, the row and (where there is one) the
field; no row disappears without a trace, and no file is lost: it is archived or rejected.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import threading
import time
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import asyncssh
import pytest
from django.utils import timezone

from apps.canonical.models import Expense, ExternalRef, TimeEntry
from apps.canonical.services import hub_upsert_all
from apps.common.errors import ErrorCategory
from apps.common.objects import CanonicalInput, ObjectType, Ref
from apps.connectors.errors import ConnectorError
from apps.connectors.flatfiles import export
from apps.connectors.kinds.base import WriteRequest
from apps.connectors.services import connection_create, connection_files_root, connection_kind, connection_test
from apps.runs.models import ItemOutcome, RunStatus, SyncCursor
from apps.runs.services import pull_run

HEADER = "id,person,project,date,hours,billable,approved,task,notes\n"
ROWS = [
    "T-1,ann,ACME-042,2026-11-02,7.5,yes,yes,Design,Kick-off workshop\n",
    "T-2,bob,ACME-042,2026-11-02,3,no,no,Build,\n",
    'T-3,ann,ACME-043,2026-11-03,1.25,yes,yes,Review,"Notes, with a comma"\n',
]


# --- set-up --------------------------------------------------------------------------------------
@pytest.fixture
def files_dir(settings, tmp_path):
    settings.WEFT_DATA_DIR = tmp_path
    return tmp_path


@pytest.fixture
def masters(in_alpha, files_dir):
    """People and projects in the hub by code, as the ERP and the HR tool would have put them there."""
    erp = connection_create(name="ERP", kind="csv", acting_user=None)
    load = hub_upsert_all
    load(connection=erp, object_type=ObjectType.CUSTOMER,
         records=[CanonicalInput("customer", "c1", {"code": "ACME", "name": "Acme"})])
    load(connection=erp, object_type=ObjectType.PERSON, records=[
        CanonicalInput("person", "u1", {"code": "ann", "name": "Ann"}),
        CanonicalInput("person", "u2", {"code": "bob", "name": "Bob"}),
    ])
    load(connection=erp, object_type=ObjectType.PROJECT, records=[
        CanonicalInput("project", f"p{n}", {"code": code, "name": code}, refs={"customer": Ref.external("c1")})
        for n, code in enumerate(["ACME-042", "ACME-043"])
    ])
    return erp


def _drop_folder(**settings):
    connection = connection_create(name="Drop", kind="csv", settings=settings, acting_user=None)
    return connection, connection_files_root(connection)


def drop(folder: Path, name: str, content: str | bytes, *, encoding: str = "utf-8", age: float = 60) -> Path:
    """Put a file in a drop folder, written ``age`` seconds ago (so it counts as finished)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def _archived(root: Path) -> list[str]:
    today = timezone.localdate()
    folder = root / "archive" / f"{today:%Y}" / f"{today:%m}"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def _rejected(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "rejected").iterdir()) if (root / "rejected").exists() else []


def _counts(run) -> dict[str, int]:
    return {outcome: count for outcome, count in run.counts.items() if count}


def _problems(run) -> dict[str, SimpleNamespace]:
    return {item.external_id: item for item in run.items.filter(outcome=ItemOutcome.FAILED)}


# --- the happy path ------------------------------------------------------------------------------
def test_time_entries_from_a_drop_folder_land_in_the_hub_and_the_file_is_archived(masters):
    connection, root = _drop_folder()
    drop(root / "inbox", "time_2026-11.csv", HEADER + "".join(ROWS))

    run = pull_run(connection=connection, object_name="time_entries")

    assert run.status == RunStatus.SUCCEEDED and _counts(run) == {"created": 3}
    entry = TimeEntry.objects.get(hours=Decimal("1.25"))
    assert (entry.person.code, entry.project.code, str(entry.date)) == ("ann", "ACME-043", "2026-11-03")
    assert entry.notes == "Notes, with a comma" and entry.approval_status == "approved" and entry.billable
    bob = TimeEntry.objects.get(person__code="bob")
    assert bob.approval_status == "submitted" and not bob.billable and bob.notes == ""
    refs = ExternalRef.objects.filter(connection=connection, object_type="time_entry")
    assert sorted(refs.values_list("external_id", flat=True)) == ["T-1", "T-2", "T-3"]
    assert list((root / "inbox").iterdir()) == [] and _archived(root) == ["time_2026-11.csv"]
    assert SyncCursor.objects.get(connection=connection, object_name="time_entries").value == "time_2026-11.csv"


def test_the_same_file_dropped_again_changes_nothing_and_is_archived_beside_the_first(masters):
    connection, root = _drop_folder()
    drop(root / "inbox", "time_2026-11.csv", HEADER + "".join(ROWS))
    pull_run(connection=connection, object_name="time_entries")
    drop(root / "inbox", "time_2026-11.csv", HEADER + "".join(ROWS))

    again = pull_run(connection=connection, object_name="time_entries")

    assert _counts(again) == {"unchanged": 3} and TimeEntry.objects.count() == 3
    assert _archived(root) == ["time_2026-11-2.csv", "time_2026-11.csv"]


def test_files_are_read_in_name_order_and_a_later_file_updates_an_entry(masters):
    connection, root = _drop_folder()
    drop(root / "inbox", "time_b.csv", HEADER + "T-1,ann,ACME-042,2026-11-02,8,yes,yes,Design,Corrected\n")
    drop(root / "inbox", "time_a.csv", HEADER + ROWS[0])

    run = pull_run(connection=connection, object_name="time_entries")

    assert _counts(run) == {"created": 1, "updated": 1}
    assert TimeEntry.objects.get().hours == Decimal("8.00")
    assert run.cursor_end == "time_b.csv"


def test_a_european_expense_export_reads_with_its_settings(masters):
    connection, root = _drop_folder(encoding="cp1252", decimal_separator=",", date_format="%d.%m.%Y",
                                    columns={"Mitarbeiter": "person", "Projekt": "project", "Betrag": "amount",
                                             "Währung": "currency", "Kategorie": "category", "Datum": "date",
                                             "Nr": "external_id", "Bemerkung": "notes"})
    text = ("Nr;Mitarbeiter;Projekt;Datum;Betrag;Währung;Kategorie;Bemerkung\r\n"
            "E-1;ann;ACME-042;02.11.2026;1234,50;EUR;Reise;Zug München–Köln\r\n")
    drop(root / "inbox", "expenses_nov.csv", text.replace("–", "-"), encoding="cp1252")

    run = pull_run(connection=connection, object_name="expenses")

    assert run.status == RunStatus.SUCCEEDED, list(run.items.values_list("error_message", flat=True))
    expense = Expense.objects.get()
    assert expense.amount == Decimal("1234.50") and expense.currency == "EUR" and str(expense.date) == "2026-11-02"
    assert expense.notes == "Zug München-Köln" and expense.category == "Reise"


def test_a_date_that_does_not_match_the_date_format_fails_its_row(masters):
    connection, root = _drop_folder(date_format="%d.%m.%Y")
    drop(root / "inbox", "time.csv", HEADER + ROWS[0].replace("2026-11-02", "02.11.2026") + ROWS[1])

    run = pull_run(connection=connection, object_name="time_entries")

    item = _problems(run)["time.csv row 3"]
    assert _counts(run) == {"created": 1, "failed": 1} and item.error_field == "date"
    assert item.error_message == "time.csv row 3: date: '2026-11-02' does not match the date format '%d.%m.%Y'."


def test_a_utf8_bom_and_tab_delimiter_are_handled(masters):
    connection, root = _drop_folder()
    drop(root / "inbox", "time.tsv.csv", "\ufeff" + (HEADER + ROWS[0]).replace(",", "\t"))

    run = pull_run(connection=connection, object_name="time_entries")

    assert _counts(run) == {"created": 1} and TimeEntry.objects.get().task == "Design"


def test_an_excel_unicode_text_export_is_read(masters):
    connection, root = _drop_folder()
    text = (HEADER + ROWS[0].replace("Design", "Entwurf für Müller")).replace(",", "\t")
    drop(root / "inbox", "time_excel.csv", text.encode("utf-16"))  # UTF-16 with a byte-order mark, tabs

    run = pull_run(connection=connection, object_name="time_entries")

    assert _counts(run) == {"created": 1} and TimeEntry.objects.get().task == "Entwurf für Müller"


def test_files_still_being_written_are_left_for_the_next_read(masters):
    connection, root = _drop_folder()
    drop(root / "inbox", "time_now.csv", HEADER + ROWS[0], age=0)  # just written: may be incomplete
    drop(root / "inbox", "time_upload.csv.part", HEADER + ROWS[1])  # the sender's temporary name

    run = pull_run(connection=connection, object_name="time_entries")

    assert _counts(run) == {} and TimeEntry.objects.count() == 0
    assert sorted(p.name for p in (root / "inbox").iterdir()) == ["time_now.csv", "time_upload.csv.part"]


def test_a_settle_time_of_zero_reads_a_file_at_once(masters):
    connection, root = _drop_folder(settle_seconds=0)
    drop(root / "inbox", "time_now.csv", HEADER + ROWS[0], age=0)

    assert _counts(pull_run(connection=connection, object_name="time_entries")) == {"created": 1}


def test_a_worker_dying_mid_file_leaves_the_file_and_the_next_read_is_harmless(masters):
    connection, root = _drop_folder(batch_size=2)
    drop(root / "inbox", "time.csv", HEADER + "".join(ROWS))
    kind = connection_kind(connection)
    pages = kind.read("time_entries")
    first = next(pages)
    hub_upsert_all(connection=connection, object_type="time_entry",
                   records=[kind.to_canonical("time_entries", r) for r in first.records])
    pages.close()  # the worker died before asking for the next page

    assert (root / "inbox" / "time.csv").exists() and _archived(root) == []
    run = pull_run(connection=connection, object_name="time_entries")
    assert _counts(run) == {"unchanged": 2, "created": 1} and TimeEntry.objects.count() == 3
    assert _archived(root) == ["time.csv"]



def test_status_in_any_case_extra_columns_and_reversals(masters):
    connection, root = _drop_folder(extra_columns=["Cost centre"])
    header = "ID,Employee,Project Code,Work Date,Hours,Status,Cost centre,Deleted\n"
    drop(root / "inbox", "time_1.csv", header + "T-1,ann,ACME-042,2026-11-02,2,Approved,CC-7,\n")
    first = pull_run(connection=connection, object_name="time_entries")
    drop(root / "inbox", "time_2.csv", header + "T-1,ann,ACME-042,2026-11-02,2,Approved,CC-7,yes\n")

    second = pull_run(connection=connection, object_name="time_entries")

    assert _counts(first) == {"created": 1} and _counts(second) == {"deleted": 1}
    entry = TimeEntry.objects.get()
    assert entry.approval_status == "approved" and entry.extra == {"Cost centre": "CC-7"}
    assert entry.deleted_at is not None  # a reversal is kept as an event, not a deleted row


def test_a_file_moved_away_by_another_reader_is_left_alone(masters):
    connection, root = _drop_folder()
    drop(root / "inbox", "time.csv", HEADER + ROWS[0])
    pages = connection_kind(connection).read("time_entries")
    next(pages)
    (root / "inbox" / "time.csv").rename(root / "elsewhere.csv")  # a reader on another machine finished first

    assert list(pages) == [] and _archived(root) == []


# --- bad input -----------------------------------------------------------------------------------
def test_a_wrong_type_is_a_failed_item_naming_file_row_and_field(masters):
    connection, root = _drop_folder()
    drop(root / "inbox", "time.csv", HEADER + ROWS[0] + "T-2,bob,ACME-042,2026-11-02,abc,no,no,Build,\n")

    run = pull_run(connection=connection, object_name="time_entries")

    assert run.status == RunStatus.PARTIAL and _counts(run) == {"created": 1, "failed": 1}
    item = _problems(run)["T-2"]
    assert item.error_field == "hours"
    assert item.error_message == "time.csv row 3: hours: 'abc' is not a number"
    assert item.payload_before["hours"] == "abc"
    assert _archived(root) == ["time.csv"]  # the file itself was read completely


def test_unknown_people_and_projects_are_failed_items(masters):
    connection, root = _drop_folder()
    drop(root / "inbox", "time.csv", HEADER + "T-9,zoe,ACME-042,2026-11-02,1,yes,yes,,\n")

    run = pull_run(connection=connection, object_name="time_entries")

    item = _problems(run)["T-9"]
    assert item.error_field == "person" and item.error_category == ErrorCategory.MISSING_REFERENCE
    assert item.error_message == "time.csv row 2: person: no person with code zoe is known yet."


def test_duplicate_rows_in_a_file_load_the_first_and_report_the_second(masters):
    connection, root = _drop_folder()
    drop(root / "inbox", "time.csv", HEADER + ROWS[0] + ROWS[1] + ROWS[0].replace("7.5", "9"))

    run = pull_run(connection=connection, object_name="time_entries")

    assert _counts(run) == {"created": 2, "failed": 1}
    item = _problems(run)["time.csv row 4"]
    assert item.error_field == "external_id" and item.error_category == ErrorCategory.DUPLICATE
    assert "duplicate row: id T-1 is already on row 2" in item.error_message
    assert TimeEntry.objects.get(person__code="ann").hours == Decimal("7.50")


def test_a_row_with_the_wrong_number_of_columns_is_reported_and_the_rest_loads(masters):
    connection, root = _drop_folder()
    drop(root / "inbox", "time.csv", HEADER + ROWS[0] + "T-2,bob,ACME-042\n" + ROWS[2])

    run = pull_run(connection=connection, object_name="time_entries")

    assert _counts(run) == {"created": 2, "failed": 1}
    item = _problems(run)["time.csv row 3"]
    assert item.error_message == "time.csv row 3: has 3 columns; the header has 9. The row was not loaded."
    assert item.payload_before == ["T-2", "bob", "ACME-042"]
    assert _archived(root) == ["time.csv"]


def test_an_unbalanced_quote_rejects_the_file_and_says_where(masters):
    connection, root = _drop_folder()
    broken = 'T-2,bob,ACME-042,2026-11-02,3,no,no,Build,"never closed\n'
    drop(root / "inbox", "time.csv", HEADER + ROWS[0] + broken + ROWS[2])

    run = pull_run(connection=connection, object_name="time_entries")

    assert run.status == RunStatus.PARTIAL and _counts(run) == {"created": 1, "failed": 1}
    message = _problems(run)["time.csv row 3"].error_message
    assert "quoted field that starts on line 3 is never closed" in message and "rejected/" in message
    assert _rejected(root) == ["time.csv", "time.csv.error.txt"]
    note = (root / "rejected" / "time.csv.error.txt").read_text()
    assert "never closed" in note and "Drop" in note
    assert (root / "rejected" / "time.csv").read_text().endswith(ROWS[2])  # the original, untouched


def test_a_file_in_the_wrong_encoding_names_the_byte_and_line_and_loads_nothing(masters):
    connection, root = _drop_folder()
    drop(root / "inbox", "time.csv", (HEADER + ROWS[0] + ROWS[1].replace("Build", "Café")).encode("cp1252"))

    run = pull_run(connection=connection, object_name="time_entries")

    assert _counts(run) == {"failed": 1} and TimeEntry.objects.count() == 0
    message = _problems(run)["time.csv"].error_message
    offset = len((HEADER + ROWS[0] + "T-2,bob,ACME-042,2026-11-02,3,no,no,Caf").encode())
    assert f"byte 0xe9 at byte offset {offset} (line 3, column 40)" in message
    assert "not valid utf-8" in message and _rejected(root) == ["time.csv", "time.csv.error.txt"]


def test_a_truncated_file_loads_what_is_whole_and_is_rejected(masters):
    connection, root = _drop_folder()
    drop(root / "inbox", "time.csv", HEADER + ROWS[0] + ROWS[1] + "T-3,ann,ACME-0")

    run = pull_run(connection=connection, object_name="time_entries")

    assert _counts(run) == {"created": 2, "failed": 1}
    assert "the file looks truncated" in _problems(run)["time.csv row 4"].error_message
    assert _rejected(root) == ["time.csv", "time.csv.error.txt"]


def test_a_missing_required_column_rejects_the_file_naming_the_column(masters):
    connection, root = _drop_folder()
    drop(root / "inbox", "time.csv", "id,person,project,date\nT-1,ann,ACME-042,2026-11-02\n")

    run = pull_run(connection=connection, object_name="time_entries")

    item = _problems(run)["time.csv"]
    assert item.error_field == "hours" and "Missing required column(s) hours" in item.error_message
    assert "'columns' setting" in item.error_message and _rejected(root) == ["time.csv", "time.csv.error.txt"]


def test_an_empty_file_is_rejected_not_silently_archived(masters):
    connection, root = _drop_folder()
    drop(root / "inbox", "time.csv", "")
    drop(root / "inbox", "time_bom_only.csv", "\ufeff\r\n")

    run = pull_run(connection=connection, object_name="time_entries")

    problems = _problems(run)
    assert set(problems) == {"time.csv", "time_bom_only.csv"}
    assert all("The file is empty" in p.error_message for p in problems.values())
    assert _rejected(root) == ["time.csv", "time.csv.error.txt", "time_bom_only.csv", "time_bom_only.csv.error.txt"]


def test_a_huge_field_fails_its_row_and_the_rest_of_the_file_loads(masters):
    connection, root = _drop_folder()
    huge = f'T-2,bob,ACME-042,2026-11-02,3,no,no,Build,"{"x" * (csv.field_size_limit() + 10)}"\n'
    drop(root / "inbox", "time.csv", HEADER + ROWS[0] + huge + ROWS[2])

    run = pull_run(connection=connection, object_name="time_entries")

    assert _counts(run) == {"created": 2, "failed": 1}
    assert "a field is longer than 131,072 characters" in _problems(run)["time.csv row 3"].error_message
    assert _archived(root) == ["time.csv"]


def test_an_empty_id_and_a_nul_byte_are_row_errors(masters):
    connection, root = _drop_folder()
    drop(root / "inbox", "time.csv", HEADER + ",ann,ACME-042,2026-11-02,1,,,,\n" + ROWS[1].replace("Build", "Bu\0ild"))

    run = pull_run(connection=connection, object_name="time_entries")

    problems = _problems(run)
    assert problems["time.csv row 2"].error_field == "external_id"
    assert "NUL character" in problems["time.csv row 3"].error_message
    assert problems["time.csv row 3"].error_field == "task"


def test_misconfiguration_is_refused_before_any_file_is_touched(in_alpha, files_dir):
    with pytest.raises(ConnectorError, match="columns maps 'Stunden' to 'hourz'"):
        connection_kind(connection_create(name="Bad", kind="csv", settings={"columns": {"Stunden": "hourz"}},
                                          acting_user=None))
    with pytest.raises(ConnectorError, match="outside the connection's folder"):
        connection_kind(connection_create(name="Sneaky", kind="csv", settings={"inbox_dir": "/etc"}, acting_user=None))
    with pytest.raises(ConnectorError, match="encoding 'klingon' is not known.*batch_size must be a number"):
        connection_kind(connection_create(name="Odd", kind="csv", settings={"encoding": "klingon", "batch_size": 0},
                                          acting_user=None))
    with pytest.raises(ConnectorError, match="outside the connection's folder"):
        connection_kind(connection_create(name="Sneakier", kind="csv", settings={"inbox_dir": "../../beta/x"},
                                          acting_user=None))


def test_a_drop_folder_listed_in_the_allowed_folders_can_be_used(masters, settings, tmp_path_factory):
    shared = tmp_path_factory.mktemp("erp-share")
    settings.WEFT_FILES_ALLOWED_DIRS = [str(shared)]
    connection, root = _drop_folder(inbox_dir=str(shared / "acme"))
    drop(shared / "acme", "time.csv", HEADER + ROWS[0])

    run = pull_run(connection=connection, object_name="time_entries")

    assert _counts(run) == {"created": 1} and _archived(root) == ["time.csv"]
    assert list((shared / "acme").iterdir()) == []


def test_testing_a_drop_folder_connection(in_alpha, files_dir):
    connection, root = _drop_folder()
    drop(root / "inbox", "time.csv", HEADER)

    result = connection_test(connection=connection, acting_user=None)

    assert result.ok and "files waiting: 1 time entries, 0 expenses" in result.message


# --- export files --------------------------------------------------------------------------------
def test_export_writes_each_reference_once_even_across_restarts(in_alpha, files_dir):
    connection, root = _drop_folder()
    kind = connection_kind(connection)
    payload = kind.from_canonical("journal_export", {"date": "2026-11-02", "hours": Decimal("7.50"), "billable": True},
                                  {"person": "ann", "project": "ACME-042"})

    first = kind.write("journal_export", payload, reference="te-1")
    again = kind.write("journal_export", payload, reference="te-1")
    second = kind.write("journal_export", {**payload, "hours": "1.00"}, reference="te-2")
    export._SHARED.clear()  # a new worker process: nothing in memory
    restarted = connection_kind(connection)
    after_restart = restarted.write("journal_export", payload, reference="te-1")

    name = f"journal-{timezone.localdate():%Y-%m-%d}.csv"
    assert first.created and first.external_id == f"{name}:2"
    assert not again.created and again.external_id == first.external_id
    assert second.external_id == f"{name}:3"
    assert not after_restart.created and restarted.find("journal_export", reference="te-2") == f"{name}:3"
    rows = list(csv.DictReader((root / "outbox" / name).open()))
    assert [(r["reference"], r["hours"], r["person"], r["billable"]) for r in rows] == [
        ("te-1", "7.50", "ann", "true"), ("te-2", "1.00", "ann", "true")]


def test_export_remembers_references_after_the_erp_took_the_file(in_alpha, files_dir):
    connection, root = _drop_folder(export_format="jsonl", export_rotation="run")
    first = connection_kind(connection).write("journal_export", {"hours": "2"}, reference="te-1")
    file_name = first.external_id.split(":")[0]
    (root / "outbox" / file_name).unlink()  # collected by the ERP

    again = connection_kind(connection).write("journal_export", {"hours": "2"}, reference="te-1")

    assert file_name.endswith(".jsonl") and not again.created and again.external_id == first.external_id


def test_export_repairs_the_index_after_a_crash_between_line_and_index(in_alpha, files_dir):
    connection, root = _drop_folder(export_format="jsonl")
    written = connection_kind(connection).write("journal_export", {"hours": "2"}, reference="te-1")
    (root / "outbox" / ".index.jsonl").write_text('["te-0", "x:1"]\n["te-1", "jour')  # the index write was cut

    kind = connection_kind(connection)

    assert kind.find("journal_export", reference="te-1") == written.external_id
    assert not kind.write("journal_export", {"hours": "2"}, reference="te-1").created
    assert kind.write("journal_export", {"hours": "3"}, reference="te-2").created
    lines = [json.loads(line) for line in (root / "outbox" / written.external_id.split(":")[0]).open()]
    assert [line["reference"] for line in lines] == ["te-1", "te-2"]


def test_taking_an_exported_line_back_appends_one_reversal_and_frees_the_reference(in_alpha, files_dir):
    connection, root = _drop_folder()
    posted = connection_kind(connection).write("journal_export", {"hours": "7.50"}, reference="te-1")

    connection_kind(connection).delete("journal_export", posted.external_id)
    connection_kind(connection).delete("journal_export", posted.external_id)  # a retry: no second reversal
    reposted = connection_kind(connection).write("journal_export", {"hours": "8.00"}, reference="te-1")

    name = posted.external_id.split(":")[0]
    rows = list(csv.DictReader((root / "outbox" / name).open()))
    assert [(r["reference"], r["reverses"], r["hours"]) for r in rows] == [
        ("te-1", "", "7.50"), (f"te-1#reversal:{posted.external_id}", posted.external_id, ""), ("te-1", "", "8.00")]
    assert reposted.created and reposted.external_id == f"{name}:4"
    assert connection_kind(connection).find("journal_export", reference="te-1") == reposted.external_id
    with pytest.raises(ConnectorError, match="nothing to reverse"):
        connection_kind(connection).delete("journal_export", f"{name}:99")


def test_a_batch_of_export_lines_is_written_when_it_ends_and_numbered_as_if_one_by_one(in_alpha, files_dir):
    connection, root = _drop_folder()
    kind = connection_kind(connection)
    first = kind.write("journal_export", {"date": "2026-11-02", "hours": "1"}, reference="te-1")
    name = first.external_id.split(":")[0]
    with kind.batch():
        second = kind.write("journal_export", {"date": "2026-11-02", "hours": "2"}, reference="te-2")
        third = kind.write("journal_export", {"date": "2026-11-02", "hours": "3"}, reference="te-3")
        again = kind.write("journal_export", {"date": "2026-11-02", "hours": "2"}, reference="te-2")
        assert len(list(csv.DictReader((root / "outbox" / name).open()))) == 1  # held back until the end

    assert (second.external_id, third.external_id) == (f"{name}:3", f"{name}:4") and not again.created
    rows = list(csv.DictReader((root / "outbox" / name).open()))
    assert [(r["reference"], r["hours"]) for r in rows] == [("te-1", "1"), ("te-2", "2"), ("te-3", "3")]
    export._SHARED.clear()  # a new worker process finds them all by their references
    assert connection_kind(connection).find("journal_export", reference="te-3") == third.external_id


def test_a_batch_that_ends_in_an_exception_writes_nothing_and_forgets_it(in_alpha, files_dir):
    connection, root = _drop_folder(export_format="jsonl")
    kind = connection_kind(connection)
    with pytest.raises(SystemExit), kind.batch():
        kind.write("journal_export", {"hours": "2"}, reference="te-1")
        raise SystemExit("worker killed")

    assert not list((root / "outbox").glob("journal-*"))
    assert kind.find("journal_export", reference="te-1") is None
    assert kind.write("journal_export", {"hours": "2"}, reference="te-1").created


def test_export_refuses_a_payload_that_does_not_fit_the_file(in_alpha, files_dir):
    connection, _ = _drop_folder()
    kind = connection_kind(connection)
    kind.write("journal_export", {"date": "2026-11-02", "hours": "1"}, reference="a")
    with pytest.raises(ConnectorError, match="no column for colour"):
        kind.write("journal_export", {"hours": "1", "colour": "blue"}, reference="b")


def test_many_export_lines_in_one_call_are_numbered_in_order_and_a_known_reference_keeps_its_line(in_alpha,
                                                                                                  files_dir):
    connection, root = _drop_folder()
    kind = connection_kind(connection)
    first = kind.write("journal_export", {"date": "2026-11-02", "hours": "1"}, reference="te-1")
    name = first.external_id.split(":")[0]

    assert kind.writes_many("journal_export") and not kind.writes_many("time_entries")
    results = kind.write_many("journal_export", [
        WriteRequest({"date": "2026-11-02", "hours": "2"}, "te-2"),
        WriteRequest({"date": "2026-11-02", "hours": "1"}, "te-1"),
        WriteRequest({"date": "2026-11-02", "hours": "3"}, "te-3")])

    assert [(r.external_id, r.created) for r in results] == [
        (f"{name}:3", True), (f"{name}:2", False), (f"{name}:4", True)]
    rows = list(csv.DictReader((root / "outbox" / name).open()))
    assert [(r["reference"], r["hours"]) for r in rows] == [("te-1", "1"), ("te-2", "2"), ("te-3", "3")]


def test_many_export_lines_with_one_that_does_not_fit_are_refused_whole_inside_a_batch(in_alpha, files_dir):
    """All or none, also inside the engine's batch: the engine splits a refused batch and sends the halves again,
    so a line held back before the bad one would be recorded as failed yet still written when the batch ends."""
    connection, root = _drop_folder()
    kind = connection_kind(connection)
    kind.write("journal_export", {"date": "2026-11-02", "hours": "1"}, reference="a")
    with kind.batch():
        with pytest.raises(ConnectorError, match="no column for colour"):
            kind.write_many("journal_export", [WriteRequest({"date": "2026-11-02", "hours": "2"}, "b"),
                                               WriteRequest({"hours": "1", "colour": "blue"}, "c")])
        assert kind.find("journal_export", reference="b") is None
        kind.write_many("journal_export", [WriteRequest({"date": "2026-11-02", "hours": "4"}, "d")])

    rows = list(csv.DictReader(next((root / "outbox").glob("journal-*.csv")).open()))
    assert [r["reference"] for r in rows] == ["a", "d"]


# --- SFTP ----------------------------------------------------------------------------------------
class _PasswordServer(asyncssh.SSHServer):
    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        return (username, password) == ("weft", "s3cret-pw")


@pytest.fixture(scope="module")
def sftp_server(tmp_path_factory):
    """A real SFTP server on 127.0.0.1, chrooted to a temporary folder, in a thread of this process."""
    root = tmp_path_factory.mktemp("sftp-root")
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ssh-ed25519")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start():
        return await asyncssh.listen(
            "127.0.0.1", 0, server_host_keys=[host_key], server_factory=_PasswordServer,
            authorized_client_keys=asyncssh.import_authorized_keys(client_key.export_public_key().decode()),
            sftp_factory=lambda chan: asyncssh.SFTPServer(chan, chroot=str(root).encode()), allow_scp=False,
        )

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    yield SimpleNamespace(
        root=root, port=server.sockets[0].getsockname()[1],
        host_key=host_key.export_public_key().decode().strip(),
        client_key=client_key.export_private_key().decode(),
    )
    server.close()
    asyncio.run_coroutine_threadsafe(server.wait_closed(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def _sftp_connection(server, *, name="SFTP drop", host_key=None, credentials=None):
    return connection_create(
        name=name, kind="csv",
        settings={"sftp_host": "127.0.0.1", "sftp_port": server.port, "sftp_path": "/drop",
                  "sftp_host_key": server.host_key if host_key is None else host_key},
        credentials=credentials or {"sftp_username": "weft", "sftp_password": "s3cret-pw"}, acting_user=None,
        allow_private_network=True,  # the test server listens on loopback
    )


def test_sftp_files_are_read_moved_to_the_server_archive_and_kept_locally(masters, sftp_server):
    drop(sftp_server.root / "drop", "time_sftp.csv", HEADER + "".join(ROWS))
    connection = _sftp_connection(sftp_server)

    assert connection_test(connection=connection, acting_user=None).ok
    run = pull_run(connection=connection, object_name="time_entries")

    assert run.status == RunStatus.SUCCEEDED and _counts(run) == {"created": 3}
    assert not (sftp_server.root / "drop" / "time_sftp.csv").exists()
    assert (sftp_server.root / "drop" / "archive" / "time_sftp.csv").read_text() == HEADER + "".join(ROWS)
    assert _archived(connection_files_root(connection)) == ["time_sftp.csv"]


def test_sftp_rejects_a_broken_file_on_the_server_with_its_reason(masters, sftp_server):
    drop(sftp_server.root / "drop", "time_bad.csv", "id,person\nT-1,ann\n")
    connection = _sftp_connection(sftp_server, credentials={"sftp_username": "weft",
                                                            "sftp_private_key": sftp_server.client_key})

    run = pull_run(connection=connection, object_name="time_entries")

    assert "Missing required column(s) project, date, hours" in _problems(run)["time_bad.csv"].error_message
    rejected = sftp_server.root / "drop" / "rejected"
    assert sorted(p.name for p in rejected.iterdir()) == ["time_bad.csv", "time_bad.csv.error.txt"]
    assert _rejected(connection_files_root(connection)) == ["time_bad.csv", "time_bad.csv.error.txt"]


def test_sftp_refuses_a_server_whose_key_does_not_match_and_leaves_the_file(masters, sftp_server):
    drop(sftp_server.root / "drop", "time_kept.csv", HEADER + ROWS[0])
    impostor = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    connection = _sftp_connection(sftp_server, host_key=impostor)

    run = pull_run(connection=connection, object_name="time_entries")

    assert run.status == RunStatus.FAILED and "host key does not match" in run.error_message
    assert (sftp_server.root / "drop" / "time_kept.csv").exists() and TimeEntry.objects.count() == 0
    (sftp_server.root / "drop" / "time_kept.csv").unlink()


def test_sftp_test_without_a_host_key_shows_the_key_to_check(in_alpha, files_dir, sftp_server):
    connection = _sftp_connection(sftp_server, host_key="")

    result = connection_test(connection=connection, acting_user=None)

    assert not result.ok and sftp_server.host_key.split()[1] in result.message


def test_sftp_wrong_password_is_an_auth_failure(in_alpha, files_dir, sftp_server):
    connection = _sftp_connection(sftp_server, credentials={"sftp_username": "weft", "sftp_password": "wrong"})

    result = connection_test(connection=connection, acting_user=None)

    assert not result.ok and "permission denied" in result.message.lower()
