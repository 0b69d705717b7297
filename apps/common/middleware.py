"""Request plumbing shared by every site."""

from __future__ import annotations

from django.http import HttpResponseBadRequest

from apps.common.problems import problem_response
from apps.common.untrusted import has_nul

NUL_MESSAGE = "The request has a NUL character in its address or parameters; remove it."


class RefuseNulMiddleware:
    """Answers 400 to a NUL character in the path, a query parameter or a form field.

    PostgreSQL cannot store or compare text with NUL, so a ``?status=a%00b`` that reaches a filter is a 500;
    no real client sends one. Form fields are checked as well (Django's form fields refuse NUL, but a view
    that reads ``request.POST`` directly would not).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _carries_nul(request):
            if request.path.startswith("/api/"):
                return problem_response(400, NUL_MESSAGE)
            return HttpResponseBadRequest(NUL_MESSAGE, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


def _carries_nul(request) -> bool:
    if has_nul(request.path):
        return True
    params = [request.GET]
    if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
        params.append(request.POST)
    return any(has_nul(key) or any(has_nul(value) for value in values)
               for query in params for key, values in query.lists())
