"""Webhook intake on the production server, beside its ceiling, in the same run (issue 18).

Starts gunicorn with config/gunicorn.py twice, one after the other, on the benchmark database:
  * ``weft``: Weft itself, signed deliveries to ``/api/v1/hooks/<connection>/`` on a customer's host;
  * ``ceiling``: the same gunicorn serving a bare Django view that does one INSERT of the event row
    (bench/_intake_ceiling.py), no middleware, no signature: what one INSERT a request allows.
Each is loaded by an asyncio client holding 5, then 50, keep-alive connections (as wrk does) for ``--seconds``;
bodies are signed before the clock starts. Reported per server and connection count: requests/s, p50/p99,
answers by status, events stored = events sent; then Weft ÷ ceiling. With ``--wake`` a django-q2 cluster is also
started and single events are sent at a slow pace to time delivery → processed (the wake-up, not the intake).

    .venv/bin/python bench/webhook_intake.py [--seconds 8] [--connections 5,50] [--wake 40]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._setup import ROOT, django_for_benchmarks, peak_rss_mb, percentile, report  # noqa: E402
from bench.server_burst import SECRET, VENV_BIN, customer_with_hooks, stop  # noqa: E402

DB_NAME = "weft_bench_intake"


def start(name: str, port: int, env_extra: dict, log: Path) -> subprocess.Popen:
    env = {**os.environ, "WEFT_DB_NAME": DB_NAME, "WEFT_LOG_LEVEL": "WARNING", **env_extra}
    command = [str(VENV_BIN / "gunicorn"), "-c", "config/gunicorn.py", "--bind", f"127.0.0.1:{port}", "config.wsgi"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    asyncio.run(_wait_up(port, process, log, name))
    return process


async def _wait_up(port: int, process: subprocess.Popen, log: Path, name: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            await asyncio.sleep(1.0)  # the workers import Django after the socket is bound
            return
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{log.read_text()[-3000:]}") from None
            await asyncio.sleep(0.3)
    raise RuntimeError(f"{name} did not listen in 60 s")


def signed_requests(host: str, prefix: str, count: int, event_type: str = "record.changed") -> list[bytes]:
    from apps.connectors.kinds.webhook import sign

    stamp, out = str(int(time.time())), []
    for n in range(count):
        body = json.dumps({"id": f"{prefix}-{n}", "type": event_type,
                           "data": {"object": "time_entries", "record": {"id": n, "hours": 1.5}}}).encode()
        head = (f"POST /api/v1/hooks/hooks/ HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nX-Weft-Timestamp: {stamp}\r\n"
                f"X-Weft-Signature: {sign(SECRET, stamp, body)}\r\nX-Forwarded-Proto: https\r\n\r\n")
        out.append(head.encode() + body)
    return out


async def _read_response(reader: asyncio.StreamReader) -> int:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("closed")
    length, close, chunked = 0, False, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        name, value = name.lower(), value.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "connection" and value == "close":
            close = True
        elif name == "transfer-encoding" and value == "chunked":
            chunked = True
    if chunked:
        while (size := int((await reader.readline()).split(b";")[0], 16)):
            await reader.readexactly(size + 2)
        await reader.readline()
    elif length:
        await reader.readexactly(length)
    return int(status_line.split()[1]) * (-1 if close else 1)


async def load(port: int, requests: list[bytes], connections: int, seconds: float) -> dict:
    statuses: Counter = Counter()
    latencies: list[float] = []
    feed = iter(requests)
    deadline = time.perf_counter() + seconds

    async def connection_loop() -> None:
        reader = writer = None
        while time.perf_counter() < deadline and (request := next(feed, None)) is not None:
            started = time.perf_counter()
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(request)
                status = await _read_response(reader)
                if status < 0:  # the server closed the connection after answering (max_requests, keep-alive)
                    writer.close()
                    reader = writer = None
                    status = -status
            except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError, IndexError):
                status, reader, writer = 0, None, None
            latencies.append((time.perf_counter() - started) * 1000)
            statuses[status] += 1
        if writer is not None:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection_loop() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    sent = sum(statuses.values())
    return {"sent": sent, "requests_per_s": round(sent / elapsed, 1), "p50_ms": round(percentile(latencies, 50), 1),
            "p99_ms": round(percentile(latencies, 99), 1), "statuses": {str(k): v for k, v in sorted(statuses.items())}}


def stored(schema: str, prefix: str) -> int:
    from django_tenants.utils import schema_context

    from apps.runs.models import InboundEvent

    with schema_context(schema):
        return InboundEvent.objects.filter(event_id__startswith=f"{prefix}-").count()


def _cpu_seconds(port: int) -> dict[str, float]:
    """CPU seconds used so far by the gunicorn serving ``port`` (master and workers), by the PostgreSQL backends
    connected to the benchmark's database (their process titles name it), and by this process."""
    tick, totals = os.sysconf("SC_CLK_TCK"), {"web": 0.0, "database": 0.0}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            part = ("web" if f"127.0.0.1:{port}" in title and "gunicorn" in title
                    else "database" if title.startswith("postgres:") and f" {DB_NAME} " in title else None)
            if part:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                totals[part] += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
        except OSError:  # the process ended meanwhile
            continue
    return {**totals, "client": time.process_time()}


