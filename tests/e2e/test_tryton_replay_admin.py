"""Replay through the tenant admin: an entry refused by a rule is replayed, after the rule is fixed, from the
ledger's admin action. The action first shows what will be sent (nothing is sent yet); confirming queues the
replay, which posts the entry to the real Tryton once. Only people who may operate can replay."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.test import Client

from apps.mappings.models import RuleKind, ValidationRule
from apps.runs.models import ItemOutcome, Run, RunItem, Trigger
from apps.tenants.choices import Role
from tests.conftest import host, member
from tests.e2e.support import approved_time_chain, entry_reference, lines_tagged, run_flow

pytestmark = pytest.mark.usefixtures("templates", "fanout")
CHANGELIST = "/admin/runs/runitem/"


@pytest.fixture
def refused(in_alpha, tryton, harvest):
    """A 13-hour day, refused by the 12-hour rule, and then the rule raised to 14 hours."""
    chain = approved_time_chain(in_alpha, tryton, harvest, people=("ann",), strangers=())
    harvest.add_time_entry(chain.user("ann"), chain.harvest_project, spent_date="2026-06-01", hours=13,
                           approved=True, notes="Cut-over weekend")
    run_flow("time-in")
    item = RunItem.objects.get(run__flow__slug="time-to-erp")
    assert item.outcome == ItemOutcome.FAILED and "over the 12 h limit" in item.error_message
    ValidationRule.objects.filter(kind=RuleKind.DAILY_HOURS_LIMIT).update(params={"limit": 14})
    return {"chain": chain, "item": item}


def replay_action(client: Client, customer, item: RunItem, **extra):
    return client.post(CHANGELIST, {"action": "replay_items", "_selected_action": [item.pk], **extra},
                       HTTP_HOST=host(customer))


def test_the_admin_replay_shows_what_will_be_sent_then_posts_it_once(refused, tryton, cast, client,
                                                                      django_capture_on_commit_callbacks):
    item, chain = refused["item"], refused["chain"]
    client.force_login(member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner))
    reference = entry_reference(item.canonical_id)

    page = replay_action(client, cast.alpha, item)

    assert page.status_code == 200 and "Replay: what will be sent" in page.text
    preview = json.loads(re.search(r'<pre id="replay-preview">(.*?)</pre>', page.text, re.S).group(1)
                         .replace("&quot;", '"').replace("&#x27;", "'"))
    [planned] = preview
    assert (planned["flow"], planned["canonical_id"], planned["action"]) == ("time-to-erp", item.canonical_id, "write")
    assert planned["payload"]["employee"] == str(chain.people["ann"]["employee"])
    assert planned["payload"]["hours"] == "13.00"
    assert planned["payload"]["description"] == "Development: Cut-over weekend"
    assert lines_tagged(tryton, reference) == []  # a preview sends nothing
    assert not Run.objects.filter(trigger=Trigger.REPLAY).exists()

    with django_capture_on_commit_callbacks(execute=True):
        confirmed = replay_action(client, cast.alpha, item, confirm="1")

    assert confirmed.status_code == 302
    replayed = RunItem.objects.get(run__trigger=Trigger.REPLAY)
    assert replayed.outcome == ItemOutcome.CREATED and replayed.canonical_id == item.canonical_id
    [line] = lines_tagged(tryton, reference)
    assert line["duration"] == dt.timedelta(hours=13)


def test_someone_who_may_only_look_cannot_replay(refused, tryton, cast, client, django_capture_on_commit_callbacks):
    client.force_login(member(Role.ANALYST, partner=cast.xpartner))
    with django_capture_on_commit_callbacks(execute=True):
        answer = replay_action(client, cast.alpha, refused["item"], confirm="1")

    assert answer.status_code in (200, 302, 403)  # the action is not even offered to them: "no action selected"
    assert not Run.objects.filter(trigger=Trigger.REPLAY).exists()
    assert lines_tagged(tryton, entry_reference(refused["item"].canonical_id)) == []
