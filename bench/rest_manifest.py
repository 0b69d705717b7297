"""REST manifest kind vs the coded Harvest kind: read 100,000 time entries over 1,000 pages from a local fake.

Both paths read the same Harvest-shaped pages (``links.next`` paging, ``updated_since`` cursor) through the real
outbound HTTP client over an in-process transport, and translate every record to its canonical form, as a pull
does: the coded path with HarvestKind, the manifest path with the ``rest`` kind and a manifest describing the same
API. Each path runs in a fresh process (so peak RSS is its own), alternately, ``--rounds`` times; the figures
are the medians. Target: the manifest path costs at most 1.5× the coded one (time per record). No database.

Usage: python bench/rest_manifest.py [--records 100000] [--pages 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench._setup import report  # noqa: E402

BASE = "https://api.harvestapp.com/v2"

MANIFEST = {
    "manifest_version": 1, "name": "Harvest (manifest)",
    "client": {"base_url": BASE, "auth": {"type": "bearer", "credential": "access_token"},
               "headers": {"Accept": "application/json", "Harvest-Account-Id": "{settings.account_id}"}},
    "settings": {"account_id": {"label": "Harvest account id"}},
    "objects": {"time_entries": {
        "canonical": "time_entry", "id": "id", "updated": "updated_at",
        "canonical_fields": {"date": "spent_date", "hours": "hours", "task": "task.name", "billable": "billable",
                             "bill_rate": "billable_rate", "cost_rate": "cost_rate", "notes": "notes",
                             "person": "ref:external:user.id", "project": "ref:external:project.id"},
        "read": {"path": "/time_entries", "params": {"per_page": 2000}, "records": "time_entries",
                 "pagination": {"type": "next_link", "cursor": "links.next", "max_pages": 100000},
                 "incremental": {"mode": "cursor_field", "field": "updated_at", "param": "updated_since"}}}},
}


def _entry(n: int) -> dict:
    return {"id": n, "spent_date": f"2026-03-{1 + n % 28:02d}", "hours": 7.5, "notes": f"Work item {n}",
            "is_locked": False, "locked_reason": None, "is_closed": n % 2 == 0, "is_billed": False, "billable": True,
            "billable_rate": 120.0, "cost_rate": 60.0, "created_at": "2026-03-01T09:00:00Z",
            "updated_at": f"2026-03-{1 + n % 28:02d}T17:{n % 60:02d}:00Z",
            "user": {"id": 1000 + n % 40, "name": "Kim Allen"}, "client": {"id": 5, "name": "Acme", "currency": "EUR"},
            "project": {"id": 200 + n % 25, "name": "Audit", "code": "ACME-042"},
            "task": {"id": 8, "name": "Fieldwork"}, "user_assignment": {"id": 3}, "task_assignment": {"id": 4}}


def _pages(records: int, pages: int) -> list[bytes]:
    per_page = records // pages
    bodies = []
    for page in range(1, pages + 1):
        entries = [_entry((page - 1) * per_page + i) for i in range(per_page)]
        following = f"{BASE}/time_entries?page={page + 1}&per_page=2000" if page < pages else None
        bodies.append(json.dumps({"time_entries": entries, "per_page": per_page, "total_pages": pages,
                                  "links": {"next": following}}).encode())
    return bodies


def _run(path: str, records: int, pages: int) -> dict:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ["DATABASE_URL"] = "postgres://bench@127.0.0.1:9/unused"  # no database: nothing here queries one
    os.environ.setdefault("WEFT_LOG_LEVEL", "WARNING")
    import django

    django.setup()
    import logging

    import httpx

    from apps.common.http import OutboundClient
    from apps.connectors.kinds.base import KindContext
    from apps.connectors.kinds.harvest import HarvestKind
    from apps.connectors.kinds.rest.kind import RestKind

    logging.getLogger("weft.http").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    bodies = _pages(records, pages)

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", 1))
        return httpx.Response(200, content=bodies[page - 1], headers={"Content-Type": "application/json"})

    transport = httpx.MockTransport(handler)

    def http_factory(base_url: str, headers: dict) -> OutboundClient:
        return OutboundClient(base_url=base_url, name="bench", headers=headers, transport=transport,
                              allow_private_network=True, sleep=lambda s: None)

    settings = {"account_id": "123456"}
    if path == "manifest":
        settings["manifest_document"] = MANIFEST
    context = KindContext(connection_id=None, connection_name="bench", settings=settings,
                          credentials={"access_token": "token"}, http_factory=http_factory, files_root=Path("/tmp"))
    kind = (RestKind if path == "manifest" else HarvestKind)(context)
    started, cpu_started, read, failed = time.perf_counter(), time.process_time(), 0, 0
    for page in kind.read("time_entries", cursor="2026-01-01T00:00:00Z"):
        for record in page.records:
            kind.to_canonical("time_entries", record)
            read += 1
        failed += len(page.errors)
    seconds = time.perf_counter() - started
    return {"path": path, "records": read, "failed": failed, "seconds": round(seconds, 3),
            "cpu_seconds": round(time.process_time() - cpu_started, 3), "records_per_s": round(read / seconds),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--pages", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--path", choices=["harvest", "manifest"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.path:  # a child process: one path, one line of JSON
        print(json.dumps(_run(args.path, args.records, args.pages)))
        return
    runs: dict[str, list[dict]] = {"harvest": [], "manifest": []}
    for _ in range(args.rounds):
        for path in runs:
            output = subprocess.run([sys.executable, __file__, "--path", path, "--records", str(args.records),
                                     "--pages", str(args.pages)], capture_output=True, text=True, check=True,
                                    cwd=ROOT).stdout
            runs[path].append(json.loads(output.strip().splitlines()[-1]))
    figures = {path: {"records": results[0]["records"], "failed": results[0]["failed"],
                      "records_per_s": round(statistics.median(r["records_per_s"] for r in results)),
                      "seconds": statistics.median(r["seconds"] for r in results),
                      "cpu_seconds": statistics.median(r["cpu_seconds"] for r in results),
                      "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in results)}
               for path, results in runs.items()}
    ratio = figures["harvest"]["records_per_s"] / figures["manifest"]["records_per_s"]
    report({"benchmark": "rest_manifest", "records": args.records, "pages": args.pages, "rounds": args.rounds,
            "coded_harvest": figures["harvest"], "manifest": figures["manifest"],
            "manifest_cost_vs_coded": round(ratio, 2), "target_cost_at_most": 1.5, "met": ratio <= 1.5,
            # CPU time per record, less disturbed than wall time when other work shares the machine
            "manifest_cpu_cost_vs_coded": round(figures["manifest"]["cpu_seconds"] / figures["harvest"]["cpu_seconds"],
                                                2)})


if __name__ == "__main__":
    main()
