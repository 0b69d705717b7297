"""``/healthz``, ``/readyz`` and ``/metrics``: answered on every host, before the host picks a tenant."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from apps.ops import health, metrics

NO_STORE = {"Cache-Control": "no-store"}


def healthz(request: HttpRequest) -> HttpResponse:
    """Alive: the process answers. Touches nothing else, so a database outage never restarts web processes."""
    return JsonResponse({"status": "alive"}, headers=NO_STORE)


def readyz(request: HttpRequest) -> HttpResponse:
    """Ready to take traffic: 200 when the database and broker answer (``degraded`` when no cluster is alive),
    503 otherwise. ``?strict=1`` also answers 503 for a missing cluster, for monitors that page on it."""
    ready, body = health.readiness()
    if request.GET.get("strict") and body["status"] != "ready":
        ready = False
    return JsonResponse(body, status=200 if ready else 503, headers=NO_STORE)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, for a scraper holding ``WEFT_METRICS_TOKEN``. Without a configured token only a
    DEBUG (local) server answers, and only to the machine itself. Anything else is a plain 404."""
    if not _may_scrape(request):
        return HttpResponse("Not found", status=404, content_type="text/plain")
    from prometheus_client import CONTENT_TYPE_LATEST

    return HttpResponse(metrics.exposition(), content_type=CONTENT_TYPE_LATEST, headers=NO_STORE)


def _may_scrape(request: HttpRequest) -> bool:
    token = settings.WEFT_METRICS_TOKEN
    if token:
        offered = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(offered.encode(), token.encode())
    return settings.DEBUG and request.META.get("REMOTE_ADDR") in {"127.0.0.1", "::1"}


ENDPOINTS = {"/healthz": healthz, "/readyz": readyz, "/metrics": metrics_view}
