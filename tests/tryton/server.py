"""A real Tryton 8.2 server for the tests: installed once, seeded once, started fresh per test session.

- ``ensure_tryton_installed()`` makes ``.weft/tryton/venv`` from ``requirements-tryton.txt`` (a virtualenv
  of its own: trytond never touches the app's packages). A stamp named after the file's checksum
  says whether the venv is current.
- ``ensure_database()`` builds a SQLite database once (``trytond-admin --all`` with the modules
  activated, then the base data seeded over JSON-RPC) and caches it at ``.weft/tryton/cache/weft.sqlite``
  with the ids it made in ``weft.json``, keyed by the same checksum plus ``SEED_VERSION``.
- ``start_server(workdir)`` copies the cached database into ``workdir``, starts ``trytond`` on a free
  loopback port and waits until a login works. Logs stay in ``workdir``.

Seeded base data: currencies EUR and USD; the company "Weft Test Consulting" (EUR) with its party;
the admin user in that company; two employees with cost prices; the minimal account chart, fiscal
year 2026 with monthly periods; a customer "Northwind Traders" with one posted and one draft
customer invoice, each with lines.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from apps.connectors.kinds.tryton.rpc import TrytonError, TrytonRpc

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements-tryton.txt"
HOME = ROOT / ".weft" / "tryton"
VENV = HOME / "venv"
CACHE_DB = HOME / "cache" / "weft.sqlite"
CACHE_FACTS = HOME / "cache" / "weft.json"

DATABASE = "weft"
USERNAME = "admin"
PASSWORD = "admin"  # a throwaway local test server on 127.0.0.1 only
MODULES = ("project", "timesheet", "project_invoice", "project_revenue", "project_plan", "account_invoice",
           "company", "party", "timesheet_cost")
SEED_VERSION = 1  # bump when the seed below changes, so the cached database is rebuilt
FISCAL_YEAR = 2026


class TrytonUnavailable(RuntimeError):
    """Tryton could not be installed on this machine (for example: no access to PyPI)."""


def cache_key() -> str:
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]


@contextlib.contextmanager
def _locked():
    """One installer/builder at a time, across processes sharing this checkout."""
    HOME.mkdir(parents=True, exist_ok=True)
    with open(HOME / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


# -- install ------------------------------------------------------------------------------------------------


def ensure_tryton_installed() -> Path:
    """Return the Tryton venv's ``bin`` folder, (re)creating the venv if requirements-tryton.txt changed."""
    stamp = VENV / f".installed-{cache_key()}"
    if stamp.exists():
        return VENV / "bin"
    with _locked():
        if not stamp.exists():
            _install()
            stamp.touch()
    return VENV / "bin"


def _install() -> None:
    shutil.rmtree(VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    result = subprocess.run([*pip, "-r", str(REQUIREMENTS)], capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        shutil.rmtree(VENV, ignore_errors=True)
        tail = (result.stderr or result.stdout).strip()[-1500:]
        raise TrytonUnavailable(f"pip could not install {REQUIREMENTS.name} into {VENV}:\n{tail}")


# -- cached, seeded database --------------------------------------------------------------------------------


def ensure_database() -> dict:
    """Return the seeded ids (company_id, employee_ids, ...), building the cached database if needed."""
    key = f"{cache_key()}-seed{SEED_VERSION}"
    facts = _cached_facts(key)
    if facts:
        return facts
    with _locked():
        facts = _cached_facts(key)
        if not facts:
            facts = _build_database(key)
    return facts


def _cached_facts(key: str) -> dict | None:
    if not (CACHE_DB.exists() and CACHE_FACTS.exists()):
        return None
    facts = json.loads(CACHE_FACTS.read_text())
    return facts if facts.get("key") == key else None


def _build_database(key: str) -> dict:
    bin_dir = ensure_tryton_installed()
    CACHE_DB.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="build-", dir=CACHE_DB.parent) as tmp:
        workdir = Path(tmp)
        port = free_port()
        conf = _write_config(workdir, port=port)
        (workdir / "db" / f"{DATABASE}.sqlite").touch()  # the SQLite backend wants the file to exist
        _run_admin(bin_dir, conf, workdir)
        server = _start(bin_dir, workdir, conf, port)
        try:
            facts = {"key": key, **seed(server.client())}
        except TrytonError as exc:
            raise RuntimeError(f"Seeding the Tryton test database failed: {exc}\n{_tail(server.log)}") from exc
        finally:
            server.stop()
        _snapshot(workdir / "db" / f"{DATABASE}.sqlite", CACHE_DB)
    CACHE_FACTS.write_text(json.dumps(facts, indent=2))
    return facts


def _snapshot(source: Path, target: Path) -> None:
    """Copy a SQLite database with what its write-ahead log still holds (Tryton runs it in WAL mode,
    so a plain file copy can miss the latest commits)."""
    partial = target.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    with contextlib.closing(sqlite3.connect(source)) as src, contextlib.closing(sqlite3.connect(partial)) as dst:
        src.backup(dst)
    os.replace(partial, target)


def _write_config(workdir: Path, *, port: int) -> Path:
    (workdir / "db").mkdir(parents=True, exist_ok=True)
    (workdir / "passfile").write_text(PASSWORD + "\n")
    conf = workdir / "trytond.conf"
    conf.write_text(f"[database]\nuri = sqlite://\npath = {workdir / 'db'}\n\n[web]\nlisten = 127.0.0.1:{port}\n")
    return conf


def _run_admin(bin_dir: Path, conf: Path, workdir: Path) -> None:
    log = workdir / "trytond-admin.log"
    command = [str(bin_dir / "trytond-admin"), "-c", str(conf), "-d", DATABASE, "--all",
               "--email", "admin@example.com", "-u", *MODULES, "--activate-dependencies"]
    env = {**os.environ, "TRYTONPASSFILE": str(workdir / "passfile")}
    with open(log, "w") as out:
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, env=env, timeout=900)
    if result.returncode != 0:
        raise RuntimeError(f"trytond-admin failed (exit {result.returncode}):\n{_tail(log)}")


