"""Serializers for flows, runs, the ledger, replay and template installs. Explicit fields, no secrets."""

from rest_framework import serializers

from apps.common.objects import ObjectType
from apps.common.untrusted import MAX_ID
from apps.runs.models import Flow, ItemOutcome, Run, RunItem, RunStatus


class FlowSerializer(serializers.ModelSerializer):
    connection = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    mapping = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    rule_set = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    after_flow = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)

    class Meta:
        model = Flow
        fields = ["slug", "name", "direction", "object_type", "connection", "object_name", "mapping", "rule_set",
                  "on_schedule", "schedule_cron", "schedule_minutes", "on_webhook", "on_hub_change", "after_flow",
                  "write_back", "is_enabled", "installed_from"]


class RunSerializer(serializers.ModelSerializer):
    flow = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    connection = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Run
        fields = ["id", "flow", "connection", "object_name", "object_type", "trigger", "status", "counts",
                  "cursor_start", "cursor_end", "started_at", "finished_at", "error_message", "created_at"]


class RunItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunItem
        fields = ["id", "run", "idempotency_key", "object_type", "external_id", "canonical_id", "outcome",
                  "error_category", "error_field", "error_message", "payload_before", "payload_after",
                  "target_external_id", "target_response", "attempts", "duration_ms", "latency_ms", "created_at"]


class RunFilterSerializer(serializers.Serializer):
    """Query parameters of ``/api/v1/runs/``, typed: a bad value is a 400 that names it, never a 500."""

    flow = serializers.SlugField(required=False)
    status = serializers.ChoiceField(choices=RunStatus.choices, required=False)
    since = serializers.DateTimeField(required=False)


class RunItemFilterSerializer(serializers.Serializer):
    """Query parameters of ``/api/v1/run-items/`` (see ``RunItemViewSet``)."""

    run = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    flow = serializers.SlugField(required=False)
    outcome = serializers.ChoiceField(choices=ItemOutcome.choices, required=False)
    object_type = serializers.ChoiceField(choices=ObjectType.choices, required=False)
    external_id = serializers.CharField(required=False, max_length=255)
    canonical_id = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    date_from = serializers.DateField(required=False)
    date_to = serializers.DateField(required=False)
    project = serializers.CharField(required=False, max_length=255)

    PROJECT_TYPES = ("time_entry", "expense", "assignment", "project")  # what the project filter can reach

    def validate(self, attrs):
        if attrs.get("project") and attrs.get("object_type") and attrs["object_type"] not in self.PROJECT_TYPES:
            raise serializers.ValidationError(
                {"object_type": f"With project, object_type is one of {', '.join(self.PROJECT_TYPES)}."})
        return attrs


class ItemSelectionSerializer(serializers.Serializer):
    """Which ledger items to replay: explicit ids, or a filter."""

    items = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False,
                                  max_length=10000)
    flow = serializers.SlugField(required=False)
    run = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    outcome = serializers.ChoiceField(choices=["failed", "conflict"], required=False, default="failed")
    error_category = serializers.CharField(required=False, max_length=24)
    mapping_version = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID,
                                               help_text="Replay with this mapping version instead of the published.")

    def validate(self, attrs):
        if not attrs.get("items") and not any(attrs.get(k) for k in ("flow", "run", "error_category")):
            raise serializers.ValidationError("Give item ids, or a filter (flow, run, error_category).")
        return attrs


# --- answers, as the OpenAPI document describes them ------------------------------------------------
class ReplayPreviewAnswer(serializers.Serializer):
    items = serializers.IntegerField(help_text="Ledger items selected.")
    preview = serializers.ListField(child=serializers.DictField(), help_text="Per record: flow, action, payload.")


class ReplayAnswer(serializers.Serializer):
    runs = RunSerializer(many=True, help_text="The replay runs queued.")


class RecordsBulkAnswer(serializers.Serializer):
    run = serializers.IntegerField()
    status = serializers.CharField()
    connection = serializers.CharField()
    counts = serializers.DictField(child=serializers.IntegerField())
    results = serializers.ListField(child=serializers.DictField(),
                                    help_text="Per record, in request order: index, outcome, id, canonical_id, "
                                              "and for a failure its message and field.")


class HookAnswer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["accepted", "duplicate"])
    event = serializers.CharField(required=False)
    events = serializers.ListField(child=serializers.CharField(), required=False)
