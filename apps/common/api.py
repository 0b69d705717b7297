"""API plumbing shared by every app: errors as problems, pagination, OpenAPI helpers.

The JSON parser lives in ``apps.common.parsers``: DRF imports it while loading ``rest_framework.views``,
which this module imports, so keeping it here made importing this module first a circular import.
"""


from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import exceptions, pagination, serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.common.errors import ApplicationError
from apps.common.problems import PROBLEM_TYPE, problem


def exception_handler(exc, context):
    """Every error the API answers, as an RFC 9457 problem (``application/problem+json``)."""
    response = _error_response(exc, context)
    if response is not None:
        response.data = _as_problem(response.status_code, response.data, exc)
        renderer = getattr(context.get("request"), "accepted_renderer", None)
        if renderer is None or isinstance(renderer, JSONRenderer):  # the browsable API keeps its HTML page
            response.content_type = PROBLEM_TYPE
    return response


def _as_problem(status_code: int, data, exc) -> dict:
    if isinstance(exc, exceptions.ValidationError) or not (isinstance(data, dict) and "detail" in data):
        return problem(status_code, "The request has invalid values; see errors.", errors=data)
    extensions = {k: v for k, v in data.items() if k != "detail" and k not in ("type", "title", "status")}
    code = getattr(data["detail"], "code", None)
    if code and "code" not in extensions:
        extensions["code"] = code
    return problem(status_code, str(data["detail"]), **extensions)


def _error_response(exc, context):
    """DRF's handler, plus domain errors and oversized bodies as clear 4xx answers."""
    if isinstance(exc, ApplicationError):
        return Response({"detail": exc.message, **exc.extra}, status=exc.status_code)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"detail": "Request body is too large."}, status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
        )
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(detail=exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
    return drf_exception_handler(exc, context)


MAX_PAGE_SIZE = 500


class PageNumberPagination(pagination.PageNumberPagination):
    """Every paginated list: ``page`` and ``page_size`` (default ``PAGE_SIZE``, at most ``MAX_PAGE_SIZE``).
    A ``page_size`` that is no whole number in that range is a 400 naming it, not silently something else."""

    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    page_size_query_description = f"Results per page: 1 to {MAX_PAGE_SIZE} (default 50)."

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return self.page_size
        if not raw.isdigit() or len(raw) > 6 or not 1 <= int(raw) <= self.max_page_size:
            raise exceptions.ValidationError({"page_size": [f"A whole number from 1 to {self.max_page_size}."]})
        return int(raw)


PAGE_PARAMETERS = [
    OpenApiParameter("page", int, description="Which page (from 1)."),
    OpenApiParameter("page_size", int, description=PageNumberPagination.page_size_query_description),
]


def page_of(serializer_class, name: str):
    """The OpenAPI shape of a page of ``serializer_class`` as the default paginator answers it."""
    return inline_serializer(name, fields={
        "count": serializers.IntegerField(), "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True), "results": serializer_class(many=True),
    })


# --- the OpenAPI document: every operation's errors, and Idempotency-Key on POSTs --------------------
PROBLEM_SCHEMA = {
    "type": "object", "required": ["type", "title", "status", "detail"],
    "description": "An RFC 9457 problem. `errors` holds a 400's per-field messages.",
    "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                   "detail": {"type": "string"}, "errors": {}, "code": {"type": "string"}},
}
ERRORS = {"400": "Invalid request (a problem; `errors` per field)", "401": "No, or bad, credentials",
          "403": "Not allowed: the key's scope, the role or the plan", "404": "No such object",
          "405": "Method not allowed", "413": "Body too large", "415": "Unsupported media type",
          "429": "Rate limit: see Retry-After"}
POST_ERRORS = {"409": "A request with this Idempotency-Key is still being answered",
               "422": "This Idempotency-Key was used for a different request"}
IDEMPOTENCY_PARAMETER = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Any unique text (a UUID): a retry with the same key gets the first answer (24 hours).",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
}


def problem_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: the error answers every operation may give, as problems."""
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    as_problem = {PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in result["paths"].values():
        for method, operation in operations.items():
            errors = {**ERRORS, **(POST_ERRORS if method == "post" else {})}
            for code, why in errors.items():
                operation["responses"].setdefault(code, {"description": why, "content": as_problem})
            if method == "post":
                operation.setdefault("parameters", []).append(IDEMPOTENCY_PARAMETER)
    return result
