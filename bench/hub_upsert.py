"""Loading a large time-entry CSV through the CSV files kind into the hub, against COPY of the same rows.

Measures, in one run on one server:
  (a) the baselines (bench/_timecsv.py): COPY of the file into a plain table with the same columns, no
      indexes (the raw baseline the targets are judged against); COPY of the same rows parsed in Python
      (``write_row``), for scale; and COPY of the same rows, typed and resolved, into copies of the hub's two
      tables with their indexes and foreign keys (what the database itself can do for the hub's schema);
  (b) a first load: ``pull_run`` of the file through the files kind into the hub (people and projects are
      loaded first and timed on their own);
  (c) an all-unchanged reload of the same file.
Targets (the CSV kind's issue): (b) ≥ 15% of (a) raw COPY rows/s, (c) ≥ 30%, peak RSS ≤ 300 MB.
Runs in its own database (weft_bench_hub), rebuilt each run.
Usage: python bench/hub_upsert.py [--rows 200000] [--people 200] [--projects 500] [--profile first|reload]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._setup import django_for_benchmarks, peak_rss_mb, report  # noqa: E402
from bench._tenants import bench_partner_and_firm  # noqa: E402
from bench._timecsv import copy_baselines, generate, load_masters  # noqa: E402


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
    report({
        "benchmark": "hub_upsert_csv",
        "rows": rows, "people": args.people, "projects": args.projects,
        "masters_load_s": round(masters_s, 2),
        "copy_plain_rows_per_s": round(copy_rate),
        "copy_python_rows_per_s": round(rows / baseline["copy_python_rows_s"]),
        "copy_hub_tables_rows_per_s": round(hub_copy_rate),
        "copy_hub_entries_s": round(baseline["copy_hub_entries_s"], 2),
        "copy_hub_refs_s": round(baseline["copy_hub_refs_s"], 2),
        "first_load_s": round(first_s, 2), "first_load_rows_per_s": round(first_rate),
        "first_load_counts": first.counts, "first_load_cpu_s": round(first_cpu, 2),
        "reload_s": round(reload_s, 2), "reload_rows_per_s": round(reload_rate),
        "reload_counts": reload.counts, "reload_cpu_s": round(reload_cpu, 2),
        "first_load_ratio_to_copy_plain": round(first_rate / copy_rate, 4),
        "reload_ratio_to_copy_plain": round(reload_rate / copy_rate, 4),
        "first_load_ratio_to_copy_hub_tables": round(first_rate / hub_copy_rate, 3),
        "reload_ratio_to_copy_hub_tables": round(reload_rate / hub_copy_rate, 3),
        "peak_rss_mb": round(peak, 1),
        "targets": {"first_load_ratio_to_copy_plain": 0.15, "reload_ratio_to_copy_plain": 0.30, "peak_rss_mb": 300},
        "meets_targets": first_rate / copy_rate >= 0.15 and reload_rate / copy_rate >= 0.30 and peak <= 300,
    })


if __name__ == "__main__":
    main()
