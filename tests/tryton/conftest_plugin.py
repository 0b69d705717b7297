"""The ``tryton`` fixture: a real Tryton 8.2 server for the whole test session.

Registered from tests/conftest.py (``pytest_plugins``). The first run installs Tryton and builds the
seeded database (about a minute); later runs reuse both and only start the server (about 1-2 s).
Tests share one server: make names and references unique per test (``unique()``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from apps.connectors.kinds.tryton.rpc import Send, TrytonRpc
from tests.tryton import server


@dataclass
class TrytonTestServer:
    """Where the test server is, who may log in, the seeded ids, and a logged-in client.

    ``seed`` holds every id the seed made: ``currency_ids`` ({"EUR": .., "USD": ..}), ``company_party_id``,
    ``customer_id``, ``invoice_ids`` ({"posted": .., "draft": ..}), ``account_receivable_id``,
    ``account_revenue_id``, ``fiscalyear_id``.
    """

    url: str
    database: str
    username: str
    password: str
    company_id: int
    employee_ids: list[int]
    client: TrytonRpc
    seed: dict = field(repr=False)
    workdir: Path = field(repr=False)
    log: Path = field(repr=False)

    def connect(self, *, http: Send | None = None, password: str | None = None) -> TrytonRpc:
        """A new client (not logged in yet) for the admin user, e.g. with a recording transport."""
        return TrytonRpc(self.url, self.database, self.username, password or self.password, http=http)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _unavailable(reason: str):
    # CI must not turn green by skipping: there a missing Tryton is a failure.
    if os.environ.get("CI"):
        pytest.fail(f"Tryton is required in CI but unavailable: {reason}", pytrace=False)
    pytest.skip(f"Tryton could not be installed here (needs PyPI): {reason}")


@pytest.fixture(scope="session")
def tryton(tmp_path_factory) -> Iterator[TrytonTestServer]:
    try:
        server.ensure_tryton_installed()
    except server.TrytonUnavailable as exc:
        _unavailable(str(exc))
    facts = server.ensure_database()
    process = server.start_server(tmp_path_factory.mktemp("tryton"))
    try:
        client = process.client()
        client.login()
        yield TrytonTestServer(
            url=process.url, database=server.DATABASE, username=server.USERNAME, password=server.PASSWORD,
            company_id=facts["company_id"], employee_ids=facts["employee_ids"], client=client, seed=facts,
            workdir=process.workdir, log=process.log,
        )
    finally:
        process.stop()
