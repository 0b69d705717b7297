"""Prometheus metrics (prometheus-client).

Two kinds:

- Counted where things happen, in whichever process they happen: webhook intake latency (web), target call
  latency and errors per connector kind, finished runs by status and their items by outcome (workers). With
  ``PROMETHEUS_MULTIPROC_DIR`` set (``make run``, the Procfile and the systemd units set it), every process
  on a host writes its figures there and ``/metrics`` on that host adds them up.
- Read when scraped, from tables that already summarise them: queue depth and the age of the oldest waiting
  task, each host's cluster heartbeat, open exceptions and money at risk from the customer-health summary.

Tenant labels are bounded: counters carry none; the health figures name at most ``TOP_TENANTS`` customers (the
most money at risk) and add up the rest under ``tenant="(other)"``.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from apps.common import http
from apps.ops import queue_stats
from apps.ops.models import ClusterHeartbeat
from apps.runs.signals import run_finished
from apps.tenants.models import CustomerHealth

TOP_TENANTS = 20
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

WEBHOOK_INTAKE = Histogram("weft_webhook_intake_seconds", "Time to answer a webhook delivery, by answer class",
                           ["status"], buckets=LATENCY_BUCKETS)
TARGET_CALLS = Histogram("weft_target_call_seconds", "Outbound calls to connected systems, by connector kind",
                         ["kind"], buckets=LATENCY_BUCKETS)
TARGET_ERRORS = Counter("weft_target_call_errors_total", "Outbound calls that failed, by kind and reason",
                        ["kind", "reason"])
RUNS_FINISHED = Counter("weft_runs_finished_total", "Runs finished, by status", ["status"])
RUN_ITEMS = Counter("weft_run_items_total", "Ledger items of finished runs, by outcome", ["outcome"])


def connect() -> None:
    """Hook the counters to the events they count (called once, from the app's ready())."""
    http.call_observers.append(_observe_call)
    run_finished.connect(_count_run, dispatch_uid="ops-metrics-run-finished")


def _observe_call(kind: str, status: int | None, seconds: float) -> None:
    kind = kind or "other"
    TARGET_CALLS.labels(kind).observe(seconds)
    if status is None or status >= 400:
        TARGET_ERRORS.labels(kind, "transport" if status is None else f"{status // 100}xx").inc()


def _count_run(sender, run, **kwargs) -> None:
    RUNS_FINISHED.labels(str(run.status)).inc()
    for outcome, count in (run.counts or {}).items():
        if count:
            RUN_ITEMS.labels(str(outcome)).inc(count)


def exposition() -> bytes:
    """The text a scrape gets: every process's counters on this host, then the figures read now."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        for metric in (WEBHOOK_INTAKE, TARGET_CALLS, TARGET_ERRORS, RUNS_FINISHED, RUN_ITEMS):
            registry.register(metric)
    registry.register(StoredFigures())
    return generate_latest(registry)


class StoredFigures:
    """Gauges read at scrape time from the queue, the heartbeats and the customer-health summary."""

    def collect(self):
        yield from _queue_gauges()
        yield from _heartbeat_gauges()
        yield from _health_gauges()


def _queue_gauges():
    depth, oldest = queue_stats.depth_and_oldest_age()
    yield GaugeMetricFamily("weft_queue_depth", "Tasks waiting for a worker", value=depth)
    yield GaugeMetricFamily("weft_queue_oldest_age_seconds", "How long the oldest waiting task has waited",
                            value=oldest)


def _heartbeat_gauges():
    gauge = GaugeMetricFamily("weft_cluster_heartbeat_age_seconds", "Seconds since each host's cluster last ran "
                              "the heartbeat task", labels=["host"])
    now = time.time()
    for host, beat_at in ClusterHeartbeat.objects.values_list("host", "beat_at"):
        gauge.add_metric([host], now - beat_at.timestamp())
    yield gauge


def _health_gauges():
    rows = list(CustomerHealth.objects.filter(customer__is_active=True).values_list(
        "customer__schema_name", "open_exceptions", "money_at_risk", "money_at_risk_amounts"))
    rows.sort(key=lambda row: row[2] or 0, reverse=True)
    exceptions = GaugeMetricFamily("weft_open_exceptions", "Open integration exceptions", labels=["tenant"])
    money = GaugeMetricFamily("weft_money_at_risk", "Money at risk in open exceptions", labels=["tenant", "currency"])
    other_exceptions, other_money = 0, defaultdict(float)
    for rank, (schema, count, _largest, amounts) in enumerate(rows):
        if rank < TOP_TENANTS:
            exceptions.add_metric([schema], count or 0)
            for currency, amount in (amounts or {}).items():  # every currency, each its own series
                money.add_metric([schema, currency], float(amount))
        else:
            other_exceptions += count or 0
            for currency, amount in (amounts or {}).items():
                other_money[currency] += float(amount)
    if len(rows) > TOP_TENANTS:
        exceptions.add_metric(["(other)"], other_exceptions)
        for currency, amount in other_money.items():
            money.add_metric(["(other)", currency], amount)
    yield exceptions
    yield money
