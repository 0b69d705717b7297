"""The production recipe, booted: config.settings.production on a PostgreSQL reached over TCP at 127.0.0.1
(as an external server would be), migrated by weft_setup, static files collected, gunicorn serving and a
django-q2 cluster working, all as docs/deploy.md says. Smoke checks: pages (HTTPS redirect, login page, a
static file), health and readiness, the API, a signed webhook handled by the cluster, a run that writes a
journal file, and metrics for a scraper with the token.

Skipped, saying why, when no PostgreSQL answers at 127.0.0.1:5432 (WEFT_SMOKE_PG_URL names another)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from tests.ops.server import ROOT, Process, WebServer, basic_auth, signed

pytestmark = pytest.mark.cluster
SERVER = os.environ.get("WEFT_SMOKE_PG_URL", "postgres://postgres@127.0.0.1:5432")
HTTPS = {"X-Forwarded-Proto": "https"}  # as the reverse proxy in front says
TOKEN = "metrics-" + uuid.uuid4().hex


def _admin_connection():
    import psycopg

    try:
        return psycopg.connect(f"{SERVER}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        pytest.skip(f"no PostgreSQL at {SERVER} for the production smoke test: {error}".strip())


@pytest.fixture
def database():
    name = f"weft_smoke_{uuid.uuid4().hex[:8]}"
    with _admin_connection() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{SERVER}/{name}"
    finally:
        with _admin_connection() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def production_env(database, tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "WEFT_", "DATABASE_URL"))}
    return {**env, "DJANGO_SETTINGS_MODULE": "config.settings.production", "DATABASE_URL": database,
            "WEFT_SECRET_KEY": "smoke-" + uuid.uuid4().hex * 2, "WEFT_CREDENTIAL_KEYS": Fernet.generate_key().decode(),
            "WEFT_DATA_DIR": str(tmp_path / "data"), "WEFT_STATIC_ROOT": str(tmp_path / "static"),
            "WEFT_METRICS_TOKEN": TOKEN, "PROMETHEUS_MULTIPROC_DIR": str(_made(tmp_path / "metrics")),
            "WEFT_Q_WORKERS": "1", "WEFT_Q_POLL_SECONDS": "0.1", "WEFT_LOG_LEVEL": "WARNING",
            "WEFT_WEB_WORKERS": "1", "WEFT_WEB_THREADS": "4"}


def _made(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def _manage(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"manage.py {' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _wait(condition, *, timeout: float, what: str, logs=(), detail=lambda: ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"{what} within {timeout} s\n{detail()}\n" + "\n".join(p.log()[-2000:] for p in logs))


def test_production_settings_boot_and_serve_pages_api_webhooks_and_runs(production_env, tmp_path):
    env = production_env
    _manage(env, "check", "--deploy", "--fail-level", "WARNING")
    _manage(env, "weft_setup")
    _manage(env, "collectstatic", "--noinput", "-v0")
    setup = subprocess.run([sys.executable, "-m", "tests.ops.prod_setup"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=120)
    assert setup.returncode == 0, setup.stderr[-3000:]
    site = json.loads(setup.stdout.strip().splitlines()[-1])
    web = WebServer(env, tmp_path / "web.log")
    cluster = Process([sys.executable, "manage.py", "qcluster"], env, tmp_path / "cluster.log")
    try:
        _pages(web, site)
        _api_webhook_and_run(web, cluster, site)
        _health_and_metrics(web, cluster)
    finally:
        web.stop()
        cluster.stop()


def _pages(web: WebServer, site: dict) -> None:
    status, headers, _ = web.request("GET", "/", host=site["host"])
    assert status == 301 and headers["Location"].startswith("https://"), "plain HTTP is sent to HTTPS"
    status, headers, _ = web.request("GET", "/", host=site["host"], headers=HTTPS)
    assert status == 302 and "login" in headers["Location"]
    status, headers, body = web.request("GET", headers["Location"], host=site["host"], headers=HTTPS)
    assert status == 200 and b"<form" in body and "Strict-Transport-Security" in headers
    stylesheet = re.search(rb'href="(/static/[^"]+\.css)"', body).group(1).decode()
    assert re.search(r"\.[0-9a-f]{12}\.css$", stylesheet), "collected with hashed names (manifest storage)"
    status, headers, _ = web.request("GET", stylesheet, host=site["host"], headers=HTTPS)
    assert status == 200 and "max-age=315360000" in headers.get("Cache-Control", ""), "whitenoise serves it"
    assert web.request("GET", "/", host="unknown.example", headers=HTTPS)[0] == 404


def _api_webhook_and_run(web: WebServer, cluster: Process, site: dict) -> None:
    auth = {**HTTPS, **basic_auth(site["username"], site["password"])}
    status, flows = web.json("GET", "/api/v1/flows/", host=site["host"], headers=auth)
    assert status == 200 and {f["slug"] for f in flows["results"]} >= {"time-in", "time-to-journal"}
    event = {"id": "evt-smoke-1", "type": "record.changed", "data": {"object": "time_entries", "record": {
        "external_id": "w1", "person": "ann@acme.example", "project": "BIG-1", "date": "2026-03-20", "hours": "2",
        "approval_status": "approved"}}}
    body, headers = signed(site["secret"], event)
    assert web.json("POST", "/api/v1/hooks/hooks/", host=site["host"], body=body, headers={**HTTPS, **headers}) == (
        202, {"status": "accepted", "event": "evt-smoke-1"})
    started = web.json("POST", "/api/v1/flows/time-in/run/", host=site["host"], headers=auth)
    assert started[0] == 202, started

    def journal() -> str:
        return "".join(p.read_text() for p in Path(site["outbox"]).glob("*.csv"))

    def all_runs():
        return web.json("GET", "/api/v1/runs/", host=site["host"], headers=auth)[1]["results"]

    def settled():
        runs = all_runs()
        finished = all(r["status"] in ("succeeded", "partial", "failed", "paused") for r in runs)
        return runs if finished and journal().count("ann@acme.example") >= 6 else None

    runs = _wait(settled, timeout=120, what="the webhook's entry and the CSV's five did not reach the journal",
                 logs=[cluster, web], detail=lambda: f"runs: {all_runs()}\njournal: {journal()}")
    assert {r["status"] for r in runs} == {"succeeded"}, runs
    assert {(r["flow"], r["trigger"]) for r in runs} >= {("time-in", "webhook"), ("time-in", "manual")}
    assert journal().count("ann@acme.example") == 6, journal()  # five CSV rows and the webhook's entry, once each


def _health_and_metrics(web: WebServer, cluster: Process) -> None:
    assert web.json("GET", "/healthz", host="10.0.0.5") == (200, {"status": "alive"})  # any host, plain HTTP
    _wait(lambda: web.json("GET", "/readyz?strict=1")[0] == 200, timeout=90, what="the cluster heartbeat",
          logs=[cluster])
    status, body = web.json("GET", "/readyz")
    assert status == 200 and body["status"] == "ready" and set(body["checks"]) == {"database", "broker", "cluster"}
    assert web.request("GET", "/metrics")[0] == 404, "no token, no metrics"
    status, _, text = web.request("GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200
    assert re.search(rb'weft_runs_finished_total\{status="succeeded"\} [1-9]', text), "counted in the cluster"
    assert re.search(rb'weft_webhook_intake_seconds_count\{status="2xx"\} 1\.0', text), "counted in the web"
