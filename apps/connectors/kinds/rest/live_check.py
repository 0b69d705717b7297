"""Checking live calls against the vendor's OpenAPI document (``openapi.validate: true`` in a manifest), with
openapi-core: a request Weft builds wrong, or an answer the vendor sends off its own document, fails the call with
what differs, instead of landing half-understood data in the hub."""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from apps.common.errors import ErrorCategory
from apps.connectors.errors import ConnectorError


@dataclass
class _Request:
    host_url: str
    path: str
    method: str
    body: bytes | None
    content_type: str
    parameters: RequestParameters = field(default_factory=RequestParameters)


@dataclass
class _Response:
    status_code: int
    data: bytes | None
    content_type: str
    headers: Headers


class OpenAPICheck:
    """A callable the REST client runs on every answered call: ``check(request, response, what)``."""

    def __init__(self, document: dict, base_url: str):
        document = copy.deepcopy(document)
        document["servers"] = [{"url": base_url}]  # the connection's (a sandbox, a test server) stands in
        self.app = OpenAPI.from_dict(document, config=Config(spec_validator_cls=None))

    def __call__(self, request: httpx.Request, response: httpx.Response, what: str) -> None:
        url = urlsplit(str(request.url))
        checked_request = _Request(
            f"{url.scheme}://{url.netloc}", url.path, request.method.lower(), request.content or None,
            request.headers.get("content-type", "").lower(),
            RequestParameters(query=ImmutableMultiDict(parse_qs(url.query, keep_blank_values=True)),
                              header=Headers(list(request.headers.multi_items()))))
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Unsupported scheme type")
            problems = [_line(e) for e in self.app.iter_request_errors(checked_request)
                        if "security" not in type(e).__name__.lower()]
            if response.status_code < 400:
                answer = _Response(response.status_code, response.content or None,
                                   response.headers.get("content-type", "").lower(),
                                   Headers(list(response.headers.multi_items())))
                problems += [_line(e) for e in self.app.iter_response_errors(checked_request, answer)]
        if problems:
            raise ConnectorError(f"{what}: the call does not match the vendor's OpenAPI document: "
                                 + "; ".join(problems), permanent=True, category=ErrorCategory.VALIDATION)


def _line(error: BaseException) -> str:
    parts = [str(error)[:200]]
    cause = error.__cause__
    while cause is not None:
        details = getattr(cause, "schema_errors", None)
        if details:
            parts += [f"at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in details]
        cause = cause.__cause__
    return " — ".join(parts)
