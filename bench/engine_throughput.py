"""Engine throughput: approved time entries from a CSV drop through the whole chain into a journal export file.

Measures, in one run on one server:
  (a) the raw baseline (bench/_timecsv.py): COPY of the same file into a plain table with the same columns;
  (b) the inbound flow ``time-in`` of the approved-time-to-journal accelerator: the CSV files kind reads the
      dropped file page by page → mapping → hub upsert → ledger, and announces the changed records;
  (c) the outbound flow ``time-to-journal``: the runs those hub changes queued, executed as the queue would
      → validation rules → mapping → journal export file → cross-reference and ledger.
Both flows run synchronously through the engine's own entry points (``flow_run_request`` and
``run_execute``, the functions the django-q2 tasks call), slice after slice. The chain's items/s is the
entries divided by (b) + (c); the export file must hold exactly one line per approved entry, else the
benchmark fails.
Target (issue 4): end to end ≥ 10% of (a) raw COPY rows/s, peak RSS ≤ 300 MB.
Runs in its own database (weft_bench_engine), rebuilt each run.
Usage: python bench/engine_throughput.py [--rows 200000] [--people 300] [--projects 500] [--profile inbound|outbound]
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
from bench._timecsv import copy_baselines, generate_approved, load_masters  # noqa: E402

TEMPLATE = "approved-time-to-journal"


def install(customer, masters) -> None:
    """The accelerator as a partner installs it, with the demo's connections (see apps/demo/flows.py)."""
    from apps.accelerators.selectors import templates_for_customer
    from apps.accelerators.services import template_install
    from apps.connectors.services import connection_create

    connection_create(name="Time export files", slug="time-export", kind="csv", settings={"settle_seconds": 0})
    connection_create(name="ERP journal export", slug="erp-journal", kind="csv", settings={"export_format": "csv"})
    template = templates_for_customer(customer).get(slug=TEMPLATE)
    template_install(template=template, variables={"open_from": "2026-01-01"}, customer=customer, acting_user=None)


def drop(source: Path) -> None:
    from apps.connectors.models import Connection
    from apps.connectors.services import connection_files_root

    inbox = connection_files_root(Connection.objects.get(slug="time-export")) / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    target = inbox / "time-bench.csv"
    shutil.copyfile(source, target)
    os.utime(target, (time.time() - 60, time.time() - 60))


def run_until_settled(run_id: int) -> int:
    """Execute a run slice after slice, as the queue would; returns the number of slices."""
    from apps.runs import engine
    from apps.runs.models import FINISHED, Run

    slices = 0
    while Run.objects.filter(pk=run_id).exclude(status__in=FINISHED).exists():
        engine.run_execute(run_id=run_id)
        slices += 1
    return slices


def inbound() -> tuple[list[int], int]:
    from apps.runs import engine
    from apps.runs.models import Flow, Trigger

    run = engine.flow_run_request(flow=Flow.objects.get(slug="time-in"), trigger=Trigger.MANUAL, enqueue=False)
    return [run.pk], run_until_settled(run.pk)


def outbound() -> tuple[list[int], int]:
    """Every run the hub changes queued (on_hub_change), oldest first, as the cluster would take them."""
    from apps.runs.models import Run, RunStatus

    done, slices = [], 0
    while queued := list(Run.objects.filter(status=RunStatus.QUEUED).order_by("pk").values_list("pk", flat=True)):
        for run_id in queued:
            slices += run_until_settled(run_id)
            done.append(run_id)
    return done, slices


def timed(stage, profile_to: Path | None):
    started, cpu = time.perf_counter(), time.process_time()
    if profile_to:
        import cProfile

        profiler = cProfile.Profile()
        result = profiler.runcall(stage)
        profiler.dump_stats(profile_to)
    else:
        result = stage()
    return result, time.perf_counter() - started, time.process_time() - cpu


def settled(run_ids: list[int]) -> dict:
    """The runs' outcomes summed, their statuses, and the ledger rows they wrote."""
    from apps.runs.models import Run, RunItem

    counts: dict[str, int] = {}
    statuses: dict[str, int] = {}
    for status, run_counts in Run.objects.filter(pk__in=run_ids).values_list("status", "counts"):
        statuses[status] = statuses.get(status, 0) + 1
        for outcome, n in run_counts.items():
            counts[outcome] = counts.get(outcome, 0) + n
    return {"runs": len(run_ids), "statuses": statuses, "counts": counts,
            "ledger_rows": RunItem.objects.filter(run_id__in=run_ids).count()}


