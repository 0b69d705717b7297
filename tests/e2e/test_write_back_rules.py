"""The write-back's own rules, against the spec-checked HubSpot fake and without an ERP: a write-back only updates
the record a hub record came from, waits until the after-flow's target holds the record, writes its values once,
and says in the ledger why it skipped a record."""

from __future__ import annotations

import pytest

from apps.canonical.models import ExternalRef, Project
from apps.canonical.services import hub_upsert_all
from apps.common.objects import CanonicalInput, Ref
from apps.connectors.models import Connection
from apps.connectors.services import connection_create, connection_update
from apps.runs import engine
from apps.runs.models import Flow, ItemOutcome, Run, Trigger
from tests.e2e.support import canonical_id, install, run_flow, run_to_end

pytestmark = pytest.mark.usefixtures("templates", "fanout")


@pytest.fixture
def crm(in_alpha, hubspot):
    """A project read from a file before the CRM owned projects; then crm-intake, with its Tryton connection left
    disabled: nothing reaches an ERP in these tests."""
    files = connection_create(name="Other source", slug="other", kind="csv", acting_user=None)
    hub_upsert_all(connection=files, object_type="customer", records=[
        CanonicalInput("customer", "C-1", {"code": "C-1", "name": "File customer"})])
    hub_upsert_all(connection=files, object_type="project", records=[CanonicalInput(
        "project", "X-1", {"code": "X-1", "name": "From a file"}, refs={"customer": Ref.code("C-1")})])
    install(in_alpha, "crm-intake", project_link="https://erp.example.test/p/{id}")
    return connection_update(connection=Connection.objects.get(slug="hubspot"), changes={"is_enabled": True},
                             credentials={"access_token": "hubspot-token"}, acting_user=None)


def write_back(*projects: Project) -> Run:
    run = engine.flow_run_request(flow=Flow.objects.get(slug="crm-deal-write-back"), trigger=Trigger.MANUAL,
                                  record_ids=[p.pk for p in projects], enqueue=False, acting_user=None)
    return run_to_end(run)


def test_a_write_back_waits_for_the_erp_skips_records_from_elsewhere_and_writes_each_value_once(crm, hubspot):
    deal = hubspot.add_deal(hubspot.add_company("Acme Consulting"), "Audit", amount="9000", stage="closedwon")
    run_flow("crm-companies-in")
    run_flow("crm-deals-in")  # the ERP's flow pauses: its connection is disabled
    project = Project.objects.get(pk=canonical_id(crm, "project", deal["id"]))
    elsewhere = Project.objects.get(code="X-1")

    waiting = write_back(project, elsewhere)
    reasons = dict(waiting.items.values_list("canonical_id", "error_message"))
    assert waiting.counts == {"skipped": 2} and not hubspot.calls("PATCH")
    assert reasons == {project.pk: "Not in Tryton ERP yet: written back once it is.",
                       elsewhere.pk: "Did not come from HubSpot CRM: nothing there to write back to."}

    erp = Connection.objects.get(slug="tryton")  # as if the ERP's flow had created the project there
    ExternalRef.objects.create(connection=erp, object_type="project", canonical_id=project.pk, external_id="77")
    assert write_back(project).counts == {"updated": 1}
    assert deal["properties"]["weft_project_url"] == "https://erp.example.test/p/77"
    again = write_back(project)
    assert again.counts == {"unchanged": 1}
    assert again.items.get().outcome == ItemOutcome.UNCHANGED and len(hubspot.calls("PATCH")) == 1
