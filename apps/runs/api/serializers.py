"""Serializers for flows, runs, the ledger, replay and template installs. Explicit fields, no secrets."""

from rest_framework import serializers

from apps.runs.models import Flow, Run, RunItem


class FlowSerializer(serializers.ModelSerializer):
    connection = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    mapping = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    rule_set = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = Flow
        fields = ["slug", "name", "direction", "object_type", "connection", "object_name", "mapping", "rule_set",
                  "on_schedule", "schedule_cron", "schedule_minutes", "on_webhook", "on_hub_change", "is_enabled",
                  "installed_from"]


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


class ItemSelectionSerializer(serializers.Serializer):
    """Which ledger items to replay: explicit ids, or a filter."""

    items = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=10000)
    flow = serializers.SlugField(required=False)
    run = serializers.IntegerField(required=False, min_value=1)
    outcome = serializers.ChoiceField(choices=["failed", "conflict"], required=False, default="failed")
    error_category = serializers.CharField(required=False, max_length=24)
    mapping_version = serializers.IntegerField(required=False, min_value=1,
                                               help_text="Replay with this mapping version instead of the published.")

    def validate(self, attrs):
        if not attrs.get("items") and not any(attrs.get(k) for k in ("flow", "run", "error_category")):
            raise serializers.ValidationError("Give item ids, or a filter (flow, run, error_category).")
        return attrs
