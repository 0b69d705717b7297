"""Health, readiness, metrics and log context, in process: what each answers, to whom, and what it never says."""

from __future__ import annotations

import json
import logging
import time
from types import SimpleNamespace

import httpx
import pytest
from django.utils import timezone
from django_q.conf import Conf

from apps.common.http import OutboundClient, RetryPolicy
from apps.common.logging import TenantContextFilter, current_log_context, log_context
from apps.ops import health, metrics
from apps.ops.models import ClusterHeartbeat
from apps.runs import engine
from apps.runs.models import Run
from apps.runs.queue import AckingRedisBroker
from apps.runs.signals import run_finished
from apps.tenants.models import CustomerHealth
from tests.conftest import host

TOKEN = "scrape-token-0123456789"


def test_healthz_answers_on_any_host_without_touching_the_database(cast, client, django_assert_num_queries):
    for name in (host(cast.alpha), "x.test", "localhost", "nobody.example"):
        with django_assert_num_queries(0):
            response = client.get("/healthz", HTTP_HOST=name)
        assert (response.status_code, response.json()) == (200, {"status": "alive"})


def test_readyz_is_degraded_without_a_cluster_heartbeat_and_ready_with_one(cast, client):
    ClusterHeartbeat.objects.all().delete()  # a cluster test earlier in the suite may have left its beat behind
    response = client.get("/readyz", HTTP_HOST=host(cast.alpha))
    body = response.json()
    assert response.status_code == 200 and body["status"] == "degraded"
    assert (body["checks"]["database"]["ok"], body["checks"]["cluster"]["ok"]) == (True, False)
    assert client.get("/readyz?strict=1", HTTP_HOST="localhost").status_code == 503

    ClusterHeartbeat.objects.create(host="worker-1", beat_at=timezone.now())
    response = client.get("/readyz?strict=1", HTTP_HOST="nobody.example")
    assert response.status_code == 200 and response.json()["status"] == "ready"
    assert not {"alpha", "worker-1"} & set(response.content.decode().replace('"', " ").split()), "names nothing"


def test_readyz_says_unavailable_when_the_database_cannot_be_reached(cast, client, monkeypatch):
    def unreachable():
        raise OSError("connection refused")

    monkeypatch.setattr(health, "_database", unreachable)
    response = client.get("/readyz", HTTP_HOST="localhost")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable" and response.json()["checks"]["database"] == {
        "ok": False, "ms": response.json()["checks"]["database"]["ms"], "detail": "OSError"}


