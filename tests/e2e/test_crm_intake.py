"""Accelerator "CRM-to-project intake", end to end: HubSpot (a stateful fake; every request and answer checked
against HubSpot's CRM OpenAPI documents) and the real Tryton. A won deal becomes a customer and a project in
the hub and in Tryton; deals in other stages are skipped at the door; the project's code and a link to it are
written back to the deal once, recorded in the ledger; the echo of that write (the next read, or HubSpot's
webhook) moves nothing. With a time connection, the project and its company also reach Harvest (a stateful fake
checked against Harvest's spec), through the one Harvest projects flow project-setup shares."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
from decimal import Decimal

import pytest

from apps.accelerators.configuration import ConfigurationError
from apps.canonical.models import Customer, ExternalRef, Project
from apps.connectors.models import Connection
from apps.connectors.services import connection_create, connection_update
from apps.runs.models import Flow, FlowDirection, InboundEvent, ItemOutcome, Run, RunItem
from tests.conftest import host
from tests.e2e.support import (
    HARVEST_ACCOUNT,
    canonical_id,
    connect_harvest,
    connect_tryton,
    install,
    run_flow,
    run_queued,
)

pytestmark = pytest.mark.usefixtures("templates", "fanout")

SECRET = "hubspot-app-secret"
LINK = "https://erp.example.test/#weft/model/project.work/{id}"


@pytest.fixture
def crm(in_alpha, tryton, hubspot):
    """Tryton connected, the accelerator installed, and its HubSpot connection given its token and enabled."""
    erp = connect_tryton(tryton)
    install(in_alpha, "crm-intake", project_link=LINK)
    hub = connection_update(connection=Connection.objects.get(slug="hubspot"), changes={"is_enabled": True},
                            credentials={"access_token": "hubspot-token", "client_secret": SECRET}, acting_user=None)
    return hub, erp


def tryton_project(tryton, erp, project: Project) -> dict:
    work_id = ExternalRef.objects.get(connection=erp, object_type="project", canonical_id=project.pk).external_id
    (row,) = tryton.client.read("project.work", [int(work_id)],
                                ["name", "comment", "list_price", "effort_duration", "party.code", "party.name"])
    return row


def deliver(client, customer, events: list[dict]):
    """HubSpot's webhook request, signed as HubSpot signs v3 requests."""
    body = json.dumps(events).encode()
    url = f"http://{host(customer)}/api/v1/hooks/vendor/hubspot/"
    stamp = str(int(time.time() * 1000))
    digest = hmac.new(SECRET.encode(), b"POST" + url.encode() + body + stamp.encode(), hashlib.sha256).digest()
    return client.post("/api/v1/hooks/vendor/hubspot/", body, content_type="application/json",
                       HTTP_HOST=host(customer), HTTP_X_HUBSPOT_SIGNATURE_V3=base64.b64encode(digest).decode(),
                       HTTP_X_HUBSPOT_REQUEST_TIMESTAMP=stamp)


def write_backs() -> list[RunItem]:
    return list(RunItem.objects.filter(run__flow__slug="crm-deal-write-back", outcome=ItemOutcome.UPDATED))


