"""Outbound webhook subscriptions over the API: subscribe an endpoint to event types (the signing secret is in
the answer to the POST only), change or delete it, and read its deliveries with every attempt. Writes go
through ``apps.exceptions.webhooks``, which checks ``configuration.change`` and records history."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.api import PAGE_PARAMETERS, page_of
from apps.exceptions import webhooks
from apps.exceptions.models import WebhookAttempt, WebhookDelivery, WebhookSubscription


class SubscriptionSerializer(serializers.ModelSerializer):
    event_types = serializers.ListField(child=serializers.ChoiceField(choices=list(webhooks.EVENT_TYPES)),
                                        min_length=1, max_length=len(webhooks.EVENT_TYPES))

    class Meta:
        model = WebhookSubscription
        fields = ["id", "url", "event_types", "description", "is_active", "allow_private_network", "created_at",
                  "updated_at"]
        read_only_fields = ["id", "allow_private_network", "created_at", "updated_at"]  # private: the admin only


class SubscriptionCreated(SubscriptionSerializer):
    secret = serializers.CharField(help_text="The signing secret (whsec_...): shown here once, never again.")

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "secret"]


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["number", "attempted_at", "status_code", "error", "response_body", "duration_ms"]


class DeliverySerializer(serializers.ModelSerializer):
    attempt_log = AttemptSerializer(source="attempt_rows", many=True)

    class Meta:
        model = WebhookDelivery
        fields = ["id", "message_id", "event_type", "status", "attempts", "next_attempt_at", "delivered_at",
                  "last_error", "created_at", "payload", "attempt_log"]


EXAMPLE = {"url": "https://hooks.partner.example/weft", "event_types": ["exception.opened", "exception.escalated",
                                                                       "run.failed"],
           "description": "Partner on-call"}
EXAMPLES = [OpenApiExample("Subscribe", value=EXAMPLE, request_only=True),
            OpenApiExample("Subscribed (the secret is shown this once)", response_only=True, status_codes=["201"],
                           value={"id": 1, **EXAMPLE, "is_active": True, "allow_private_network": False,
                                  "created_at": "2026-12-05T09:00:00Z", "updated_at": "2026-12-05T09:00:00Z",
                                  "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})]
_SUBSCRIPTION = {"id": 1, **EXAMPLE, "is_active": True, "allow_private_network": False,
                 "created_at": "2026-12-05T09:00:00Z", "updated_at": "2026-12-05T09:00:00Z"}
SUBSCRIPTION = [OpenApiExample("A subscription", value=_SUBSCRIPTION, response_only=True)]
PAUSE = [OpenApiExample("Pause", value={"is_active": False}, request_only=True),
         OpenApiExample("Paused", value={**_SUBSCRIPTION, "is_active": False, "updated_at": "2026-12-05T10:00:00Z"},
                        response_only=True)]
_DELIVERY = {"id": 311, "message_id": "msg_2Jq8YvQm", "event_type": "exception.opened", "status": "delivered",
             "attempts": 2, "next_attempt_at": None, "delivered_at": "2026-12-05T09:01:05Z",
             "last_error": "", "created_at": "2026-12-05T09:00:00Z",
             "payload": {"type": "exception.opened", "customer": "acme", "exception": {
                 "id": 42, "kind": "validation", "title": "Time entries over the daily hours limit",
                 "severity": "high"}},
             "attempt_log": [{"number": 1, "attempted_at": "2026-12-05T09:00:01Z", "status_code": 503,
                              "error": "HTTP 503", "response_body": "Service Unavailable", "duration_ms": 180},
                             {"number": 2, "attempted_at": "2026-12-05T09:01:05Z", "status_code": 200, "error": "",
                              "response_body": "ok", "duration_ms": 95}]}
DELIVERIES = [OpenApiExample("A page of deliveries", response_only=True, value={
    "count": 1, "next": None, "previous": None, "results": [_DELIVERY]})]


def _values(request, *, partial: bool) -> dict:
    serializer = SubscriptionSerializer(data=request.data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class _Subscriptions(APIView):
    api_area = "configuration"  # the API key scope its reads need
    write_action = "configuration.change"


class SubscriptionListApi(_Subscriptions):
    """``GET /api/v1/webhook-subscriptions/`` (a short catalogue: not paged); ``POST`` subscribes an endpoint."""

    @extend_schema(responses=SubscriptionSerializer(many=True), examples=SUBSCRIPTION)  # listed: one item
    def get(self, request) -> Response:
        return Response(SubscriptionSerializer(WebhookSubscription.objects.order_by("pk"), many=True).data)

    @extend_schema(request=SubscriptionSerializer, responses={201: SubscriptionCreated}, examples=EXAMPLES)
    def post(self, request) -> Response:
        issued = webhooks.subscription_create(acting_user=request.user, **_values(request, partial=False))
        return Response({**SubscriptionSerializer(issued.subscription).data, "secret": issued.secret},
                        status=status.HTTP_201_CREATED)


class SubscriptionDetailApi(_Subscriptions):
    @extend_schema(responses=SubscriptionSerializer, examples=SUBSCRIPTION)
    def get(self, request, pk: int) -> Response:
        return Response(SubscriptionSerializer(get_object_or_404(WebhookSubscription, pk=pk)).data)

    @extend_schema(request=SubscriptionSerializer, responses=SubscriptionSerializer, examples=PAUSE)
    def patch(self, request, pk: int) -> Response:
        subscription = webhooks.subscription_update(subscription=get_object_or_404(WebhookSubscription, pk=pk),
                                                    acting_user=request.user, **_values(request, partial=True))
        return Response(SubscriptionSerializer(subscription).data)

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, pk: int) -> Response:
        webhooks.subscription_delete(subscription=get_object_or_404(WebhookSubscription, pk=pk),
                                     acting_user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DeliveryListApi(_Subscriptions):
    """``GET /api/v1/webhook-subscriptions/<id>/deliveries/``: newest first, each with every attempt."""

    @extend_schema(parameters=PAGE_PARAMETERS, responses=page_of(DeliverySerializer, "WebhookDeliveryPage"),
                   examples=DELIVERIES)
    def get(self, request, pk: int) -> Response:
        subscription = get_object_or_404(WebhookSubscription, pk=pk)
        deliveries = subscription.deliveries.prefetch_related("attempt_rows").order_by("-pk")
        paginator = self.settings.DEFAULT_PAGINATION_CLASS()
        page = paginator.paginate_queryset(deliveries, request, view=self)
        return paginator.get_paginated_response(DeliverySerializer(page, many=True).data)
