"""Event latency: an approval webhook received → the timesheet line in Tryton, with a django-q2 cluster running.

Set-up (not timed): its own database (weft_bench_latency, rebuilt each run) with one customer; a real Tryton
8.2 server (tests/tryton/server.py); the approved-time → Tryton chain of the end-to-end tests (project setup and
approved time → ERP installed, a Tryton project and two employees read into the hub, the Harvest side played
by the in-process fake while setting up). The customer's flow schedules are removed: every run here comes
from a webhook, and a scheduled read would call the real Harvest. The platform schedules stay.

Then three processes run side by side: gunicorn (the web app over real HTTP, as ``make run`` serves it), ``manage.py
qcluster`` (a real django-q2 cluster on the ORM broker, not in sync mode) and this one, which POSTs
``--events`` signed approval webhooks (Harvest ``record.changed`` events, one distinct time entry each) at
``--rate`` events per second, paced by the wall clock, after a few warm-up events that are not counted.

Latency per event: from the moment this process starts sending the POST (wall clock) to the moment the worker
recorded the posted line: the ledger item's ``created_at``, stamped after Tryton answered the create, in the
transaction that also records the cross-reference. Both clocks are this machine's. Reported too: the same
measured from the server's receipt (``InboundEvent.received_at``), and where the time went: the HTTP accept,
the wait until a worker picked the event up (its webhook run's ``started_at``) and from there to the ledger item.

Tryton calls per 1,000 events: the web and cluster processes' own call counter (``weft_target_call_seconds``,
per connector kind), summed across processes as ``/metrics`` does, over the measured events (warm-up excluded);
and how many lines each create call carried (the ledger's ``batch``). Target: ≤ 50 calls per 1,000 (issue 18).
Also the cluster's event tasks that ran, per event (``event_tasks``): one per stream's burst, not one per event.
Peak memory: this process's (``peak_rss_mb``) and the largest of each server's processes (``VmHWM``,
``server_process_peak_rss_mb``); issue 18 bars any benchmark at 200 MB.

Every one of the events must end as exactly one line in Tryton (counted by our reference), one ``created``
ledger item and a processed event, or the benchmark fails. Target (issue 4): p95 ≤ 2 s at 20 events/s.
The gathering window (``WEFT_EVENT_GATHER_SECONDS``, ``WEFT_EVENT_GATHER_COUNT``) is taken from the environment, as
the cluster takes it, and printed with the figures; so is the load average when the last event was posted.
Usage: python bench/event_latency.py [--events 500] [--rate 20] [--workers N] [--poll SECONDS]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._setup import ROOT, django_for_benchmarks, peak_rss_mb, percentile, report  # noqa: E402

DB_NAME = "weft_bench_latency"
WARMUP_EVENTS = 5
POSTED_TIMEOUT_S = 300


class Service:
    """A subprocess (``manage.py`` unless ``command`` says otherwise) in its own process group, logging to a file;
    ``stop()`` ends the group."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path,
                 command: list[str] | None = None):
        self.name, self.log_path = name, log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        command = command or [sys.executable, "manage.py", *args]
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()

    def tail(self, chars: int = 3000) -> str:
        return f"--- {self.log_path} ---\n{self.log_path.read_text(errors='replace')[-chars:]}"


def cpu_seconds(group: int | None = None, pid: int | None = None) -> float:
    """CPU time (user + system) used so far by the processes of process group ``group``, or by ``pid``; with
    neither, by the whole machine (every core)."""
    tick = os.sysconf("SC_CLK_TCK")
    if group is None and pid is None:
        with open("/proc/stat") as stat:
            user, nice, system = (int(v) for v in stat.readline().split()[1:4])
        return (user + nice + system) / tick
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or (pid is not None and int(entry.name) != pid):
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if pid is not None or int(fields[2]) == group:
            total += sum(int(v) for v in fields[11:15])  # utime, stime, and those of reaped children
    return total / tick


