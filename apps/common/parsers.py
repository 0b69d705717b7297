"""The API's JSON parser (``DEFAULT_PARSER_CLASSES``): size, depth and NUL limits before any view sees data."""

import codecs
import json

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser

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
