"""Report endpoints on one large customer: 1,000,000 time entries, 50,000 run items, 5,000 exceptions.

Seeds one tenant with COPY (the time entries) and server-side INSERT … SELECT (what is derived from
them or generated: cross-references, invoices and their links, ledger, exceptions), then requests every
/api/v1/reports/<figure>/ with the filters a dashboard uses (defaults: the figure's own window ending
today) through the Django test client on the customer's host, as a viewer. Reports p50/p95 per
endpoint over --requests calls after one warm-up, the queries each makes (without django-tenants'
``SET search_path``) and the size of the answer, and the cost of ``customer_health_compute`` (what the
partner overview's summary table is filled from). Also the stored figures' refresh: full, with nothing
changed, and after a simulated run (a time pull that updated the last two weeks' entries, a posting run
that re-posted 1,000 of them). Target: p95 ≤ 300 ms per dashboard endpoint. Runs in its own database
(weft_bench_reporting); --reuse keeps the data seeded by an earlier run. The load average is reported:
the machine is shared, and a busy neighbour shows in the p95.
Usage: python bench/reporting.py [--entries 1000000] [--requests 30] [--reuse]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._setup import django_for_benchmarks, peak_rss_mb, percentile, report  # noqa: E402

SCHEMA = "bigfirm"
HOST = "bigfirm.bench.test"
PEOPLE, PROJECTS, CUSTOMERS = 600, 400, 60
RUN_ITEMS, EXCEPTIONS, RUNS = 50_000, 5_000, 1_000
DAYS = 730  # two years of time, ending today
TARGET_MS = 300.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--reuse", action="store_true", help="keep the data seeded by an earlier run")
    args = parser.parse_args()
    django_for_benchmarks("weft_bench_reporting", fresh=not args.reuse)

    viewer, seconds = _tenant_and_viewer(args.entries, reuse=args.reuse)
    refresh = _refreshes()
    load_before = os.getloadavg()[0]
    endpoints = _measure_endpoints(viewer, args.requests)
    health = _measure_health(10)
    report({
        "benchmark": "reporting", "time_entries": args.entries, "run_items": RUN_ITEMS, "exceptions": EXCEPTIONS,
        "seed_s": seconds, "reporting_refresh": refresh, "endpoints": endpoints,
        "customer_health_compute": health, "target_p95_ms": TARGET_MS, "peak_rss_mb": peak_rss_mb(),
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "meets_target": all(e["p95_ms"] <= TARGET_MS for e in endpoints.values() if e["dashboard"]),
    })


# --- seeding ---------------------------------------------------------------------------------------
def _tenant_and_viewer(entries: int, *, reuse: bool):
    from django_tenants.utils import schema_context

    from apps.tenants import services
    from apps.tenants.models import Customer, Membership, Partner, User

    started = time.perf_counter()
    if not (reuse and Customer.objects.filter(slug=SCHEMA).exists()):
        partner = Partner.objects.filter(slug="bench").first() or services.partner_create(
            acting_user=None, name="Bench Partner", slug="bench", display_name="Bench",
            support_email="b@bench.example", email_sender_name="Bench", domain_suffix="bench.test")
        services.customer_onboard(partner=partner, slug=SCHEMA, name="Big Firm", admin_email="a@bench.example",
                                  acting_user=None)
        with schema_context(SCHEMA):
            _seed(entries)
    viewer, _ = User.objects.get_or_create(username="bench-viewer")
    Membership.objects.get_or_create(user=viewer, customer=Customer.objects.get(slug=SCHEMA), role="viewer")
    return viewer, round(time.perf_counter() - started, 1)


def _seed(entries: int) -> None:
    from django.db import connection

    today = date.today()
    with connection.cursor() as cursor:
        for sql in _reference_sql(today):
            cursor.execute(sql)
        _copy_time_entries(cursor, entries, today)
        cursor.execute(_REFS_SQL)
        _invoices(cursor)
        _ledger()
        cursor.execute("ANALYZE")


def _reference_sql(today: date) -> list[str]:
    start = today - timedelta(days=DAYS)
    return [
        "INSERT INTO connectors_connection (created_at, updated_at, name, slug, kind, description, is_enabled, "
        "settings, allow_private_network, credentials_token, health_status, last_check_message, "
        "consecutive_failures) VALUES "
        "(now(), now(), 'Harvest', 'harvest', 'harvest', '', true, '{}', false, '', 'ok', '', 0), "
        "(now(), now(), 'Tryton', 'tryton', 'tryton', '', true, '{}', false, '', 'ok', '', 0)",
        "INSERT INTO runs_flow (created_at, updated_at, name, slug, direction, object_type, connection_id, "
        "object_name, on_schedule, schedule_cron, schedule_minutes, on_webhook, on_hub_change, variables, batch_size, "
        "is_enabled, installed_from, write_back) SELECT now(), now(), 'Time to Tryton', 'time-to-tryton', 'outbound', "
        "'time_entry', id, 'timesheet', true, '', 15, false, true, '{}', 200, true, '', false "
        "FROM connectors_connection WHERE slug = 'tryton'",
        f"INSERT INTO canonical_customer (created_at, updated_at, extra, content_hash, code, name, currency, "
        f"payment_terms, tax_id, is_active) SELECT now(), now(), '{{}}', '', 'C' || g, 'Client ' || g, 'EUR', '', '', "
        f"true FROM generate_series(1, {CUSTOMERS}) g",
        f"INSERT INTO canonical_person (created_at, updated_at, extra, content_hash, code, name, email, employment, "
        f"practice, capacity_hours_per_week, cost_rate, cost_currency, is_active) SELECT now(), now(), '{{}}', '', "
        f"'P' || g, 'Person ' || g, '', 'employee', 'Practice ' || (g % 8), 40, 40 + g % 50, 'EUR', g % 20 <> 0 "
        f"FROM generate_series(1, {PEOPLE}) g",
        "INSERT INTO canonical_personcostrate (created_at, updated_at, person_id, effective_from, amount, currency) "
        f"SELECT now(), now(), id, DATE '{start}' + (id % 300)::int, 45 + id % 40, 'EUR' FROM canonical_person "
        "UNION ALL SELECT now(), now(), id, DATE '" + str(start + timedelta(days=400)) + "', 50 + id % 40, 'EUR' "
        "FROM canonical_person",
        f"INSERT INTO canonical_project (created_at, updated_at, extra, content_hash, code, name, customer_id, status, "
        f"billing_type, currency, default_bill_rate) SELECT now(), now(), '{{}}', '', 'PRJ-' || g, 'Project ' || g, "
        f"(SELECT min(id) FROM canonical_customer) + g % {CUSTOMERS}, 'active', 'tm', 'EUR', 100 + g % 7 * 10 "
        f"FROM generate_series(1, {PROJECTS}) g",
        f"INSERT INTO canonical_assignment (created_at, updated_at, extra, content_hash, person_id, project_id, role, "
        f"start_date, end_date, planned_hours) SELECT now(), now(), '{{}}', '', pe.id, "
        f"(SELECT min(id) FROM canonical_project) + (pe.id * 7 + k) % {PROJECTS}, '', "
        f"DATE '{today}' - 180 + k * 30, DATE '{today}' - 90 + k * 30, 120 "
        f"FROM canonical_person pe, generate_series(0, 3) k",
        f"INSERT INTO canonical_expense (created_at, updated_at, extra, content_hash, person_id, project_id, date, "
        f"category, amount, currency, billable, approval_status, notes) SELECT now(), now(), '{{}}', '', "
        f"(SELECT min(id) FROM canonical_person) + g % {PEOPLE}, (SELECT min(id) FROM canonical_project) + g % "
        f"{PROJECTS}, DATE '{start}' + g % {DAYS}, 'travel', 20 + g % 300, 'EUR', g % 3 <> 0, 'approved', '' "
        f"FROM generate_series(1, 50000) g",
    ]


def _copy_time_entries(cursor, entries: int, today: date) -> None:
    """People book on a few projects each, day after day; 90% approved a day or three later, 1% later deleted."""
    from django.db import connection

    rng = random.Random(11)
    with connection.cursor() as c:
        c.execute("SELECT min(id) FROM canonical_person")
        first_person = c.fetchone()[0]
        c.execute("SELECT min(id) FROM canonical_project")
        first_project = c.fetchone()[0]
        c.execute("SELECT id FROM connectors_connection WHERE slug = 'harvest'")
        harvest = c.fetchone()[0]
    start = today - timedelta(days=DAYS)
    columns = ("created_at, updated_at, extra, content_hash, source_connection_id, deleted_at, person_id, project_id, "
               "task, date, hours, billable, approval_status, approved_at, approver, bill_rate, cost_rate, currency, "
               "notes")
    with cursor.cursor.copy(f"COPY canonical_timeentry ({columns}) FROM STDIN") as copy:
        for n in range(entries):
            person = rng.randrange(PEOPLE)
            day = start + timedelta(days=n * (DAYS + 1) // entries)  # booked day by day, as a time system fills
            roll = rng.random()
            status = ("approved" if roll < 0.9 else "submitted" if roll < 0.95
                      else "rejected" if roll < 0.98 else "draft")
            approved = f"{day + timedelta(days=rng.randrange(1, 4))} 10:00:00+00" if status == "approved" else None
            copy.write_row((
                "2025-01-01 00:00:00+00", "2025-01-01 00:00:00+00", "{}", f"h{n}", harvest,
                "2025-01-01 00:00:00+00" if rng.random() < 0.01 else None, first_person + person,
                first_project + (person * 7 + rng.randrange(4)) % PROJECTS, "Build", day,
                rng.randrange(1, 33) / 4, rng.random() < 0.8, status, approved, "",
                150 if rng.random() < 0.3 else None, 60 if rng.random() < 0.1 else None, "EUR", "",
            ))


# Approved live time older than 3 days is in Tryton: 98% with the content we hold, 2% changed since.
_REFS_SQL = """
    INSERT INTO canonical_externalref (object_type, canonical_id, connection_id, external_id, last_synced_hash,
                                       last_synced_at, last_input_key, origin_file)
    SELECT 'time_entry', te.id, c.id, 'T' || te.id, CASE WHEN te.id % 50 = 0 THEN 'old' ELSE te.content_hash END, now(),
           '', ''
    FROM canonical_timeentry te, connectors_connection c
    WHERE c.slug = 'tryton' AND te.approval_status = 'approved' AND te.date < current_date - 3