def test_metrics_need_the_token(cast, client, settings):
    settings.WEFT_METRICS_TOKEN = TOKEN
    assert client.get("/metrics", HTTP_HOST="localhost").status_code == 404
    assert client.get("/metrics", HTTP_HOST="localhost", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    response = client.get("/metrics", HTTP_HOST=host(cast.alpha), HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200 and b"weft_queue_depth " in response.content


def test_without_a_token_only_a_local_debug_server_shows_metrics(cast, client, settings):
    settings.WEFT_METRICS_TOKEN, settings.DEBUG = "", False
    assert client.get("/metrics", HTTP_HOST="localhost").status_code == 404
    settings.DEBUG = True
    assert client.get("/metrics", HTTP_HOST="localhost", REMOTE_ADDR="10.1.2.3").status_code == 404
    assert client.get("/metrics", HTTP_HOST="localhost").status_code == 200  # the test client is 127.0.0.1


def test_tenant_labels_are_bounded(cast, monkeypatch):
    for money, customer in zip((300, 200, 100), (cast.alpha, cast.beta, cast.gamma), strict=True):
        CustomerHealth.objects.update_or_create(customer=customer, defaults={
            "open_exceptions": money // 100, "money_at_risk": money, "money_at_risk_currency": "EUR",
            "money_at_risk_amounts": {"EUR": f"{money}.00"}})
    monkeypatch.setattr(metrics, "TOP_TENANTS", 1)
    text = metrics.exposition().decode()
    assert 'weft_money_at_risk{currency="EUR",tenant="alpha"} 300.0' in text
    assert 'weft_money_at_risk{currency="EUR",tenant="(other)"} 300.0' in text
    assert 'tenant="beta"' not in text and 'weft_open_exceptions{tenant="(other)"} 3.0' in text


def _sample(metric, **labels) -> float:
    for family in metric.collect():
        for sample in family.samples:
            if sample.name.endswith(("_total", "_count")) and sample.labels == labels:
                return sample.value
    return 0.0


def test_target_calls_are_timed_and_failures_counted_per_kind():
    answers = iter([httpx.Response(200, json={}), httpx.Response(404, json={})])
    client = OutboundClient(base_url="https://api.example.com", name="Test", kind="harvest",
                            transport=httpx.MockTransport(lambda request: next(answers)), retry=RetryPolicy(1),
                            allow_private_network=True)
    calls, errors = _sample(metrics.TARGET_CALLS, kind="harvest"), _sample(metrics.TARGET_ERRORS, kind="harvest",
                                                                          reason="4xx")
    client.request("GET", "/ok")
    with pytest.raises(Exception, match="404"):
        client.request("GET", "/missing")
    assert _sample(metrics.TARGET_CALLS, kind="harvest") == calls + 2
    assert _sample(metrics.TARGET_ERRORS, kind="harvest", reason="4xx") == errors + 1


def test_finished_runs_count_by_status_and_their_items_by_outcome():
    before = (_sample(metrics.RUNS_FINISHED, status="partial"), _sample(metrics.RUN_ITEMS, outcome="failed"))
    assert any(entry[0][0] == "ops-metrics-run-finished" for entry in run_finished.receivers)  # connected
    metrics._count_run(sender=Run, run=SimpleNamespace(status="partial", counts={"created": 4, "failed": 2}))
    assert (_sample(metrics.RUNS_FINISHED, status="partial"), _sample(metrics.RUN_ITEMS, outcome="failed")) == (
        before[0] + 1, before[1] + 2)


def test_json_log_lines_carry_tenant_run_flow_and_host():
    handler = next(h for h in logging.getLogger().handlers if any(isinstance(f, TenantContextFilter)
                                                                   for f in h.filters))
    record = logging.LogRecord("apps.runs.engine", logging.INFO, __file__, 1, "slice done", None, None)
    with log_context(tenant="alpha", run=41, flow="time-in"):
        handler.filter(record)
    line = json.loads(handler.format(record))
    assert {k: line[k] for k in ("level", "logger", "message", "tenant", "run", "flow")} == {
        "level": "INFO", "logger": "apps.runs.engine", "message": "slice done", "tenant": "alpha", "run": "41",
        "flow": "time-in"}
    assert line["host"] and line["time"]


def test_the_engine_binds_the_run_and_flow_while_it_works_a_slice(in_alpha, monkeypatch):
    from apps.connectors.services import connection_create
    from apps.runs.models import Flow, Trigger

    source = connection_create(name="CSV", slug="csv", kind="csv", settings={"settle_seconds": 0}, acting_user=None)
    flow = Flow.objects.create(name="In", slug="in", direction="inbound", object_type="time_entry",
                               connection=source, object_name="time_entries")
    seen = {}
    monkeypatch.setattr(engine, "_run_slice", lambda run: seen.update(current_log_context()) or run)
    run = engine.flow_run_request(flow=flow, trigger=Trigger.MANUAL, enqueue=False, acting_user=None)
    engine.run_execute(run_id=run.pk)
    assert (seen.get("run"), seen.get("flow")) == (str(run.pk), "in")


def test_the_redis_broker_hands_out_again_what_was_not_acknowledged(redis_socket, monkeypatch):
    monkeypatch.setattr(Conf, "REDIS", redis_socket)
    monkeypatch.setattr(Conf, "RETRY", 1)
    monkeypatch.setattr(Conf, "BULK", 1)
    broker = AckingRedisBroker(list_key="ack-test")
    for task in (b"task-1", b"task-2"):
        broker.enqueue(task)
    [(lost_ack, lost)] = broker.dequeue()  # taken by a host that then dies: never acknowledged
    [(done_ack, done)] = broker.dequeue()
    broker.acknowledge(done_ack)
    assert (lost, done) == (b"task-1", b"task-2")
    assert (broker.queue_size(), broker.lock_size()) == (0, 1)
    assert broker.dequeue() is None  # not yet: it may still be being worked on
    time.sleep(1.2)  # past the retry
    assert broker.queue_size() == 1
    [(again_ack, again)] = broker.dequeue()
    assert again == b"task-1"
    broker.acknowledge(again_ack)
    assert broker.dequeue() is None and (broker.queue_size(), broker.lock_size()) == (0, 0)
    broker.delete_queue()


def test_a_lost_database_during_the_host_lookup_answers_503_with_retry_after_not_500(cast, client, monkeypatch):
    # The real outage (the server stopped mid-burst) is tests/ops/test_outage.py; this pins each kind of answer.
    from django.db import OperationalError

    from apps.tenants import selectors

    def lost(hostname):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(selectors, "customer_for_host", lost)
    client.raise_request_exception = False  # answer as a server does, rather than re-raise into the test
    api = client.post("/api/v1/hooks/any/", b"{}", content_type="application/json", HTTP_HOST=host(cast.alpha))
    page = client.get("/", HTTP_HOST=host(cast.alpha))
    assert (api.status_code, api["Retry-After"], api.json()["retry_after"]) == (503, "5", 5)
    assert (page.status_code, page["Retry-After"], page["Content-Type"]) == (503, "5", "text/plain; charset=utf-8")


def test_other_errors_stay_500(cast, client, monkeypatch):
    from apps.tenants import selectors

    def broken(hostname):
        raise RuntimeError("a bug, not an outage")

    monkeypatch.setattr(selectors, "customer_for_host", broken)
    client.raise_request_exception = False
    assert client.get("/", HTTP_HOST=host(cast.alpha)).status_code == 500
