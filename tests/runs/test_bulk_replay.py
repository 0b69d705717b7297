"""A bulk replay runs in the background and reports its progress to an operation the page polls: done of total
after each slice, failures, and the end with a link to the run (apps.tenants.operations, apps.runs.progress)."""

import pytest

from apps.mappings.models import RuleKind, ValidationRule
from apps.runs import engine, replay
from apps.runs.models import ItemOutcome, Run, RunItem
from apps.tenants.choices import Role
from apps.tenants.errors import AccessDenied
from apps.tenants.models import Operation
from tests.conftest import host, member
from tests.runs.journal import drop, journal_lines, run_flow, run_until_done


@pytest.fixture(autouse=True)
def _inline_hub_changes(monkeypatch):
    original = engine.hub_changed
    monkeypatch.setattr("apps.runs.engine.hub_changed", lambda **kw: original(**{**kw, "inline": True}))


@pytest.fixture
def failed(setup, settings):
    """30 long days refused by the 12 h rule on their way to the journal."""
    drop(setup["in"], "time-01.csv", "".join(f"t{n},bob,ACME-042,2026-10-{n:02d},13,approved,long day\n"
                                             for n in range(1, 31)))
    run_flow(setup["inbound"])
    items = RunItem.objects.filter(run__flow=setup["outbound"], outcome=ItemOutcome.FAILED)
    assert items.count() == 30
    settings.WEFT_RUN_SLICE_ITEMS = 10  # the replay works in three slices
    return items


def _start(items, user, capture) -> Operation:
    """Start the bulk replay and run its task (queued on commit) the way a worker would."""
    with capture(execute=False) as queued:
        operation = replay.replay_bulk_start(items=items, acting_user=user)
    assert operation.state == "queued" and operation.total == 30 and len(queued) == 1
    with capture(execute=False):
        [run] = replay.replay_bulk_execute(operation_id=operation.pk, item_ids=list(items.values_list("pk", flat=True)),
                                           acting_user=user)
    return run


def test_progress_counts_each_slice_and_the_end_links_the_run(cast, failed, django_capture_on_commit_callbacks):
    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner)
    ValidationRule.objects.filter(kind=RuleKind.DAILY_HOURS_LIMIT).update(params={"limit": 14})  # the fix
    run = _start(failed, engineer, django_capture_on_commit_callbacks)
    operation = Operation.objects.get(kind="replay")
    assert (operation.state, operation.total, operation.done, operation.customer) == ("running", 30, 0, cast.alpha)

    engine.run_execute(run_id=run.pk)  # one slice of 10
    operation.refresh_from_db()
    assert (operation.state, operation.done, operation.errors, operation.percent()) == ("running", 10, 0, 33)

    run_until_done(Run.objects.get(pk=run.pk))
    operation.refresh_from_db()
    assert (operation.state, operation.done, operation.errors) == ("succeeded", 30, 0)
    assert operation.result_url == f"/runs/{run.pk}/" and operation.finished_at is not None
    assert "30 record(s) replayed, 0 failed." in operation.step and len(journal_lines(failed.first().run.flow
                                                                                     .connection)) == 30


def test_failures_are_counted_and_their_messages_kept(cast, failed, django_capture_on_commit_callbacks):
    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner)
    run = _start(failed, engineer, django_capture_on_commit_callbacks)  # nothing fixed: all fail again
    run_until_done(run)
    operation = Operation.objects.get(kind="replay")
    assert (operation.state, operation.done, operation.errors) == ("succeeded", 30, 30)
    assert len(operation.error_messages) == 5 and "12" in operation.error_messages[0]


def test_the_page_shows_progress_to_the_customer_and_hides_it_from_others(cast, client, failed,
                                                                           django_capture_on_commit_callbacks):
    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner)
    run = _start(failed, engineer, django_capture_on_commit_callbacks)
    engine.run_execute(run_id=run.pk)
    operation = Operation.objects.get(kind="replay")
    viewer = member(Role.VIEWER, customer=cast.alpha)
    client.force_login(viewer)
    part = client.get(f"/operations/{operation.pk}/progress/", HTTP_HOST=host(cast.alpha))
    assert part.status_code == 200 and 'data-state="running"' in part.text and "hx-trigger" in part.text
    assert "10 of <span data-figure=\"total\">30</span> (33%)" in part.text
    assert client.get(f"/operations/{operation.pk}/", HTTP_HOST=host(cast.alpha)).status_code == 200
    assert client.get(f"/operations/{operation.pk}/", HTTP_HOST=host(cast.beta)).status_code in (302, 404)
    client.force_login(member(Role.PARTNER_ADMIN, partner=cast.ypartner))
    assert client.get(f"/operations/{operation.pk}/progress/", HTTP_HOST=host(cast.alpha)).status_code == 404


def test_a_viewer_may_not_replay(cast, client, failed):
    viewer = member(Role.VIEWER, customer=cast.alpha)
    with pytest.raises(AccessDenied):
        replay.replay_bulk_start(items=failed, acting_user=viewer)
    client.force_login(viewer)
    run = failed.first().run
    assert client.post(f"/runs/{run.pk}/replay-failed/", HTTP_HOST=host(cast.alpha)).status_code == 403
    assert not Operation.objects.exists()


def test_the_run_page_button_starts_the_replay_and_leads_to_its_progress(cast, client, failed):
    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner)
    client.force_login(engineer)
    run = failed.first().run
    page = client.get(f"/runs/{run.pk}/", HTTP_HOST=host(cast.alpha))
    assert "Replay the 30 failed items" in page.text
    answer = client.post(f"/runs/{run.pk}/replay-failed/", HTTP_HOST=host(cast.alpha))
    operation = Operation.objects.get(kind="replay")
    assert answer.status_code == 302 and answer["Location"] == f"/operations/{operation.pk}/"
    assert operation.started_by == engineer and operation.total == 30


def test_many_exceptions_replay_on_one_operation(cast, client, failed, django_capture_on_commit_callbacks):
    from apps.exceptions.models import IntegrationException

    ValidationRule.objects.filter(kind=RuleKind.DAILY_HOURS_LIMIT).update(params={"limit": 14})
    exceptions = IntegrationException.objects.filter(status="open")
    assert exceptions.exists()
    client.force_login(member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner))
    with django_capture_on_commit_callbacks(execute=False) as queued:
        answer = client.post("/admin/exceptions/integrationexception/", {
            "action": "replay", "_selected_action": list(exceptions.values_list("pk", flat=True)), "confirm": "1"},
            HTTP_HOST=host(cast.alpha))
    operation = Operation.objects.get(kind="replay")
    assert answer.status_code == 302 and answer["Location"] == f"/operations/{operation.pk}/"
    assert (operation.state, operation.total, operation.errors) == ("running", 30, 0) and queued
    for run in Run.objects.filter(operation_id=operation.pk):
        run_until_done(run)
    operation.refresh_from_db()
    assert (operation.state, operation.done, operation.errors) == ("succeeded", 30, 0)
