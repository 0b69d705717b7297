"""Check outbound vendor requests (and the responses tests script back) against the vendors' OpenAPI specs.

Specs live in tests/data/specs (see the README there) and are parsed once per process: the Xero Accounting
spec is ~900 KB. They are loaded with openapi-core's spec validator turned off, because two of them fail it
(quirks, worked around here rather than by editing the vendor files):
- Harvest writes response codes as bare YAML integers (``200:``), which crash the spec validator and which
  openapi-core would not find by their string name: keys are turned into strings on load. Harvest also
  uses OpenAPI 3.1's ``type: 'null'`` inside a 3.0.1 document (TimeEntry, Expense).
- Xero Accounting has ``default: 'false'`` on a boolean.

URLs are matched against the spec's server, so pass the vendor's real URL
(``https://api.harvestapp.com/v2/clients``); a bare path (``/clients``) is joined to that server.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

SPEC_DIR = Path(__file__).resolve().parents[1] / "data" / "specs"
SPEC_FILES = {
    "harvest": SPEC_DIR / "harvest" / "harvest-openapi.yaml",
    "xero_accounting": SPEC_DIR / "xero" / "xero_accounting.yaml",
    "xero_projects": SPEC_DIR / "xero" / "xero-projects.yaml",
    "xero_payroll_uk": SPEC_DIR / "xero" / "xero-payroll-uk.yaml",
    "hubspot_companies": SPEC_DIR / "hubspot" / "hubspot_crm_companies.oas.json",
    "hubspot_deals": SPEC_DIR / "hubspot" / "hubspot_crm_deals.oas.json",
    "hubspot_owners": SPEC_DIR / "hubspot" / "hubspot_crm_owners.oas.json",
    "pipedrive": SPEC_DIR / "pipedrive" / "pipedrive.oas.yaml",
    "finch": SPEC_DIR / "finch" / "finch.oas.json",
    "quickbooks": SPEC_DIR / "quickbooks" / "qbo.oas.json",
}


def _string_keys(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(key): _string_keys(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_string_keys(value) for value in node]
    return node


@functools.cache
def spec_document(spec_name: str) -> dict:
    """The parsed spec as a plain dict (keys as strings), cached for the session."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C loader parses Xero's 900 KB ~10x faster
    with SPEC_FILES[spec_name].open(encoding="utf-8") as handle:
        return _string_keys(yaml.load(handle, Loader=loader))


@functools.cache
def spec(spec_name: str) -> OpenAPI:
    """The openapi-core application for one spec, built once per session."""
    return OpenAPI.from_dict(spec_document(spec_name), config=Config(spec_validator_cls=None))


def server_url(spec_name: str) -> str:
    """The vendor base URL the spec declares, e.g. ``https://api.harvestapp.com/v2``."""
    return spec_document(spec_name)["servers"][0]["url"].rstrip("/")


@dataclass
class _OpenAPIRequest:
    """An httpx.Request seen through openapi-core's Request protocol."""

    host_url: str
    path: str
    method: str
    body: bytes | None
    content_type: str
    parameters: RequestParameters = field(default_factory=RequestParameters)

    @classmethod
    def from_httpx(cls, request: httpx.Request) -> _OpenAPIRequest:
        url = urlsplit(str(request.url))
        return cls(
            host_url=f"{url.scheme}://{url.netloc}",
            path=url.path,
            method=request.method.lower(),
            body=request.content or None,
            content_type=request.headers.get("content-type", "").lower(),  # no default: a body must say its type
            parameters=RequestParameters(
                query=ImmutableMultiDict(parse_qs(url.query, keep_blank_values=True)),
                header=Headers(list(request.headers.multi_items())),
            ),
        )


@dataclass
class _OpenAPIResponse:
    """An httpx.Response seen through openapi-core's Response protocol."""

    status_code: int
    data: bytes | None
    content_type: str
    headers: Headers

    @classmethod
    def from_httpx(cls, response: httpx.Response) -> _OpenAPIResponse:
        return cls(
            status_code=response.status_code,
            data=response.read() or None,
            content_type=response.headers.get("content-type", "").lower(),
            headers=Headers(list(response.headers.multi_items())),
        )


