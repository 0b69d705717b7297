"""The rule set editor's preview: the edited rules judged on the records that failed lately in the outbound flows
using the rule set, before anything is saved; only people who may change rules may ask."""

from datetime import date
from decimal import Decimal

from apps.canonical.models import Customer, Person, Project, TimeEntry
from apps.connectors.services import connection_create
from apps.mappings.models import RuleSet, ValidationRule
from apps.runs.models import Flow, Run, RunItem
from apps.tenants.choices import Role
from tests.conftest import host, member


def failed_long_day(rule_set):
    files = connection_create(name="Journal", slug="journal", kind="csv", acting_user=None)
    flow = Flow.objects.create(name="Time to journal", slug="time-to-journal", direction="outbound",
                               object_type="time_entry", connection=files, object_name="journal_export",
                               rule_set=rule_set)
    client = Customer.objects.create(code="INI", name="Initech", currency="EUR")
    project = Project.objects.create(code="ACME-104", name="Cutover", customer=client, currency="EUR")
    person = Person.objects.create(code="P-01", name="Peter")
    entry = TimeEntry.objects.create(person=person, project=project, date=date(2026, 11, 24), hours=Decimal("13"),
                                     approval_status="approved", content_hash="t3")
    run = Run.objects.create(flow=flow, connection=files, object_name="journal_export", object_type="time_entry",
                             trigger="manual", status="partial")
    RunItem.objects.create(run=run, object_type="time_entry", canonical_id=entry.pk, outcome="failed",
                           external_id=str(entry.pk), error_message="over the 12 h limit")


def test_an_engineer_sees_the_edited_limit_let_the_failed_entry_through_before_saving(cast, in_alpha, client):
    rule_set = RuleSet.objects.create(name="Export rules", slug="export-rules", object_type="time_entry")
    limit = ValidationRule.objects.create(rule_set=rule_set, kind="daily_hours_limit", params={"limit": 12},
                                          position=1)
    failed_long_day(rule_set)
    client.force_login(member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner, username="xeng"))
    form = {"rule-count": "1", "rule-0-pk": limit.pk, "rule-0-kind": "daily_hours_limit", "rule-0-order": "1",
            "rule-0-active": "on", "rule-0-limit": "14"}

    page = client.post(f"/admin/runs/flow/rules-preview/{rule_set.pk}/", form, HTTP_HOST=host(cast.alpha))

    assert page.status_code == 200
    row = page.text.split('<tr data-record="2026-11-24 · ACME-104 · P-01"')[1].split("</tr>")[0]
    assert 'data-passes="yes"' in row and "over the 12 h limit" in row and "<strong>passes</strong>" in row
    limit.refresh_from_db()
    assert limit.params == {"limit": 12}  # nothing saved
    tighter = client.post(f"/admin/runs/flow/rules-preview/{rule_set.pk}/", {**form, "rule-0-limit": "10"},
                          HTTP_HOST=host(cast.alpha)).text
    assert 'data-passes="no"' in tighter


def test_a_viewer_may_not_preview(cast, in_alpha, client):
    rule_set = RuleSet.objects.create(name="Export rules", slug="export-rules", object_type="time_entry")
    client.force_login(member(Role.ANALYST, partner=cast.xpartner, username="xan"))
    answer = client.post(f"/admin/runs/flow/rules-preview/{rule_set.pk}/", {"rule-count": "0"},
                         HTTP_HOST=host(cast.alpha))
    assert answer.status_code == 403
