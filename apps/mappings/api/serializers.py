"""Mapping and rule set API shapes: explicit fields out, small input serializers for the commands, and the
examples the OpenAPI document shows."""

from drf_spectacular.utils import OpenApiExample
from rest_framework import serializers

from apps.mappings.models import RuleKind
from apps.mappings.rule_editor import MAX_RULES

MAX_SAMPLES = 200
MAX_FIELD_RULES = 500


class VersionSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    status = serializers.CharField(help_text="draft, published or superseded.")
    notes = serializers.CharField()
    published_at = serializers.DateTimeField(allow_null=True)
    published_by = serializers.CharField(source="published_by.username", allow_null=True, default=None)
    rules = serializers.ListField(child=serializers.DictField(), help_text="Field rules (docs/mappings.md).")


class VersionDetailSerializer(VersionSerializer):
    problems = serializers.ListField(child=serializers.CharField(),
                                     help_text="What stops this version from being published (empty: it may be).")


class MappingSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    direction = serializers.CharField()
    object_type = serializers.CharField()
    connector_kind = serializers.CharField()
    versions = VersionSerializer(many=True)


class DraftInput(serializers.Serializer):
    rules = serializers.ListField(child=serializers.DictField(), required=False, max_length=MAX_FIELD_RULES,
                                 help_text="The draft's field rules; left out: a copy of `from_version`'s rules, "
                                           "else of the published version's.")
    from_version = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)
    notes = serializers.CharField(required=False, allow_blank=True, default="", max_length=5000)


class DraftEditInput(serializers.Serializer):
    rules = serializers.ListField(child=serializers.DictField(), required=False, max_length=MAX_FIELD_RULES)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class RollbackInput(serializers.Serializer):
    version = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1,
                                       help_text="The earlier version to publish again; left out: the one "
                                                 "published before the current one.")


class PreviewInput(serializers.Serializer):
    samples = serializers.ListField(child=serializers.DictField(), required=False, min_length=1,
                                    max_length=MAX_SAMPLES, help_text="Source records to try; left out: the "
                                    "`recent` latest records the ledger holds for flows using this mapping.")
    recent = serializers.IntegerField(required=False, min_value=1, max_value=50, default=5)
    variables = serializers.DictField(required=False, default=dict)


class PreviewResult(serializers.Serializer):
    input = serializers.DictField()
    before = serializers.JSONField(allow_null=True, help_text="The output under the published version (null: "
                                   "none is published, or this is it).")
    after = serializers.JSONField(allow_null=True, help_text="The output under this version (null: a rule failed).")
    errors = serializers.ListField(child=serializers.DictField(), help_text="Per failing field rule: its target "
                                   "and the message.")


class PreviewAnswer(serializers.Serializer):
    mapping = serializers.CharField()
    version = serializers.IntegerField()
    status = serializers.CharField()
    published_version = serializers.IntegerField(allow_null=True)
    sampled = serializers.CharField(help_text="given, or recent (from the ledger).")
    rule_problems = serializers.ListField(child=serializers.CharField(),
                                          help_text="Rules of this version that cannot work (publishing refuses).")
    results = PreviewResult(many=True)


class RuleSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    position = serializers.IntegerField()
    kind = serializers.CharField()
    params = serializers.DictField()
    message = serializers.CharField()
    is_active = serializers.BooleanField()


class RuleSetSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    object_type = serializers.CharField()
    rules = RuleSerializer(many=True)


class RuleInputSerializer(serializers.Serializer):
    id = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1,
                                  help_text="An existing rule to keep (changed as given); left out: a new rule.")
    kind = serializers.ChoiceField(choices=RuleKind.values)
    params = serializers.DictField(required=False, default=dict,
                                   help_text="The kind's settings (docs/data-quality.md), e.g. {\"limit\": \"12\"}.")
    message = serializers.CharField(required=False, allow_blank=True, default="", max_length=300)
    is_active = serializers.BooleanField(required=False, default=True)


class RulesInput(serializers.Serializer):
    rules = RuleInputSerializer(many=True, max_length=MAX_RULES,
                                help_text="The rule set's rules, exactly and in order: rules left out are removed.")
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=500)