def _describe(error: BaseException) -> str:
    """One line per problem, following openapi-core's cause chain down to the jsonschema messages."""
    headline = str(error)
    if len(headline) > 300:  # openapi-core repeats the whole rejected value; the details below name the field
        headline = headline[:300] + "..."
    parts = [f"{type(error).__name__}: {headline}"]
    cause = error.__cause__
    while cause is not None:
        schema_errors = getattr(cause, "schema_errors", None)
        if schema_errors:
            parts += [f"  at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in schema_errors]
        else:
            parts.append(f"  {type(cause).__name__}: {cause}")
        cause = cause.__cause__
    return "\n".join(parts)


def _oauth2_errors(spec_name: str, request: _OpenAPIRequest) -> Iterator[str]:
    """openapi-core skips OAuth2 schemes (it only warns); Xero's real API needs ``Authorization: Bearer``."""
    document = spec_document(spec_name)
    schemes = document.get("components", {}).get("securitySchemes", {})
    if not any(scheme.get("type") == "oauth2" for scheme in schemes.values()):
        return
    for scheme in schemes.values():  # an API key the document also accepts (Pipedrive's api_token) will do
        if scheme.get("type") == "apiKey" and (
                request.parameters.query.get(scheme.get("name")) or request.parameters.header.get(scheme.get("name"))):
            return
    if not request.parameters.header.get("Authorization", "").startswith("Bearer "):
        yield "SecurityError: OAuth2 API called without an 'Authorization: Bearer <token>' header"


def request_errors(spec_name: str, request: httpx.Request) -> list[str]:
    """Everything the spec says is wrong with this request (empty when it conforms)."""
    openapi_request = _OpenAPIRequest.from_httpx(request)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Unsupported scheme type")
        errors = [_describe(e) for e in spec(spec_name).iter_request_errors(openapi_request)]
    return errors + list(_oauth2_errors(spec_name, openapi_request))


def response_errors(spec_name: str, request: httpx.Request, response: httpx.Response) -> list[str]:
    """Everything the spec says is wrong with this response to this request."""
    errors = spec(spec_name).iter_response_errors(
        _OpenAPIRequest.from_httpx(request), _OpenAPIResponse.from_httpx(response)
    )
    return [_describe(e) for e in errors]


def build_request(
    spec_name: str, method: str, url: str, headers: Mapping[str, str] | None = None, body: Any = None
) -> httpx.Request:
    """An httpx.Request for the vendor; ``body`` is bytes/str as sent, or a dict/list sent as JSON."""
    if url.startswith("/"):
        url = server_url(spec_name) + url
    if body is None or isinstance(body, bytes | str):
        return httpx.Request(method, url, headers=headers, content=body)
    return httpx.Request(method, url, headers=headers, json=body)


def validate_request(
    spec_name: str, method: str, url: str, headers: Mapping[str, str] | None = None, body: Any = None
) -> None:
    """Raise AssertionError naming every way this request breaks the vendor's spec."""
    request = build_request(spec_name, method, url, headers, body)
    _fail_if(request_errors(spec_name, request), f"{spec_name} request {method} {request.url}")


def validate_response(spec_name: str, request: httpx.Request, response: httpx.Response) -> None:
    """Raise AssertionError naming every way this response breaks the vendor's spec."""
    errors = response_errors(spec_name, request, response)
    _fail_if(errors, f"{spec_name} response {response.status_code} to {request.method} {request.url}")


def _fail_if(errors: list[str], what: str) -> None:
    if errors:
        raise AssertionError(f"{what} does not match the vendor spec:\n" + "\n".join(errors))


Handler = Callable[[httpx.Request], httpx.Response]


class SpecCheckedTransport(httpx.MockTransport):
    """A fake vendor server: every request is checked against the spec before ``handler`` scripts the answer.

    Responses below 400 are checked against the spec too. Error responses (4xx/5xx) are not by default:
    what tests script there (429 with Retry-After, an HTML 502 page from a proxy) is real vendor behaviour
    the specs do not describe; pass ``check_error_responses=True`` to hold them to the spec as well.

    A violation raises AssertionError out of ``client.send()`` and is also kept in ``violations``, so a test
    still sees it when the connector under test catches broad exceptions: call ``assert_clean()``.
    """

    def __init__(self, spec_name: str, handler: Handler, *, check_error_responses: bool = False):
        spec(spec_name)  # parse now, not inside the first request
        self.spec_name = spec_name
        self.check_error_responses = check_error_responses
        self.requests: list[httpx.Request] = []
        self.violations: list[str] = []
        self._handler = handler
        super().__init__(self._checked)

    def _checked(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self._record(request_errors(self.spec_name, request), f"request {request.method} {request.url}")
        response = self._handler(request)
        if response.status_code < 400 or self.check_error_responses:
            errors = response_errors(self.spec_name, request, response)
            self._record(errors, f"scripted response {response.status_code} to {request.method} {request.url}")
        return response

    def _record(self, errors: list[str], what: str) -> None:
        if errors:
            message = f"{self.spec_name} {what} does not match the vendor spec:\n" + "\n".join(errors)
            self.violations.append(message)
            raise AssertionError(message)

    def assert_clean(self) -> None:
        """Fail if any request or scripted response broke the spec, even if the caller swallowed the error."""
        assert not self.violations, "\n\n".join(self.violations)


def spec_checked_transport(
    spec_name: str, handler: Handler, *, check_error_responses: bool = False
) -> SpecCheckedTransport:
    """Build a SpecCheckedTransport; use it as ``httpx.Client(transport=..., base_url=server_url(spec_name))``."""
    return SpecCheckedTransport(spec_name, handler, check_error_responses=check_error_responses)
