"""The dlt leg of bench/hub_upsert.py: merge a time-entry CSV into PostgreSQL with dlt, twice (first and unchanged).

Runs in the benchmark virtualenv (``make bench-install``: .venv-bench, requirements-bench.txt), not Weft's, as a
subprocess of the hub benchmark, so dlt and its dependencies never meet Weft's pins. No Django here.

The rows are typed as a dlt user would (date, numeric hours, booleans) and merged on the natural key ``id``
(``write_disposition="merge"``, dlt's default delete-insert strategy) into the dataset ``dlt_bench`` of the same
database the hub benchmark loads. Prints one JSON object: seconds of each merge, wall and CPU.
Usage (set by the caller): DLT_BENCH_DSN=postgresql://... python bench/_dlt_merge.py FILE.csv
"""

from __future__ import annotations

import csv
import json
import os
import sys
import tempfile
import time
from datetime import date
from decimal import Decimal

import dlt


def _rows(path: str, page: int = 5000):
    """The file's rows, typed, in pages (dlt's advice for throughput: yield lists, not single rows)."""
    with open(path, newline="", encoding="utf-8") as handle:
        batch = []
        for row in csv.DictReader(handle):
            row["date"] = date.fromisoformat(row["date"])
            row["hours"] = Decimal(row["hours"])
            row["billable"] = row["billable"] == "yes"
            row["approved"] = row["approved"] == "yes"
            batch.append(row)
            if len(batch) == page:
                yield batch
                batch = []
        if batch:
            yield batch


def _merge(path: str, workdir: str) -> tuple[float, float, dict]:
    resource = dlt.resource(_rows(path), name="time_entries", write_disposition="merge", primary_key="id")
    pipeline = dlt.pipeline(pipeline_name="weft_hub_bench", destination="postgres", dataset_name="dlt_bench",
                            pipelines_dir=workdir, progress=None)
    started, cpu = time.perf_counter(), time.process_time()
    info = pipeline.run(resource)
    elapsed, cpu_s = time.perf_counter() - started, time.process_time() - cpu
    with pipeline.sql_client() as client:
        stored = client.execute_sql("SELECT count(*) FROM time_entries")[0][0]
    return elapsed, cpu_s, {"stored": stored, "failed_jobs": info.has_failed_jobs}


def main() -> None:
    path = sys.argv[1]
    os.environ["DESTINATION__POSTGRES__CREDENTIALS"] = os.environ["DLT_BENCH_DSN"]
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    with tempfile.TemporaryDirectory(prefix="weft-bench-dlt-") as workdir:
        first_s, first_cpu, first = _merge(path, workdir)
        again_s, again_cpu, again = _merge(path, workdir)  # the same file again: every row unchanged
    print(json.dumps({"dlt_version": dlt.__version__, "merge_s": first_s, "merge_cpu_s": first_cpu,
                      "merge_stored": first["stored"], "merge_again_s": again_s, "merge_again_cpu_s": again_cpu,
                      "merge_again_stored": again["stored"],
                      "failed_jobs": first["failed_jobs"] or again["failed_jobs"]}))


if __name__ == "__main__":
    main()
