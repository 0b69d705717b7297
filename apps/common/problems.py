"""Errors as RFC 9457 problem details (``application/problem+json``): the API's one error shape.

Plain Django only (no DRF import), so middleware can answer with it before DRF is loaded; the API's
exception handler (``apps.common.api``) shapes DRF's errors the same way.
"""

from __future__ import annotations

from http import HTTPStatus

from django.http import JsonResponse
from django.views import defaults

PROBLEM_TYPE = "application/problem+json"


def problem(status_code: int, detail: str, **extensions) -> dict:
    """An RFC 9457 problem: ``type`` is ``about:blank`` (the status says it all), ``title`` the status's
    phrase, ``detail`` what went wrong here; extensions (``errors``, ``field``, ``code``) follow."""
    return {"type": "about:blank", "title": HTTPStatus(status_code).phrase, "status": status_code,
            "detail": detail, **extensions}


def problem_response(status_code: int, detail: str, *, headers: dict | None = None, **extensions) -> JsonResponse:
    """A problem answer outside DRF (middleware, unknown API addresses, server errors)."""
    return JsonResponse(problem(status_code, detail, **extensions), status=status_code, content_type=PROBLEM_TYPE,
                        headers=headers)


# --- answers outside the views: unknown API addresses and server errors are problems too -------------
def not_found(request, exception=None):
    """``handler404``: a problem under ``/api/``, Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return problem_response(404, "No such API address; see /api/v1/ for the list.")
    return defaults.page_not_found(request, exception)


def server_error(request):
    """``handler500``: a problem under ``/api/`` (the error is logged as usual), Django's page elsewhere."""
    if request.path.startswith("/api/"):
        return problem_response(500, "Something went wrong on our side; it has been logged.")
    return defaults.server_error(request)
