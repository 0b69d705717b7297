"""The engine over the API: flows, runs, the ledger with business-key filters, replay with preview,
mapping previews and accelerator installs — with each role's limits and clear 4xx for bad input."""

import pytest
from django_tenants.utils import schema_context

from apps.accelerators.services import templates_sync_builtin
from apps.connectors.services import connection_create
from apps.mappings.models import Mapping
from apps.mappings.services import mapping_version_create, mapping_version_publish
from apps.runs.models import Flow, ItemOutcome, Run, RunItem
from apps.tenants.choices import Role
from tests.conftest import host, member


@pytest.fixture
def api(cast, client):
    def call(method, path, user, data=None, **extra):
        client.force_login(user)
        return getattr(client, method)(f"/api/v1/{path}", data, content_type="application/json",
                                       HTTP_HOST=host(cast.alpha), **extra)

    return call


@pytest.fixture
def flows(cast):
    with schema_context("alpha"):
        source = connection_create(name="Time export", slug="time-export", kind="csv", acting_user=None)
        journal = connection_create(name="ERP journal", slug="erp-journal", kind="csv", acting_user=None)
        inbound = Flow.objects.create(name="Time in", slug="time-in", direction="inbound", object_type="time_entry",
                                      connection=source, object_name="time_entries")
        outbound = Flow.objects.create(name="Time out", slug="time-out", direction="outbound",
                                       object_type="time_entry", connection=journal, object_name="journal_export")
        run = Run.objects.create(flow=outbound, connection=journal, object_name="journal_export",
                                 object_type="time_entry", status="partial")
        failed = RunItem.objects.create(run=run, object_type="time_entry", canonical_id=7, outcome=ItemOutcome.FAILED,
                                        error_category="validation", error_message="Over the 12 h limit.")
        RunItem.objects.create(run=run, object_type="time_entry", canonical_id=8, outcome=ItemOutcome.CREATED)
    return {"inbound": inbound, "outbound": outbound, "run": run, "failed": failed}


def test_flows_are_listed_and_an_operator_can_start_a_run(cast, api, flows):
    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner)
    listing = api("get", "flows/", engineer)
    assert [f["slug"] for f in listing.json()["results"]] == ["time-in", "time-out"]
    started = api("post", "flows/time-in/run/", engineer)
    assert started.status_code == 202 and started.json()["trigger"] == "manual"


def test_a_viewer_can_read_but_not_start_or_replay(cast, api, flows):
    viewer = member(Role.VIEWER, customer=cast.alpha)
    assert api("get", "runs/", viewer).status_code == 200
    assert api("post", "flows/time-in/run/", viewer).status_code == 403
    assert api("post", "replay/", viewer, {"items": [flows["failed"].pk]}).status_code == 403


def test_ledger_filters_by_outcome_and_run(cast, api, flows):
    analyst = member(Role.ANALYST, partner=cast.xpartner)
    failed = api("get", f"run-items/?outcome=failed&run={flows['run'].pk}", analyst).json()["results"]
    assert [i["error_message"] for i in failed] == ["Over the 12 h limit."]


def test_replay_preview_shows_what_would_be_sent_and_replay_queues_a_run(cast, api, flows):
    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner)
    preview = api("post", "replay/preview/", engineer, {"items": [flows["failed"].pk]})
    assert preview.status_code == 200 and preview.json()["items"] == 1
    queued = api("post", "replay/", engineer, {"flow": "time-out"})
    assert queued.status_code == 202
    with schema_context("alpha"):
        replay_run = Run.objects.get(pk=queued.json()["runs"][0]["id"])
        assert replay_run.trigger == "replay" and replay_run.record_ids == [7]


@pytest.mark.parametrize("body", [{}, {"items": ["x"]}, {"items": []}, {"outcome": "created", "flow": "time-out"}])
def test_bad_replay_selections_are_a_clear_400(cast, api, flows, body):
    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner)
    assert api("post", "replay/", engineer, body).status_code == 400


def test_malformed_json_is_a_400_not_a_500(cast, api, flows):
    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner)
    response = api("post", "replay/", engineer, "{not json")
    assert response.status_code == 400 and "JSON" in response.json()["detail"]


def test_mapping_preview_shows_each_rules_error(cast, api):
    with schema_context("alpha"):
        mapping = Mapping.objects.create(name="Out", slug="out", direction="outbound", object_type="time_entry",
                                         connector_kind="csv")
        mapping_version_create(mapping=mapping, acting_user=None, rules=[
            {"target": "minutes", "expression": "$number(hours) * 60"}, {"target": "who", "source": "person.code",
                                                                         "required": True}])
    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner)
    response = api("post", "mappings/out/versions/1/preview/", engineer,
                   {"samples": [{"hours": "1.5", "person": {"code": "ann"}}, {"hours": "2"}]})
    results = response.json()["results"]
    assert results[0]["after"] == {"minutes": 90, "who": "ann"}
    assert results[1]["errors"] == [{"target": "who", "message": "is required but came out empty."}]


def test_templates_install_needs_configure(cast, api):
    templates_sync_builtin()
    analyst = member(Role.ANALYST, partner=cast.xpartner)
    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner)
    slugs = [t["slug"] for t in api("get", "templates/", analyst).json()]
    assert "approved-time-to-journal" in slugs
    assert api("post", "templates/approved-time-to-journal/install/", analyst, {}).status_code == 403
    installed = api("post", "templates/approved-time-to-journal/install/", engineer, {"variables": {}})
    assert installed.status_code == 201 and any("flow time-to-journal" in x for x in installed.json()["created"])
    assert api("post", "templates/nope/install/", engineer, {}).status_code == 404


def test_published_mapping_preview_is_readable_by_an_analyst(cast, api):
    with schema_context("alpha"):
        mapping = Mapping.objects.create(name="In", slug="in", direction="outbound", object_type="time_entry",
                                         connector_kind="csv")
        version = mapping_version_create(mapping=mapping, acting_user=None, rules=[{"target": "x", "constant": 1}])
        mapping_version_publish(version=version, acting_user=None)
    analyst = member(Role.ANALYST, partner=cast.xpartner)
    assert api("get", "mappings/", analyst).json()[0]["versions"][0]["status"] == "published"
