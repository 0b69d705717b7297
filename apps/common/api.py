"""API plumbing shared by every app: errors as problems, pagination, OpenAPI helpers.

The JSON parser lives in ``apps.common.parsers``: DRF imports it while loading ``rest_framework.views``,
which this module imports, so keeping it here made importing this module first a circular import.
"""


from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, inline_serializer
from rest_framework import exceptions, pagination, serializers, status
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.common.errors import ApplicationError
from apps.common.problems import PROBLEM_TYPE, problem


def exception_handler(exc, context):
    """Every error the API answers, as an RFC 9457 problem (``application/problem+json``)."""
    response = _error_response(exc, context)
    if response is not None:
        response.data = _as_problem(response.status_code, response.data, exc)
        request = context.get("request")
        renderer = getattr(request, "accepted_renderer", None)
        if renderer is not None and not isinstance(renderer, JSONRenderer | BrowsableAPIRenderer):
            # A CSV download that fails is still a problem in JSON (a CSV renderer would write an empty body).
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), PROBLEM_TYPE
            renderer = request.accepted_renderer
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
CURSOR_DESCRIPTION = ("Cursor pagination: send `cursor=` (empty) for the first page, then follow `next`. Pages stay "
                      "stable while rows are added, cost the same at any depth and carry no `count`; "
                      "newest first (by id).")


def _page_size(request, default: int) -> int:
    """``page_size`` from the query: a whole number from 1 to ``MAX_PAGE_SIZE``, else a 400 naming it."""
    raw = request.query_params.get("page_size")
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or len(raw) > 6 or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise exceptions.ValidationError({"page_size": [f"A whole number from 1 to {MAX_PAGE_SIZE}."]})
    return int(raw)


class CursorPagination(pagination.CursorPagination):
    """Keyset pages over ``-pk`` (unique, so no row is skipped or repeated when rows are added meanwhile)."""

    ordering = "-pk"
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request) -> int:
        return _page_size(request, self.page_size)


class PageNumberPagination(pagination.PageNumberPagination):
    """Every paginated list: ``page`` and ``page_size`` (default ``PAGE_SIZE``, at most ``MAX_PAGE_SIZE``).
    A ``page_size`` that is no whole number in that range is a 400 naming it, not silently something else.

    With a ``cursor`` parameter (empty for the first page) the same list is paged by cursor instead
    (``CursorPagination``): ``next``/``previous`` links, no ``count``, no deep-page cost. Lists of any size
    (runs, the ledger, exceptions) walk that way; ``page`` stays for people jumping to page 3."""

    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE
    page_size_query_description = f"Results per page: 1 to {MAX_PAGE_SIZE} (default 50)."
    cursor_query_param = "cursor"

    def paginate_queryset(self, queryset, request, view=None):
        self.by_cursor = CursorPagination() if self.cursor_query_param in request.query_params else None
        if self.by_cursor is not None:
            return self.by_cursor.paginate_queryset(queryset, request, view)
        return super().paginate_queryset(queryset, request, view)

    def get_paginated_response(self, data):
        if getattr(self, "by_cursor", None) is not None:
            return self.by_cursor.get_paginated_response(data)
        return super().get_paginated_response(data)

    def get_paginated_response_schema(self, schema: dict) -> dict:
        answer = super().get_paginated_response_schema(schema)
        answer["required"] = ["next", "previous", "results"]  # no count when paged by cursor
        answer["properties"]["count"]["description"] = "Every matching row (page-number paging only)."
        return answer

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        bounds = {"page": {"minimum": 1}, "page_size": {"minimum": 1, "maximum": self.max_page_size}}
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return [*parameters, {"name": self.cursor_query_param, "required": False, "in": "query",
                              "description": CURSOR_DESCRIPTION, "schema": {"type": "string"}}]

    def get_page_size(self, request) -> int:
        return _page_size(request, self.page_size)


PAGE_PARAMETERS = [
    OpenApiParameter("page", {"type": "integer", "minimum": 1}, description="Which page (from 1)."),
    OpenApiParameter("page_size", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
                     description=PageNumberPagination.page_size_query_description),
    OpenApiParameter("cursor", str, description=CURSOR_DESCRIPTION),
]


def page_of(serializer_class, name: str):
    """The OpenAPI shape of a page of ``serializer_class`` as the default paginator answers it (by page
    number with ``count``, or by cursor without)."""
    return inline_serializer(name, fields={
        "count": serializers.IntegerField(required=False), "next": serializers.URLField(allow_null=True),
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


PROBLEM_EXAMPLES = {
    "400": problem(400, "The request has invalid values; see errors.", errors={"name": ["This field is required."]}),
    "401": problem(401, "Invalid, expired or revoked API key.", code="authentication_failed"),
    "403": problem(403, "You do not have permission to perform this action.", code="permission_denied"),
    "404": problem(404, "Not found.", code="not_found"),
    "429": problem(429, "Request was throttled. Expected available in 12 seconds.", code="throttled"),
}


def problem_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: the error answers every operation may give, as problems."""
    _any_or_null_is_any(result)
    result.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for operations in result["paths"].values():
        for method, operation in operations.items():
            errors = {**ERRORS, **(POST_ERRORS if method == "post" else {})}
            for code, why in errors.items():
                content = {"schema": {"$ref": "#/components/schemas/Problem"}}
                if code in PROBLEM_EXAMPLES:
                    content["examples"] = {"Problem": {"value": PROBLEM_EXAMPLES[code]}}
                operation["responses"].setdefault(code, {"description": why, "content": {PROBLEM_TYPE: content}})
            if method == "post":
                operation.setdefault("parameters", []).append(IDEMPOTENCY_PARAMETER)
    return result


def _any_or_null_is_any(node) -> None:
    """A nullable JSON field comes out as ``oneOf: [{}, {"type": "null"}]``, which no null can satisfy
    (it matches both): any value already includes null, so it is written as ``{}``."""
    if isinstance(node, dict):
        choices = node.get("oneOf")
        if isinstance(choices, list) and {} in choices and {"type": "null"} in choices and len(choices) == 2:
            del node["oneOf"]
        for value in node.values():
            _any_or_null_is_any(value)
    elif isinstance(node, list):
        for value in node:
            _any_or_null_is_any(value)


# --- examples in the OpenAPI document (every operation shows at least one) ---------------------------
def example_answer(summary: str, value, *, status: int = 200) -> OpenApiExample:
    """A response example for one status code (the answer's body as the client sees it)."""
    return OpenApiExample(summary, value=value, response_only=True, status_codes=[str(status)])


def example_request(summary: str, value) -> OpenApiExample:
    """A request body example."""
    return OpenApiExample(summary, value=value, request_only=True)


def example_page(summary: str, *results, path: str = "", count: int | None = None, cursor: bool = False,
                 status: int = 200) -> OpenApiExample:
    """A page of ``results`` as the paginators answer it: the second page, so ``next`` and ``previous`` are
    both links (by page number with ``count``; by cursor without)."""
    url = f"https://acme.northwind.example/api/v1/{path}"
    if cursor:
        links = {"next": f"{url}?cursor=cD0yMDI2LTEyLTA1", "previous": f"{url}?cursor=cj0xJnA9MjAyNi0xMi0wNQ"}
    else:
        links = {"count": count or len(results) + 50, "next": f"{url}?page=3", "previous": f"{url}?page=1"}
    return example_answer(summary, {**links, "results": list(results)}, status=status)
