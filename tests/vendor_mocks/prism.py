"""Prism mock servers for the vendor specs, as session-scoped pytest fixtures.

Prism (``@stoplight/prism-cli``, pinned in package.json) serves a spec's examples and answers requests that
break the spec with 4xx: 422 (or the spec's own 400/422 response) for bad parameters or bodies, 401 for a
missing auth header. ``--errors`` also turns a response example that breaks its own schema into a 500, so a
200 from Prism is spec-shaped. Prism is stateless: a POST does not show up in a later GET.

Paths: Prism drops the path part of the spec's server URL, so Harvest's ``https://api.harvestapp.com/v2/clients``
is ``{prism_harvest}/clients``, Xero's ``https://api.xero.com/api.xro/2.0/Contacts`` is
``{prism_xero_accounting}/Contacts``. Paths are case-sensitive (``/Projects/{id}/Time``, not ``/projects/...``).

Known gap: Prism does not validate request bodies on Xero ``/Invoices``; use tests.vendor_mocks.openapi there.
Node/npm missing (or ``npm ci`` failing) skips the tests that ask for these fixtures, with the reason.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.vendor_mocks.openapi import SPEC_FILES

REPO_ROOT = Path(__file__).resolve().parents[2]
PRISM_BIN = REPO_ROOT / "node_modules" / ".bin" / "prism"
STAMP = REPO_ROOT / "node_modules" / ".weft-npm-ci.stamp"
MIN_NODE = (18, 20, 1)  # @stoplight/prism-cli 5.16 "engines"
START_TIMEOUT = 120.0  # the Xero Accounting spec (900 KB) alone takes ~17 s to load


class PrismUnavailable(Exception):
    """Prism cannot run here (no Node, no npm, install failed); tests needing it are skipped."""


@dataclass
class PrismServer:
    """One running ``prism mock`` process."""

    spec_name: str
    base_url: str
    process: subprocess.Popen
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # its own session: only Prism and its children
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def _node_version() -> tuple[int, ...]:
    if not shutil.which("node") or not shutil.which("npm"):
        raise PrismUnavailable("node and npm are needed for the Prism vendor mocks but are not on PATH")
    output = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout
    version = tuple(int(part) for part in output.strip().lstrip("v").split(".")[:3])
    if version < MIN_NODE:
        raise PrismUnavailable(f"Prism 5 needs Node >= {'.'.join(map(str, MIN_NODE))}, found {output.strip()}")
    return version


def _lock_digest(node_version: tuple[int, ...]) -> str:
    lock = (REPO_ROOT / "package-lock.json").read_bytes()
    return hashlib.sha256(lock + repr(node_version).encode()).hexdigest()


def npm_ci() -> None:
    """Install the pinned Node tools once; skipped while node_modules still matches package-lock.json."""
    digest = _lock_digest(_node_version())
    if PRISM_BIN.exists() and STAMP.exists() and STAMP.read_text() == digest:
        return
    # npm ci deletes node_modules first, so the lock lives outside it; it serialises parallel sessions.
    lock_path = Path(tempfile.gettempdir()) / f"weft-npm-ci-{hashlib.sha1(bytes(REPO_ROOT)).hexdigest()[:12]}.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if PRISM_BIN.exists() and STAMP.exists() and STAMP.read_text() == digest:
            return
        # --ignore-scripts: Prism needs no install scripts; the only one in the tree is a telemetry ping.
        command = ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"]
        result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            raise PrismUnavailable(f"`npm ci` failed ({result.returncode}): {result.stderr.strip()[-500:]}")
        STAMP.write_text(digest)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_answering(server: PrismServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"Prism for {server.spec_name} exited early:\n{server.log_tail()}")
        with contextlib.suppress(httpx.TransportError):
            httpx.get(server.base_url + "/", timeout=1.0)  # any answer, even Prism's 404, means it is up
            return
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"Prism for {server.spec_name} gave no answer in {START_TIMEOUT:.0f} s:\n{server.log_tail()}")


def prism_start(spec_name: str, *, dynamic: bool = False) -> PrismServer:
    """Start ``prism mock`` for one spec on a free 127.0.0.1 port and wait until it answers. ``dynamic`` answers
    with data generated from the schemas instead of the examples (for specs whose examples break them)."""
    npm_ci()
    port = _free_port()
    log_path = Path(tempfile.mkstemp(prefix=f"prism-{spec_name}-", suffix=".log")[1])
    command = [str(PRISM_BIN), "mock", str(SPEC_FILES[spec_name]), "-h", "127.0.0.1", "-p", str(port), "--errors"]
    if dynamic:
        command.append("--dynamic")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = PrismServer(spec_name, f"http://127.0.0.1:{port}", process, log_path)
    _wait_until_answering(server)
    return server


@contextlib.contextmanager
def prism_running(spec_name: str, *, dynamic: bool = False) -> Iterator[str]:
    """Run Prism for ``spec_name`` for the length of the block; yields its base URL."""
    try:
        server = prism_start(spec_name, dynamic=dynamic)
    except PrismUnavailable as unavailable:
        pytest.skip(f"Prism vendor mock unavailable: {unavailable}")
    try:
        yield server.base_url
    finally:
        server.stop()
        server.log_path.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def prism_harvest() -> Iterator[str]:
    """Base URL of a Prism mock of Harvest API v2 (``/clients``, ``/time_entries``; no ``/v2`` prefix)."""
    with prism_running("harvest") as base_url:
        yield base_url


@pytest.fixture(scope="session")
def prism_xero_accounting() -> Iterator[str]:
    """Base URL of a Prism mock of the Xero Accounting API (``/Contacts``, ``/Invoices``). Starts in ~17 s."""
    with prism_running("xero_accounting") as base_url:
        yield base_url


@pytest.fixture(scope="session")
def prism_xero_projects() -> Iterator[str]:
    """Base URL of a Prism mock of the Xero Projects API (``/Projects``, ``/Projects/{projectId}/Time``)."""
    with prism_running("xero_projects") as base_url:
        yield base_url


@pytest.fixture(scope="session")
def prism_xero_payroll_uk() -> Iterator[str]:
    """Base URL of a Prism mock of Xero Payroll UK (``/PayRunCalendars``, ``/Timesheets/{TimesheetID}/Lines``).
    Dynamic answers: the document's own examples break its schemas (``problem: null``, date-times where a date
    is declared, ``trackingItemID: null``), which ``--errors`` turns into 500s."""
    with prism_running("xero_payroll_uk", dynamic=True) as base_url:
        yield base_url
