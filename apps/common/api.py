"""API plumbing shared by every app."""

import codecs
import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.common.errors import ApplicationError
from apps.common.untrusted import MAX_JSON_DEPTH, UntrustedInputError, check_json_tree


class BodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body is too large."
    default_code = "too_large"


class SafeJSONParser(JSONParser):
    """DRF's JSON parser with limits: a size cap (413), a depth cap, and no NUL characters or infinite
    numbers, all answered with a clear 400 before any view sees the data. The standard parser lets a body
    nested 5,000 levels deep raise RecursionError (a 500) and reads a body of any size into memory."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.WEFT_API_MAX_JSON_BYTES
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) > limit:
            raise BodyTooLarge(f"The JSON body is larger than {limit} bytes.")
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise BodyTooLarge(f"The JSON body is larger than {limit} bytes.")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = json.loads(codecs.decode(raw, encoding), parse_constant=_refuse_constant)
        except UnicodeDecodeError:
            raise exceptions.ParseError(f"The JSON body is not valid {encoding}.") from None
        except RecursionError:
            raise exceptions.ParseError(f"The JSON body is nested more than {MAX_JSON_DEPTH} levels deep.") from None
        except ValueError as error:
            raise exceptions.ParseError(f"JSON parse error - {error}") from None
        try:
            check_json_tree(data, where="The JSON body")
        except UntrustedInputError as error:
            raise exceptions.ParseError(error.message) from None
        return data


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def exception_handler(exc, context):
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


def page_of(serializer_class, name: str):
    """The OpenAPI shape of a page of ``serializer_class`` as the default paginator answers it."""
    return inline_serializer(name, fields={
        "count": serializers.IntegerField(), "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True), "results": serializer_class(many=True),
    })
