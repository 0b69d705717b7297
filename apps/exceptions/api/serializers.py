"""Exceptions API shapes: explicit fields out, small input serializers for commands."""

from rest_framework import serializers

from apps.common.untrusted import MAX_ID
from apps.exceptions.choices import Kind, Severity, Status
from apps.exceptions.models import ExceptionComment, ExceptionRecord, IntegrationException


class ExceptionSerializer(serializers.ModelSerializer):
    severity = serializers.SerializerMethodField()
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)  # unowned
    flow = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    connection = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)

    class Meta:
        model = IntegrationException
        fields = ["id", "kind", "source", "title", "message", "error_field", "flow", "connection", "object_type",
                  "severity", "status", "status_reason", "owner", "first_seen", "last_seen", "opened_at",
                  "acknowledged_at", "resolved_at", "cycle", "occurrences", "open_records", "records_total",
                  "hours_at_risk", "amount_at_risk", "currency", "amounts", "customers", "projects", "people",
                  "period_start", "period_end", "last_replay_at", "last_replay_runs"]

    def get_severity(self, obj) -> str:
        return Severity(obj.severity).name.lower()


class RecordSerializer(serializers.ModelSerializer):
    run_item = serializers.IntegerField(source="last_item_id")

    class Meta:
        model = ExceptionRecord
        fields = ["record_key", "object_type", "external_id", "canonical_id", "is_open", "occurrences", "first_seen",
                  "last_seen", "cleared_at", "hours", "amount", "currency", "context", "run_item"]


class CommentSerializer(serializers.ModelSerializer):
    author = serializers.SerializerMethodField()

    class Meta:
        model = ExceptionComment
        fields = ["id", "author", "body", "created_at"]

    def get_author(self, obj) -> str:
        return obj.author.get_username() if obj.author else "system"


class ListFilterSerializer(serializers.Serializer):
    kind = serializers.CharField(required=False)
    status = serializers.CharField(required=False)
    owner = serializers.CharField(required=False)
    # Capped at a century: timedelta(hours=1e23) overflows (a 500), and nothing is older than Weft.
    min_age_hours = serializers.FloatField(required=False, min_value=0, max_value=24 * 366 * 100)
    project = serializers.CharField(required=False)
    customer = serializers.CharField(required=False)
    min_amount = serializers.DecimalField(required=False, max_digits=16, decimal_places=2)
    min_severity = serializers.ChoiceField(required=False, choices=[s.name.lower() for s in Severity])
    flow = serializers.CharField(required=False)
    search = serializers.CharField(required=False)

    def validate_kind(self, value):
        return _known(value, Kind.values, "kind")

    def validate_status(self, value):
        return _known(value, Status.values, "status")

    def validate_min_severity(self, value):
        return int(Severity[value.upper()])


def _known(value: str, allowed, name: str) -> str:
    unknown = [v for v in value.split(",") if v and v not in allowed]
    if unknown:
        raise serializers.ValidationError(f"Unknown {name}: {', '.join(unknown)}.")
    return value


class CommentInput(serializers.Serializer):
    body = serializers.CharField(max_length=10000)


class ReasonInput(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class IgnoreInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)


class AssignInput(serializers.Serializer):
    owner = serializers.CharField(allow_null=True, help_text="A username, or null to unassign.")


class RecordsInput(serializers.Serializer):
    record_keys = serializers.ListField(child=serializers.CharField(max_length=255), required=False, max_length=5000)


class PayloadInput(serializers.Serializer):
    record_key = serializers.CharField(max_length=255)
    payload = serializers.JSONField()
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class BulkInput(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=MAX_ID), min_length=1,
                                max_length=1000)
    action = serializers.ChoiceField(choices=["acknowledge", "assign", "resolve", "ignore", "reopen"])
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    owner = serializers.CharField(required=False, allow_null=True)


# --- answers, as the OpenAPI document describes them ------------------------------------------------
class HistoryEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    by = serializers.CharField()
    reason = serializers.CharField()
    status = serializers.CharField()
    severity = serializers.IntegerField()
    owner_id = serializers.IntegerField(allow_null=True)


class ExceptionDetailSerializer(ExceptionSerializer):
    records = RecordSerializer(many=True, read_only=True)
    comments = CommentSerializer(many=True, read_only=True)
    history = HistoryEntrySerializer(many=True, read_only=True)

    class Meta(ExceptionSerializer.Meta):
        fields = [*ExceptionSerializer.Meta.fields, "records", "comments", "history"]


class PayloadEditAnswer(serializers.Serializer):
    record_key = serializers.CharField()
    run_item = serializers.IntegerField()
    payload = serializers.JSONField()


class ExceptionReplayPreviewAnswer(serializers.Serializer):
    preview = serializers.ListField(child=serializers.DictField(), help_text="Per record: flow, action, payload.")


class ExceptionReplayAnswer(serializers.Serializer):
    runs = serializers.ListField(child=serializers.IntegerField(), help_text="The replay runs queued.")


class BulkAnswer(serializers.Serializer):
    done = serializers.ListField(child=serializers.IntegerField())
    refused = serializers.DictField(child=serializers.CharField(), help_text="Exception id: why it was refused.")
