"""Each kind classified from real failures: the CSV files kind and the Harvest kind (scripted against its spec)
failing as they do in the connectors' tests, the hub's ownership rules, a broken mapping; and grouping by
fingerprint: what varies per record is taken out, what names the cause is kept."""

import httpx
import pytest

from apps.canonical.models import Ownership
from apps.common.http import OutboundClient
from apps.connectors.kinds.base import KindContext
from apps.connectors.kinds.harvest import HarvestKind
from apps.connectors.services import connection_create
from apps.exceptions.choices import Kind
from apps.exceptions.classify import classify, signature
from apps.exceptions.ingest import exceptions_from_run
from apps.exceptions.models import IntegrationException
from apps.runs.services import pull_run
from tests.connectors.scripted import vendor
from tests.connectors.test_harvest import CREDENTIALS, SETTINGS, client, harvest, page
from tests.exceptions.conftest import publish
from tests.runs.journal import drop, run_flow


def kinds_of(run) -> dict[str, str]:
    exceptions_from_run(run=run)
    return {e.title: e.kind for e in IntegrationException.objects.filter(connection=run.connection)}


def test_csv_rows_that_fail_are_classified_and_grouped(setup):
    drop(setup["in"], "time-01.csv",
         "t1,ann,ACME-042,2026-11-02,abc,approved,not a number\n"
         "t2,ann,ACME-042,2026-11-02,xyz,approved,not a number either\n"
         "t3,zoe,ACME-042,2026-11-02,1,approved,unknown person\n"
         "t4,ann,ACME-042,2026-11-03,1,approved,first\n"
         "t4,ann,ACME-042,2026-11-03,2,approved,again\n"
         "t5,bob\n")

    found = kinds_of(pull_run(connection=setup["in"], object_name="time_entries"))

    assert found == {
        "hours: '…' is not a number": Kind.VALIDATION,  # rows 2 and 3: one exception, two records
        "person zoe is not known": Kind.MISSING_REFERENCE,
        "duplicate id in one read": Kind.DUPLICATE,
        "has # columns; the header has #. The row was not loaded.": Kind.PARSE,
    }
    assert IntegrationException.objects.get(title__startswith="hours").records_total == 2


@pytest.mark.parametrize(("answers", "kind"), [
    ([httpx.Response(401, json={"error": "invalid_token", "error_description": "The token is invalid"})], Kind.AUTH),
    ([httpx.Response(503, json={"message": "Service unavailable"})] * 4, Kind.TRANSPORT),
    ([httpx.Response(200, headers={"Content-Type": "text/html"}, text="<html>Down for maintenance</html>")],
     Kind.PARSE),
    ([httpx.Response(429, headers={"Retry-After": "900"}, json={"message": "Too many requests"})], Kind.RATE_LIMIT),
], ids=["auth", "transport", "parse", "rate-limit"])
def test_a_harvest_read_that_fails_as_a_whole_is_classified(in_alpha, answers, kind):
    connection = connection_create(name="Harvest", kind="harvest", settings=SETTINGS, credentials=CREDENTIALS,
                                   acting_user=None)
    harvest_kind, _ = harvest(*answers, broken=True)

    run = pull_run(connection=connection, object_name="clients", kind=harvest_kind)

    assert run.status == "failed"
    [exception] = IntegrationException.objects.all() if exceptions_from_run(run=run) else []
    assert exception.kind == kind and exception.source == "run"


def test_an_oversized_answer_is_classified_too_large(in_alpha):
    connection = connection_create(name="Harvest", kind="harvest", settings=SETTINGS, credentials=CREDENTIALS,
                                   acting_user=None)
    transport = vendor("harvest", page("clients", [client(n) for n in range(1, 40)]), broken_responses=True)

    def small_client(base_url, headers):
        return OutboundClient(base_url=base_url, name="Harvest", headers=headers, transport=transport,
                              max_response_bytes=2000, allow_private_network=True)

    context = KindContext(connection_id=connection.pk, connection_name="Harvest", settings=SETTINGS,
                          credentials=CREDENTIALS, http_factory=small_client, files_root=None)
    run = pull_run(connection=connection, object_name="clients", kind=HarvestKind(context))
    exceptions_from_run(run=run)

    assert IntegrationException.objects.get().kind == Kind.TOO_LARGE


