"""Accelerator "project setup", end to end: customers and projects made in the real Tryton reach Harvest
(a stateful, spec-checked fake) through the hub, customer before project; Tryton owns them, so a Harvest-side
edit read back is a conflict and never overwrites the hub; a re-run sends nothing."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.canonical.models import Customer, ExternalRef, Project
from apps.runs.models import ItemOutcome, RunItem
from tests.e2e.support import (
    canonical_id,
    connect_harvest,
    connect_tryton,
    install,
    run_flow,
    run_queued,
    start_reading_now,
    tryton_customer,
    tryton_project,
)

pytestmark = pytest.mark.usefixtures("templates")


@pytest.fixture
def erp(in_alpha, tryton, harvest, fanout):
    tryton_connection, harvest_connection = connect_tryton(tryton), connect_harvest()
    install(in_alpha, "project-setup")
    start_reading_now(tryton_connection, tryton, "customers", "projects")
    return {"tryton": tryton_connection, "harvest": harvest_connection}


def test_customers_and_projects_reach_harvest_customer_first_and_a_rerun_sends_nothing(erp, tryton, harvest,
                                                                                      fanout):
    customer = tryton_customer(tryton)
    project_id = tryton_project(tryton, customer)
    fanout.inline = False  # the customer's own posting waits in the queue ...
    assert run_flow("erp-customers-in").counts == {"created": 1}
    fanout.inline = True  # ... when the project arrives and is posted at once

    projects_in = run_flow("erp-projects-in")

    assert projects_in.counts == {"created": 1}
    assert harvest.calls("POST") == [("POST", "/clients"), ("POST", "/projects")]  # the customer went first
    [client] = harvest.clients.values()
    [project] = harvest.projects.values()
    hub_project = Project.objects.select_related("customer").get(pk=canonical_id(erp["tryton"], "project",
                                                                                  project_id))
    assert client["name"] == hub_project.customer.name and project["client"]["id"] == client["id"]
    assert (project["name"], project["code"]) == (hub_project.name, hub_project.code)
    assert project["hourly_rate"] == 150.0 and project["is_billable"] and not project["is_fixed_fee"]
    assert f"Weft reference: weft-alpha-project-{hub_project.pk}" in project["notes"]
    assert ExternalRef.objects.get(connection=erp["harvest"], object_type="project").external_id == str(project["id"])

    sent_before = len(harvest.calls("POST", "PATCH"))
    rerun = [run_flow(slug) for slug in ("erp-customers-in", "erp-projects-in", "customers-to-time-system",
                                         "projects-to-time-system")] + run_queued()

    assert len(harvest.calls("POST", "PATCH")) == sent_before  # nothing is sent twice
    assert all(run.counts.get("created", 0) + run.counts.get("updated", 0) == 0 for run in rerun)
    assert len(harvest.clients) == 1 and len(harvest.projects) == 1


def test_a_harvest_edit_to_an_erp_owned_field_is_a_conflict_and_the_hub_keeps_the_erps_value(erp, tryton,
                                                                                            harvest):
    project_id = tryton_project(tryton, tryton_customer(tryton), name="Website relaunch", rate="120.00")
    run_flow("erp-customers-in")
    run_flow("erp-projects-in")
    hub_id = canonical_id(erp["tryton"], "project", project_id)
    [harvest_project] = harvest.projects.values()

    echo = run_flow("time-system-projects-in")  # our own write read back: nothing to say
    assert echo.counts == {"unchanged": 1}, list(echo.items.values_list("error_message", flat=True))

    harvest.edit_project(harvest_project["id"], name="Website relaunch (Harvest copy)", hourly_rate=99.0)
    sent_before = len(harvest.calls("POST", "PATCH"))
    edited = run_flow("time-system-projects-in")

    assert edited.counts == {"conflict": 1}
    conflict = RunItem.objects.get(run=edited)
    assert conflict.outcome == ItemOutcome.CONFLICT and conflict.canonical_id == hub_id
    assert "belong to Tryton ERP" in conflict.error_message and "name" in conflict.error_message
    assert conflict.payload_before["name"] == "Website relaunch (Harvest copy)"
    hub = Project.objects.get(pk=hub_id)
    assert (hub.name, hub.default_bill_rate) == ("Website relaunch", Decimal("120.00"))
    assert len(harvest.calls("POST", "PATCH")) == sent_before  # a conflict triggers no writes either way
    assert Customer.objects.count() == 1


def test_a_read_larger_than_a_slice_resumes_from_its_cursor_without_losing_or_repeating(erp, tryton, harvest,
                                                                                        settings):
    settings.WEFT_RUN_SLICE_ITEMS = 2
    erp["tryton"].settings = {**erp["tryton"].settings, "page_size": 2}
    erp["tryton"].save()
    made = [tryton_customer(tryton) for _ in range(5)]

    run = run_flow("erp-customers-in")

    assert run.counts == {"created": 5}  # three slices of pages of two, each page stored once
    assert sorted(Customer.objects.values_list("code", flat=True)) == sorted(c["code"] for c in made)
    assert len(harvest.clients) == 5 and len(harvest.calls("POST")) == 5
