"""Rules and mapping versions in the customer's admin, without typing JSON: partner engineers see a rule set's
rules and edit them a row per rule (its kind's own fields; add, remove, reorder), with history naming them;
customer roles read the same page; a mapping lists its versions with a preview link and publish / roll back."""

import pytest
from django_tenants.utils import schema_context

from apps.mappings.models import Mapping, MappingVersion, RuleKind, RuleSet, ValidationRule, VersionStatus
from apps.mappings.services import mapping_version_create, mapping_version_publish
from apps.tenants.choices import Role
from tests.conftest import host, member

RULES = [{"target": "entry", "source": "id"}, {"target": "date", "source": "date"}]


@pytest.fixture
def rule_set(cast):
    with schema_context("alpha"):
        rules = RuleSet.objects.create(name="Posting rules", slug="posting", object_type="time_entry")
        for position, (kind, params) in enumerate([(RuleKind.APPROVAL_STATUS, {"allowed": ["approved"]}),
                                                   (RuleKind.DAILY_HOURS_LIMIT, {"limit": "12"}),
                                                   (RuleKind.REQUIRED, {"fields": ["person", "project"]})]):
            ValidationRule.objects.create(rule_set=rules, kind=kind, params=params, position=position)
        return rules


@pytest.fixture
def engineer(cast):
    return member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner, username="eng")


def admin(client, user, customer, path, data=None):
    client.force_login(user)
    if data is None:
        return client.get(f"/admin/mappings/{path}", HTTP_HOST=host(customer))
    return client.post(f"/admin/mappings/{path}", data, HTTP_HOST=host(customer))


def rows(rule_set) -> list[tuple[str, dict]]:
    with schema_context("alpha"):
        return [(r.kind, r.params) for r in rule_set.rules.order_by("position")]


def form(rule_set, **changes) -> dict:
    """The editor's form as the page would post it, with ``changes`` (field name → value)."""
    with schema_context("alpha"):
        rules = list(rule_set.rules.order_by("position"))
    data = {"rule-count": str(len(rules)), "action": "Save", "reason": "Tighter daily limit"}
    for n, rule in enumerate(rules):
        data |= {f"rule-{n}-pk": rule.pk, f"rule-{n}-kind": rule.kind, f"rule-{n}-order": n + 1,
                 f"rule-{n}-active": "on", f"rule-{n}-message": rule.message}
        for name, value in rule.params.items():
            data[f"rule-{n}-{name}"] = ", ".join(value) if isinstance(value, list) else value
    return data | changes


def test_an_engineer_sees_the_rules_on_the_rule_sets_page_and_in_the_editor(cast, client, engineer, rule_set):
    page = admin(client, engineer, cast.alpha, f"ruleset/{rule_set.pk}/change/")
    editor = admin(client, engineer, cast.alpha, f"ruleset/{rule_set.pk}/rules/")

    assert page.status_code == 200 and "Hours per person per day" in page.text and "limit: 12" in page.text
    assert 'id="edit-rules"' in page.text
    assert editor.status_code == 200 and 'name="rule-1-limit" value="12"' in editor.text
    assert 'name="rule-2-fields" value="person, project"' in editor.text and 'id="save-rules"' in editor.text


def test_an_engineer_edits_removes_reorders_and_adds_rules_with_history(cast, client, engineer, rule_set):
    # The daily limit goes to 10 and first; the required-fields rule goes; an amount range is added.
    data = form(rule_set, **{"rule-1-limit": "10", "rule-1-order": "0", "rule-2-remove": "on"})
    added = admin(client, engineer, cast.alpha, f"ruleset/{rule_set.pk}/rules/",
                  data | {"action": "add", "add_kind": RuleKind.HOURS_RANGE})
    assert added.status_code == 200 and 'data-rule="new" data-kind="hours_range"' in added.text
    assert rows(rule_set)[1] == ("daily_hours_limit", {"limit": "12"})  # adding a row saves nothing yet

    saved = admin(client, engineer, cast.alpha, f"ruleset/{rule_set.pk}/rules/",
                  data | {"rule-count": "4", "rule-3-kind": "hours_range", "rule-3-order": "4", "rule-3-active": "on",
                          "rule-3-max": "14", "rule-3-field": "hours"})

    assert saved.status_code == 302
    assert rows(rule_set) == [("daily_hours_limit", {"limit": "10"}), ("approval_status", {"allowed": ["approved"]}),
                              ("hours_range", {"field": "hours", "max": "14"})]
    with schema_context("alpha"):
        history = ValidationRule.history.filter(rule_set_id=rule_set.pk)  # this rule set's, not other tests' rows
        changed = history.filter(kind="daily_hours_limit").latest("history_date")
        removed = history.filter(kind="required", history_type="-").get()
        assert changed.history_user == engineer and changed.history_change_reason == "Tighter daily limit"
        assert removed.history_user == engineer


