"""Time-entry CSV files for the load benchmarks, the hub's masters, and the COPY baselines measured beside them.

Two baselines, both measured in the benchmark's own run on the same server:
- ``copy_plain``: ``COPY ... FROM STDIN (FORMAT csv)`` of the file as it is into a plain table with the same
  columns and no indexes: what the server can ingest at all (the raw baseline the targets name);
- ``copy_hub_tables``: COPY of the same rows, already typed and resolved, into copies of the hub's
  ``canonical_timeentry`` and ``canonical_externalref`` (same columns, indexes, identity and foreign keys,
  the checks immediate): what the database itself can do for the hub's schema, with no Python in the loop.
"""

from __future__ import annotations

import csv
import random
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

TASKS = ["Design", "Build", "Review", "Workshop", "Travel", "Support", "Analysis", "Testing", "Meetings", "Training"]
NOTES = ["", "", "", "Client call", "Follow-up on change request", "Sprint work", "Documentation, drafts",
         "Fixed \"urgent\" issue", "Onsite at client", "Prepared the steering committee deck"]
HUB_COLUMNS = ("id", "person", "project", "date", "hours", "billable", "approved", "task", "notes")
APPROVED_COLUMNS = ("id", "person", "project", "date", "hours", "billable", "approval_status", "task", "notes")
TYPES = {"date": "date", "hours": "numeric(7,2)", "billable": "boolean", "approved": "boolean"}


def generate(path: Path, rows: int, people: int, projects: int, seed: int = 7) -> None:
    """A realistic export, streamed to disk: people book 0.25–10 h a day on a few projects each."""
    rng = random.Random(seed)
    start = date(2025, 1, 1)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HUB_COLUMNS)
        for n in range(rows):
            person = rng.randrange(people)
            project = (person * 7 + rng.randrange(5)) % projects
            writer.writerow([
                f"TE-{n + 1:07d}", f"P{person:04d}", f"PRJ-{project:04d}",
                (start + timedelta(days=rng.randrange(365))).isoformat(), f"{rng.randrange(1, 41) / 4:.2f}",
                "yes" if rng.random() < 0.8 else "no", "yes" if rng.random() < 0.7 else "no",
                rng.choice(TASKS), rng.choice(NOTES),
            ])


