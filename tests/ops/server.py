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
import time
from pathlib import Path

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
