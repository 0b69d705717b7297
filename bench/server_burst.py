"""Web servers side by side: a burst of signed webhook deliveries from concurrent clients, per server.

For each server named (gunicorn with threads, granian, Django's runserver as the old baseline) this starts it
on the benchmark database exactly as ``make run`` would, sends ``--events`` signed deliveries from
``--clients`` concurrent clients (a new connection per delivery, or kept alive with ``--keepalive``), and
counts answers by status, latency percentiles, requests/s, the peak of PostgreSQL connections during the burst
and the events stored. No cluster runs: this is the intake alone.

    .venv/bin/python bench/server_burst.py [--servers gunicorn,granian,runserver] [--events 2000] [--clients 20]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._setup import ROOT, django_for_benchmarks, percentile, report  # noqa: E402

DB_NAME = "weft_bench_server"
SECRET = "whsec-bench-0123456789abcdef0123456789"
VENV_BIN = Path(sys.executable).parent


def server_command(name: str, port: int) -> list[str]:
    if name == "gunicorn":
        return [str(VENV_BIN / "gunicorn"), "-c", "config/gunicorn.py", "--bind", f"127.0.0.1:{port}", "config.wsgi"]
    if name == "granian":
        return [str(VENV_BIN / "granian"), "--interface", "wsgi", "--workers", "2", "--blocking-threads", "8",
                "--host", "127.0.0.1", "--port", str(port), "--no-ws", "config.wsgi:application"]
    if name == "runserver":
        return [sys.executable, "manage.py", "runserver", "--noreload", "--skip-checks", f"127.0.0.1:{port}"]
    raise SystemExit(f"unknown server {name!r}")


def customer_with_hooks():
    from django_tenants.utils import schema_context

    from apps.connectors.services import connection_create
    from bench._tenants import bench_partner_and_firm

    _, firm = bench_partner_and_firm("burst", "Burst Firm")
    with schema_context(firm.schema_name):
        connection_create(name="Hooks", slug="hooks", kind="webhook", credentials={"signing_secret": SECRET})
    return firm, firm.domains.get(is_primary=True).domain


def start(name: str, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.local", "WEFT_DB_NAME": DB_NAME,
           "WEFT_LOG_LEVEL": "WARNING"}
    if name == "granian":
        env["WEFT_DB_POOL_SIZE"] = "8"  # what config/gunicorn.py sets for gunicorn's 8 threads
    process = subprocess.Popen(server_command(name, port), cwd=ROOT, env=env, stdout=log.open("wb"),
                               stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz", headers={"Host": "localhost"})
            conn.getresponse().read()
            return process
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{log.read_text()[-2000:]}") from None
            time.sleep(0.3)
    raise RuntimeError(f"{name} did not answer in 60 s")


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, 15)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait()


def burst(port: int, host: str, prefix: str, events: int, clients: int,
          keepalive: bool) -> tuple[Counter, list[float], float]:
    from apps.connectors.kinds.webhook import sign

    statuses: Counter = Counter()
    latencies: list[float] = []
    lock = threading.Lock()

    def client(worker: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for n in range(worker, events, clients):
            body = json.dumps({"id": f"{prefix}-{n}", "type": "record.changed",
                               "data": {"object": "time_entries", "record": {"id": n}}}).encode()
            stamp = str(int(time.time()))
            headers = {"Host": host, "Content-Type": "application/json", "X-Weft-Timestamp": stamp,
                       "X-Weft-Signature": sign(SECRET, stamp, body)}
            started = time.perf_counter()
            if not keepalive:  # most webhook senders open a connection per delivery
                conn.close()
            try:
                conn.request("POST", "/api/v1/hooks/hooks/", body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                status, conn = 0, http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            with lock:
                statuses[status] += 1
                latencies.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    return statuses, latencies, time.perf_counter() - started


class ConnectionPeak:
    """Samples PostgreSQL's count of client connections to the benchmark database while the burst runs."""

    def __init__(self):
        from django.db import connection

        self.peak, self._stop = 0, threading.Event()
        self._params = connection.get_connection_params()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        import psycopg

        params = {k: v for k, v in self._params.items() if k in {"host", "port", "user", "password", "dbname"}}
        with psycopg.connect(**params, autocommit=True) as conn:
            while not self._stop.is_set():
                count = conn.execute("SELECT count(*) - 1 FROM pg_stat_activity WHERE datname = %s",
                                     [params["dbname"]]).fetchone()[0]
                self.peak = max(self.peak, count)
                time.sleep(0.05)

    def done(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def measure(name: str, port: int, host: str, firm, args, log_dir: Path) -> dict:
    from django_tenants.utils import schema_context

    from apps.runs.models import InboundEvent

    process = start(name, port, log_dir / f"{name}.log")
    try:
        peak = ConnectionPeak()
        statuses, latencies, seconds = burst(port, host, name, args.events, args.clients, args.keepalive)
        connections = peak.done()
    finally:
        stop(process)
    with schema_context(firm.schema_name):
        stored = InboundEvent.objects.filter(event_id__startswith=f"{name}-").count()
    return {"requests_per_s": round(args.events / seconds, 1), "p50_ms": round(percentile(latencies, 50), 1),
            "p99_ms": round(percentile(latencies, 99), 1), "statuses": dict(sorted(statuses.items())),
            "server_errors": sum(n for s, n in statuses.items() if s >= 500 or s == 0),
            "stored": stored, "sent": args.events, "peak_db_connections": connections}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--servers", default="gunicorn,granian,runserver")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--port", type=int, default=8731)
    parser.add_argument("--keepalive", action="store_true", help="reuse each client's connection (default: a new "
                        "connection per delivery, as most senders do)")
    args = parser.parse_args()
    django_for_benchmarks(DB_NAME, fresh=True)
    firm, host = customer_with_hooks()
    log_dir = ROOT / ".weft" / "bench-server"
    log_dir.mkdir(parents=True, exist_ok=True)
    figures = {name: measure(name, args.port + i, host, firm, args, log_dir)
               for i, name in enumerate(args.servers.split(","))}
    report({"benchmark": "server_burst", "events": args.events, "clients": args.clients, "keepalive": args.keepalive,
            "load_before": os.getloadavg()[0], "servers": figures})


if __name__ == "__main__":
    main()