def test_a_won_deal_becomes_a_customer_and_a_project_in_tryton_and_its_code_goes_back_to_the_deal_once(
        crm, tryton, hubspot, client, cast, django_capture_on_commit_callbacks):
    hub, erp = crm
    acme, other = hubspot.add_company("Acme Consulting"), hubspot.add_company("Prospect Ltd")
    won = hubspot.add_deal(acme, "Website relaunch", amount="30000", stage="closedwon",
                           closedate="2026-03-02T10:00:00.000Z")
    hubspot.add_deal(other, "Maybe next year", amount="5000")

    assert run_flow("crm-companies-in").counts == {"created": 2}
    deals_in = run_flow("crm-deals-in")
    run_queued()

    assert deals_in.counts == {"created": 1, "skipped": 1}
    skipped = RunItem.objects.get(run=deals_in, outcome=ItemOutcome.SKIPPED)
    assert "Not a won deal" in skipped.error_message
    project = Project.objects.select_related("customer").get(pk=canonical_id(hub, "project", won["id"]))
    assert (project.code, project.name, project.customer.name) == (f"DEAL-{won['id']}", "Website relaunch",
                                                                   "Acme Consulting")
    assert (project.budget_amount, project.budget_hours, project.default_bill_rate, project.currency) == (
        Decimal("30000.00"), Decimal("200.00"), Decimal("150.00"), "EUR")
    assert (project.start_date, project.end_date) == (dt.date(2026, 3, 2), dt.date(2026, 5, 31))

    work = tryton_project(tryton, erp, project)
    assert work["name"] == "Website relaunch" and f"[code:{project.code}]" in work["comment"]
    assert work["party."]["name"] == "Acme Consulting" and work["list_price"] == Decimal("150.00")
    assert work["effort_duration"] == dt.timedelta(hours=200)
    # Only the won deal's company went to the ERP; without a time connection nothing goes to a time tool.
    assert not ExternalRef.objects.filter(connection=erp, object_type="customer",
                                          canonical_id=canonical_id(hub, "customer", other["id"])).exists()
    assert not Connection.objects.filter(kind="harvest").exists()
    assert not Flow.objects.filter(slug__in=["projects-to-time-system", "crm-customers-to-time"]).exists()

    link = LINK.replace("{id}", str(work["id"]))
    assert won["properties"]["weft_project_code"] == project.code
    assert won["properties"]["weft_project_url"] == link
    [written] = write_backs()
    assert written.target_external_id == won["id"] and written.run.trigger == "after_flow"
    assert written.payload_after == {"weft_project_code": project.code, "weft_project_url": link}
    assert hubspot.calls("PATCH") == [("PATCH", f"/crm/v3/objects/deals/{won['id']}")]

    # The echo: HubSpot now shows the deal as changed (its updatedAt moved), by the next read and by webhook.
    again = run_flow("crm-deals-in")
    assert again.counts == {"unchanged": 1, "skipped": 1}
    with django_capture_on_commit_callbacks(execute=True):
        answer = deliver(client, cast.alpha, [{"eventId": 7001, "subscriptionType": "deal.propertyChange",
                                               "objectId": int(won["id"]), "propertyName": "weft_project_code"}])
    assert answer.status_code == 202
    assert InboundEvent.objects.get(event_id="7001").status == InboundEvent.Status.PROCESSED
    run_queued()
    assert len(hubspot.calls("PATCH")) == 1 and len(write_backs()) == 1
    assert not Run.objects.filter(flow__slug="crm-projects-to-erp", counts__has_key="updated").exists()

    # Asking the write-back flow again (a manual run, a replay) writes nothing twice: the ledger has these values.
    assert run_flow("crm-deal-write-back").counts == {"unchanged": 1}
    assert len(hubspot.calls("PATCH")) == 1


def test_a_deal_won_later_arrives_by_webhook_and_a_new_amount_updates_tryton_without_another_write_back(
        crm, tryton, hubspot, client, cast, django_capture_on_commit_callbacks):
    hub, erp = crm
    acme = hubspot.add_company("Northwind Advisory")
    deal = hubspot.add_deal(acme, "Data platform", amount="12000", deal_currency_code="GBP")
    run_flow("crm-companies-in")
    assert run_flow("crm-deals-in").counts == {"skipped": 1}
    assert not Project.objects.exists() and not hubspot.calls("PATCH")

    hubspot.edit(deal, dealstage="closedwon")
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, cast.alpha, [{"eventId": 7101, "subscriptionType": "deal.propertyChange",
                                      "objectId": int(deal["id"]), "propertyName": "dealstage"}])
    run_queued()

    project = Project.objects.get(pk=canonical_id(hub, "project", deal["id"]))
    assert project.currency == "GBP" and project.budget_hours == Decimal("80.00")
    assert deal["properties"]["weft_project_code"] == project.code and len(write_backs()) == 1

    hubspot.edit(deal, amount="15000")
    assert run_flow("crm-deals-in").counts == {"updated": 1}
    run_queued()
    assert tryton_project(tryton, erp, project)["effort_duration"] == dt.timedelta(hours=100)
    assert len(hubspot.calls("PATCH")) == 1  # the code and link did not change: nothing to write back
    assert Flow.objects.get(slug="crm-deal-write-back").after_flow.slug == "crm-projects-to-erp"
    assert Customer.objects.get(name="Northwind Advisory").code == f"HUBSPOT-{acme['id']}"


