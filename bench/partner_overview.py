"""The partner overview at scale, and the cost of keeping its public health summary current.

(a) GET / on the partner's host (the overview page: totals over every customer, the 200 most in need
    listed; its htmx row refresh; and ``?page=2``, the next 200) through the Django test client
    as partner staff, with 30, 300 and 1,000 customers: p50/p95 over --requests calls after a warm-up,
    and the queries each makes (without django-tenants' ``SET search_path``). The customers
    beyond the few real tenants are public-schema rows only (customer, domain, plan, health row with
    five flows, this month's usage) and have no schema at all: a page that switched into a customer's
    schema would fail on them, so the run also proves the overview reads the public tables only.
(b) ``customer_health_refresh`` (reporting's health figures, each flow's sync status, the SLA judgement,
    one upsert) per real tenant, each seeded with the demo flows (a month of time through the journal
    accelerator): p50/p95.
Target: overview p95 ≤ 300 ms with 300 customers, and the same number of queries at every size.
Runs in its own database (weft_bench_portal), rebuilt each run.
Usage: python bench/partner_overview.py [--requests 30] [--tenants 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._setup import django_for_benchmarks, percentile, report  # noqa: E402
from bench._tenants import rows_only_customers  # noqa: E402

SIZES = (30, 300, 1000)
TARGET_MS = 300.0
SUFFIX = "bench-partner.test"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--tenants", type=int, default=3, help="real tenants (with schemas and demo flows)")
    args = parser.parse_args()
    django_for_benchmarks("weft_bench_portal", fresh=True)
    partner, staff, tenants = _partner_with_real_tenants(args.tenants)
    refresh = _refresh_times(tenants)
    pages, rows, everything = {}, {}, {}
    for size in SIZES:
        _fill_rows(partner, size)
        pages[size] = _measure(staff, args.requests, htmx=False)
        rows[size] = _measure(staff, args.requests, htmx=True)
        everything[size] = _measure(staff, args.requests, htmx=False, path="/?page=2")
    report({
        "benchmark": "partner_overview", "target_p95_ms": TARGET_MS,
        "overview": {str(size): pages[size] for size in SIZES},
        "overview_rows_htmx": {str(size): rows[size] for size in SIZES},
        "overview_page_2": {str(size): everything[size] for size in SIZES},
        "health_refresh_ms": refresh, "real_tenants": len(tenants),
        "meets_target": pages[300]["p95_ms"] <= TARGET_MS,
        "constant_queries": len({pages[size]["queries"] for size in SIZES}) == 1,
    })


def _partner_with_real_tenants(count: int):
    from django_tenants.utils import schema_context

    from apps.accelerators.services import templates_sync_builtin
    from apps.demo.flows import demo_flows_seed
    from apps.tenants import services
    from apps.tenants.choices import Role

    partner = services.partner_create(acting_user=None, name="Bench Partner", slug="bench-partner",
                                      display_name="Bench Connect", support_email="help@bench.example",
                                      email_sender_name="Bench Connect", domain_suffix=SUFFIX)
    staff = services.user_create(username="bench.staff", email="staff@bench.example", password=None,
                                 acting_user=None)
    services.membership_grant(user=staff, role=Role.ANALYST, partner=partner, acting_user=None)
    templates_sync_builtin()
    tenants = []
    for n in range(count):
        customer = services.customer_onboard(partner=partner, slug=f"real-{n:02d}", name=f"Real firm {n}",
                                             admin_email=f"real{n}@bench.example", acting_user=None).customer
        with schema_context(customer.schema_name):
            demo_flows_seed(customer=customer)
        tenants.append(customer)
    return partner, staff, tenants


def _refresh_times(tenants) -> dict:
    from django_tenants.utils import schema_context

    from apps.reporting.health import customer_health_refresh

    timings = []
    for _ in range(5):
        for customer in tenants:
            with schema_context(customer.schema_name):
                started = time.perf_counter()
                customer_health_refresh()
                timings.append((time.perf_counter() - started) * 1000)
    return {"p50": round(percentile(timings, 50), 1), "p95": round(percentile(timings, 95), 1)}


def _fill_rows(partner, size: int) -> None:
    """Public rows for customers without a schema, up to ``size`` customers in all."""
    from apps.tenants.models import Plan, UsageMonth
    from apps.tenants.usage import month_start

    plan = Plan.objects.filter(partner=partner).first() or Plan.objects.create(
        partner=partner, name="Bench", slug="bench", monthly_price=Decimal("490"), currency="EUR")
    rng = random.Random(size)
    new = rows_only_customers(partner, size, host_suffix=SUFFIX, plan=plan)
    UsageMonth.objects.bulk_create([UsageMonth(customer=c, month=month_start(), plan=plan, runs=rng.randint(0, 3000),
                                               records_synced=rng.randint(0, 90_000)) for c in new])


def _measure(staff, requests: int, *, htmx: bool, path: str = "/") -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(staff)
    headers = {"HTTP_HOST": SUFFIX, **({"HTTP_HX_REQUEST": "true"} if htmx else {})}
    assert client.get(path, **headers).status_code == 200  # warm-up
    timings = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path, **headers)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        client.get(path, **headers)
    statements = [q for q in queries.captured_queries if not q["sql"].startswith("SET search_path")]
    return {"p50_ms": round(percentile(timings, 50), 1), "p95_ms": round(percentile(timings, 95), 1),
            "queries": len(statements), "bytes": len(response.content)}


if __name__ == "__main__":
    main()