def test_a_wrong_value_is_refused_with_the_reason_and_nothing_changes(cast, client, engineer, rule_set):
    refused = admin(client, engineer, cast.alpha, f"ruleset/{rule_set.pk}/rules/",
                    form(rule_set, **{"rule-1-limit": "twelve", "rule-2-remove": "on"}))

    assert refused.status_code == 200 and "&#x27;twelve&#x27; is not a number" in refused.text
    assert [kind for kind, _ in rows(rule_set)] == ["approval_status", "daily_hours_limit", "required"]


@pytest.mark.parametrize("role", [Role.CUSTOMER_ADMIN, Role.ANALYST])
def test_customer_roles_and_analysts_read_the_rules_but_may_not_change_them(cast, client, rule_set, role):
    scope = {"partner": cast.xpartner} if role == Role.ANALYST else {"customer": cast.alpha}
    person = member(role, username=f"reader-{role}", **scope)

    editor = admin(client, person, cast.alpha, f"ruleset/{rule_set.pk}/rules/")
    posted = admin(client, person, cast.alpha, f"ruleset/{rule_set.pk}/rules/", form(rule_set, **{"rule-1-limit": "1"}))

    assert editor.status_code == 200 and 'value="12" disabled' in editor.text and "save-rules" not in editor.text
    assert posted.status_code == 403 and rows(rule_set)[1] == ("daily_hours_limit", {"limit": "12"})


@pytest.fixture
def mapping(cast):
    with schema_context("alpha"):
        mapping = Mapping.objects.create(name="Hub → journal", slug="journal-out", direction="outbound",
                                         object_type="time_entry", connector_kind="csv")
        mapping_version_publish(version=mapping_version_create(mapping=mapping, rules=RULES, acting_user=None),
                                acting_user=None)
        mapping_version_create(mapping=mapping, rules=[*RULES, {"target": "hours", "source": "hours"}],
                               acting_user=None)
        return mapping


def test_the_mapping_page_lists_versions_links_previews_and_publishes_then_rolls_back(cast, client, engineer,
                                                                                       mapping):
    page = admin(client, engineer, cast.alpha, f"mapping/{mapping.pk}/change/")
    with schema_context("alpha"):
        v1, v2 = MappingVersion.objects.filter(mapping=mapping).order_by("number")
    assert f"/admin/mappings/mappingversion/{v1.pk}/preview/" in page.text
    assert f"/admin/mappings/mappingversion/{v2.pk}/preview/" in page.text
    assert f'formaction="/admin/mappings/mappingversion/{v2.pk}/publish/"' in page.text and ">Publish<" in page.text

    published = admin(client, engineer, cast.alpha, f"mappingversion/{v2.pk}/publish/", {})
    back = admin(client, engineer, cast.alpha, f"mapping/{mapping.pk}/change/")
    rolled_back = admin(client, engineer, cast.alpha, f"mappingversion/{v1.pk}/publish/", {})

    assert published.status_code == 302 and published.url == f"/admin/mappings/mapping/{mapping.pk}/change/"
    assert ">Roll back to v1<" in back.text and rolled_back.status_code == 302
    with schema_context("alpha"):
        v1.refresh_from_db(), v2.refresh_from_db()
        assert (v1.status, v2.status) == (VersionStatus.PUBLISHED, VersionStatus.SUPERSEDED)
        assert v1.history.latest("history_date").history_user == engineer


def test_customer_roles_see_versions_but_no_publish_button_and_may_not_publish(cast, client, mapping):
    viewer = member(Role.CUSTOMER_ADMIN, customer=cast.alpha, username="alpha-admin")
    with schema_context("alpha"):
        draft = MappingVersion.objects.get(mapping=mapping, status=VersionStatus.DRAFT)

    page = admin(client, viewer, cast.alpha, f"mapping/{mapping.pk}/change/")
    refused = admin(client, viewer, cast.alpha, f"mappingversion/{draft.pk}/publish/", {})

    assert page.status_code == 200 and "preview/" in page.text and "formaction" not in page.text
    assert refused.status_code == 403