def measure(name: str, port: int, env_extra: dict, host: str, schema: str, args, log_dir: Path) -> dict:
    process = start(name, port, env_extra, log_dir / f"{name}.log")
    figures = {}
    try:
        for connections in args.connections:
            prefix = f"{name}-c{connections}"
            # Enough pre-signed requests for 3,000/s for the whole window; the run ends at the deadline.
            requests = signed_requests(host, prefix, int(3000 * args.seconds))
            asyncio.run(load(port, requests[:50], min(connections, 5), 30))  # warm the workers' pools and caches
            before = _cpu_seconds(port)
            result = asyncio.run(load(port, requests[50:], connections, args.seconds))
            # Where a request's CPU goes, beside the rate: the server's processes, the database backends serving
            # this benchmark's database, and this client.
            result["cpu_ms_per_request"] = {
                part: round((after - before[part]) * 1000 / max(result["sent"], 1), 3)
                for part, after in _cpu_seconds(port).items()}
            result["stored"] = stored(schema, prefix) - 50
            result["all_stored"] = result["stored"] == result["statuses"].get("202", 0) == result["sent"]
            figures[f"c{connections}"] = result
    finally:
        stop(process)
    return figures


def wake(host: str, schema: str, port: int, count: int, log_dir: Path) -> dict:
    """Single deliveries, one every 0.25 s, with a cluster running: received → processed, as the database saw it.

    The events are of a type no flow handles (settled as ignored at once), and the load runs' tasks are dropped
    first, so what is timed is the wake-up and the hand-over, not a backlog or a flow."""
    import http.client

    from django.db import connection
    from django_tenants.utils import schema_context

    from apps.runs.models import InboundEvent

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM public.django_q_ormq")

    cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, start_new_session=True,
                               env={**os.environ, "WEFT_DB_NAME": DB_NAME, "WEFT_Q_SCHEDULER": "0"},
                               stdout=(log_dir / "qcluster.log").open("wb"), stderr=subprocess.STDOUT)
    server = start("weft-wake", port, {}, log_dir / "weft-wake.log")
    try:
        time.sleep(3)  # the cluster's workers start
        for n, request in enumerate(signed_requests(host, "wake", count, event_type="bench.ping")):
            head, _, body = request.partition(b"\r\n\r\n")
            headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n")[1:])
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("POST", "/api/v1/hooks/hooks/", body=body, headers=headers)
            conn.getresponse().read()
            time.sleep(0.25 if n < count - 1 else 2.0)
        with schema_context(schema):
            rows = InboundEvent.objects.filter(event_id__startswith="wake-").values_list("received_at", "processed_at")
            delays = [(done - got).total_seconds() * 1000 for got, done in rows if done]
    finally:
        stop(server)
        stop(cluster)
    return {"events": count, "processed": len(delays), "p50_ms": round(percentile(delays, 50), 1) if delays else None,
            "p95_ms": round(percentile(delays, 95), 1) if delays else None}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--connections", default="5,50")
    parser.add_argument("--port", type=int, default=8761)
    parser.add_argument("--wake", type=int, default=0, help="also time delivery → processed for this many events")
    parser.add_argument("--only", default="weft,ceiling")
    args = parser.parse_args()
    args.connections = [int(c) for c in args.connections.split(",")]
    load_before = os.getloadavg()
    django_for_benchmarks(DB_NAME, fresh=True)
    firm, host = customer_with_hooks()
    from django_tenants.utils import schema_context

    from apps.connectors.models import Connection

    with schema_context(firm.schema_name):
        connection_id = Connection.objects.get(slug="hooks").pk
    log_dir = ROOT / ".weft" / "bench-intake"
    log_dir.mkdir(parents=True, exist_ok=True)
    # Weft as deployed (DEBUG off); the ceiling on the same gunicorn settings.
    envs = {"weft": {"DJANGO_SETTINGS_MODULE": "bench._intake_settings"},
            "ceiling": {"DJANGO_SETTINGS_MODULE": "bench._intake_ceiling", "WEFT_BENCH_SCHEMA": firm.schema_name,
                        "WEFT_BENCH_CONNECTION_ID": str(connection_id)}}
    servers = {name: measure(name, args.port + i, envs[name], host, firm.schema_name, args, log_dir)
               for i, name in enumerate(args.only.split(","))}
    ratios = {}
    if {"weft", "ceiling"} <= servers.keys():
        ratios = {key: round(servers["weft"][key]["requests_per_s"] / servers["ceiling"][key]["requests_per_s"], 2)
                  for key in servers["weft"]}
    figures = {"benchmark": "webhook_intake", "seconds": args.seconds,
               "load_before": [round(x, 2) for x in load_before],
               "load_after": [round(x, 2) for x in os.getloadavg()], "servers": servers,
               "weft_over_ceiling": ratios, "peak_rss_mb": round(peak_rss_mb(), 1)}
    if args.wake:
        figures["wake"] = wake(host, firm.schema_name, args.port + 5, args.wake, log_dir)
    report(figures)


if __name__ == "__main__":
    main()
