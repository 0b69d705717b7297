"""The API's contract, fuzzed: Schemathesis generates requests for every operation in the OpenAPI document and
sends them through the real WSGI stack (middleware, tenancy, keys, DRF) as a customer key and as a partner key.
No answer may be a server error, and every answer must match the document: its status codes, content types
and response schemas. Deterministic (derandomized), so a failure here fails the same way again."""

from __future__ import annotations

import time
from collections import Counter
from contextlib import contextmanager

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from django_tenants.utils import schema_context
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apps.connectors.services import connection_create
from apps.runs.models import Flow, ItemOutcome, Run, RunItem
from apps.tenants import access, apikeys
from apps.tenants.choices import Role
from tests.conftest import host, member

CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]
# The work is bounded by the number of generated calls (fixed and deterministic), not by a wall clock that the
# machine's load would turn into a flaky assertion: ≈ 45 s on an idle 2-core machine, the time is printed.
EXAMPLES_PER_OPERATION = 7  # x 76 operations x 2 keys: over 1,000 calls


@contextmanager
def wsgi_app():
    """Django's WSGI handler, with the per-request connection closing switched off as Django's test client
    does, so the requests run inside the test's transaction (and roll back with it). Django's test client
    switches it back on after each of its requests: use none inside."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def keys(cast) -> dict[str, str]:
    admin = member(Role.PARTNER_ADMIN, partner=cast.xpartner)
    made = {
        "customer key": dict(customer=cast.alpha, scopes=access.key_scopes(partner_key=False)),
        "partner key": dict(partner=cast.xpartner, scopes=access.key_scopes(partner_key=True)),
    }
    return {name: apikeys.apikey_create(name=name, rate_limit_per_minute=100_000, acting_user=admin, **owner).token
            for name, owner in made.items()}


@pytest.fixture
def records(cast):
    """A flow, a run and a failed ledger item, so reads by id and replays find something now and then."""
    with schema_context("alpha"):
        source = connection_create(name="Time export", slug="time-export", kind="csv", acting_user=None)
        flow = Flow.objects.create(name="Time in", slug="time-in", direction="inbound", object_type="time_entry",
                                   connection=source, object_name="time_entries")
        run = Run.objects.create(flow=flow, connection=source, object_name="time_entries", object_type="time_entry",
                                 status="partial")
        RunItem.objects.create(run=run, object_type="time_entry", canonical_id=1, outcome=ItemOutcome.FAILED,
                               error_category="validation", error_message="Over the limit.")


def _fuzz(operation, *, app, base_url: str, who: str, token: str, tally: Counter, failures: list[str],
          examples: int = EXAMPLES_PER_OPERATION) -> None:
    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def send(case):
        response = case.call(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, app=app)
        tally[response.status_code // 100 * 100] += 1
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, FailureGroup) as failure:  # every broken answer is reported, not only the first
            failures.append(f"{who}: {operation.label} -> {response.status_code}: {str(failure)[:400]}")

    send()


def test_every_operation_keeps_its_contract_under_generated_requests(cast, keys, records):
    document = Client().get("/api/v1/schema/", HTTP_HOST=host(cast.alpha), HTTP_ACCEPT="application/json").json()
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    tally, failures, started = Counter(), [], time.monotonic()
    with wsgi_app() as app:
        for name, token in keys.items():
            for operation in operations:
                _fuzz(operation, app=app, base_url=f"http://{host(cast.alpha)}", who=name, token=token,
                      tally=tally, failures=failures)
    elapsed = time.monotonic() - started
    calls = sum(tally.values())
    print(f"fuzz: {calls} calls over {len(operations)} operations x {len(keys)} keys in {elapsed:.1f} s: "
          f"{dict(sorted(tally.items()))}")
    assert tally[500] == 0, failures
    assert not failures, f"{len(failures)} answers broke the contract:\n" + "\n".join(failures[:40])
    assert calls >= 1000 and len(operations) >= 70


PARTNER_EXAMPLES_PER_OPERATION = 40  # x 11 operations: over 400 more calls, beside the customer API's


def test_the_partner_api_keeps_its_contract_under_generated_requests(cast, keys, records):
    """The partner API on the partner's host, with the partner key (every scope, onboarding included)."""
    document = Client().get("/api/v1/schema/", HTTP_HOST=cast.xpartner.domain_suffix,
                            HTTP_ACCEPT="application/json").json()
    operations = [result.ok() for result in schemathesis.openapi.from_dict(document).get_all_operations()]
    tally, failures, started = Counter(), [], time.monotonic()
    with wsgi_app() as app:
        for operation in operations:
            _fuzz(operation, app=app, base_url=f"http://{cast.xpartner.domain_suffix}", who="partner key (partner API)",
                  token=keys["partner key"], tally=tally, failures=failures, examples=PARTNER_EXAMPLES_PER_OPERATION)
    elapsed = time.monotonic() - started
    calls = sum(tally.values())
    print(f"fuzz: {calls} calls over {len(operations)} partner API operations in {elapsed:.1f} s: "
          f"{dict(sorted(tally.items()))}")
    assert tally[500] == 0, failures
    assert not failures, f"{len(failures)} answers broke the contract:\n" + "\n".join(failures[:40])
    assert calls >= 400 and len(operations) >= 11 and tally[200] > 0