def peak_rss_of_group(group: int) -> float:
    """The largest peak resident set (``VmHWM``, MB) of any live process in process group ``group``: what one
    server process (a gunicorn worker, a cluster worker) needed at most so far."""
    peak = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                if int(stat.read().rsplit(")", 1)[1].split()[2]) != group:
                    continue
            with open(f"/proc/{entry.name}/status") as status:
                peak = max(peak, next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")))
        except (OSError, StopIteration):
            continue  # gone meanwhile
    return round(peak / 1024, 1)


# --- set-up ------------------------------------------------------------------------------------------------
def tryton_start(workdir: Path):
    """The real Tryton test server, and the ``tryton`` object the e2e helpers expect."""
    from tests.tryton import server
    from tests.tryton.conftest_plugin import TrytonTestServer

    server.ensure_tryton_installed()
    facts = server.ensure_database()
    process = server.start_server(workdir)
    client = process.client()
    client.login()
    return process, TrytonTestServer(
        url=process.url, database=server.DATABASE, username=server.USERNAME, password=server.PASSWORD,
        company_id=facts["company_id"], employee_ids=facts["employee_ids"], client=client, seed=facts,
        workdir=process.workdir, log=process.log)


def customer_create():
    from apps.tenants import services

    partner = services.partner_create(
        acting_user=None, name="Bench Partner", slug="bench", display_name="Bench", support_email="b@bench.example",
        email_sender_name="Bench", domain_suffix="bench.test")
    return services.customer_onboard(partner=partner, slug="latency", name="Latency Firm",
                                     admin_email="admin@bench.example", acting_user=None).customer


def chain_create(customer, tryton):
    """Approved time → Tryton for ``customer``, set up as the e2e tests do (Harvest faked in this process)."""
    from unittest import mock

    from django_q.models import Schedule

    from apps.common.http import OutboundClient
    from apps.runs import engine
    from tests.e2e.support import approved_time_chain
    from tests.e2e.vendors import HARVEST_URL, FakeHarvest, Routes

    harvest, routes = FakeHarvest(), Routes()
    routes.vendors[HARVEST_URL] = harvest
    # As in the e2e tests: hub changes run their flows at once (to the fake), rather than queue them for the cluster.
    fanout = engine.hub_changed
    with (mock.patch("apps.connectors.services.OutboundClient", routes.client_factory(OutboundClient)),
          mock.patch("apps.runs.engine.hub_changed", lambda **kw: fanout(**{**kw, "inline": True}))):
        chain = approved_time_chain(customer, tryton, harvest, strangers=())
    Schedule.objects.filter(name__startswith=f"flow:{customer.schema_name}:").delete()
    return chain, harvest


def approved_entries(chain, harvest, count: int, token: str, *, first_day: int = 0) -> list[dict]:
    """``count`` distinct approved entries, one hour each, one a day per person (no day is over-booked)."""
    people = [chain.user("ann"), chain.user("bo")]
    start = date(2026, 1, 1) + timedelta(days=first_day)
    return [harvest.add_time_entry(people[n % 2], chain.harvest_project, hours=1.0, approved=True,
                                   spent_date=(start + timedelta(days=n // 2)).isoformat(), notes=f"{token} {n}")
            for n in range(count)]


def services_start(args, log_dir: Path) -> tuple[Service, Service, int]:
    from tests.tryton.server import free_port

    env = {**os.environ, "WEFT_DB_NAME": DB_NAME, "WEFT_Q_SYNC": "0", "DJANGO_SETTINGS_MODULE": "config.settings.local",
           "WEFT_LOG_LEVEL": os.environ.get("WEFT_LOG_LEVEL", "WARNING"), "PYTHONUNBUFFERED": "1"}
    if args.workers:
        env["WEFT_Q_WORKERS"] = str(args.workers)
    if args.poll is not None:
        env["WEFT_Q_POLL_SECONDS"] = str(args.poll)
    (log_dir / "metrics").mkdir()
    env["PROMETHEUS_MULTIPROC_DIR"] = str(log_dir / "metrics")  # the processes' counters, read by target_calls()
    port = free_port()
    # The production web server, as make run starts it (config/gunicorn.py).
    web = Service("web", [], {**env, "WEFT_BIND": f"127.0.0.1:{port}"}, log_dir,
                  command=[str(Path(sys.executable).parent / "gunicorn"), "-c", "config/gunicorn.py", "config.wsgi"])
    cluster = Service("qcluster", ["qcluster"], env, log_dir)
    return web, cluster, port


def web_wait(web: Service, port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not web.alive():
            raise RuntimeError(f"the web server exited with {web.process.returncode}\n{web.tail()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the web server did not answer in {timeout:.0f} s\n{web.tail()}")


# --- sending -----------------------------------------------------------------------------------------------
class Sender:
    """Signs and POSTs approval events to the webhook endpoint, recording when each was sent and accepted."""

    def __init__(self, port: int, host: str, slug: str, secret: str):
        self.port, self.host, self.path, self.secret = port, host, f"/api/v1/hooks/{slug}/", secret

    def post(self, entry: dict, event_id: str) -> dict:
        from apps.connectors.kinds.webhook import sign
        from tests.e2e.vendors import stamp

        record = {**entry, "updated_at": stamp()}  # approved now (Harvest's approval time is its updated_at)
        body = json.dumps({"id": event_id, "type": "record.changed",
                           "data": {"object": "time_entries", "record": record}}).encode()
        sent = time.time()
        timestamp = str(int(sent))
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("POST", self.path, body=body, headers={
                "Host": self.host, "Content-Type": "application/json", "X-Weft-Timestamp": timestamp,
                "X-Weft-Signature": sign(self.secret, timestamp, body)})
            response = conn.getresponse()
            text = response.read()
        finally:
            conn.close()
        if response.status != 202:
            raise RuntimeError(f"event {event_id} answered {response.status}: {text[:500]!r}")
        return {"event_id": event_id, "entry_id": entry["id"], "sent": sent, "accepted": time.time()}


def paced(sender: Sender, entries: list[dict], rate: float, prefix: str) -> tuple[list[dict], float]:
    """POST one event per entry at ``rate`` per second by the wall clock (a few threads, so a slow answer does
    not delay the next event). Returns the receipts and how late the last send started."""
    results: list[dict] = [{}] * len(entries)
    lateness: list[float] = []
    lock = threading.Lock()
    started = time.monotonic() + 0.2

    def send(n: int) -> None:
        due = started + n / rate
        time.sleep(max(0.0, due - time.monotonic()))
        with lock:
            lateness.append(time.monotonic() - due)
        results[n] = sender.post(entries[n], f"{prefix}-{n}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        for future in [pool.submit(send, n) for n in range(len(entries))]:
            future.result()
    return results, max(lateness)


# --- measuring ---------------------------------------------------------------------------------------------
def wait_posted(chain, entry_ids: list[int], cluster: Service, timeout: float) -> None:
    from apps.runs.models import ItemOutcome, RunItem

    ids = [str(i) for i in entry_ids]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not cluster.alive():
            raise RuntimeError(f"the cluster exited with {cluster.process.returncode}\n{cluster.tail()}")
        canonical = _canonical_ids(chain, ids)
        done = RunItem.objects.filter(run__flow__slug="time-to-erp", outcome=ItemOutcome.CREATED,
                                      canonical_id__in=canonical.values()).count()
        if len(canonical) == len(ids) and done >= len(ids):
            return
        time.sleep(0.5)
    raise RuntimeError(f"not every entry was posted within {timeout:.0f} s\n{cluster.tail()}")


def _canonical_ids(chain, external_ids: list[str]) -> dict[str, int]:
    from apps.canonical.models import ExternalRef

    return dict(ExternalRef.objects.filter(connection=chain.harvest, object_type="time_entry",
                                           external_id__in=external_ids).values_list("external_id", "canonical_id"))


def timings(chain, receipts: list[dict]) -> list[dict]:
    """Per event: sent, accepted, received, picked up by a worker (its webhook run started), posted (unix s)."""
    from apps.runs.models import InboundEvent, ItemOutcome, RunItem, Trigger

    external_ids = [str(r["entry_id"]) for r in receipts]
    canonical = _canonical_ids(chain, external_ids)
    posted = dict(RunItem.objects.filter(run__flow__slug="time-to-erp", outcome=ItemOutcome.CREATED,
                                         canonical_id__in=canonical.values()).values_list("canonical_id", "created_at"))
    picked = dict(RunItem.objects.filter(run__trigger=Trigger.WEBHOOK, run__connection=chain.harvest,
                                         external_id__in=external_ids).values_list("external_id", "run__started_at"))
    received = dict(InboundEvent.objects.filter(event_id__in=[r["event_id"] for r in receipts])
                    .values_list("event_id", "received_at"))
    return [{**r, "received": received[r["event_id"]].timestamp(), "picked": picked[str(r["entry_id"])].timestamp(),
             "posted": posted[canonical[str(r["entry_id"])]].timestamp()} for r in receipts]


def verify_exactly_once(chain, tryton, receipts: list[dict], token: str) -> None:
    """Each entry: one line in Tryton, one created ledger item, its event processed. Raises otherwise."""
    from apps.runs.models import InboundEvent, ItemOutcome, RunItem
    from tests.e2e.support import entry_reference

    canonical = _canonical_ids(chain, [str(r["entry_id"]) for r in receipts])
    if len(canonical) != len(receipts):
        raise AssertionError(f"{len(receipts) - len(canonical)} entries never reached the hub")
    lines = tryton.client.search_read("timesheet.line", [["description", "ilike", f"%{token} %"]],
                                      ["description"])
    tags = Counter(re.match(r"\[([^\]]+)\]", line["description"]).group(1) for line in lines)
    expected = {entry_reference(pk) for pk in canonical.values()}
    wrong = {ref: tags.get(ref, 0) for ref in expected if tags.get(ref, 0) != 1}
    strays = set(tags) - expected
    if wrong or strays:
        raise AssertionError(f"not exactly once in Tryton: {len(wrong)} entries wrong (e.g. "
                             f"{dict(list(wrong.items())[:5])}), {len(strays)} unexpected lines")
    ledger = Counter(RunItem.objects.filter(run__flow__slug="time-to-erp", outcome=ItemOutcome.CREATED,
                                            canonical_id__in=canonical.values()).values_list("canonical_id", flat=True))
    if set(ledger.values()) != {1} or len(ledger) != len(canonical):
        raise AssertionError(f"ledger: {len(ledger)} entries with created items, counts {Counter(ledger.values())}")
    statuses = Counter(InboundEvent.objects.filter(event_id__in=[r["event_id"] for r in receipts])
                       .values_list("status", flat=True))
    if statuses != {InboundEvent.Status.PROCESSED: len(receipts)}:
        raise AssertionError(f"events not all processed: {dict(statuses)}")


def target_calls(work: Path) -> dict[str, int]:
    """Calls the web and cluster processes made to connected systems so far, by connector kind: the production
    counter ``weft_target_call_seconds`` (apps/ops/metrics.py), as ``/metrics`` would add it up."""
    from prometheus_client import CollectorRegistry, multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(work / "metrics"))
    counts: Counter = Counter()
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name == "weft_target_call_seconds_count":
                counts[sample.labels.get("kind", "")] += int(sample.value)
    return dict(counts)


def batch_sizes(chain, receipts: list[dict]) -> dict:
    """How many lines each create call to Tryton carried (the ledger's ``batch``; 1 where a line went alone)."""
    from apps.runs.models import ItemOutcome, RunItem

    canonical = _canonical_ids(chain, [str(r["entry_id"]) for r in receipts])
    sizes = [(response or {}).get("batch") or 1 for response in RunItem.objects.filter(
        run__flow__slug="time-to-erp", outcome=ItemOutcome.CREATED, canonical_id__in=canonical.values())
        .values_list("target_response", flat=True)]
    weights = [1 / size for size in sizes]  # a batch of n is n items with 1/n of a call each
    return {"creates": round(sum(weights)), "lines_per_create_mean": round(len(sizes) / sum(weights), 1),
            "lines_per_create_max": max(sizes)}


# What the intake queues for an event: a task per event (before issue 18's streams) or per stream's burst.
EVENT_TASKS = ("inbound_event_received", "inbound_event_process", "inbound_stream_process")


def event_tasks(since: float, events: int) -> dict:
    """The cluster's event tasks that started since ``since`` (their saved results), by function, and per event."""
    from datetime import UTC, datetime

    from django_q.models import Task

    time.sleep(2)  # the cluster's monitor saves a result just after its task ends
    started = datetime.fromtimestamp(since, tz=UTC)
    names = Counter(args[1].rsplit(".", 1)[-1] for args in Task.objects.filter(started__gte=started)
                    .values_list("args", flat=True) if args and len(args) > 1)
    counts = {name: names[name] for name in EVENT_TASKS if names[name]}
    return {**counts, "per_event": round(sum(counts.values()) / events, 3)}


def summary(values: list[float]) -> dict:
    return {"p50": round(percentile(values, 50), 3), "p95": round(percentile(values, 95), 3),
            "max": round(max(values), 3)}


def figures(rows: list[dict], args, lateness: float, workers: int, poll: float, load: tuple) -> dict:
    from django.conf import settings

    latency = [r["posted"] - r["sent"] for r in rows]
    from_receipt = [r["posted"] - r["received"] for r in rows]
    span = max(r["posted"] for r in rows) - min(r["sent"] for r in rows)
    p95 = percentile(latency, 95)
    return {
        "benchmark": "event_latency", "events": len(rows), "rate_per_s": args.rate,
        "latency_s": summary(latency), "latency_from_receipt_s": summary(from_receipt),
        "accept_s": summary([r["accepted"] - r["sent"] for r in rows]),
        "queue_wait_s": summary([r["picked"] - r["received"] for r in rows]),
        "picked_to_posted_s": summary([r["posted"] - r["picked"] for r in rows]),
        "sent_per_s": round(len(rows) / (max(r["sent"] for r in rows) - min(r["sent"] for r in rows)), 2),
        "posted_per_s": round(len(rows) / span, 2), "send_late_max_s": round(lateness, 3),
        "cluster_workers": workers, "queue_poll_s": poll, "load_average": [round(x, 2) for x in load],
        "gather_window_s": settings.WEFT_EVENT_GATHER_SECONDS, "gather_count": settings.WEFT_EVENT_GATHER_COUNT,
        "peak_rss_mb": round(peak_rss_mb(), 1), "target": {"latency_p95_s": 2.0}, "meets_target": p95 <= 2.0,
    }


def cpu_meters(web: Service, cluster: Service, tryton_process) -> dict:
    return {"web": lambda: cpu_seconds(group=web.process.pid),
            "cluster": lambda: cpu_seconds(group=cluster.process.pid),
            "tryton": lambda: cpu_seconds(pid=tryton_process.process.pid),
            "bench": lambda: sum(os.times()[:2]), "machine": cpu_seconds}


def cpu_split(cpu: dict[str, float], events: int) -> dict[str, int]:
    """CPU per event while the events were sent and posted; "rest" is PostgreSQL and whatever else ran on the
    machine meanwhile (other users' work too)."""
    split = {name: cpu[name] for name in ("web", "cluster", "tryton", "bench")}
    split["rest"] = cpu["machine"] - sum(split.values())
    return {name: round(seconds * 1000 / events) for name, seconds in split.items()}


# --- main ----------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--workers", type=int, help="cluster workers (default: WEFT_Q_WORKERS, i.e. the settings')")
    parser.add_argument("--poll", type=float, help="the ORM broker's poll interval (default: the settings')")
    parser.add_argument("--keep-logs", action="store_true", help="keep the servers' logs (printed to stderr)")
    args = parser.parse_args()
    django_for_benchmarks(DB_NAME, fresh=True)

    from django.conf import settings
    from django_tenants.utils import schema_context

    work = Path(tempfile.mkdtemp(prefix="weft-bench-latency-"))
    services: list[Service] = []
    tryton_process, keep = None, args.keep_logs
    try:
        (work / "tryton").mkdir()
        tryton_process, tryton = tryton_start(work / "tryton")
        customer = customer_create()
        host = customer.domains.get(is_primary=True).domain
        token = f"lat{int(time.time())}"
        with schema_context(customer.schema_name):
            chain, harvest = chain_create(customer, tryton)
            warmup_entries = approved_entries(chain, harvest, WARMUP_EVENTS, f"{token}w")
            entries = approved_entries(chain, harvest, args.events, token, first_day=WARMUP_EVENTS)
        from tests.e2e.support import SIGNING_SECRET

        sender = Sender(0, host, chain.hooks.slug, SIGNING_SECRET)
        web, cluster, sender.port = services_start(args, work)
        services += [web, cluster]
        web_wait(web, sender.port)
        with schema_context(customer.schema_name):
            warmup, _ = paced(sender, warmup_entries, 2.0, "warmup")
            wait_posted(chain, [r["entry_id"] for r in warmup], cluster, timeout=120)
            meters = cpu_meters(web, cluster, tryton_process)
            calls_before = target_calls(work)
            before = {name: meter() for name, meter in meters.items()}
            measured_from = time.time()
            receipts, lateness = paced(sender, entries, args.rate, "approve")
            wait_posted(chain, [r["entry_id"] for r in receipts], cluster, timeout=POSTED_TIMEOUT_S)
            load = os.getloadavg()
            cpu = {name: meter() - before[name] for name, meter in meters.items()}
            calls = {kind: n - calls_before.get(kind, 0) for kind, n in target_calls(work).items()}
            verify_exactly_once(chain, tryton, receipts, token)
            rows = timings(chain, receipts)
            batches = batch_sizes(chain, receipts)
            tasks = event_tasks(measured_from, len(receipts))
            servers_rss = {"web": peak_rss_of_group(web.process.pid), "cluster": peak_rss_of_group(cluster.process.pid)}
        workers, poll = settings.Q_CLUSTER["workers"], settings.Q_CLUSTER["poll"]
        workers, poll = args.workers or workers, args.poll if args.poll is not None else poll
    except BaseException:
        keep = True
        raise
    finally:
        for service in reversed(services):
            service.stop()
        if tryton_process is not None:
            tryton_process.stop()
        if keep:
            print(f"logs kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    per_1000 = round(calls.get("tryton", 0) * 1000 / len(rows), 1)
    result = figures(rows, args, lateness, workers, poll, load)
    result["target"]["tryton_calls_per_1000"] = 50
    result["meets_target"] = result["meets_target"] and per_1000 <= 50
    report({**result, "tryton_calls_per_1000_entries": per_1000, "target_calls": calls, "tryton_creates": batches,
            "cpu_ms_per_event": cpu_split(cpu, len(rows)), "event_tasks": tasks,
            "server_process_peak_rss_mb": servers_rss})


if __name__ == "__main__":
    main()
