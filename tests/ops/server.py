"""The production web server (gunicorn, config/gunicorn.py) as a subprocess, and plain HTTP clients for it."""

from __future__ import annotations

import base64
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Process:
    """A subprocess in a session of its own, logging to a file; ``stop()`` sends SIGTERM to the whole group."""

    def __init__(self, command: list[str], env: dict[str, str], log_path: Path):
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def stop(self, timeout: float = 20) -> int | None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()
        return self.process.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class WebServer(Process):
    """``gunicorn -c config/gunicorn.py config.wsgi`` on a free port of 127.0.0.1, as make run and deploy/ start it."""

    def __init__(self, env: dict[str, str], log_path: Path):
        self.port = free_port()
        super().__init__([str(BIN / "gunicorn"), "-c", "config/gunicorn.py", "config.wsgi"],
                         {**env, "WEFT_BIND": f"127.0.0.1:{self.port}"}, log_path)
        self.wait_alive()

    def wait_alive(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the server exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"the server did not answer within {timeout} s:\n{self.log()[-3000:]}")

    def request(self, method: str, path: str, *, host: str = "localhost", body: bytes | None = None,
                headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, dict, bytes]:
        """One request on a new connection: (status, headers, body)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers={"Host": host, **(headers or {})})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def json(self, method: str, path: str, **kwargs) -> tuple[int, object]:
        status, _, body = self.request(method, path, **kwargs)
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body.decode(errors="replace")[:500]


def basic_auth(username: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}


def signed(secret: str, event: dict) -> tuple[bytes, dict[str, str]]:
    from apps.connectors.kinds.webhook import sign

    body, stamp = json.dumps(event).encode(), str(int(time.time()))
    return body, {"Content-Type": "application/json", "X-Weft-Timestamp": stamp,
                  "X-Weft-Signature": sign(secret, stamp, body)}


class BackendSampler:
    """The most client sessions on the test database seen at once, sampled every 20 ms until ``done()``: those
    with ``application_name`` when given, else all but the ``ignore`` ones (ours). Autovacuum and other server
    processes are not client sessions and never count."""

    def __init__(self, *, ignore: set[int] = frozenset(), application_name: str | None = None):
        self.peak, self._stop, self._ignore = 0, threading.Event(), set(ignore)
        self._application_name = application_name
        self._params = {k: v for k, v in connection.get_connection_params().items()
                        if k in {"host", "port", "user", "password", "dbname"}}
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(**self._params, autocommit=True) as conn:
            self._ignore.add(conn.info.backend_pid)
            while not self._stop.is_set():
                rows = conn.execute("SELECT pid, application_name FROM pg_stat_activity WHERE datname = "
                                    "current_database() AND backend_type = 'client backend'").fetchall()
                pids = {pid for pid, name in rows if self._application_name in (None, name)} - self._ignore
                self.peak = max(self.peak, len(pids))
                time.sleep(0.02)

    def done(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def our_backends() -> set[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return {row[0] for row in cursor.fetchall()}
