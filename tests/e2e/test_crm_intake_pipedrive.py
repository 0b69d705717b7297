"""Accelerator "CRM-to-project intake" for Pipedrive, end to end: Pipedrive (a stateful fake; every request and
answer checked against Pipedrive's OpenAPI document) and the real Tryton. Pipedrive itself filters the read to won
deals; a won deal becomes a customer and a project in the hub and in Tryton; the project's code and link are
written back into the deal's custom fields once; the next read of the deal moves nothing. The deal's products are
the project's rate card: lines in the hub, and with a time connection the project's task rates in Harvest (a
stateful fake checked against Harvest's spec)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from apps.canonical.models import ExternalRef, Project, RateCard
from apps.connectors.models import Connection
from apps.connectors.services import connection_update
from apps.runs.models import ItemOutcome, RunItem
from tests.e2e.support import canonical_id, connect_harvest, connect_tryton, install, run_flow, run_queued

pytestmark = pytest.mark.usefixtures("templates", "fanout")

LINK = "https://erp.example.test/#weft/model/project.work/{id}"
CODE_KEY, LINK_KEY = "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2", "f6e5d4c3b2a1f6e5d4c3b2a1f6e5d4c3b2a1f6e5"


@pytest.fixture
def crm(in_alpha, tryton, pipedrive):
    return connect_and_install(in_alpha, tryton)


@pytest.fixture
def crm_and_time(in_alpha, tryton, pipedrive, harvest):
    return connect_and_install(in_alpha, tryton, time_connection=connect_harvest().slug)


def connect_and_install(customer, tryton, **variables):
    erp = connect_tryton(tryton)
    install(customer, "crm-intake-pipedrive", project_link=LINK, code_field=CODE_KEY, link_field=LINK_KEY,
            **variables)
    connection = Connection.objects.get(slug="pipedrive")
    # The manifest asks every connection for the organization field holding Weft's reference (used only when
    # Weft creates organizations, which this accelerator never does).
    crm_connection = connection_update(
        connection=connection, changes={"is_enabled": True,
                                        "settings": {**connection.settings, "reference_field": "weft_ref_key"}},
        credentials={"api_token": "pipedrive-token"}, acting_user=None)
    return crm_connection, erp


def test_only_won_pipedrive_deals_are_read_and_each_becomes_a_tryton_project_with_its_code_written_back_once(
        crm, tryton, pipedrive):
    crm_connection, erp = crm
    acme, lead = pipedrive.add_organization("Acme Consulting"), pipedrive.add_organization("Lead Ltd")
    won = pipedrive.add_deal(acme, "ERP rollout", value=24000, currency="USD", status="won",
                             won_time="2026-04-01 09:30:00")
    pipedrive.add_deal(lead, "Maybe", value=9000)
    pipedrive.add_deal(lead, "Lost one", value=1000, status="lost")

    assert run_flow("pipedrive-organizations-in").counts == {"created": 2}
    deals_in = run_flow("pipedrive-won-deals-in")
    run_queued()

    assert deals_in.counts == {"created": 1}  # Pipedrive sent only the won deal
    assert all(r.url.params.get("status") == "won" for r in pipedrive.requests if r.url.path == "/v1/deals")
    project = Project.objects.get(pk=canonical_id(crm_connection, "project", won["id"]))
    assert (project.code, project.name, project.currency) == (f"PD-{won['id']}", "ERP rollout", "USD")
    assert (project.budget_amount, project.budget_hours) == (Decimal("24000.00"), Decimal("160.00"))
    assert (project.start_date, project.end_date) == (dt.date(2026, 4, 1), dt.date(2026, 6, 30))

    work_id = ExternalRef.objects.get(connection=erp, object_type="project", canonical_id=project.pk).external_id
    (work,) = tryton.client.read("project.work", [int(work_id)], ["comment", "party.name", "effort_duration"])
    assert f"[code:{project.code}]" in work["comment"] and work["party."]["name"] == "Acme Consulting"
    assert work["effort_duration"] == dt.timedelta(hours=160)
    assert (won[CODE_KEY], won[LINK_KEY]) == (project.code, LINK.replace("{id}", work_id))
    assert pipedrive.calls("PUT") == [("PUT", f"/deals/{won['id']}")]
    [written] = RunItem.objects.filter(run__flow__slug="pipedrive-deal-write-back", outcome=ItemOutcome.UPDATED)
    assert written.target_external_id == str(won["id"])

    assert run_flow("pipedrive-won-deals-in").counts == {"unchanged": 1}  # the echo of the write-back
    assert run_flow("pipedrive-deal-write-back").counts == {"unchanged": 1}
    run_queued()
    assert len(pipedrive.calls("PUT")) == 1


def test_a_won_deals_products_are_its_projects_rate_card_and_harvest_bills_the_project_by_those_task_rates(
        crm_and_time, tryton, pipedrive, harvest):
    crm_connection, erp = crm_and_time
    acme = pipedrive.add_organization("Acme Consulting")
    won = pipedrive.add_deal(acme, "ERP rollout", value=24000, currency="EUR", status="won",
                             won_time="2026-04-01 09:30:00")
    senior = pipedrive.add_product(won, "Senior consultant", item_price=180, quantity=100)
    pipedrive.add_product(won, "Analyst", item_price=95, quantity=60)

    # Lines read before their deal wait for it: each fails naming the missing project, and a later read lands them.
    early = run_flow("pipedrive-deal-products-in")
    assert early.counts == {"failed": 2}
    assert all("project: no project with Pipedrive id" in item.error_message for item in early.items.all())

    run_flow("pipedrive-organizations-in")
    run_flow("pipedrive-won-deals-in")
    run_queued()
    rates_in = run_flow("pipedrive-deal-products-in")
    run_queued()

    assert rates_in.counts == {"created": 2}
    project = Project.objects.get(pk=canonical_id(crm_connection, "project", won["id"]))
    lines = {r.role: r for r in RateCard.objects.filter(project=project)}
    assert {role: (r.bill_rate, r.currency, r.extra["hours"]) for role, r in lines.items()} == {
        "Senior consultant": (Decimal("180.00"), "EUR", 100), "Analyst": (Decimal("95.00"), "EUR", 60)}
    assert lines["Senior consultant"].code == f"PD-{won['id']}/{senior['id']}"

    # Harvest: the organization as the client, the project billed by task, each line a task with its rate and hours.
    [harvest_project] = harvest.projects.values()
    assert harvest_project["code"] == project.code and harvest_project["bill_by"] == "Tasks"
    assert harvest_project["client"]["name"] == "Acme Consulting"
    assert harvest.rates(harvest_project["id"]) == {"Senior consultant": (180.0, 100.0), "Analyst": (95.0, 60.0)}
    assert sorted(t["name"] for t in harvest.tasks.values()) == ["Analyst", "Senior consultant"]
    # Tryton keeps the project's one rate; the deal still gets its code and link, once.
    work_id = ExternalRef.objects.get(connection=erp, object_type="project", canonical_id=project.pk).external_id
    assert (won[CODE_KEY], won[LINK_KEY]) == (project.code, LINK.replace("{id}", work_id))

    # Read again: nothing moves. A new price for a line moves that line's rate only.
    sent = len(harvest.calls("POST", "PATCH"))
    assert run_flow("pipedrive-deal-products-in").counts == {"unchanged": 2}
    run_queued()
    assert len(harvest.calls("POST", "PATCH")) == sent
    senior["item_price"] = 190
    assert run_flow("pipedrive-deal-products-in").counts == {"updated": 1, "unchanged": 1}
    run_queued()
    assert harvest.rates(harvest_project["id"])["Senior consultant"] == (190.0, 100.0)
    assignment = ExternalRef.objects.get(object_type="rate_card", canonical_id=lines["Senior consultant"].pk,
                                         connection__kind="harvest").external_id
    assert harvest.calls("POST", "PATCH")[sent:] == [
        ("PATCH", f"/projects/{harvest_project['id']}/task_assignments/{assignment}")]
    assert len(pipedrive.calls("PUT")) == 1 and len(harvest.projects) == 1
