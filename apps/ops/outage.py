"""Outages answered honestly: while PostgreSQL (or the Redis broker) cannot be reached, a request answers
503 with ``Retry-After`` instead of 500, so a webhook sender or an API client knows to come back.

Django turns an exception into a 500 inside each middleware's wrapper, so no outer middleware ever sees the
exception itself. ``got_request_exception`` is sent while it is being handled: the receiver marks the request
when the exception is one of a store being unreachable, and ``OutageMiddleware`` (second in the chain, so it
wraps the tenant lookup, sessions and every view) swaps that 500 for the 503. The answer is plain text or
JSON, never a rendered page: a template's context processors would ask the same database.
"""

from __future__ import annotations

import sys

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

from apps.common.problems import problem_response

MARK = "weft_store_unavailable"
MESSAGE = "Weft cannot reach its database right now; nothing was stored. Please retry shortly."


def _unavailable_errors() -> tuple[type[BaseException], ...]:
    import psycopg

    errors: tuple[type[BaseException], ...] = (OperationalError, InterfaceError, psycopg.OperationalError,
                                               psycopg.InterfaceError)
    try:  # the broker when workers run on several hosts (WEFT_BROKER_URL)
        import redis.exceptions

        errors += (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
    except ImportError:  # Redis is optional; without it the ORM broker is the database
        pass
    return errors


def is_unavailable(error: BaseException | None) -> bool:
    """A store could not be reached or gave up on the statement (connection lost, refused, pool exhausted,
    deadlock, statement cancelled): a condition that passes, which the caller should retry."""
    return error is not None and isinstance(error, _unavailable_errors())


def request_exception_mark(sender, request: HttpRequest | None = None, **kwargs) -> None:
    """``got_request_exception`` receiver: remember on the request that its 500 was an outage."""
    if request is not None and is_unavailable(sys.exc_info()[1]):
        setattr(request, MARK, True)


def unavailable_response(request: HttpRequest) -> HttpResponse:
    retry_after = str(settings.WEFT_OUTAGE_RETRY_AFTER_SECONDS)
    headers = {"Retry-After": retry_after, "Cache-Control": "no-store"}
    if request.path_info.startswith("/api/") or "json" in request.headers.get("Accept", ""):
        return problem_response(503, MESSAGE, retry_after=int(retry_after), headers=headers)
    return HttpResponse(MESSAGE, status=503, content_type="text/plain; charset=utf-8", headers=headers)


class OutageMiddleware:
    """A 500 caused by an unreachable database or broker becomes 503 with ``Retry-After``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 500 and getattr(request, MARK, False):
            return unavailable_response(request)
        return response