def generate_approved(path: Path, rows: int, people: int, projects: int, seed: int = 11) -> None:
    """Approved time in 2026 that passes the journal accelerator's rules: each person books at most two
    entries of at most 6 h a day, so no day exceeds 12 h."""
    rng = random.Random(seed)
    start = date(2026, 1, 1)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(APPROVED_COLUMNS)
        for n in range(rows):
            person = n % people
            day = (n // people) % 365
            project = (person * 7 + rng.randrange(5)) % projects
            writer.writerow([
                f"TE-{n + 1:07d}", f"P{person:04d}", f"PRJ-{project:04d}", (start + timedelta(days=day)).isoformat(),
                f"{rng.randrange(1, 25) / 4:.2f}", "yes" if rng.random() < 0.8 else "no", "approved",
                rng.choice(TASKS), rng.choice(NOTES),
            ])


def load_masters(connection, people: int, projects: int) -> float:
    """Customers, people and projects the time entries name, loaded into the hub; returns seconds."""
    from apps.canonical.services import hub_upsert_all
    from apps.common.objects import CanonicalInput, ObjectType, Ref

    started = time.perf_counter()
    hub_upsert_all(connection=connection, object_type=ObjectType.CUSTOMER, records=[
        CanonicalInput("customer", f"C{n}", {"code": f"CUST-{n:03d}", "name": f"Client {n}"}) for n in range(50)])
    hub_upsert_all(connection=connection, object_type=ObjectType.PERSON, records=[
        CanonicalInput("person", f"u{n}", {"code": f"P{n:04d}", "name": f"Person {n}"}) for n in range(people)])
    hub_upsert_all(connection=connection, object_type=ObjectType.PROJECT, records=[
        CanonicalInput("project", f"p{n}", {"code": f"PRJ-{n:04d}", "name": f"Project {n}"},
                       refs={"customer": Ref.external(f"C{n % 50}")}) for n in range(projects)])
    return time.perf_counter() - started


def copy_baselines(path: Path, connection) -> dict[str, float]:
    """Seconds for each COPY baseline (see the module docstring); the masters must be loaded first."""
    from django.db import connection as db

    with path.open(encoding="utf-8") as handle:
        columns = next(csv.reader(handle))
    ddl = ", ".join(f"{name} {TYPES.get(name, 'text')}" for name in columns)
    figures = {}
    with db.cursor() as cursor:
        for name in ("bench_copy_file", "bench_copy_rows"):
            cursor.execute(f"DROP TABLE IF EXISTS {name}")
            cursor.execute(f"CREATE TABLE {name} ({ddl})")
        started = time.perf_counter()
        with path.open("rb") as handle, cursor.cursor.copy(
                "COPY bench_copy_file FROM STDIN (FORMAT csv, HEADER true)") as copy:
            while block := handle.read(1 << 20):
                copy.write(block)
        figures["copy_plain_s"] = time.perf_counter() - started
        started = time.perf_counter()
        with path.open(newline="", encoding="utf-8") as handle, cursor.cursor.copy(
                f"COPY bench_copy_rows ({', '.join(columns)}) FROM STDIN") as copy:
            reader = csv.reader(handle)
            next(reader)
            for row in reader:
                copy.write_row(row)
        figures["copy_python_rows_s"] = time.perf_counter() - started
        cursor.execute("DROP TABLE bench_copy_rows")
    figures.update(_copy_hub_tables(connection, "approval_status" in columns))
    return figures


_ENTRY_COLUMNS = ("id, created_at, updated_at, extra, content_hash, task, date, hours, billable, approval_status, "
                  "approver, currency, notes, person_id, project_id, source_connection_id")
_REF_COLUMNS = ("object_type, canonical_id, connection_id, external_id, last_synced_hash, last_synced_at, "
                "last_input_key, origin_file, origin_row")


def _copy_hub_tables(connection, has_status: bool) -> dict[str, float]:
    """COPY the rows, typed and resolved (as the hub stores them), into copies of the hub's two tables."""
    from django.db import connection as db
    from django.db import transaction

    status = "b.approval_status" if has_status else "CASE WHEN b.approved THEN 'approved' ELSE 'submitted' END"
    entries_sql = (
        f"SELECT 1000000000 + row_number() OVER (), now(), now(), '{{}}', md5(b.id) || md5(b.id), b.task, b.date, "
        f"b.hours, coalesce(b.billable, true), {status}, '', '', coalesce(b.notes, ''), pe.id, pr.id, {connection.pk} "
        f"FROM bench_copy_file b JOIN canonical_person pe ON pe.code = b.person "
        f"JOIN canonical_project pr ON pr.code = b.project")
    refs_sql = (f"SELECT 'time_entry', 1000000000 + row_number() OVER (), {connection.pk}, b.id, "
                f"md5(b.id) || md5(b.id), now(), md5(b.id) || md5(b.project), 'time_bench.csv', "
                f"row_number() OVER () + 1 FROM bench_copy_file b")
    with tempfile.TemporaryDirectory() as folder:
        entries, refs = Path(folder) / "entries.copy", Path(folder) / "refs.copy"
        with db.cursor() as cursor:
            copy_out(cursor, entries_sql, entries)
            copy_out(cursor, refs_sql, refs)
        figures = {}
        with transaction.atomic(), db.cursor() as cursor:
            for table in ("canonical_timeentry", "canonical_externalref"):
                shaped_like(cursor, table)
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for key, table, columns, path in (
                    ("copy_hub_entries_s", "bench_shaped_canonical_timeentry", _ENTRY_COLUMNS, entries),
                    ("copy_hub_refs_s", "bench_shaped_canonical_externalref", _REF_COLUMNS, refs)):
                started = time.perf_counter()
                with path.open("rb") as handle, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    while block := handle.read(1 << 20):
                        copy.write(block)
                figures[key] = time.perf_counter() - started
            transaction.set_rollback(True)  # the shaped tables go with the transaction
    figures["copy_hub_tables_s"] = figures["copy_hub_entries_s"] + figures["copy_hub_refs_s"]
    return figures


def copy_out(cursor, query: str, path: Path) -> None:
    with path.open("wb") as handle, cursor.cursor.copy(f"COPY ({query}) TO STDOUT") as copy:
        for block in copy:
            handle.write(block)


def shaped_like(cursor, table: str) -> None:
    """A new table with ``table``'s columns, defaults, identity, indexes, unique constraints and foreign keys."""
    shaped = f"bench_shaped_{table}"
    cursor.execute(f"CREATE TABLE {shaped} (LIKE {table} INCLUDING ALL)")
    cursor.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
                   "AND contype = 'f'", [table])
    for (definition,) in cursor.fetchall():
        cursor.execute(f"ALTER TABLE {shaped} ADD {definition}")