RULES = [{"target": "external_id", "source": "id"}, {"target": "date", "source": "spent_date"},
         {"target": "hours", "source": "hours", "required": True},
         {"target": "project", "ref": {"source": "project.code", "by": "code"}}]
EXAMPLE_VERSION = {"number": 3, "status": "draft", "notes": "Hours are required", "published_at": None,
                   "published_by": None, "rules": RULES, "problems": []}
DRAFT_EXAMPLES = [
    OpenApiExample("Copy the published version", value={"notes": "Hours are required"}, request_only=True),
    OpenApiExample("Given rules", value={"rules": RULES, "notes": "Hours are required"}, request_only=True),
    OpenApiExample("The draft", value=EXAMPLE_VERSION, response_only=True, status_codes=["201", "200"]),
]
PREVIEW_EXAMPLES = [
    OpenApiExample("On given records", request_only=True,
                   value={"samples": [{"id": "T-1", "spent_date": "2026-11-23", "hours": 7.5,
                                       "project": {"code": "ACME-104"}}]}),
    OpenApiExample("On the 5 latest records", value={"recent": 5}, request_only=True),
    OpenApiExample("Before and after", response_only=True, value={
        "mapping": "harvest-time", "version": 3, "status": "draft", "published_version": 2, "sampled": "given",
        "rule_problems": [],
        "results": [{"input": {"id": "T-1", "spent_date": "2026-11-23", "hours": None},
                     "before": {"external_id": "T-1", "deleted": False, "fields": {"date": "2026-11-23", "hours": None},
                                "refs": {"project": None}},
                     "after": None, "errors": [{"target": "hours", "message": "is required but came out empty."}]}]}),
]
RULES_EXAMPLES = [
    OpenApiExample("Two rules", request_only=True, value={"reason": "Cap a day at 12 h", "rules": [
        {"id": 4, "kind": "required", "params": {"fields": ["person", "project", "date", "hours"]}},
        {"kind": "daily_hours_limit", "params": {"limit": "12"}, "message": "More than 12 h in a day."}]}),
]
_PUBLISHED = {"number": 2, "status": "published", "notes": "Project by code", "published_at": "2026-11-20T10:00:00Z",
              "published_by": "it@acme.example", "rules": RULES[:2] + RULES[3:]}
MAPPING = {"slug": "harvest-time", "name": "Harvest time entries", "direction": "inbound",
           "object_type": "time_entry", "connector_kind": "harvest",
           "versions": [{k: v for k, v in EXAMPLE_VERSION.items() if k != "problems"}, _PUBLISHED]}
MAPPING_EXAMPLES = [OpenApiExample("A mapping with its versions", value=MAPPING, response_only=True)]
VERSION_EXAMPLES = [OpenApiExample("A version", value={**_PUBLISHED, "problems": []}, response_only=True)]
PUBLISH_EXAMPLES = [OpenApiExample("Published", response_only=True, value={
    **EXAMPLE_VERSION, "status": "published", "published_at": "2026-12-05T09:15:00Z",
    "published_by": "it@acme.example"})]
ROLLBACK_EXAMPLES = [
    OpenApiExample("Back to version 2", value={"version": 2}, request_only=True),
    OpenApiExample("Version 2 published again", value={**_PUBLISHED, "published_at": "2026-12-05T09:20:00Z",
                                                       "problems": []}, response_only=True)]
RULE_SET = {"slug": "time-entry-checks", "name": "Time entry checks", "object_type": "time_entry", "rules": [
    {"id": 4, "position": 1, "kind": "required", "params": {"fields": ["person", "project", "date", "hours"]},
     "message": "", "is_active": True},
    {"id": 9, "position": 2, "kind": "daily_hours_limit", "params": {"limit": "12"},
     "message": "More than 12 h in a day.", "is_active": True}]}
RULE_SET_EXAMPLES = [OpenApiExample("A rule set", value=RULE_SET, response_only=True)]
RULES_EXAMPLES.append(OpenApiExample("Saved", value=RULE_SET, response_only=True))