@pytest.fixture
def crm_and_time(in_alpha, tryton, hubspot, harvest):
    """crm-intake with Harvest as its time connection (the Harvest connection made first, with its token)."""
    erp, time = connect_tryton(tryton), connect_harvest()
    install(in_alpha, "crm-intake", project_link=LINK, time_connection="harvest")
    hub = connection_update(connection=Connection.objects.get(slug="hubspot"), changes={"is_enabled": True},
                            credentials={"access_token": "hubspot-token", "client_secret": SECRET}, acting_user=None)
    return hub, erp, time


def test_with_a_time_connection_a_won_deal_also_becomes_a_harvest_client_and_project_sent_by_one_flow(
        crm_and_time, tryton, hubspot, harvest, in_alpha):
    hub, erp, time = crm_and_time
    acme, prospect = hubspot.add_company("Acme Consulting"), hubspot.add_company("Prospect Ltd")
    won = hubspot.add_deal(acme, "Website relaunch", amount="30000", stage="closedwon",
                           closedate="2026-03-02T10:00:00.000Z")
    hubspot.add_deal(prospect, "Maybe next year", amount="5000")

    run_flow("crm-companies-in")
    run_flow("crm-deals-in")
    run_queued()

    project = Project.objects.get(pk=canonical_id(hub, "project", won["id"]))
    [client] = harvest.clients.values()  # the prospect's company stays out of the time tool
    [harvest_project] = harvest.projects.values()
    assert client["name"] == "Acme Consulting" and harvest_project["client"]["id"] == client["id"]
    assert (harvest_project["code"], harvest_project["name"]) == (project.code, "Website relaunch")
    assert (harvest_project["starts_on"], harvest_project["ends_on"]) == ("2026-03-02", "2026-05-31")
    assert (harvest_project["bill_by"], harvest_project["hourly_rate"]) == ("Project", 150.0)
    assert (harvest_project["budget_by"], harvest_project["budget"]) == ("project", 200.0)
    assert ExternalRef.objects.get(connection=time, object_type="project").external_id == str(harvest_project["id"])
    # The ERP leg and the write-back are as without Harvest: the deal gets the ERP's link, once.
    assert ExternalRef.objects.filter(connection=erp, object_type="project", canonical_id=project.pk).exists()
    assert len(hubspot.calls("PATCH")) == 1 and len(write_backs()) == 1

    # project-setup installed too, on the same Harvest: it finds the Harvest projects flow and shares it.
    install(in_alpha, "project-setup")
    assert Flow.objects.filter(direction=FlowDirection.OUTBOUND, object_type="project", connection=time).count() == 1
    sent = len(harvest.calls("POST"))
    assert run_flow("projects-to-time-system").counts == {}  # nothing pending: Harvest holds the project as it is
    assert len(harvest.calls("POST")) == sent and len(harvest.projects) == 1
    # A different Harvest for crm-intake would move the shared flow away from project-setup's: refused.
    connection_create(name="Another Harvest", slug="harvest-2", kind="harvest", settings=HARVEST_ACCOUNT,
                      acting_user=None)
    with pytest.raises(ConfigurationError, match="'projects-to-time-system' already reads from connection 'harvest'"):
        install(in_alpha, "crm-intake", project_link=LINK, time_connection="harvest-2")
