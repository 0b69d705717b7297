"""Mappings, rule sets and escalation policies written over the API with keys: a draft is started, edited,
previewed before/after on given and on recent records, published and rolled back; a rule set's rules are
replaced; policies are made, changed and deleted. Every write is a history row naming the key's principal,
read-only keys are refused with a problem, and bad input is a 400 problem that says what is wrong."""

from __future__ import annotations

import pytest
from django.test import Client
from django_tenants.utils import schema_context

from apps.connectors.services import connection_create
from apps.exceptions.models import EscalationPolicy
from apps.mappings.models import Mapping, MappingVersion, RuleSet, ValidationRule
from apps.mappings.services import mapping_version_create, mapping_version_publish
from apps.runs.models import Flow, ItemOutcome, Run, RunItem
from apps.tenants import access, apikeys
from apps.tenants.choices import Role
from tests.conftest import host, member

RULES_V1 = [{"target": "external_id", "source": "id"}, {"target": "date", "source": "day"},
            {"target": "hours", "source": "hours"}]


@pytest.fixture
def keys(cast):
    admin = member(Role.PARTNER_ADMIN, partner=cast.xpartner)
    made = {"write": ["configuration:write"], "read": ["configuration:read"]}
    return {name: apikeys.apikey_create(name=f"{name} key", customer=cast.alpha, scopes=scopes,
                                        acting_user=admin) for name, scopes in made.items()}


@pytest.fixture
def api(cast, keys):
    client = Client()

    def call(method: str, path: str, body=None, *, key: str = "write"):
        return client.generic(method.upper(), f"/api/v1/{path}", "" if body is None else _json(body),
                              content_type="application/json", HTTP_HOST=host(cast.alpha),
                              HTTP_AUTHORIZATION=f"Bearer {keys[key].token}")

    return call


def _json(body) -> str:
    import json

    return json.dumps(body)


@pytest.fixture
def mapping(cast):
    """An inbound time mapping with v1 published, and a flow whose ledger holds two source records."""
    with schema_context("alpha"):
        mapping = Mapping.objects.create(name="Time in", slug="time-in", direction="inbound",
                                         object_type="time_entry", connector_kind="csv")
        mapping_version_publish(version=mapping_version_create(mapping=mapping, rules=RULES_V1, acting_user=None),
                                acting_user=None)
        source = connection_create(name="Time export", slug="time-export", kind="csv", acting_user=None)
        flow = Flow.objects.create(name="Time", slug="time", direction="inbound", object_type="time_entry",
                                   connection=source, object_name="time_entries", mapping=mapping)
        run = Run.objects.create(flow=flow, connection=source, object_name="time_entries", object_type="time_entry",
                                 status="succeeded")
        for n, hours in enumerate(["7.5", ""], start=1):
            RunItem.objects.create(run=run, object_type="time_entry", outcome=ItemOutcome.CREATED,
                                   payload_before={"id": f"T-{n}", "day": "2026-11-23", "hours": hours})
    return mapping


def test_a_draft_is_started_edited_previewed_published_and_rolled_back_with_history(cast, api, keys, mapping):
    started = api("post", "mappings/time-in/versions/", {"notes": "hours required"})
    assert started.status_code == 201, started.content
    assert started.json()["number"] == 2 and started.json()["rules"] == RULES_V1 and started.json()["problems"] == []

    rules = [*RULES_V1[:2], {"target": "hours", "source": "hours", "required": True}]
    edited = api("patch", "mappings/time-in/versions/2/", {"rules": rules})
    assert edited.status_code == 200 and edited.json()["rules"][2]["required"] is True

    given = api("post", "mappings/time-in/versions/2/preview/",
                {"samples": [{"id": "T-9", "day": "2026-11-24", "hours": ""}]}).json()
    assert given["sampled"] == "given" and given["published_version"] == 1 and given["rule_problems"] == []
    [row] = given["results"]
    assert row["before"]["fields"]["hours"] == "" and row["after"] is None
    assert row["errors"] == [{"target": "hours", "message": "is required but came out empty."}]

    recent = api("post", "mappings/time-in/versions/2/preview/", {"recent": 5}).json()
    assert recent["sampled"] == "recent" and [r["input"]["id"] for r in recent["results"]] == ["T-2", "T-1"]
    assert recent["results"][1]["after"]["fields"]["hours"] == "7.5"

    published = api("post", "mappings/time-in/versions/2/publish/")
    assert published.status_code == 200 and published.json()["status"] == "published"
    assert api("patch", "mappings/time-in/versions/2/", {"notes": "x"}).status_code == 400  # published: frozen

    rolled = api("post", "mappings/time-in/rollback/", {})
    assert rolled.status_code == 200 and rolled.json()["number"] == 1 and rolled.json()["status"] == "published"
    detail = api("get", "mappings/time-in/").json()
    assert {v["number"]: v["status"] for v in detail["versions"]} == {2: "superseded", 1: "published"}

    principal = keys["write"].key.principal
    with schema_context("alpha"):
        reasons = list(MappingVersion.history.filter(history_user=principal).order_by("history_id")
                       .values_list("history_change_reason", flat=True))
    assert reasons[:3] == ["Draft created", "Draft edited", "Superseded by v2"] and "Published" in reasons


