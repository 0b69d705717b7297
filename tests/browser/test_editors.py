"""In a real Chromium: a partner engineer fixes a mapping in the editor without typing JSON (starts a draft, picks the
right source field from the fields of the last real records, previews before and after, saves, publishes), then
replays the run's failed items and watches the replay's progress until it is done."""

from __future__ import annotations

import pytest

from tests.browser.conftest import browser_unavailable, login, screenshot
from tests.browser.test_polish import committed

UNAVAILABLE = browser_unavailable()
pytestmark = [pytest.mark.browser, pytest.mark.django_db,
              pytest.mark.skipif(UNAVAILABLE is not None, reason=f"Browser tests did not run: {UNAVAILABLE}.")]

BROKEN = [{"target": "external_id", "source": "id"},
          {"target": "person", "ref": {"by": "code", "source": "user.code"}},
          {"target": "project", "ref": {"by": "code", "source": "project.id"}},  # the number, not the code
          {"target": "date", "source": "spent_date"},
          {"target": "hours", "source": "hours"}]
FAILED = 12


def _records() -> list[dict]:
    return [{"id": f"BT-{n}", "spent_date": f"2026-10-{n:02d}", "hours": "2", "notes": "Editor test",
             "user": {"code": "ANN", "name": "Ann"}, "project": {"id": 9000 + n, "code": "ACME-1"},
             "task": {"name": "Workshop"}} for n in range(1, FAILED + 1)]


def _failed_run():
    """A flow whose mapping reads the project's number where the hub knows projects by code: every item failed."""
    from apps.connectors.services import connection_create
    from apps.mappings.models import Mapping
    from apps.mappings.services import mapping_version_create, mapping_version_publish
    from apps.runs.models import Flow, ItemOutcome, Run, RunItem, RunStatus

    source = connection_create(name="Tempo export", slug="tempo", kind="csv", settings={}, acting_user=None)
    mapping = Mapping.objects.create(name="Tempo time → hub", slug="tempo-time", direction="inbound",
                                     object_type="time_entry", connector_kind="csv")
    mapping_version_publish(version=mapping_version_create(mapping=mapping, rules=BROKEN, acting_user=None),
                            acting_user=None)
    flow = Flow.objects.create(name="Tempo time in", slug="tempo-in", direction="inbound", object_type="time_entry",
                               connection=source, object_name="time_entries", mapping=mapping, on_schedule=False)
    run = Run.objects.create(flow=flow, connection=source, object_name="time_entries", object_type="time_entry",
                             status=RunStatus.FAILED, counts={"failed": FAILED})
    RunItem.objects.bulk_create([RunItem(run=run, object_type="time_entry", external_id=r["id"],
                                         outcome=ItemOutcome.FAILED, payload_before=r,
                                         error_message=f"project {r['project']['id']} is not known")
                                 for r in _records()])
    return mapping.pk, run.pk


@pytest.fixture(scope="module")
def failed_run(harbour, django_db_blocker):
    with django_db_blocker.unblock():
        return committed(_failed_run)


def test_an_engineer_fixes_the_mapping_in_the_editor_and_publishes_it(harbour, browser_page, failed_run):
    page = browser_page
    acme_host = harbour.host(harbour.acme)
    login(page, harbour.url(acme_host, "/login/"), "harbour.admin")
    page.goto(harbour.url(acme_host, "/admin/mappings/mapping/"))
    page.click("text=Rules…")
    assert "is published" in page.inner_text("#content") and page.locator("#save-mapping").count() == 0
    page.click("#new-draft")  # published versions never change: a draft starts from it
    assert page.inner_text("#version-status") == "draft"

    row = page.locator("#mapping-rules tr[data-target=project]")
    options = row.locator("select[data-picker] option").all_inner_texts()
    assert any(o.startswith("project.code · ACME-1") for o in options) and any("task.name" in o for o in options)
    assert "project.id" in row.locator("select[data-picker]").input_value()
    page.click("#preview-rules")
    assert "project" in page.inner_text("#rule-errors")  # the broken rule, before the fix: the preview runs
    screenshot(page, "mapping-editor-draft")

    page.locator("#mapping-rules tr[data-target=project] select[data-picker]").select_option("project.code")
    page.click("#add-rule")
    new = page.locator("#mapping-rules tr[data-row]").last
    new.locator("select[name$=-target]").select_option("notes")
    new.locator("select[data-picker]").select_option("task.name")
    page.click("#preview-rules")
    assert page.locator("#rule-errors-none").count() == 1 or "project" not in page.inner_text("#mapping-preview")
    after = page.locator("#mapping-preview pre[data-after]").first.inner_text()
    assert '"project": "code:ACME-1"' in after and '"notes": "Workshop"' in after
    screenshot(page, "mapping-editor-preview")

    page.fill("input[name=reason]", "Projects are known by code")
    page.click("#save-mapping")
    assert "draft saved" in page.inner_text(".messagelist")
    page.click("#mapping-versions button[data-publish='2']")
    assert page.inner_text("#version-status") == "published"
    assert page.locator("#mapping-versions button[data-publish='1']").inner_text() == "Roll back to v1"
    screenshot(page, "mapping-editor-published")


def test_replaying_the_failed_items_shows_progress_until_done(harbour, browser_page, failed_run):
    page = browser_page
    acme_host = harbour.host(harbour.acme)
    _, run_id = failed_run
    login(page, harbour.url(acme_host, "/login/"), "harbour.admin")
    page.goto(harbour.url(acme_host, f"/runs/{run_id}/"))
    page.click("#replay-failed button")
    page.wait_for_selector(".operation-progress[data-state=succeeded]", timeout=30_000)
    assert page.inner_text("h1") == f"Replay {FAILED} item(s)"
    assert page.inner_text("[data-figure=done]").startswith(f"{FAILED} of {FAILED}")
    assert page.inner_text("[data-figure=errors]") in {"0", str(0)}
    screenshot(page, "replay-progress-done")
    page.click("[data-link=result]")
    assert page.inner_text("[data-outcome=created] .value") == str(FAILED)
    screenshot(page, "replay-run")


def test_the_progress_block_updates_in_place_while_the_work_goes_on(harbour, browser_page):
    from apps.tenants.operations import operation_finish, operation_progress, operation_start

    page = browser_page
    acme_host = harbour.host(harbour.acme)
    operation = committed(lambda: operation_start(kind="replay", title="Replay 3,000 item(s)", total=3000,
                                                  customer=harbour.acme))
    committed(lambda: operation_progress(operation.pk, done=1200, errors=4, error="T-7: hours over the limit"))
    login(page, harbour.url(acme_host, "/login/"), "harbour.admin")
    page.goto(harbour.url(acme_host, f"/operations/{operation.pk}/"))
    assert page.inner_text("[data-figure=done]") == "1,200 of 3,000 (40%)"
    assert page.inner_text("[data-figure=state]") == "Running"
    page.evaluate("window.notReloaded = true")
    screenshot(page, "operation-running")

    committed(lambda: operation_progress(operation.pk, done=3000))
    committed(lambda: operation_finish(operation.pk, step="3,000 record(s) replayed, 4 failed."))
    page.wait_for_selector(".operation-progress[data-state=succeeded]", timeout=10_000)
    assert page.evaluate("window.notReloaded") is True and page.locator(".operation-progress[hx-trigger]").count() == 0
    assert page.inner_text("[data-figure=done]") == "3,000 of 3,000 (100%)" and "T-7" in page.inner_text("main")
    screenshot(page, "operation-finished")
