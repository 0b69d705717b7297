"""Connections over the API. Secrets go in (write-only) and never come out: not even masked."""

from rest_framework import serializers

from apps.connectors.models import Connection


class ConnectionSerializer(serializers.ModelSerializer):
    """The list view: what a person scanning connections needs."""

    has_credentials = serializers.BooleanField(read_only=True)

    class Meta:
        model = Connection
        fields = ["name", "slug", "kind", "is_enabled", "health_status", "last_checked_at", "has_credentials"]
        read_only_fields = fields


class ConnectionDetailSerializer(ConnectionSerializer):
    class Meta(ConnectionSerializer.Meta):
        fields = [
            *ConnectionSerializer.Meta.fields, "description", "settings", "allow_private_network",
            "last_check_message", "credentials_updated_at", "created_at", "updated_at",
        ]
        read_only_fields = fields


class SecretText(serializers.CharField):
    """Text only: a number or list sent as a secret is a mistake, not something to coerce."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


def _credentials_field(**kwargs) -> serializers.DictField:
    # Blank values keep the stored secret, as in the admin form.
    return serializers.DictField(
        child=SecretText(allow_blank=True, trim_whitespace=False), write_only=True, **kwargs,
        help_text="Secrets as text values, e.g. {\"signing_secret\": \"…\"}. Stored encrypted; never shown again.",
    )


class ConnectionCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    slug = serializers.SlugField(max_length=60, required=False, help_text="Default: made from the name.")
    kind = serializers.CharField(max_length=40)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    settings = serializers.DictField(required=False, default=dict)
    allow_private_network = serializers.BooleanField(required=False, default=False)
    credentials = _credentials_field(required=False)


class ConnectionUpdateSerializer(serializers.Serializer):
    """PATCH: only what is sent changes. Slug and kind are fixed: senders and flows refer to them."""

    name = serializers.CharField(max_length=120, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    is_enabled = serializers.BooleanField(required=False)
    settings = serializers.DictField(required=False)
    allow_private_network = serializers.BooleanField(required=False)
    credentials = _credentials_field(required=False)


class ConnectionTestResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    message = serializers.CharField()