"""


def _invoices(cursor) -> None:
    """One invoice per project and month, issued 5–20 days after month end, billing its approved billable time
    (written long ago, like the time entries: a refresh looks again only at what changed since the last one)."""
    cursor.execute("""
        INSERT INTO canonical_invoice (created_at, updated_at, extra, content_hash, number, kind, customer_id,
                                       project_id, issue_date, status, currency, amount_net, amount_tax, amount_total)
        SELECT '2025-01-01', '2025-01-01', '{}', '', 'INV-' || p.id || '-' || to_char(m, 'YYYYMM'), 'invoice',
               p.customer_id, p.id,
               (m + interval '1 month')::date + (5 + p.id % 15)::int, 'sent', 'EUR', 10000, 2000, 12000
        FROM canonical_project p,
             generate_series(date_trunc('month', current_date - 730), date_trunc('month', current_date) - interval
                             '2 months', interval '1 month') m
    """)
    cursor.execute("""
        INSERT INTO canonical_invoiceline (created_at, updated_at, invoice_id, position, description, quantity,
                                           unit_price, amount)
        SELECT '2025-01-01', '2025-01-01', id, 1, 'Time', 1, 10000, 10000 FROM canonical_invoice
    """)
    cursor.execute("""
        INSERT INTO canonical_invoiceline_time_entries (invoiceline_id, timeentry_id)
        SELECT l.id, te.id FROM canonical_timeentry te
        JOIN canonical_invoice i ON i.project_id = te.project_id AND i.number = 'INV-' || te.project_id || '-'
             || to_char(te.date, 'YYYYMM')
        JOIN canonical_invoiceline l ON l.invoice_id = i.id
        WHERE te.approval_status = 'approved' AND te.billable AND te.deleted_at IS NULL
    """)


def _ledger() -> None:
    """Runs every 4 hours back from now, 50,000 items over them (half with a latency), 5,000 exceptions.

    Through the ORM (bulk_create), so fields the engine and the exceptions app add later get their defaults.
    """
    from datetime import timedelta as td

    from django.db import connection
    from django.utils import timezone

    from apps.canonical.models import TimeEntry
    from apps.exceptions.models import ExceptionRecord, IntegrationException
    from apps.runs.models import Flow, Run, RunItem

    now, flow = timezone.now(), Flow.objects.get(slug="time-to-tryton")
    first_entry = TimeEntry.objects.order_by("pk").values_list("pk", flat=True).first()
    runs = Run.objects.bulk_create([Run(
        flow=flow, connection_id=flow.connection_id, object_name="timesheet", object_type="time_entry",
        trigger="schedule", status="partial" if g % 10 == 0 else "failed" if g % 37 == 0 else "succeeded",
        started_at=now - td(hours=4 * g + 4), finished_at=now - td(hours=4 * g + 4) + td(minutes=2))
        for g in range(RUNS)])
    outcomes = ["created", "created", "updated", "updated", "updated", "unchanged", "skipped", "failed", "conflict",
                "deleted"]
    # In chunks, and dated by SQL afterwards: 50,000 model instances held at once (and a bulk_update of them) took
    # the seed past the 200 MB every benchmark keeps to.
    for chunk in range(0, RUN_ITEMS, 5000):
        RunItem.objects.bulk_create([RunItem(
            run=runs[g % RUNS], object_type="time_entry", external_id=str(g), canonical_id=first_entry + g * 17,
            outcome=outcomes[g % 10], latency_ms=60000 * (30 + (g * 7919) % 4000) if g % 10 < 5 else None)
            for g in range(chunk, min(chunk + 5000, RUN_ITEMS))])
    with connection.cursor() as cursor:  # a run and its items dated when the run started, as the engine writes them
        cursor.execute("UPDATE runs_run SET created_at = started_at WHERE flow_id = %s", [flow.pk])
        cursor.execute("UPDATE runs_runitem i SET created_at = r.started_at FROM runs_run r WHERE r.id = i.run_id")
    kinds, statuses = ["validation", "mapping", "transport", "missing_reference", "auth"], [
        "open", "open", "acknowledged", "resolved", "ignored"]
    exceptions = IntegrationException.objects.bulk_create([IntegrationException(
        fingerprint=f"fp{g}", kind=kinds[g % 5], title=f"Failure {g}", flow=flow, object_type="time_entry",
        severity=10 * (1 + g % 4), status=statuses[g % 5], first_seen=now - td(hours=2 * g), last_seen=now,
        opened_at=now - td(hours=2 * g), occurrences=1, open_records=1, records_total=1, hours_at_risk=8,
        amount_at_risk=800 + g % 500, currency="EUR", projects=[f"PRJ-{1 + g % PROJECTS}"])
        for g in range(EXCEPTIONS)], batch_size=5000)
    ExceptionRecord.objects.bulk_create([ExceptionRecord(
        exception=x, record_key=f"r{x.pk}", object_type="time_entry", canonical_id=first_entry + g * 150,
        first_seen=x.first_seen, last_seen=x.last_seen, hours=8, amount=800, currency="EUR")
        for g, x in enumerate(exceptions)], batch_size=5000)


# --- measuring -------------------------------------------------------------------------------------
# (figure, query string, shown on a dashboard by default)
REQUESTS = [
    ("unposted-time", "", True), ("blocked-invoices", "", True), ("assignment-mismatches", "", True),
    ("posting-latency", "", True), ("run-health", "", True), ("exceptions", "", True), ("utilization", "", True),
    ("utilization", "by=practice", True), ("project-margin", "", True), ("reconciliation", "", True),
    ("roi", "", True), ("unposted-time", "project=PRJ-7", False), ("project-margin", "project=PRJ-7", False),
    ("utilization", "start={year_ago}", False), ("project-margin", "start={year_ago}", False),
    ("reconciliation", "format=csv", False), ("assignment-mismatches", "person=P7", False),
    ("reconciliation", "project=PRJ-7", False),
]


def _measure_endpoints(viewer, requests: int) -> dict:
    from django.db import connection
    from django.test import Client

    client = Client()
    client.force_login(viewer)
    year_ago = (date.today() - timedelta(days=365)).isoformat()
    results = {}
    for name, query, dashboard in REQUESTS:
        url = f"/api/v1/reports/{name}/?{query.format(year_ago=year_ago)}"
        _get(client, url)  # warm-up: the first request pays for imports and plans
        counter = _Counter()
        with connection.execute_wrapper(counter):
            _get(client, url)
        timings = []
        for _ in range(requests):
            started = time.perf_counter()
            size = _get(client, url)
            timings.append((time.perf_counter() - started) * 1000)
        results[url.removeprefix("/api/v1/reports/")] = {
            "dashboard": dashboard, "p50_ms": round(percentile(timings, 50), 1),
            "p95_ms": round(percentile(timings, 95), 1),
            "queries": counter.queries, "bytes": size,
        }
        print(url, results[url.removeprefix("/api/v1/reports/")], file=sys.stderr)
    return results


class _Counter:
    """Counts statements sent, without django-tenants' ``SET search_path`` before each."""

    def __init__(self):
        self.queries = 0

    def __call__(self, execute, sql, params, many, context):
        self.queries += not sql.startswith("SET search_path")
        return execute(sql, params, many, context)


