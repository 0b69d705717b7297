"""The portal pages on the reporting benchmark's large customer, and the partner overview over 100 customers.

(a) The customer portal on bigfirm (1,000,000 time entries, seeded by bench/reporting.py in the same
    database): home (sync status and the dashboard figures), the reports index, every report page,
    the monthly review, exceptions and plan, through the Django test client as a viewer: p50/p95 over
    --requests calls after a warm-up, the queries each makes (without django-tenants' ``SET
    search_path``) and the HTML size.
(b) ``customer_health_refresh`` on bigfirm (what fills its public summary row), and the partner overview
    (the partner site's front page, reading the public CustomerHealth table only) with 100 customers:
    bigfirm plus 99 public-schema rows without a schema, as partner staff. Target: p95 ≤ 500 ms.
Runs in weft_bench_reporting: seeds bigfirm first if bench/reporting.py has not (≈ 3 min).
Usage: python bench/portal.py [--requests 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._setup import django_for_benchmarks, peak_rss_mb, percentile, report  # noqa: E402
from bench._tenants import rows_only_customers  # noqa: E402

CUSTOMERS = 100
OVERVIEW_TARGET_MS = 500.0
HOST = "bigfirm.bench.test"
PARTNER_HOST = "bench.test"  # the benchmark partner's domain suffix: its partner site


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--review-only", action="store_true", help="only the monthly review, memo cold and warm")
    args = parser.parse_args()
    django_for_benchmarks("weft_bench_reporting", fresh=False)
    from django_tenants.utils import schema_context

    from apps.reporting.services import reporting_refresh
    from bench.reporting import _tenant_and_viewer

    viewer, _ = _tenant_and_viewer(1_000_000, reuse=True)
    with schema_context("bigfirm"):
        reporting_refresh()  # the stored figures exist and are current, as after any run
    load_before = os.getloadavg()[0]
    # The closed month's review computed on every read (its memos cleared first: what each read cost before
    # issue 18, and what the first read after any run cost until the refresh prepared it), the first read after
    # each of --requests runs (its refresh and the review prepared, as the worker does) and read again, same run.
    review = {"computed": _measure(viewer, HOST, "/review/", args.requests, forget=True),
              "first_read_after_run": _after_runs(viewer, HOST, "/review/", args.requests),
              "remembered": _measure(viewer, HOST, "/review/", args.requests)}
    if args.review_only:
        report({"benchmark": "portal", "requests": args.requests, "review": review, "peak_rss_mb": peak_rss_mb(),
                "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)]})
        return
    pages = {path: _measure(viewer, HOST, path, args.requests) for path in _portal_paths()}
    health = _health_refresh(5)
    staff = _partner_with_customers(CUSTOMERS)
    try:
        overview = _measure(staff, PARTNER_HOST, "/", args.requests)
    finally:
        _remove_rows_only()  # customers without a schema would stop migrate_schemas in this database
    report({
        "benchmark": "portal", "requests": args.requests, "portal_pages": pages, "review": review,
        "customer_health_refresh_ms": health, "partner_overview": {"customers": CUSTOMERS, **overview},
        "overview_target_p95_ms": OVERVIEW_TARGET_MS,
        "overview_meets_target": overview["p95_ms"] <= OVERVIEW_TARGET_MS, "peak_rss_mb": peak_rss_mb(),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    })



def _portal_paths() -> list[str]:
    from apps.portal.reports import REPORTS

    return ["/", "/sync-status/", "/reports/", *(f"/reports/{slug}/" for slug in REPORTS), "/review/",
            "/exceptions/", "/plan/"]


def _measure(user, host: str, path: str, requests: int, *, forget: bool = False) -> dict:
    from django.db import connection
    from django.test import Client

    from bench.reporting import _Counter

    client = Client()
    client.force_login(user)
    response = client.get(path, HTTP_HOST=host)  # warm-up
    if response.status_code != 200:
        raise SystemExit(f"{host}{path}: {response.status_code} {response.content[:300]!r}")
    counter = _Counter()
    with connection.execute_wrapper(counter):
        client.get(path, HTTP_HOST=host)
    timings = []
    for _ in range(requests):
        if forget:
            _forget()
        started = time.perf_counter()
        client.get(path, HTTP_HOST=host)
        timings.append((time.perf_counter() - started) * 1000)
    result = {"p50_ms": round(percentile(timings, 50), 1), "p95_ms": round(percentile(timings, 95), 1),
              "queries": counter.queries, "bytes": len(response.content)}
    print(host, path, result, file=sys.stderr)
    return result


def _forget() -> None:
    """No memo anywhere: the process's cache and the stored rendered reviews."""
    from django.core.cache import cache
    from django_tenants.utils import schema_context

    from apps.reporting.models import ReviewPage

    cache.clear()
    with schema_context("bigfirm"):
        ReviewPage.objects.all().delete()