def test_a_read_only_key_reads_but_every_write_is_a_403_problem(api, mapping):
    assert api("get", "mappings/time-in/versions/1/", key="read").status_code == 200
    assert api("post", "mappings/time-in/versions/1/preview/", {"recent": 1}, key="read").status_code == 200
    for method, path in [("post", "mappings/time-in/versions/"), ("patch", "mappings/time-in/versions/1/"),
                         ("post", "mappings/time-in/versions/1/publish/"), ("post", "mappings/time-in/rollback/"),
                         ("put", "rule-sets/x/rules/"), ("post", "escalation-policies/")]:
        refused = api(method, path, {}, key="read")
        assert refused.status_code == 403 and refused["Content-Type"] == "application/problem+json", path


def test_broken_rules_are_a_400_problem_saying_why(api, mapping):
    shapeless = api("post", "mappings/time-in/versions/", {"rules": [{"target": "hours"}, {"source": "x"}]})
    assert shapeless.status_code == 400 and shapeless["Content-Type"] == "application/problem+json"
    assert shapeless.json()["problems"] == ["rule 1: give one of source, constant, expression, ref, lookup.",
                                            "rule 2: must be an object with a target (text)."]
    draft = api("post", "mappings/time-in/versions/", {"rules": [{"target": "hours", "source": "hours"}]}).json()
    assert draft["problems"] == ["An inbound mapping needs a rule for external_id."]
    refused = api("post", f"mappings/time-in/versions/{draft['number']}/publish/")
    assert refused.status_code == 400 and "external_id" in refused.json()["detail"]
    assert api("post", "mappings/time-in/rollback/", {"version": 7}).status_code == 400
    assert api("get", "mappings/nope/").status_code == 404


def test_a_rule_sets_rules_are_replaced_in_order_with_history(cast, api, keys):
    with schema_context("alpha"):
        rule_set = RuleSet.objects.create(name="Time checks", slug="time-checks", object_type="time_entry")
        kept = ValidationRule.objects.create(rule_set=rule_set, kind="required", params={"fields": ["hours"]})
        ValidationRule.objects.create(rule_set=rule_set, kind="hours_range", params={"max": "24"}, position=2)
    assert [r["kind"] for r in api("get", "rule-sets/").json()[0]["rules"]] == ["required", "hours_range"]
    body = {"reason": "cap a day", "rules": [
        {"kind": "daily_hours_limit", "params": {"limit": "12"}, "message": "Over 12 h."},
        {"id": kept.pk, "kind": "required", "params": {"fields": ["hours", "date"]}}]}
    saved = api("put", "rule-sets/time-checks/rules/", body)
    assert saved.status_code == 200, saved.content
    assert [(r["kind"], r["params"]) for r in saved.json()["rules"]] == [
        ("daily_hours_limit", {"limit": "12"}), ("required", {"fields": ["hours", "date"]})]
    with schema_context("alpha"):
        changes = ValidationRule.history.filter(history_user=keys["write"].key.principal)
        assert {c.history_change_reason for c in changes} == {"cap a day"} and changes.count() == 3
    bad = api("put", "rule-sets/time-checks/rules/", {"rules": [{"kind": "open_period", "params": {}}]})
    assert bad.status_code == 400 and "Open from" in bad.json()["detail"]


def test_escalation_policies_are_made_changed_and_deleted_with_history(cast, api, keys):
    body = {"name": "Money", "email_recipients": ["fin@acme.example"], "timezone": "Europe/Berlin",
            "rules": [{"name": "Big", "min_amount": "1000", "raise_to": "high"}]}
    made = api("post", "escalation-policies/", body)
    assert made.status_code == 201, made.content
    pk = made.json()["id"]
    assert api("get", "escalation-policies/").json()[0]["name"] == "Money"
    changed = api("patch", f"escalation-policies/{pk}/", {"is_active": False})
    assert changed.status_code == 200 and changed.json()["is_active"] is False and changed.json()["name"] == "Money"
    bad = api("patch", f"escalation-policies/{pk}/", {"rules": [{"name": "x", "raise_to": "urgent"}]})
    assert bad.status_code == 400 and "urgent" in str(bad.json()["errors"])
    half = api("patch", f"escalation-policies/{pk}/", {"quiet_start": "20:00"})
    assert half.status_code == 400 and "Quiet hours" in str(half.json())
    assert api("delete", f"escalation-policies/{pk}/").status_code == 204
    assert api("get", f"escalation-policies/{pk}/").status_code == 404
    with schema_context("alpha"):
        history = EscalationPolicy.history.filter(id=pk).order_by("history_id")
        assert [h.history_type for h in history] == ["+", "~", "-"]
        assert {h.history_user_id for h in history} == {keys["write"].key.principal.pk}


def test_the_api_root_lists_the_new_groups(cast, api):
    root = api("get", "", key="read").json()
    assert {"rule-sets", "escalation-policies"} <= set(root)
    assert access.can  # the scopes above are the table's own
