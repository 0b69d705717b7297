"""The mapping editor: a row per rule, targets from the canonical object's fields, sources picked from the fields of
the last real records (nested keys as dotted paths), a preview of the edited rules on those records (before, after,
errors per rule), save to a draft with history, publish and roll back from the same page. Customer roles read it;
their POSTs are 403."""

import pytest
from django_tenants.utils import schema_context

from apps.connectors.services import connection_create
from apps.mappings import mapping_editor
from apps.mappings.models import Mapping, MappingVersion, VersionStatus
from apps.mappings.samples import field_paths, mapping_recent_samples
from apps.mappings.services import mapping_version_create, mapping_version_publish
from apps.runs.models import Flow, ItemOutcome, Run, RunItem
from apps.tenants.choices import Role
from tests.conftest import host, member

RULES = [{"target": "external_id", "source": "id"},
         {"target": "person", "ref": {"by": "code", "source": "user.code"}},
         {"target": "project", "ref": {"by": "code", "source": "project.code"}},
         {"target": "date", "source": "spent_date"},
         {"target": "hours", "source": "hours", "transform": "decimal"},
         {"target": "approval_status", "source": "approved", "value_map": {"true": "approved"}, "default": "draft"}]
RECORDS = [{"id": n, "spent_date": f"2026-11-{n:02d}", "hours": 7.5, "approved": True,
            "user": {"code": "ann", "name": "Ann Lee"}, "project": {"code": f"ACME-10{n}"},
            "task": {"name": "Workshop" if n % 2 else ""}} for n in range(1, 13)]


@pytest.fixture
def mapping(cast):
    with schema_context("alpha"):
        source = connection_create(name="Harvest", slug="harvest", kind="csv", settings={}, acting_user=None)
        mapping = Mapping.objects.create(name="Harvest time → hub", slug="harvest-time", direction="inbound",
                                         object_type="time_entry", connector_kind="csv")
        mapping_version_publish(version=mapping_version_create(mapping=mapping, rules=RULES, acting_user=None),
                                acting_user=None)
        flow = Flow.objects.create(name="Time in", slug="time-in", direction="inbound", object_type="time_entry",
                                   connection=source, object_name="time_entries", mapping=mapping)
        run = Run.objects.create(flow=flow, connection=source, object_name="time_entries", object_type="time_entry")
        for record in RECORDS:
            RunItem.objects.create(run=run, object_type="time_entry", external_id=str(record["id"]),
                                   outcome=ItemOutcome.CREATED, payload_before=record)
        return mapping


@pytest.fixture
def engineer(cast):
    return member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner, username="eng")


def editor_url(version) -> str:
    return f"/admin/mappings/mappingversion/{version.pk}/rules/"


def version(mapping, number) -> MappingVersion:
    with schema_context("alpha"):
        return MappingVersion.objects.get(mapping=mapping, number=number)


def form(rows: list[dict], **extra) -> dict:
    """The editor's form as the page posts it: one row per dict (target, how, path or text, …)."""
    data = {"map-count": str(len(rows))}
    for n, row in enumerate(rows):
        data |= {f"map-{n}-order": n + 1, **{f"map-{n}-{k}": v for k, v in row.items()}}
    return data | extra


def rows_of(rules) -> list[dict]:
    """The form rows a page shows for ``rules`` (what an unchanged form posts back)."""
    rows = []
    for row in mapping_editor.rows_from_rules(rules):
        picked = row.how in mapping_editor.PICKED
        rows.append({"target": row.target, "how": row.how, "path" if picked else "text": row.value,
                     "ref_by": row.ref_by, "transform": row.transform, "default": row.default,
                     "extra": row.extra_json, **({"required": "on"} if row.required else {})})
    return rows


def test_the_picker_lists_nested_fields_of_the_last_real_records(cast, mapping):
    with schema_context("alpha"):
        samples = mapping_recent_samples(mapping, 10)
    assert len(samples) == 10 and samples[0]["id"] == 12  # the newest first
    paths = dict(field_paths(samples))
    assert paths["user.code"] == "ann" and paths["project.code"] == "ACME-1012" and paths["task.name"] == "Workshop"
    assert "user" not in paths and "hours" in paths


def test_rows_round_trip_without_losing_what_the_page_does_not_show(cast):
    rows = mapping_editor.rows_from_rules(RULES + [{"target": "billable", "constant": True}])
    assert mapping_editor.rules_from_rows(rows) == RULES + [{"target": "billable", "constant": True}]