# -- a running server ---------------------------------------------------------------------------------------


@dataclass
class TrytonProcess:
    """A trytond process serving ``DATABASE`` on ``url``; ``log`` is its output."""

    process: subprocess.Popen
    url: str
    workdir: Path
    log: Path

    def client(self) -> TrytonRpc:
        return TrytonRpc(self.url, DATABASE, USERNAME, PASSWORD)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(workdir: Path) -> TrytonProcess:
    """Copy the cached database into ``workdir`` and serve it; the caller stops the server."""
    bin_dir = ensure_tryton_installed()
    port = free_port()
    conf = _write_config(workdir, port=port)
    shutil.copyfile(CACHE_DB, workdir / "db" / f"{DATABASE}.sqlite")
    return _start(bin_dir, workdir, conf, port)


def _start(bin_dir: Path, workdir: Path, conf: Path, port: int) -> TrytonProcess:
    log = workdir / "trytond.log"
    # -d loads the database's modules at start; without it logins fail (KeyError 'res.user').
    command = [str(bin_dir / "trytond"), "-c", str(conf), "-d", DATABASE]
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = TrytonProcess(process, f"http://127.0.0.1:{port}", workdir, log)
    try:
        _wait_ready(server)
    except BaseException:
        server.stop()
        raise
    return server


