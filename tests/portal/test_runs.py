"""The portal's run pages: "Run now" leads to the new run's page, which shows its progress (counts by outcome,
rate, what is left, ETA, where it works) and finds its items by outcome and business key."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.runs import engine
from apps.runs.models import Flow, ItemOutcome, Run, RunItem, RunStatus
from apps.runs.selectors import run_progress
from apps.tenants.choices import Role
from tests.conftest import member
from tests.runs.items import ledger_build


@pytest.fixture
def ledger(cast):
    with schema_context(cast.alpha.schema_name):
        items = ledger_build()
        Flow.objects.create(name="Time to journal", slug="time-to-journal", direction="outbound",
                            object_type="time_entry", connection=items["ann"].run.connection, object_name="journal")
        return items


@pytest.fixture
def engineer(cast):
    return member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner, username="eng")


def test_run_now_queues_a_run_and_leads_to_its_live_page(alpha_site, engineer, ledger):
    alpha_site.client.force_login(engineer)

    listing = alpha_site.get("/runs/")
    started = alpha_site.post("/flows/time-to-journal/run/")

    with schema_context("alpha"):
        run = Run.objects.get(flow__slug="time-to-journal")
    assert 'data-run-flow="time-to-journal"' in listing.text
    assert started.status_code == 302 and started.url == f"/runs/{run.pk}/"
    page = alpha_site.get(started.url)
    assert run.status == RunStatus.QUEUED and 'id="run-status">Queued' in page.text
    assert "waiting for a worker" in page.text and 'hx-trigger="every 2s"' in page.text  # polls while it works


def test_a_viewer_sees_runs_but_may_not_start_one(alpha_site, viewer, ledger):
    alpha_site.client.force_login(viewer)

    listing = alpha_site.get("/runs/")
    refused = alpha_site.post("/flows/time-to-journal/run/")

    assert listing.status_code == 200 and "data-run-flow" not in listing.text
    assert refused.status_code == 403
    with schema_context("alpha"):
        assert not Run.objects.filter(flow__slug="time-to-journal").exists()


def test_items_are_filtered_by_outcome_and_business_key_with_their_payloads(alpha_site, viewer, ledger):
    alpha_site.client.force_login(viewer)
    run = ledger["ann"].run_id

    by_project = alpha_site.get(f"/runs/{run}/", q="ACME-104")
    failed = alpha_site.get(f"/runs/{run}/", outcome="failed")
    unknown_code = alpha_site.get(f"/runs/{run}/", q="NOPE-999", outcome="failed")
    nothing = alpha_site.get(f"/runs/{run}/", q="ZZZ-1")
    bad_outcome = alpha_site.get(f"/runs/{run}/", outcome="exploded")

    def shown(page):
        return {name for name, item in ledger.items() if f'data-item="{item.pk}"' in page.text}

    assert shown(by_project) == {"ann"} and shown(failed) == {"nope", "invoice"}
    assert shown(unknown_code) == {"nope"} and "&quot;project&quot;: &quot;NOPE-999&quot;" in unknown_code.text
    assert shown(nothing) == set() and "No item matches" in nothing.text
    assert bad_outcome.status_code == 404


def test_progress_of_a_working_outbound_run_has_rate_remaining_and_eta(in_alpha, ledger):
    now = timezone.now()
    flow = Flow.objects.get(slug="time-to-journal")
    run = Run.objects.create(flow=flow, connection=flow.connection, object_name="journal", object_type="time_entry",
                             status=RunStatus.RUNNING, started_at=now - timedelta(seconds=10),
                             record_ids=list(range(1, 51)), cursor_end="20")
    RunItem.objects.bulk_create([RunItem(run=run, object_type="time_entry", canonical_id=i,
                                         outcome=ItemOutcome.FAILED if i == 20 else ItemOutcome.CREATED)
                                 for i in range(1, 21)])

    progress = run_progress(run, now=now)

    assert progress.counts["created"] == 19 and progress.counts["failed"] == 1 and progress.processed == 20
    assert progress.rate == 2.0 and progress.remaining == 30 and progress.eta_seconds == 15.0
    assert progress.position == "20" and not progress.finished


def test_the_progress_block_stops_polling_once_the_run_has_finished(alpha_site, viewer, ledger):
    alpha_site.client.force_login(viewer)
    with schema_context("alpha"):
        run = ledger["ann"].run
        Run.objects.filter(pk=run.pk).update(status=RunStatus.PARTIAL, started_at=timezone.now() - timedelta(seconds=4),
                                             finished_at=timezone.now())

    block = alpha_site.get(f"/runs/{run.pk}/progress/")

    assert block.status_code == 200 and 'data-status="partial"' in block.text and "hx-trigger" not in block.text
    assert 'data-outcome="failed"' in block.text and "1.0 items/s" in block.text  # 4 items in 4 s


def test_a_run_paused_by_a_disabled_connection_says_paused_and_why(alpha_site, viewer, ledger):
    """Not "circuit open": a partner who switched the connection off sees that reason on the runs list."""
    with schema_context("alpha"):
        connection = ledger["ann"].run.connection
        connection.is_enabled = False
        connection.save(update_fields=["is_enabled"])
        run = engine.flow_run_request(flow=Flow.objects.get(slug="time-to-journal"), trigger="manual",
                                      enqueue=False, acting_user=None)
        engine.run_execute(run_id=run.pk)
        run.refresh_from_db()
    alpha_site.client.force_login(viewer)

    listing = alpha_site.get("/runs/")

    assert run.status == RunStatus.PAUSED and run.error_message == f"{connection} is disabled."
    assert (f'<span class="status status-paused" title="{connection} is disabled.">Paused</span>'
            in listing.text), listing.text
    assert "circuit open" not in listing.text