def _get(client, url: str) -> int:
    response = client.get(url, HTTP_HOST=HOST)
    if response.status_code != 200:
        raise SystemExit(f"{url}: {response.status_code} {response.content[:300]!r}")
    if response.streaming:
        return len(b"".join(response.streaming_content))
    return len(response.content)


def _refreshes() -> dict:
    """What the task after each finished run costs: full (daily, or when rates or flows change), with nothing
    changed, and after a run that touched the last two weeks (the id ranges it recomputed: ``parts``)."""
    from django_tenants.utils import schema_context

    from apps.reporting.services import reporting_refresh

    def timed(**kwargs) -> dict:
        started = time.perf_counter()
        snapshot = reporting_refresh(**kwargs)
        return {"s": round(time.perf_counter() - started, 2), "parts": snapshot.parts}

    with schema_context(SCHEMA):
        full = timed(full=True)
        idle = timed()
        touched = _simulate_run()
        after_run = {**timed(), **touched}
    return {"full": full, "nothing_changed": idle, "after_run": after_run}


def _simulate_run() -> dict:
    """A time pull updated the last two weeks' entries (``updated_at``), then a posting run re-posted 1,000 of
    them (ledger items). Figures do not change, but the refresh must look at those entries again."""
    from django.db import connection
    from django.utils import timezone

    from apps.runs.models import Flow, Run, RunItem

    with connection.cursor() as cursor:
        cursor.execute("UPDATE canonical_timeentry SET updated_at = now() WHERE date >= current_date - 14")
        updated = cursor.rowcount
        cursor.execute("SELECT id FROM canonical_timeentry WHERE date >= current_date - 14 ORDER BY id LIMIT 1000")
        posted = [row[0] for row in cursor.fetchall()]
    flow, now = Flow.objects.get(slug="time-to-tryton"), timezone.now()
    run = Run.objects.create(flow=flow, connection_id=flow.connection_id, object_name="timesheet",
                             object_type="time_entry", trigger="schedule", status="succeeded", started_at=now,
                             finished_at=now)
    RunItem.objects.bulk_create([RunItem(run=run, object_type="time_entry", canonical_id=pk, external_id=f"T{pk}",
                                         outcome="updated") for pk in posted])
    return {"entries_updated": updated, "items_posted": len(posted)}


def _measure_health(times: int) -> dict:
    from django_tenants.utils import schema_context

    from apps.reporting.health import customer_health_compute

    timings = []
    with schema_context(SCHEMA):
        for _ in range(times + 1):
            started = time.perf_counter()
            customer_health_compute()
            timings.append((time.perf_counter() - started) * 1000)
    timings = timings[1:]
    return {"p50_ms": round(percentile(timings, 50), 1), "p95_ms": round(percentile(timings, 95), 1)}


if __name__ == "__main__":
    main()