def _wait_ready(server: TrytonProcess, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"trytond exited with {server.process.returncode}:\n{_tail(server.log)}")
        try:
            server.client().login()
            return
        except TrytonError as exc:
            last_error = exc
            time.sleep(0.25)
    raise RuntimeError(f"trytond did not answer in {timeout:.0f} s ({last_error}):\n{_tail(server.log)}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _tail(path: Path, chars: int = 4000) -> str:
    text = path.read_text(errors="replace") if path.exists() else "(no log)"
    return f"--- {path} (last {chars} chars) ---\n{text[-chars:]}"


# -- seed ---------------------------------------------------------------------------------------------------


def seed(client: TrytonRpc) -> dict:
    """Create the base data every Tryton test needs; return the ids the tests use."""
    facts = _seed_company(client)
    company = facts["company_id"]
    facts["employee_ids"] = _seed_employees(client, company)
    facts.update(_seed_accounting(client, company))
    facts.update(_seed_invoices(client, facts))
    return facts


def _seed_company(c: TrytonRpc) -> dict:
    eur, usd = c.create("currency.currency", [
        {"name": "Euro", "code": "EUR", "symbol": "€", "digits": 2, "rounding": Decimal("0.01")},
        {"name": "US Dollar", "code": "USD", "symbol": "$", "digits": 2, "rounding": Decimal("0.01")},
    ])
    party, = c.create("party.party", [{"name": "Weft Test Consulting"}])
    company, = c.create("company.company", [{"party": party, "currency": eur, "timezone": "Europe/Berlin"}])
    c.write("res.user", [c.user_id], {"companies": [["add", [company]]], "company": company})
    c.login()  # the user's context now carries the company
    return {"currency_ids": {"EUR": eur, "USD": usd}, "company_id": company, "company_party_id": party}


def _seed_employees(c: TrytonRpc, company: int) -> list[int]:
    people = c.create("party.party", [{"name": "Erin Example"}, {"name": "Sam Sample"}])
    employees = c.create("company.employee", [
        {"party": person, "company": company, "start_date": dt.date(2020, 1, 1),
         "cost_prices": [["create", [{"date": dt.date(2020, 1, 1), "cost_price": Decimal(price)}]]]}
        for person, price in zip(people, ["60.00", "45.00"], strict=True)
    ])
    c.write("res.user", [c.user_id], {"employees": [["add", employees]], "employee": employees[0]})
    c.login()
    return employees


def _named(c: TrytonRpc, model: str, name: str, *domain: list) -> int:
    """The one record of ``model`` called ``name`` (ir.model.data is not readable over RPC)."""
    found, = c.search(model, [["name", "=", name], *domain])
    return found


def _seed_accounting(c: TrytonRpc, company: int) -> dict:
    """The minimal chart of the account module, and an open fiscal year with invoice sequences."""
    _run_create_chart(c, company, template=_named(c, "account.account.template", "Universal Chart of Accounts",
                                                             ["parent", "=", None]))
    receivable, revenue = _account(c, company, "receivable"), _account(c, company, "revenue")
    move_seq, invoice_seq = c.create("ir.sequence.strict", [
        {"name": f"Moves {FISCAL_YEAR}", "company": company,
         "sequence_type": _named(c, "ir.sequence.type", "Account Move")},
        {"name": f"Invoices {FISCAL_YEAR}", "company": company, "prefix": f"INV{FISCAL_YEAR}-",
         "sequence_type": _named(c, "ir.sequence.type", "Invoice")},
    ])
    numbering = {f"{kind}_sequence": invoice_seq for kind in ("in_invoice", "in_credit_note", "out_invoice",
                                                             "out_credit_note")}
    year, = c.create("account.fiscalyear", [{
        "name": str(FISCAL_YEAR), "company": company, "move_sequence": move_seq,
        "start_date": dt.date(FISCAL_YEAR, 1, 1), "end_date": dt.date(FISCAL_YEAR, 12, 31),
        "invoice_sequences": [["create", [{"company": company, **numbering}]]],
    }])
    c.execute("account.fiscalyear", "create_period", [year])  # monthly
    return {"account_receivable_id": receivable, "account_revenue_id": revenue, "fiscalyear_id": year}


def _account(c: TrytonRpc, company: int, kind: str) -> int:
    """The first open account of a kind (the universal chart has several); parties need their own lines
    on receivable and payable accounts."""
    domain = [[f"type.{kind}", "=", True], ["company", "=", company], ["closed", "!=", True]]
    if kind in ("receivable", "payable"):
        domain.append(["party_required", "=", True])
    found, = c.search("account.account", domain, limit=1, order=[["code", "ASC"]])
    return found


def _run_create_chart(c: TrytonRpc, company: int, *, template: int) -> None:
    """Drive the "Create Chart of Accounts" wizard as the Tryton client does."""
    wizard = "wizard.account.create_chart"
    session, _start, _end = c.call(f"{wizard}.create", c.context)
    c.call(f"{wizard}.execute", session, {"account": {"company": company, "account_template": template}},
           "create_account", c.context)
    properties = {
        "company": company, "account_receivable": _account(c, company, "receivable"),
        "account_payable": _account(c, company, "payable"),
        "category_account_revenue": _account(c, company, "revenue"),
        "category_account_expense": _account(c, company, "expense"),
    }
    c.call(f"{wizard}.execute", session, {"properties": properties}, "create_properties", c.context)
    c.call(f"{wizard}.delete", session, c.context)


def _seed_invoices(c: TrytonRpc, facts: dict) -> dict:
    customer, = c.create("party.party", [{"name": "Northwind Traders", "addresses": [["create", [
        {"street": "1 Harbour Road", "postal_code": "20457", "city": "Hamburg"}]]]}])
    address, = c.search("party.address", [["party", "=", customer]])
    journal, = c.search("account.journal", [["type", "=", "revenue"]], limit=1)
    posted, draft = c.create("account.invoice", [
        _invoice(facts, customer, address, journal, "January consulting", dt.date(FISCAL_YEAR, 1, 31),
                 [("Consulting, January", 12.0, "120.00"), ("Workshop", 1.0, "900.00")]),
        _invoice(facts, customer, address, journal, "February consulting", dt.date(FISCAL_YEAR, 2, 28),
                 [("Consulting, February", 8.5, "120.00")]),
    ])
    c.execute("account.invoice", "post", [posted])
    return {"customer_id": customer, "invoice_ids": {"posted": posted, "draft": draft}}


def _invoice(facts: dict, party: int, address: int, journal: int, reference: str, date: dt.date,
             lines: list[tuple[str, float, str]]) -> dict:
    company, eur = facts["company_id"], facts["currency_ids"]["EUR"]
    return {
        "type": "out", "company": company, "currency": eur, "party": party, "invoice_address": address,
        "account": facts["account_receivable_id"], "journal": journal, "invoice_date": date,
        "reference": reference, "description": reference,
        "lines": [["create", [
            {"type": "line", "company": company, "currency": eur, "description": text, "quantity": quantity,
             "unit_price": Decimal(price), "account": facts["account_revenue_id"]}
            for text, quantity, price in lines
        ]]],
    }