def test_an_engineer_edits_a_draft_picks_a_field_previews_and_publishes(cast, client, engineer, mapping):
    client.force_login(engineer)
    page = client.get(editor_url(version(mapping, 1)), HTTP_HOST=host(cast.alpha))
    assert page.status_code == 200 and "task.name · Workshop" in page.text and "Start a draft from v1" in page.text
    assert '<option value="notes">notes</option>' in page.text  # targets are the canonical object's fields

    started = client.post(f"/admin/mappings/mappingversion/{version(mapping, 1).pk}/draft/", HTTP_HOST=host(cast.alpha))
    draft = version(mapping, 2)
    assert started.status_code == 302 and started["Location"] == editor_url(draft) and draft.rules == RULES

    rows = rows_of(RULES) + [{"target": "notes", "how": "source", "path": "task.name", "required": "on"}]
    preview = client.post(editor_url(draft), form(rows, action="preview"), HTTP_HOST=host(cast.alpha))
    assert preview.status_code == 200 and version(mapping, 2).rules == RULES  # a preview saves nothing
    assert 'data-rule-target="notes"' in preview.text and "5 records" in preview.text  # even ids have no task name
    assert "is required but came out empty." in preview.text
    assert "&quot;notes&quot;: &quot;Workshop&quot;" in preview.text  # the record after the rules

    rows[-1].pop("required")
    saved = client.post(editor_url(draft), form(rows, action="save", reason="Notes from the task"),
                        HTTP_HOST=host(cast.alpha))
    assert saved.status_code == 302
    draft = version(mapping, 2)
    assert draft.rules == RULES + [{"target": "notes", "source": "task.name"}]
    with schema_context("alpha"):
        latest = draft.history.latest()
    assert latest.history_user == engineer and latest.history_change_reason == "Notes from the task"

    published = client.post(f"/admin/mappings/mappingversion/{draft.pk}/publish/", {"next": "editor"},
                            HTTP_HOST=host(cast.alpha))
    assert published["Location"] == editor_url(draft)
    assert (version(mapping, 2).status, version(mapping, 1).status) == (VersionStatus.PUBLISHED,
                                                                         VersionStatus.SUPERSEDED)
    page = client.get(editor_url(draft), HTTP_HOST=host(cast.alpha))
    assert "Roll back to v1" in page.text
    client.post(f"/admin/mappings/mappingversion/{version(mapping, 1).pk}/publish/", {"next": "editor"},
                HTTP_HOST=host(cast.alpha))
    assert version(mapping, 1).status == VersionStatus.PUBLISHED


def test_rows_are_added_removed_and_reordered(cast, client, engineer, mapping):
    client.force_login(engineer)
    with schema_context("alpha"):
        draft = mapping_version_create(mapping=mapping, rules=RULES, acting_user=None)
    added = client.post(editor_url(draft), form(rows_of(RULES), action="add"), HTTP_HOST=host(cast.alpha))
    assert added.status_code == 200 and 'name="map-count" value="7"' in added.text
    rows = rows_of(RULES)
    rows[5]["remove"] = "on"  # approval status goes
    rows[4]["order"] = 0  # hours first
    data = form(rows, action="save")
    data["map-4-order"] = 0
    client.post(editor_url(draft), data, HTTP_HOST=host(cast.alpha))
    rules = version(mapping, 2).rules
    assert [r["target"] for r in rules] == ["hours", "external_id", "person", "project", "date"]


def test_a_broken_draft_saves_but_says_what_stops_publishing(cast, client, engineer, mapping):
    client.force_login(engineer)
    with schema_context("alpha"):
        draft = mapping_version_create(mapping=mapping, rules=RULES, acting_user=None)
    rows = rows_of(RULES) + [{"target": "notes", "how": "expression", "text": "$substring(notes"}]
    client.post(editor_url(draft), form(rows, action="save"), HTTP_HOST=host(cast.alpha))
    page = client.get(editor_url(draft), HTTP_HOST=host(cast.alpha))
    assert "Before this can be published" in page.text and "rule 7 (notes)" in page.text
    client.post(f"/admin/mappings/mappingversion/{draft.pk}/publish/", {"next": "editor"}, HTTP_HOST=host(cast.alpha))
    assert version(mapping, 2).status == VersionStatus.DRAFT


@pytest.mark.parametrize("role,scope", [(Role.CUSTOMER_ADMIN, "customer"), (Role.ANALYST, "partner")])
def test_roles_that_may_only_look_read_the_editor_and_may_not_post(cast, client, mapping, role, scope):
    where = {"customer": cast.alpha} if scope == "customer" else {"partner": cast.xpartner}
    client.force_login(member(role, **where))
    with schema_context("alpha"):
        draft = mapping_version_create(mapping=mapping, rules=RULES, acting_user=None)
    page = client.get(editor_url(draft), HTTP_HOST=host(cast.alpha))
    assert page.status_code == 200 and "Your role may read mappings" in page.text and "save-mapping" not in page.text
    for url in (editor_url(draft), f"/admin/mappings/mappingversion/{draft.pk}/draft/",
                f"/admin/mappings/mappingversion/{draft.pk}/publish/"):
        assert client.post(url, form(rows_of([]), action="save"), HTTP_HOST=host(cast.alpha)).status_code == 403
    assert version(mapping, 2).status == VersionStatus.DRAFT and version(mapping, 2).rules == RULES


def test_links_to_a_mapping_land_in_its_open_draft_else_its_live_version(cast, client, engineer, mapping):
    client.force_login(engineer)
    url = f"/admin/mappings/mapping/{mapping.pk}/rules/"
    assert client.get(url, HTTP_HOST=host(cast.alpha))["Location"] == editor_url(version(mapping, 1))
    with schema_context("alpha"):
        draft = mapping_version_create(mapping=mapping, rules=RULES, acting_user=None)
    assert client.get(url, HTTP_HOST=host(cast.alpha))["Location"] == editor_url(draft)
    listing = client.get("/admin/mappings/mapping/", HTTP_HOST=host(cast.alpha)).text
    assert f'href="{editor_url(draft)}">Edit draft v2<' in listing


def test_the_versions_change_form_lists_the_rules_to_read_and_links_the_editor(cast, client, engineer, mapping):
    client.force_login(engineer)
    v1 = version(mapping, 1)
    page = client.get(f"/admin/mappings/mappingversion/{v1.pk}/change/", HTTP_HOST=host(cast.alpha)).text
    assert "<code>project</code> ← related record project.code" in page and 'name="rules"' not in page
    assert f'href="{editor_url(v1)}">Open in the editor<' in page
