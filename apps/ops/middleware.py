"""Ops middleware: the health endpoints ahead of everything, and log context and intake timing per request."""

from __future__ import annotations

import time
import uuid

from django.db import connection

from apps.common.logging import bind_log_context, clear_log_context, current_log_context
from apps.ops import metrics
from apps.ops.views import ENDPOINTS

HOOKS_PREFIX = "/api/v1/hooks/"


class OpsEndpointsMiddleware:
    """First in the chain: ``/healthz``, ``/readyz`` and ``/metrics`` answer on any host (a load balancer
    probes by address), over plain HTTP (before the HTTPS redirect), without a session or a tenant lookup.
    Every other request gets a request id for its log lines and answer; webhook deliveries are timed."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        clear_log_context()  # a thread serves one request after another: nothing of the last one carries over
        # The proxy's X-Request-ID when it sends one. Bound until the next request clears it (not reset on the way
        # out), so Django's own request log line, written after the middleware has returned, still carries it.
        bind_log_context(request_id=request.headers.get("X-Request-ID", "")[:64] or uuid.uuid4().hex[:16])
        view = ENDPOINTS.get(request.path_info.rstrip("/") or "/")
        if view is not None and request.method in {"GET", "HEAD"}:
            connection.set_schema_to_public()
            return view(request)
        started = time.perf_counter()
        response = self.get_response(request)
        if request.path_info.startswith(HOOKS_PREFIX) and request.method == "POST":  # the whole way through
            metrics.WEBHOOK_INTAKE.labels(f"{response.status_code // 100}xx").observe(time.perf_counter() - started)
        response.setdefault("X-Request-ID", current_log_context().get("request_id", ""))
        return response


class RequestContextMiddleware:
    """After the host has picked the tenant: every later log line of the request names it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        bind_log_context(tenant=getattr(getattr(request, "tenant", None), "schema_name", None))
        return self.get_response(request)
