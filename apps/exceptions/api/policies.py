"""Escalation policies over the API: list, read, create, change, delete the customer's own policies (the
first active one applies; else the partner's default). Writes go through ``apps.exceptions.services``, which
checks ``configuration.change`` and records history naming the caller."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.exceptions import services
from apps.exceptions.models import EscalationPolicy


@extend_schema_field({"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$", "example": "20:00"})
class LocalTime(serializers.TimeField):
    """A local clock time, ``HH:MM`` (in the policy's time zone): no offset, so not an RFC 3339 ``time``."""

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", input_formats=["%H:%M", "%H:%M:%S"], **kwargs)


class PolicySerializer(serializers.ModelSerializer):
    quiet_start = LocalTime(required=False, allow_null=True, help_text="No notifications from (local time).")
    quiet_end = LocalTime(required=False, allow_null=True, help_text="…until (local time).")
    rules = serializers.ListField(child=serializers.DictField(), max_length=100, required=False, help_text=(
        'Each: {"name", "min_age_minutes", "min_severity", "kinds", "min_amount", "min_hours", "raise_to", '
        '"assign_to", "notify", "statuses"}; every condition given must hold (docs/exceptions.md).'))
    email_recipients = serializers.ListField(child=serializers.EmailField(), max_length=50, required=False)

    class Meta:
        model = EscalationPolicy
        fields = ["id", *services.POLICY_FIELDS, "created_at", "updated_at"]
        # Private addresses are allowed in the admin only.
        read_only_fields = ["id", "webhook_allow_private_network", "created_at", "updated_at"]


EXAMPLE = {"name": "Money at risk", "is_active": True, "email_recipients": ["finance@acme.example"],
           "notify_owner": True, "webhook_url": "https://hooks.acme.example/weft", "quiet_start": "20:00",
           "quiet_end": "07:00",
           "timezone": "Europe/Berlin", "rules": [
               {"name": "Over 1,000 at risk for an hour", "min_age_minutes": 60, "min_amount": "1000",
                "raise_to": "high", "notify": True},
               {"name": "Auth failures at once", "kinds": ["auth"], "assign_to": "ops@northwind.example"}]}
EXAMPLES = [OpenApiExample("A policy", value=EXAMPLE, request_only=True),
            OpenApiExample("Saved", value={"id": 1, **EXAMPLE, "webhook_allow_private_network": False,
                                           "created_at": "2026-12-05T09:00:00Z", "updated_at": "2026-12-05T09:00:00Z"},
                           response_only=True, status_codes=["200", "201"])]
SAVED = EXAMPLES[1]


def _values(request, *, partial: bool) -> dict:
    serializer = PolicySerializer(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class EscalationPolicyListApi(APIView):
    """``GET /api/v1/escalation-policies/`` (a short catalogue: not paged), ``POST`` to add one."""

    api_area = "configuration"  # the API key scope its reads need
    write_action = "configuration.change"

    @extend_schema(responses=PolicySerializer(many=True), examples=[SAVED])  # listed: one item shown
    def get(self, request) -> Response:
        return Response(PolicySerializer(EscalationPolicy.objects.order_by("pk"), many=True).data)

    @extend_schema(request=PolicySerializer, responses={201: PolicySerializer}, examples=EXAMPLES)
    def post(self, request) -> Response:
        policy = services.escalation_policy_create(acting_user=request.user, **_values(request, partial=False))
        return Response(PolicySerializer(policy).data, status=status.HTTP_201_CREATED)


class EscalationPolicyDetailApi(APIView):
    api_area = "configuration"  # the API key scope its reads need
    write_action = "configuration.change"

    @extend_schema(responses=PolicySerializer, examples=[SAVED])
    def get(self, request, pk: int) -> Response:
        return Response(PolicySerializer(get_object_or_404(EscalationPolicy, pk=pk)).data)

    @extend_schema(request=PolicySerializer, responses=PolicySerializer, examples=EXAMPLES)
    def patch(self, request, pk: int) -> Response:
        policy = get_object_or_404(EscalationPolicy, pk=pk)
        policy = services.escalation_policy_update(policy=policy, acting_user=request.user,
                                                   **_values(request, partial=True))
        return Response(PolicySerializer(policy).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, pk: int) -> Response:
        services.escalation_policy_delete(policy=get_object_or_404(EscalationPolicy, pk=pk), acting_user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
