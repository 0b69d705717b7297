"""Loading a large time-entry CSV through the CSV files kind into the hub, against raw COPY of the same rows.

Measures, in one run on one server:
  (a) the baseline: PostgreSQL ``COPY ... FROM STDIN (FORMAT csv)`` of the file into a plain table with the
      same columns (no indexes), and, for scale, COPY of the same rows parsed in Python (``write_row``);
  (b) a first load: ``pull_run`` of the file through the files kind into the hub (people and projects are
      loaded first and timed on their own);
  (c) an all-unchanged reload of the same file;
  and, to show what the hub's schema itself costs, the server alone writing the same rows into the hub's
  tables with INSERT ... SELECT (every index and foreign-key check; rolled back): the ceiling for (b).
Targets (the CSV kind's issue): (b) ≥ 15% of (a) rows/s, (c) ≥ 30%, peak RSS ≤ 300 MB.
Runs in its own database (weft_bench_hub), rebuilt each run.
Usage: python bench/hub_upsert.py [--rows 200000] [--people 200] [--projects 500] [--profile first|reload]
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._setup import django_for_benchmarks, peak_rss_mb, report  # noqa: E402

TASKS = ["Design", "Build", "Review", "Workshop", "Travel", "Support", "Analysis", "Testing", "Meetings", "Training"]
NOTES = ["", "", "", "Client call", "Follow-up on change request", "Sprint work", "Documentation, drafts",
         "Fixed \"urgent\" issue", "Onsite at client", "Prepared the steering committee deck"]
COLUMNS = "id,person,project,date,hours,billable,approved,task,notes"
BASELINE_TABLE = ("CREATE TABLE {name} (id text, person text, project text, date date, "
                  "hours numeric(7,2), billable boolean, approved boolean, task text, notes text)")


def generate(path: Path, rows: int, people: int, projects: int, seed: int = 7) -> None:
    """A realistic export, streamed to disk: people book 0.25–10 h a day on a few projects each."""
    rng = random.Random(seed)
    start = date(2025, 1, 1)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS.split(","))
        for n in range(rows):
            person = rng.randrange(people)
            project = (person * 7 + rng.randrange(5)) % projects
            writer.writerow([
                f"TE-{n + 1:07d}", f"P{person:04d}", f"PRJ-{project:04d}",
                (start + timedelta(days=rng.randrange(365))).isoformat(), f"{rng.randrange(1, 41) / 4:.2f}",
                "yes" if rng.random() < 0.8 else "no", "yes" if rng.random() < 0.7 else "no",
                rng.choice(TASKS), rng.choice(NOTES),
            ])


def copy_baseline(path: Path) -> tuple[float, float]:
    """Seconds for COPY of the file as it is, and for COPY of rows parsed in Python."""
    from django.db import connection

    with connection.cursor() as cursor:
        results = []
        for name in ("bench_copy_file", "bench_copy_rows"):
            cursor.execute(f"DROP TABLE IF EXISTS {name}")
            cursor.execute(BASELINE_TABLE.format(name=name))
        started = time.perf_counter()
        with path.open("rb") as handle, cursor.cursor.copy(
                "COPY bench_copy_file FROM STDIN (FORMAT csv, HEADER true)") as copy:
            while block := handle.read(1 << 20):
                copy.write(block)
        results.append(time.perf_counter() - started)
        started = time.perf_counter()
        with path.open(newline="", encoding="utf-8") as handle, cursor.cursor.copy(
                f"COPY bench_copy_rows ({COLUMNS}) FROM STDIN") as copy:
            reader = csv.reader(handle)
            next(reader)
            for row in reader:
                copy.write_row(row)
        results.append(time.perf_counter() - started)
    return results[0], results[1]


def hub_tables_floor(connection) -> float:
    """Seconds for the server alone to write the baseline rows into the hub's own tables (every index, the
    foreign-key checks made immediate), as INSERT ... SELECT with no Python in the loop; rolled back after.
    No load through this schema can beat it: it is the ceiling for (b) on this server."""
    from django.db import connection as db
    from django.db import transaction

    insert_entries = (
        "INSERT INTO canonical_timeentry (id, person_id, project_id, task, date, hours, billable, approval_status, "
        "approver, currency, notes, extra, created_at, updated_at, content_hash, source_connection_id) "
        "SELECT nextval(pg_get_serial_sequence('canonical_timeentry', 'id')), pe.id, pr.id, b.task, b.date, b.hours, "
        "b.billable, CASE WHEN b.approved THEN 'approved' ELSE 'submitted' END, '', '', coalesce(b.notes, ''), '{}', "
        "now(), now(), md5(b.id) || md5(b.id), %s FROM bench_copy_file b "
        "JOIN canonical_person pe ON pe.code = b.person JOIN canonical_project pr ON pr.code = b.project")
    insert_refs = (
        "INSERT INTO canonical_externalref (object_type, canonical_id, connection_id, external_id, last_synced_hash, "
        "last_synced_at) SELECT 'time_entry', e.id, %s, 'floor-' || e.id, e.content_hash, now() "
        "FROM canonical_timeentry e WHERE e.source_connection_id = %s")
    started = time.perf_counter()
    with transaction.atomic(), db.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(insert_entries, [connection.pk])
        cursor.execute(insert_refs, [connection.pk, connection.pk])
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    return elapsed


def load_masters(connection, people: int, projects: int) -> float:
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


def pull(connection, source: Path, profile_to: Path | None = None):
    from apps.connectors.services import connection_files_root
    from apps.runs.services import pull_run

    inbox = connection_files_root(connection) / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    target = inbox / "time_bench.csv"
    shutil.copyfile(source, target)
    os.utime(target, (time.time() - 60, time.time() - 60))
    started = time.perf_counter()
    if profile_to:
        import cProfile

        profiler = cProfile.Profile()
        run = profiler.runcall(pull_run, connection=connection, object_name="time_entries")
        profiler.dump_stats(profile_to)
    else:
        run = pull_run(connection=connection, object_name="time_entries")
    return run, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--projects", type=int, default=500)
    parser.add_argument("--profile", choices=["first", "reload"], help="cProfile that phase (file in the temp folder)")
    args = parser.parse_args()
    django_for_benchmarks("weft_bench_hub", fresh=True)

    from django.conf import settings
    from django_tenants.utils import schema_context

    from apps.connectors.services import connection_create
    from apps.tenants import services

    work = Path(tempfile.mkdtemp(prefix="weft-bench-hub-"))
    settings.WEFT_DATA_DIR = work  # the connection's files live in the temporary folder
    try:
        source = work / "time_entries.csv"
        started = time.perf_counter()
        generate(source, args.rows, args.people, args.projects)
        generate_s = time.perf_counter() - started
        partner = services.partner_create(
            acting_user=None, name="Bench Partner", slug="bench", display_name="Bench",
            support_email="b@bench.example", email_sender_name="Bench", domain_suffix="bench.test")
        firm = services.customer_onboard(partner=partner, slug="hubfirm", name="Hub Firm",
                                         admin_email="admin@bench.example", acting_user=None).customer
        with schema_context(firm.schema_name):
            copy_file_s, copy_rows_s = copy_baseline(source)
            erp = connection_create(name="ERP", kind="csv")
            masters_s = load_masters(erp, args.people, args.projects)
            floor_s = hub_tables_floor(erp)
            drop = connection_create(name="Time export", kind="csv", settings={"settle_seconds": 0})
            first, first_s = pull(drop, source, work / "first.prof" if args.profile == "first" else None)
            reload, reload_s = pull(drop, source, work / "reload.prof" if args.profile == "reload" else None)
        if args.profile:
            kept = Path(tempfile.gettempdir()) / f"hub_upsert_{args.profile}.prof"
            shutil.copy(work / f"{args.profile}.prof", kept)
            print(f"profile: {kept} (python -m pstats {kept})", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows = args.rows
    copy_rate = rows / copy_file_s
    first_rate, reload_rate = rows / first_s, rows / reload_s
    peak = peak_rss_mb()
    report({
        "benchmark": "hub_upsert_csv",
        "rows": rows, "people": args.people, "projects": args.projects,
        "generate_s": round(generate_s, 2),
        "copy_file_rows_per_s": round(copy_rate),
        "copy_python_rows_per_s": round(rows / copy_rows_s),
        "masters_load_s": round(masters_s, 2),
        "hub_tables_sql_floor_rows_per_s": round(rows / floor_s),
        "first_load_s": round(first_s, 2), "first_load_rows_per_s": round(first_rate),
        "first_load_counts": first.counts,
        "reload_s": round(reload_s, 2), "reload_rows_per_s": round(reload_rate),
        "reload_counts": reload.counts,
        "first_load_ratio_to_copy": round(first_rate / copy_rate, 3),
        "reload_ratio_to_copy": round(reload_rate / copy_rate, 3),
        "first_load_ratio_to_python_copy": round(first_rate * copy_rows_s / rows, 3),
        "first_load_ratio_to_sql_floor": round(first_rate * floor_s / rows, 3),
        "reload_ratio_to_python_copy": round(reload_rate * copy_rows_s / rows, 3),
        "peak_rss_mb": round(peak, 1),
        "targets": {"first_load_ratio": 0.15, "reload_ratio": 0.30, "peak_rss_mb": 300},
        "meets_targets": first_rate / copy_rate >= 0.15 and reload_rate / copy_rate >= 0.30 and peak <= 300,
    })


if __name__ == "__main__":
    main()
