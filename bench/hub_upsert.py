"""Loading a large time-entry CSV through the CSV files kind into the hub, against COPY of the same rows.

Measures, in one run on one server:
  (a) the baselines (bench/_timecsv.py): COPY of the file into a plain table with the same columns, no
      indexes (the raw baseline the targets are judged against); COPY of the same rows parsed in Python
      (``write_row``), for scale; and COPY of the same rows, typed and resolved, into copies of the hub's two
      tables with their indexes and foreign keys (what the database itself can do for the hub's schema);
  (b) a first load: ``pull_run`` of the file through the files kind into the hub (people and projects are
      loaded first and timed on their own);
  (c) an all-unchanged reload of the same file;
  (d) the peer: dlt merging the same CSV on its natural key into the same database (bench/_dlt_merge.py, run in the
      benchmark virtualenv .venv-bench that ``make bench-install`` builds; skipped, and said so, without it).
Targets (issue 18): (b) ≥ 70% of COPY into the hub tables, (c) ≥ 90%, (b) ≥ 1.5× dlt's merge, peak RSS ≤ 300 MB.
Runs in its own database (weft_bench_hub), rebuilt each run.
Usage: python bench/hub_upsert.py [--rows 200000] [--people 200] [--projects 500] [--profile first|reload] [--no-dlt]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._setup import ROOT, django_for_benchmarks, peak_rss_mb, report  # noqa: E402
from bench._tenants import bench_partner_and_firm  # noqa: E402
from bench._timecsv import copy_baselines, copy_out, generate, load_masters, shaped_like  # noqa: E402


def pull(connection, source: Path, profile_to: Path | None = None):
    from apps.connectors.services import connection_files_root
    from apps.runs.services import pull_run

    inbox = connection_files_root(connection) / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    target = inbox / "time_bench.csv"
    shutil.copyfile(source, target)
    os.utime(target, (time.time() - 60, time.time() - 60))
    started, cpu = time.perf_counter(), time.process_time()
    if profile_to:
        import cProfile

        profiler = cProfile.Profile()
        run = profiler.runcall(pull_run, connection=connection, object_name="time_entries")
        profiler.dump_stats(profile_to)
    else:
        run = pull_run(connection=connection, object_name="time_entries")
    return run, time.perf_counter() - started, time.process_time() - cpu


def copy_ledger(run) -> float:
    """Seconds to COPY ``run``'s ledger rows, as stored, into a copy of the ledger table (indexes and foreign keys,
    checked at once): the third table every load writes (one run item per record), which the COPY into the hub's
    two tables leaves out."""
    from django.db import connection as db
    from django.db import transaction

    from apps.runs.models import RunItem

    columns = ", ".join(f.column for f in RunItem._meta.concrete_fields if not f.primary_key)
    with tempfile.TemporaryDirectory() as folder:
        rows = Path(folder) / "ledger.copy"
        with db.cursor() as cursor:
            copy_out(cursor, f"SELECT {columns} FROM runs_runitem WHERE run_id = {int(run.pk)}", rows)
        with transaction.atomic(), db.cursor() as cursor:
            shaped_like(cursor, "runs_runitem")
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            started = time.perf_counter()
            with rows.open("rb") as handle, cursor.cursor.copy(
                    f"COPY bench_shaped_runs_runitem ({columns}) FROM STDIN") as copy:
                while block := handle.read(1 << 20):
                    copy.write(block)
            elapsed = time.perf_counter() - started
            transaction.set_rollback(True)
    return elapsed


BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"


def dlt_merge(source: Path) -> dict:
    """dlt's merge of ``source`` into this benchmark's database, first and again (bench/_dlt_merge.py's figures)."""
    from urllib.parse import quote

    from django.conf import settings

    if not BENCH_PYTHON.exists():
        return {"skipped": f"{BENCH_PYTHON} missing: run `make bench-install`"}
    db = settings.DATABASES["default"]
    host = db["HOST"] or "localhost"
    where = f"localhost:{db['PORT'] or 5432}/{db['NAME']}?host={quote(host, safe='')}" if host.startswith("/") else \
        f"{host}:{db['PORT'] or 5432}/{db['NAME']}"
    # dlt insists on a password; a server that trusts local sockets (the embedded one) ignores it.
    dsn = f"postgresql://{quote(db['USER'])}:{quote(db['PASSWORD'] or 'unused')}@{where}"
    done = subprocess.run([str(BENCH_PYTHON), str(ROOT / "bench" / "_dlt_merge.py"), str(source)], check=True,
                          capture_output=True, text=True, env={**os.environ, "DLT_BENCH_DSN": dsn})
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--projects", type=int, default=500)
    parser.add_argument("--profile", choices=["first", "reload"], help="cProfile that phase (file in the temp folder)")
    parser.add_argument("--no-dlt", action="store_true", help="leave out the dlt leg")
    args = parser.parse_args()
    django_for_benchmarks("weft_bench_hub", fresh=True)

    from django.conf import settings
    from django_tenants.utils import schema_context

    from apps.connectors.services import connection_create

    load_start = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="weft-bench-hub-"))
    settings.WEFT_DATA_DIR = work  # the connection's files live in the temporary folder
    try:
        source = work / "time_entries.csv"
        generate(source, args.rows, args.people, args.projects)
        _, firm = bench_partner_and_firm("hubfirm", "Hub Firm")
        with schema_context(firm.schema_name):
            erp = connection_create(name="ERP", kind="csv", acting_user=None)
            masters_s = load_masters(erp, args.people, args.projects)
            baseline = copy_baselines(source, erp)
            drop = connection_create(name="Time export", kind="csv", settings={"settle_seconds": 0}, acting_user=None)
            profiles = {phase: work / f"{phase}.prof" for phase in ("first", "reload") if phase == args.profile}
            first, first_s, first_cpu = pull(drop, source, profiles.get("first"))
            reload, reload_s, reload_cpu = pull(drop, source, profiles.get("reload"))
            ledger_first_s, ledger_reload_s = copy_ledger(first), copy_ledger(reload)
        load_after_weft = os.getloadavg()
        dlt = {"skipped": "--no-dlt"} if args.no_dlt else dlt_merge(source)
        if args.profile:
            kept = Path(tempfile.gettempdir()) / f"hub_upsert_{args.profile}.prof"
            shutil.copy(work / f"{args.profile}.prof", kept)
            print(f"profile: {kept} (python -m pstats {kept})", file=sys.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows = args.rows
    copy_rate = rows / baseline["copy_plain_s"]
    hub_copy_rate = rows / baseline["copy_hub_tables_s"]
    first_rate, reload_rate = rows / first_s, rows / reload_s
    peak = peak_rss_mb()
    dlt_rate = rows / dlt["merge_s"] if "merge_s" in dlt else None
    first_hub, reload_hub = first_rate / hub_copy_rate, reload_rate / hub_copy_rate
    # What the database itself needs for everything a load writes: the hub's two tables and the ledger's rows.
    with_ledger_s = baseline["copy_hub_tables_s"] + ledger_first_s
    report({
        "benchmark": "hub_upsert_csv",
        "rows": rows, "people": args.people, "projects": args.projects,
        "masters_load_s": round(masters_s, 2),
        "copy_plain_rows_per_s": round(copy_rate),
        "copy_python_rows_per_s": round(rows / baseline["copy_python_rows_s"]),
        "copy_hub_tables_rows_per_s": round(hub_copy_rate),
        "copy_hub_entries_s": round(baseline["copy_hub_entries_s"], 2),
        "copy_hub_refs_s": round(baseline["copy_hub_refs_s"], 2),
        "copy_ledger_first_s": round(ledger_first_s, 2), "copy_ledger_reload_s": round(ledger_reload_s, 2),
        "copy_hub_tables_and_ledger_rows_per_s": round(rows / with_ledger_s),
        "first_load_ratio_to_copy_hub_tables_and_ledger": round(with_ledger_s / first_s, 3),
        "reload_ratio_to_copy_ledger": round(ledger_reload_s / reload_s, 3),
        "first_load_s": round(first_s, 2), "first_load_rows_per_s": round(first_rate),
        "first_load_counts": first.counts, "first_load_cpu_s": round(first_cpu, 2),
        "reload_s": round(reload_s, 2), "reload_rows_per_s": round(reload_rate),
        "reload_counts": reload.counts, "reload_cpu_s": round(reload_cpu, 2),
        "first_load_ratio_to_copy_plain": round(first_rate / copy_rate, 4),
        "reload_ratio_to_copy_plain": round(reload_rate / copy_rate, 4),
        "first_load_ratio_to_copy_hub_tables": round(first_hub, 3),
        "reload_ratio_to_copy_hub_tables": round(reload_hub, 3),
        "dlt": dlt, "dlt_merge_rows_per_s": round(dlt_rate) if dlt_rate else None,
        "dlt_stored_every_row": dlt.get("merge_stored") == rows == dlt.get("merge_again_stored") if dlt_rate else None,
        "dlt_merge_again_rows_per_s": round(rows / dlt["merge_again_s"]) if dlt_rate else None,
        "first_load_ratio_to_dlt_merge": round(first_rate / dlt_rate, 2) if dlt_rate else None,
        "reload_ratio_to_dlt_merge_again": round(reload_rate * dlt["merge_again_s"] / rows, 2) if dlt_rate else None,
        "peak_rss_mb": round(peak, 1),
        "load_average_start": [round(x, 2) for x in load_start],
        "load_average_after_weft": [round(x, 2) for x in load_after_weft],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "targets": {"first_load_ratio_to_copy_hub_tables": 0.70, "reload_ratio_to_copy_hub_tables": 0.90,
                    "first_load_ratio_to_dlt_merge": 1.5, "peak_rss_mb": 300},
        "meets_targets": bool(first_hub >= 0.70 and reload_hub >= 0.90 and dlt_rate and first_rate / dlt_rate >= 1.5
                              and peak <= 300),
    })


if __name__ == "__main__":
    main()
