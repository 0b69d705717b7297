"""Start a real django-q2 cluster process against the test database, for tests about background work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def database_url_for_tests() -> str:
    """A DATABASE_URL for the database the tests are using right now (embedded or external)."""
    db = connection.settings_dict
    host = quote(db["HOST"], safe="") if db["HOST"].startswith("/") else db["HOST"]
    auth = quote(db["USER"]) + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{auth}@{host}{port}/{db['NAME']}"


class Cluster:
    """A ``manage.py qcluster`` subprocess; ``stop()`` sends SIGTERM, ``kill()`` SIGKILLs the whole group."""

    def __init__(self, **env_overrides: str):
        self.log_path = Path(settings.WEFT_DATA_DIR) / f"test-qcluster-{os.getpid()}.log"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url_for_tests(),
            "WEFT_Q_SYNC": "0",
            "WEFT_Q_POLL_SECONDS": "0.05",
            "WEFT_Q_WORKERS": "2",
            **env_overrides,
        }
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, stdout=self._log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

    def terminate(self, timeout: float = 60) -> float:
        """SIGTERM to the main process only (as make run, make stop and systemd's KillMode=mixed send it); returns
        how many seconds the whole cluster took to exit."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=timeout)
        return time.monotonic() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def wait_for(condition, *, timeout: float, interval: float = 0.2, cluster: Cluster | None = None):
    """Poll ``condition`` until it returns something truthy; fail with the cluster's log if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    log = cluster.log()[-3000:] if cluster else ""
    raise AssertionError(f"condition not met within {timeout} s\n--- cluster log ---\n{log}")