def export_lines() -> int:
    """Journal lines in the export connection's outbox (header lines not counted)."""
    from apps.connectors.models import Connection
    from apps.connectors.services import connection_files_root

    outbox = connection_files_root(Connection.objects.get(slug="erp-journal")) / "outbox"
    lines = 0
    for path in outbox.glob("journal-*.csv"):
        with path.open("rb") as handle:
            lines += sum(block.count(b"\n") for block in iter(lambda h=handle: h.read(1 << 20), b"")) - 1
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--people", type=int, default=300, help="at least rows / 730: two entries a person-day")
    parser.add_argument("--projects", type=int, default=500)
    parser.add_argument("--profile", choices=["inbound", "outbound"], help="cProfile that stage (file in /tmp)")
    args = parser.parse_args()
    if args.people * 730 < args.rows:
        parser.error("--people must be at least rows / 730, or days go over the 12 h rule and entries fail")
    django_for_benchmarks("weft_bench_engine", fresh=True)

    from django.conf import settings
    from django_tenants.utils import schema_context

    from apps.connectors.services import connection_create

    work = Path(tempfile.mkdtemp(prefix="weft-bench-engine-"))
    settings.WEFT_DATA_DIR = work  # the connections' inbox and outbox live in the temporary folder
    profile = Path(tempfile.gettempdir()) / f"engine_throughput_{args.profile}.prof" if args.profile else None
    try:
        source = work / "time-approved.csv"
        generate_approved(source, args.rows, args.people, args.projects)
        _, firm = bench_partner_and_firm("enginefirm", "Engine Firm")
        with schema_context(firm.schema_name):
            masters = connection_create(name="ERP master data", slug="erp-masters", kind="csv")
            masters_s = load_masters(masters, args.people, args.projects)
            baseline = copy_baselines(source, masters)
            install(firm, masters)
            drop(source)
            (in_runs, in_slices), inbound_s, inbound_cpu = timed(
                inbound, profile if args.profile == "inbound" else None)
            (out_runs, out_slices), outbound_s, outbound_cpu = timed(
                outbound, profile if args.profile == "outbound" else None)
            inbound_figures, outbound_figures = settled(in_runs), settled(out_runs)
            exported = export_lines()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if profile:
        print(f"profile: {profile} (python -m pstats {profile})", file=sys.stderr)

    rows = args.rows
    peak = peak_rss_mb()
    copy_rate = rows / baseline["copy_plain_s"]
    chain_s = inbound_s + outbound_s
    chain_rate = rows / chain_s
    figures = {
        "benchmark": "engine_throughput",
        "rows": rows, "people": args.people, "projects": args.projects, "template": TEMPLATE,
        "masters_load_s": round(masters_s, 2),
        "copy_plain_rows_per_s": round(copy_rate),
        "inbound_s": round(inbound_s, 2), "inbound_cpu_s": round(inbound_cpu, 2),
        "inbound_items_per_s": round(rows / inbound_s), "inbound_slices": in_slices, "inbound": inbound_figures,
        "outbound_s": round(outbound_s, 2), "outbound_cpu_s": round(outbound_cpu, 2),
        "outbound_items_per_s": round(rows / outbound_s), "outbound_slices": out_slices, "outbound": outbound_figures,
        "chain_s": round(chain_s, 2), "chain_items_per_s": round(chain_rate),
        "chain_ratio_to_copy_plain": round(chain_rate / copy_rate, 4),
        "ledger_rows": inbound_figures["ledger_rows"] + outbound_figures["ledger_rows"],
        "export_rows": exported,
        "peak_rss_mb": round(peak, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "targets": {"chain_ratio_to_copy_plain": 0.10, "peak_rss_mb": 300},
        "meets_targets": chain_rate / copy_rate >= 0.10 and peak <= 300,
    }
    report(figures)
    # Every approved entry must reach the journal exactly once: anything else is lost or doubled work.
    if exported != rows or inbound_figures["counts"].get("created") != rows:
        sys.exit(f"FAILED: {rows} approved entries in, {inbound_figures['counts']} stored, {exported} exported")


if __name__ == "__main__":
    main()