def test_a_change_from_a_system_that_does_not_own_the_record_is_a_conflict(setup):
    Ownership.objects.create(object_type="time_entry", connection=setup["journal"])
    drop(setup["in"], "time-01.csv", "t1,ann,ACME-042,2026-11-02,7.5,approved,ok\n")

    run_flow(setup["inbound"])

    exception = IntegrationException.objects.get()
    assert exception.kind == Kind.CONFLICT and "may not create them" in exception.title


def test_a_broken_mapping_expression_is_a_mapping_exception(setup):
    publish(setup["mapping"], [{"target": "entry", "source": "id"},
                               {"target": "minutes", "expression": "$number(notes) * 60"}])
    drop(setup["in"], "time-01.csv", "t1,ann,ACME-042,2026-11-02,7.5,approved,not a number\n"
                                     "t2,ann,ACME-042,2026-11-03,2,approved,nor this\n")

    run_flow(setup["inbound"])

    [exception] = IntegrationException.objects.all()
    assert (exception.kind, exception.open_records) == (Kind.MAPPING, 2) and "minutes" in exception.title


@pytest.mark.parametrize(("category", "message", "kind"), [
    ("validation", "The project ACME-042 is not known to the target system yet.", Kind.MISSING_REFERENCE),
    ("not_found", "Xero: PUT https://api.xero.com/api.xro/2.0/Contacts/abc answered 404", Kind.MISSING_REFERENCE),
    ("config", "Harvest: missing setting(s) account_id.", Kind.CONFIGURATION),
    ("too_large", "response is larger than 20 MB; refused.", Kind.TOO_LARGE),
    ("", "Harvest: POST https://api.harvestapp.com/v2/clients answered 403: Forbidden", Kind.AUTH),
    ("", "Harvest: GET https://api.harvestapp.com/v2/clients failed: ConnectTimeout: timed out", Kind.TRANSPORT),
    ("", "Time export keeps failing: disk full", Kind.TRANSPORT),
])
def test_classification_from_category_and_message(category, message, kind):
    assert classify(category=category, message=message) == kind


def _fingerprint(message: str, category: str = "validation", field: str = "") -> str:
    kind = classify(category=category, message=message)
    return signature(kind=kind, message=message, flow_id=1, connection_id=1, object_type="time_entry",
                     error_field=field).fingerprint


def test_a_missing_reference_groups_per_missing_record():
    same = _fingerprint("row 3: project: no project with code P-42 is known yet.", "missing_reference", "project")
    again = _fingerprint("row 9: project: no project with code P-42 is known yet.", "missing_reference", "project")
    other = _fingerprint("row 4: project: no project with code P-57 is known yet.", "missing_reference", "project")
    assert same == again != other


def test_a_validation_rule_groups_per_rule_not_per_person_day_or_value():
    ann = _fingerprint("Ann Lee has 13.00 h on 2026-11-03, over the 12 h limit.")
    bob = _fingerprint("Bob Ray has 15.50 h on 2026-11-09, over the 12 h limit.")
    other_limit = _fingerprint("Bob Ray has 15.50 h on 2026-11-09, over the 10 h limit.")
    assert ann == bob != other_limit
    assert _fingerprint("time.csv row 3: hours: 'abc' is not a number", field="hours") == _fingerprint(
        "time-02.csv row 17: hours: '7,5' is not a number", field="hours")


def test_the_same_message_in_another_flow_or_field_is_another_exception():
    base = signature(kind=Kind.VALIDATION, message="Missing notes.", flow_id=1, connection_id=1,
                     object_type="time_entry", error_field="")
    assert base != signature(kind=Kind.VALIDATION, message="Missing notes.", flow_id=2, connection_id=1,
                             object_type="time_entry", error_field="")
    assert base.fingerprint != signature(kind=Kind.VALIDATION, message="Missing notes.", flow_id=1, connection_id=1,
                                         object_type="time_entry", error_field="notes").fingerprint




def test_a_title_keeps_its_apostrophes_and_drops_only_quoted_values():
    def title(message: str) -> str:
        return signature(kind=Kind.VALIDATION, message=message, flow_id=1, connection_id=1, object_type="person",
                         error_field="").title

    assert title("The person Anna O'Brien isn't known yet; 'x' can't be used.") == (
        "The person Anna O'Brien isn't known yet; '…' can't be used.")
    assert title('Tryton user "admin" has no company.') == "Tryton user '…' has no company."
