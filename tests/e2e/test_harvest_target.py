"""A target that throttles, fails and merges: 429 and 5xx bursts (with Retry-After) cost time but lose nothing and
make no duplicates, even when a write was made but its answer lost; a target that stays down opens the circuit
after WEFT_CIRCUIT_THRESHOLD failures, later runs pause without calling it, and the first run after the
cooldown probes it and sends everything; a target that answers a write with a record another hub record already
stands for fails that item clearly, and the run goes on. Harvest clients, on the stateful spec-checked fake."""

from __future__ import annotations

import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from apps.canonical.models import Customer, ExternalRef
from apps.canonical.services import hub_upsert_all
from apps.common.objects import CanonicalInput
from apps.connectors.models import Connection
from apps.connectors.services import connection_create
from apps.runs import outbound
from apps.runs.models import Flow, ItemOutcome, RunItem, RunStatus
from tests.e2e.support import connect_harvest, run_flow
from tests.e2e.vendors import retry_after, unavailable

NAMES = ["Acme", "Bluebird", "Cobalt", "Dune", "Ember", "Fjord"]


@pytest.fixture
def customers_to_harvest(in_alpha, harvest):
    """Customers made in a PSA, in the hub; a flow sending them to Harvest as clients."""
    psa = connection_create(name="PSA", slug="psa", kind="webhook", acting_user=None)
    hub_upsert_all(connection=psa, object_type="customer", records=[
        CanonicalInput("customer", f"c{n}", {"code": f"C{n}", "name": name}) for n, name in enumerate(NAMES)])
    connection = connect_harvest()
    Flow.objects.create(name="Customers to Harvest", slug="customers-to-harvest", direction="outbound",
                        object_type="customer", connection=connection, object_name="clients", on_schedule=False)
    return connection


@pytest.fixture
def item_pauses(monkeypatch) -> list[float]:
    """The engine's own pauses between attempts at one record, recorded instead of slept."""
    slept: list[float] = []
    monkeypatch.setattr(outbound, "time", SimpleNamespace(monotonic=time.monotonic, sleep=slept.append))
    return slept


def test_bursts_of_429_and_5xx_cost_time_but_lose_nothing_and_duplicate_nothing(customers_to_harvest, harvest,
                                                                              routes, item_pauses):
    harvest.fail("GET", "/clients", unavailable(503), unavailable(503))
    harvest.fail("POST", "/clients", retry_after(429, seconds=3), retry_after(429, seconds=3))
    harvest.fail("POST", "/clients", unavailable(502), after_write=True)  # Harvest made it; the answer was lost

    run = run_flow("customers-to-harvest")

    assert run.status == RunStatus.SUCCEEDED and run.counts == {"created": 5, "updated": 1}
    assert sorted(c["name"] for c in harvest.clients.values()) == NAMES  # each once
    assert routes.sleeps.count(3) == 2  # both Retry-Afters were waited out by the HTTP client
    lost_answer = RunItem.objects.get(run=run, outcome=ItemOutcome.UPDATED)
    assert lost_answer.attempts == 2 and item_pauses == [0.5]  # tried again, found by name, not made twice
    assert ("PATCH", f"/clients/{lost_answer.target_external_id}") in harvest.calls("PATCH")


def test_a_target_that_stays_down_opens_the_circuit_and_the_run_after_the_cooldown_probes_and_resumes(
        customers_to_harvest, harvest, settings, item_pauses):
    settings.WEFT_CIRCUIT_THRESHOLD = 3
    harvest.down = True

    failing = run_flow("customers-to-harvest")

    assert failing.status == RunStatus.PAUSED and "keeps failing" in failing.error_message
    failed = RunItem.objects.filter(run=failing).order_by("pk")
    assert [(i.outcome, i.attempts, i.error_category) for i in failed] == [("failed", 3, "transport")] * 3
    assert "503" in failed[0].error_message
    connection = Connection.objects.get(pk=customers_to_harvest.pk)
    assert connection.consecutive_failures == 3 and connection.circuit_open_until > timezone.now()

    harvest.down = False
    calls_before = len(harvest.requests)
    cooling = run_flow("customers-to-harvest")

    assert cooling.status == RunStatus.PAUSED and "pause until a probe succeeds" in cooling.error_message
    assert len(harvest.requests) == calls_before  # not one call while the circuit is open

    harvest.down = True  # cooled down, but still failing: the probe fails and the circuit stays open
    Connection.objects.filter(pk=connection.pk).update(circuit_open_until=timezone.now() - timedelta(seconds=1))
    probed = run_flow("customers-to-harvest")

    assert probed.status == RunStatus.PAUSED and not RunItem.objects.filter(run=probed).exists()
    assert {path for _, path in harvest.calls()[calls_before:]} == {"/users/me"}  # only the probe was sent
    connection.refresh_from_db()
    assert connection.circuit_open_until > timezone.now()  # another cooldown

    harvest.down = False
    calls_before = len(harvest.requests)
    Connection.objects.filter(pk=connection.pk).update(circuit_open_until=timezone.now() - timedelta(seconds=1))
    resumed = run_flow("customers-to-harvest")

    assert harvest.calls()[calls_before] == ("GET", "/users/me")  # the probe comes first
    assert resumed.status == RunStatus.SUCCEEDED and resumed.counts == {"created": 6}
    assert sorted(c["name"] for c in harvest.clients.values()) == NAMES
    connection.refresh_from_db()
    assert connection.consecutive_failures == 0 and connection.circuit_open_until is None


def test_a_write_answered_with_another_records_target_fails_that_item_and_the_run_goes_on(customers_to_harvest,
                                                                                        harvest):
    psa = Connection.objects.get(slug="psa")
    hub_upsert_all(connection=psa, object_type="customer",
                   records=[CanonicalInput("customer", "c-dup", {"code": "C-DUP", "name": "ACME "})])

    run = run_flow("customers-to-harvest")  # Harvest matches clients by name: "ACME " is "Acme" to it

    assert run.status == RunStatus.PARTIAL and run.counts == {"created": 6, "failed": 1}
    [clash] = RunItem.objects.filter(run=run, outcome=ItemOutcome.FAILED)
    acme = ExternalRef.objects.get(connection=customers_to_harvest, object_type="customer",
                                   canonical_id=Customer.objects.get(code="C0").pk)
    assert clash.error_category == "duplicate" and clash.target_external_id == acme.external_id
    assert f"Harvest record {acme.external_id} already stands for customer {acme.canonical_id}" in clash.error_message
    assert not ExternalRef.objects.filter(connection=customers_to_harvest, canonical_id=clash.canonical_id).exists()
    # No second client (Harvest refuses two with one name); the write landed on Acme's, which the item says.
    assert len(harvest.clients) == len(NAMES)
