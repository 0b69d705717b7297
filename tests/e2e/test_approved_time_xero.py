"""Accelerator "approved time → Xero Projects", end to end: approved Harvest time entries become Xero Projects
time entries (both vendors stateful fakes, every request and answer checked against their specs). Every POST
carries an Idempotency-Key, so a POST retried through a 5xx burst or a 429 makes no second entry; un-approving
deletes the entry in Xero; a re-run posts nothing."""

from __future__ import annotations

import pytest

from apps.runs.models import ItemOutcome, RunItem, RunStatus
from apps.runs.services import pull_run
from tests.e2e.support import canonical_id, connect_harvest, connect_xero, install, run_flow
from tests.e2e.vendors import retry_after, unavailable

pytestmark = pytest.mark.usefixtures("templates", "fanout")
ANN_XERO = "6b5e8d3a-0a4e-4c61-8d9c-2b1c4b6a0f12"


@pytest.fixture
def setup(in_alpha, harvest, xero_projects):
    client = harvest.add_client("Acme Ltd")
    project = harvest.add_project(client, "Website", "ACME-042")
    xero_project = xero_projects.add_project("Development", "Review")
    ann = harvest.add_user("Ann", "Lee", "ann.lee@example.com")
    connection = connect_harvest()
    connect_xero(project_ids={"ACME-042": xero_project}, user_ids={"ann.lee@example.com": ANN_XERO})
    install(in_alpha, "approved-time-to-xero")
    for name in ("clients", "projects"):  # the hub knows Harvest's projects (project setup would do this)
        assert pull_run(connection=connection, object_name=name).status == RunStatus.SUCCEEDED
    assert run_flow("time-people-in").counts == {"created": 2}  # Ann, and the account's own user
    return {"harvest": connection, "project": project, "ann": ann, "xero_project": xero_project}


def test_approved_entries_are_posted_once_each_with_an_idempotency_key_through_bursts(setup, harvest,
                                                                                     xero_projects, routes):
    project, ann = setup["project"], setup["ann"]
    approved = [harvest.add_time_entry(ann, project, spent_date=f"2026-04-0{day}", hours=hours, approved=True,
                                       notes=f"Sprint day {day}") for day, hours in ((1, 7.5), (2, 1.25), (3, 4))]
    harvest.add_time_entry(ann, project, spent_date="2026-04-04", hours=2, approved=False)
    time_path = rf"/Projects/{setup['xero_project']}/Time"
    xero_projects.fail("POST", time_path, unavailable(503), unavailable(502))  # a 5xx burst on the first POST
    xero_projects.fail("POST", time_path, retry_after(429, seconds=2))  # ... then a 429

    run_flow("time-in")

    posts = [r for r in xero_projects.requests if r.method == "POST"]
    keys = [r.headers.get("Idempotency-Key") for r in posts]
    assert all(keys) and len(posts) == 6  # 3 entries; the first answered 503, 502, 429, then 200
    assert keys[0] == keys[1] == keys[2] == keys[3] and len(set(keys)) == 3  # retries repeat their key
    assert 2 in routes.sleeps  # the 429's Retry-After was waited out
    entries = sorted(xero_projects.entries.values(), key=lambda e: e["dateUtc"])
    assert [(e["dateUtc"], e["duration"], e["userId"], e["description"]) for e in entries] == [
        ("2026-04-01T12:00:00Z", 450, ANN_XERO, "Sprint day 1"), ("2026-04-02T12:00:00Z", 75, ANN_XERO, "Sprint day 2"),
        ("2026-04-03T12:00:00Z", 240, ANN_XERO, "Sprint day 3")]
    development = xero_projects.tasks[setup["xero_project"]][0]["taskId"]
    assert {e["taskId"] for e in entries} == {development}
    items = RunItem.objects.filter(run__flow__slug="time-to-xero", outcome=ItemOutcome.CREATED)
    assert sorted(i.canonical_id for i in items) == sorted(
        canonical_id(setup["harvest"], "time_entry", e["id"]) for e in approved)
    assert all(i.target_external_id.startswith(f"{setup['xero_project']}/") for i in items)

    harvest.approve(approved[1], approved=False)  # reopened in Harvest after it was posted
    reread = run_flow("time-in")
    catch_up = run_flow("time-to-xero")

    assert reread.counts == {"unchanged": 3, "updated": 1} and catch_up.counts.get("created", 0) == 0
    assert len(xero_projects.entries) == 2
    assert [(r.method, r.url.path.rsplit("/", 1)[-1]) for r in xero_projects.requests[-1:]] == [
        ("DELETE", items.get(canonical_id=canonical_id(setup["harvest"], "time_entry", approved[1]["id"]))
         .target_external_id.split("/")[1])]
    assert len([r for r in xero_projects.requests if r.method == "POST"]) == 6  # nothing posted twice