def _after_runs(user, host: str, path: str, runs: int) -> dict:
    """A run (bench.reporting's: two weeks of entries updated, 1,000 re-posted), then what the worker does after it
    (``apps.reporting.tasks.reporting_refresh``: the refresh, the health row, last month's review prepared), then the
    first read in a web process that has nothing in its own cache."""
    from django.core.cache import cache
    from django.test import Client
    from django.utils import timezone
    from django_tenants.utils import schema_context

    from apps.portal.tasks import review_prepare
    from apps.reporting import health, services
    from bench.reporting import _simulate_run

    client = Client()
    client.force_login(user)
    timings, prepare = [], []
    for _ in range(runs):
        with schema_context("bigfirm"):
            _simulate_run()
            services.reporting_refresh(requested_at=timezone.now())
            health.customer_health_refresh()
            started = time.perf_counter()
            review_prepare()  # what the refresh task queues when the customer reads its reviews
            prepare.append((time.perf_counter() - started) * 1000)
        cache.clear()
        started = time.perf_counter()
        response = client.get(path, HTTP_HOST=host)
        timings.append((time.perf_counter() - started) * 1000)
    prepared = _article(response.content)
    _forget()
    afresh = _article(client.get(path, HTTP_HOST=host).content)
    result = {"p50_ms": round(percentile(timings, 50), 1), "p95_ms": round(percentile(timings, 95), 1),
              "bytes": len(response.content), "equals_computed": prepared == afresh,
              "prepare_p50_ms": round(percentile(prepare, 50), 1),
              "prepare_p95_ms": round(percentile(prepare, 95), 1)}
    print(host, path, "after runs", result, file=sys.stderr)
    return result


def _article(content: bytes) -> bytes:
    """The review itself (the page around it carries a per-request CSRF token)."""
    return content[content.index(b'<article class="review">'):content.index(b"</article>")]


def _health_refresh(times: int) -> dict:
    from django_tenants.utils import schema_context

    from apps.reporting.health import customer_health_refresh

    timings = []
    with schema_context("bigfirm"):
        for _ in range(times + 1):
            started = time.perf_counter()
            customer_health_refresh()
            timings.append((time.perf_counter() - started) * 1000)
    timings = timings[1:]
    return {"p50": round(percentile(timings, 50), 1), "p95": round(percentile(timings, 95), 1)}


def _remove_rows_only() -> None:
    from apps.tenants.models import Customer

    Customer.objects.filter(slug__startswith="rows-", partner__slug="bench").delete()


def _partner_with_customers(count: int):
    """The benchmark partner's staff, and public rows for customers without a schema up to ``count`` in all."""
    from apps.tenants import services
    from apps.tenants.choices import Role
    from apps.tenants.models import Membership, Partner, User

    _remove_rows_only()
    partner = Partner.objects.get(slug="bench")
    staff, created = User.objects.get_or_create(username="bench-partner-staff")
    if created or not Membership.objects.filter(user=staff, partner=partner).exists():
        services.membership_grant(user=staff, role=Role.ANALYST, partner=partner, acting_user=None)
    rows_only_customers(partner, count, host_suffix=PARTNER_HOST)
    return staff


if __name__ == "__main__":
    main()
