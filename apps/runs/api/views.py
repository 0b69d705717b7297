"""Inbound webhooks: other systems push signed events; the signature is the only authentication."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.runs import services
from apps.runs.api import examples
from apps.runs.api.serializers import HookAnswer
from apps.runs.rest_webhooks import vendor_event_receive


def require_json_body(request) -> None:
    """Events are JSON (application/json, or a +json type); anything else is a 415 before the body is read."""
    media_type = request.content_type.split(";")[0].strip().lower()
    if media_type != "application/json" and not (media_type.startswith("application/") and
                                                  media_type.endswith("+json")):
        raise UnsupportedMediaType(media_type or "(none)", detail="Send the event as application/json.")


class InboundWebhookApi(APIView):
    """``POST /api/v1/hooks/<connection>/``: store a signed event, answer 202 (new) or 200 (re-delivery).

    No session or basic auth (so no CSRF check either): the HMAC signature under the connection's
    secret proves the sender. The raw body is what was signed, so it is read as bytes, never parsed first.
    """

    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(request={"application/json": OpenApiTypes.OBJECT}, auth=[],
                   responses={202: HookAnswer, 200: HookAnswer}, examples=examples.HOOK,
                   parameters=[OpenApiParameter("X-Weft-Timestamp", str, OpenApiParameter.HEADER),
                               OpenApiParameter("X-Weft-Signature", str, OpenApiParameter.HEADER,
                                                description="sha256=<hex HMAC of '<timestamp>.<body>'>"),
                               OpenApiParameter("webhook-id", str, OpenApiParameter.HEADER,
                                                description="Standard Webhooks, instead of the X-Weft-* pair"),
                               OpenApiParameter("webhook-timestamp", str, OpenApiParameter.HEADER),
                               OpenApiParameter("webhook-signature", str, OpenApiParameter.HEADER,
                                                description="v1,<base64 HMAC of '<id>.<timestamp>.<body>'>")])
    def post(self, request, connection_slug: str) -> Response:
        require_json_body(request)  # checked first, the same for every slug
        headers = request.headers
        standard = "X-Weft-Signature" not in headers and "webhook-signature" in headers
        receipt = services.inbound_event_receive(
            connection_slug=connection_slug, body=request.body,
            timestamp=headers.get("webhook-timestamp" if standard else "X-Weft-Timestamp"),
            signature=headers.get("webhook-signature" if standard else "X-Weft-Signature"),
            message_id=headers.get("webhook-id", "") if standard else None,
        )
        if receipt.created:
            return Response({"status": "accepted", "event": receipt.event.event_id}, status=status.HTTP_202_ACCEPTED)
        return Response({"status": "duplicate", "event": receipt.event.event_id}, status=status.HTTP_200_OK)

    def handle_exception(self, exc) -> Response:
        response = super().handle_exception(exc)
        if response.status_code == status.HTTP_401_UNAUTHORIZED:
            response["WWW-Authenticate"] = 'Weft-Signature realm="webhooks"'
        return response


class VendorWebhookApi(InboundWebhookApi):
    """``POST /api/v1/hooks/vendor/<connection>/``: events in the vendor's own format and signature scheme, as the
    connection's REST manifest describes them; 202 when any event was new, 200 when all were re-deliveries."""

    @extend_schema(request={"application/json": OpenApiTypes.OBJECT}, auth=[],
                   responses={202: HookAnswer, 200: HookAnswer}, examples=examples.VENDOR_HOOK)
    def post(self, request, connection_slug: str) -> Response:
        require_json_body(request)
        receipts = vendor_event_receive(connection_slug=connection_slug, headers=request.headers,
                                        method=request.method, url=request.build_absolute_uri(), body=request.body)
        new = [r.event.event_id for r in receipts if r.created]
        return Response({"status": "accepted" if new else "duplicate", "events": [r.event.event_id for r in receipts]},
                        status=status.HTTP_202_ACCEPTED if new else status.HTTP_200_OK)
