"""The webhook intake's short way through the web stack.

A signed event is POSTed by a machine: it needs the host's tenant, the signature and one INSERT, none of the
sessions, users, CSRF, messages or history the rest of the middleware provides. This middleware sits before the
tenant middleware and answers a new, authentic event itself (202, what the API view answers); anything else
(a refusal, a re-delivery, an unknown host, another method) continues down the full stack unchanged, so every
4xx rule of the API view still holds there.
"""

from __future__ import annotations

import re

from django.http import JsonResponse
from django_tenants.utils import remove_www

from apps.runs.services import MAX_EVENT_BYTES, inbound_event_receive_fast
from apps.tenants.idempotency import HEADER as IDEMPOTENCY_HEADER
from apps.tenants.usage import usage_api_call_tally

_HOOK = re.compile(r"/api/v1/hooks/([^/]+)/")


class WebhookIntakeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        match = _HOOK.fullmatch(request.path_info) if request.method == "POST" else None
        # A sender's Idempotency-Key is honoured by the API's own middleware further down: such requests go there.
        if match is not None and _is_json(request) and _small(request) and IDEMPOTENCY_HEADER not in request.headers:
            stored = _receive(request, match[1])
            if stored is not None:
                return stored
        return self.get_response(request)


def _receive(request, slug: str):
    try:
        host = remove_www(request.get_host().split(":")[0]).lower().rstrip(".")  # as TenantHostMiddleware reads it
    except Exception:  # noqa: BLE001 - a host Django refuses: the full path answers it
        return None
    stored = inbound_event_receive_fast(
        host=host, connection_slug=slug, timestamp=request.headers.get("X-Weft-Timestamp"),
        signature=request.headers.get("X-Weft-Signature"), body=request.body)
    if stored is None:
        return None
    schema_name, event_id = stored
    usage_api_call_tally(schema_name=schema_name)  # a webhook on a customer's domain is an API call it pays for
    return JsonResponse({"status": "accepted", "event": event_id}, status=202)


def _is_json(request) -> bool:
    media_type = request.content_type.lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def _small(request) -> bool:
    length = request.META.get("CONTENT_LENGTH", "")
    return length.isdigit() and int(length) <= MAX_EVENT_BYTES
