"""Ops middleware: the health endpoints ahead of everything, and log context and intake timing per request."""

from __future__ import annotations

import time
import uuid

from django.db import connection

from apps.common.logging import bind_log_context, clear_log_context
from apps.ops import metrics
from apps.ops.views import ENDPOINTS

HOOKS_PREFIX = "/api/v1/hooks/"


class OpsEndpointsMiddleware:
    """First in the chain: ``/healthz``, ``/readyz`` and ``/metrics`` answer on any host (a load balancer
    probes by address), over plain HTTP (before the HTTPS redirect), without a session or a tenant lookup."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        clear_log_context()  # a thread serves one request after another: nothing of the last one carries over
        view = ENDPOINTS.get(request.path_info.rstrip("/") or "/")
        if view is None or request.method not in {"GET", "HEAD"}:
            return self.get_response(request)
        connection.set_schema_to_public()
        return view(request)


class RequestContextMiddleware:
    """After the host has picked the tenant: every log line of the request names the tenant and a request id
    (the proxy's ``X-Request-ID`` when it sends one), and webhook deliveries are timed for the metrics."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        tenant = getattr(getattr(request, "tenant", None), "schema_name", None)
        request_id = request.headers.get("X-Request-ID", "")[:64] or uuid.uuid4().hex[:16]
        started = time.perf_counter()
        # Bound until the next request clears it (not reset on the way out), so Django's own request log line,
        # written after the middleware has returned, still carries them.
        bind_log_context(tenant=tenant, request_id=request_id)
        response = self.get_response(request)
        if request.path_info.startswith(HOOKS_PREFIX) and request.method == "POST":
            metrics.WEBHOOK_INTAKE.labels(f"{response.status_code // 100}xx").observe(time.perf_counter() - started)
        response.setdefault("X-Request-ID", request_id)
        return response
