"""The one outbound HTTP client: every connector kind that speaks HTTP goes through it.

Timeouts, retries (429, 5xx and connection errors, honouring ``Retry-After``, with jittered
exponential backoff), a per-connection rate limiter, redacted logging, a response size cap and a
guard against requests to private, loopback and link-local addresses live here and nowhere else.

The guard resolves the host once and the connection goes to the address it checked (the URL's host
is replaced by that address; the Host header and TLS server name stay the host's name), so a DNS
answer that changes between the check and the connection (rebinding) cannot reach a private address.
``vet_host`` is the same guard for other protocols (the SFTP kind) and for saving a connection.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import random
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import cache
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from apps.common.errors import ErrorCategory, ExternalSystemError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str], list[IPAddress]]

logger = logging.getLogger("weft.http")

SECRET_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "x-api-key", "proxy-authorization"})
SECRET_KEYS = ("password", "secret", "token", "api_key", "apikey", "authorization", "client_secret")
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Called after every attempt with (connector kind, HTTP status or None for a transport error, seconds): how the
# ops app counts target call latency and errors without this module knowing about metrics.
call_observers: list[Callable[[str, int | None, float], None]] = []


class RateLimiter(Protocol):
    """Blocks until one more call is allowed (or raises a rate-limit error when the wait is too long)."""

    def slot(self) -> contextlib.AbstractContextManager[None]: ...


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    backoff_base: float = 0.5
    backoff_cap: float = 20.0
    # A Retry-After longer than this is not slept through: the caller gets a rate-limit error
    # carrying retry_after and can reschedule the work instead of holding a worker.
    max_sleep: float = 60.0


@cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default certificate checks, made once per process: loading the CA bundle takes ≈35 ms, and a
    client is made per run (for webhook-driven flows, per event)."""
    return httpx.create_ssl_context()


class OutboundClient:
    """An HTTP client bound to one connection (its base URL, auth headers, limits and policy)."""

    def __init__(
        self, *, base_url: str, name: str, headers: dict[str, str] | None = None,
        timeout: float = 30.0, retry: RetryPolicy = RetryPolicy(), limiter: RateLimiter | None = None,
        allow_private_network: bool = False, max_response_bytes: int = 20 * 1024 * 1024,
        transport: httpx.BaseTransport | None = None, sleep: Callable[[float], None] = time.sleep, kind: str = "",
        resolver: Resolver | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.kind = kind
        self.retry = retry
        self.limiter = limiter
        self.allow_private_network = allow_private_network
        self.max_response_bytes = max_response_bytes
        self._sleep = sleep
        self._resolver = resolver
        self._client = httpx.Client(
            headers={"User-Agent": "Weft integration platform", **(headers or {})},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)), transport=transport,
            follow_redirects=False, verify=_tls_context(),
        )

    def close(self) -> None:
        self._client.close()

    def request(
        self, method: str, path: str, *, params: dict | None = None, json_body: Any = None,
        headers: dict[str, str] | None = None, content: bytes | None = None,
    ) -> httpx.Response:
        """Send one logical request, retrying what is safe to retry; raise ``ExternalSystemError`` on failure."""
        method = method.upper()
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"
        pinned = self._guard_address(url)
        headers = dict(headers or {})
        safe_to_repeat = method in IDEMPOTENT_METHODS or any(k.lower() == "idempotency-key" for k in headers)
        for attempt in range(1, self.retry.max_attempts + 1):
            try:
                response = self._send_once(method, url, params=params, json_body=json_body, headers=headers,
                                           content=content, attempt=attempt, pinned=pinned)
            except httpx.TransportError as error:
                # A refused or timed-out connection never reached the server; a read error might have.
                reached = not isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)
                if attempt == self.retry.max_attempts or (reached and not safe_to_repeat):
                    raise ExternalSystemError(
                        f"{self.name}: {method} {_display_url(url)} failed: {type(error).__name__}: {error}",
                        permanent=False, category=ErrorCategory.TRANSPORT, in_doubt=reached and not safe_to_repeat,
                    ) from error
                self._backoff(attempt, None)
                continue
            if response.status_code < 400:
                return response
            retry_after = _retry_after_seconds(response)
            retryable = response.status_code == 429 or (
                response.status_code in RETRYABLE_STATUSES and safe_to_repeat
            )
            if not retryable or attempt == self.retry.max_attempts:
                raise http_error(self.name, method, url, response, retry_after)
            if retry_after is not None and retry_after > self.retry.max_sleep:
                raise http_error(self.name, method, url, response, retry_after)
            self._backoff(attempt, retry_after)
        raise AssertionError("unreachable")  # pragma: no cover

    def json(self, method: str, path: str, **kwargs) -> Any:
        """``request`` and parse the body as JSON; an HTML error page or bad JSON is a clear parse error."""
        response = self.request(method, path, **kwargs)
        return parse_json(self.name, response)

    def _send_once(self, method, url, *, params, json_body, headers, content, attempt, pinned) -> httpx.Response:
        started = time.monotonic()
        with self.limiter.slot() if self.limiter else contextlib.nullcontext():
            request = self._client.build_request(
                method, url, params=params, json=json_body, headers=headers, content=content
            )
            shown = str(request.url)
            _pin(request, pinned)
            try:
                response = self._client.send(request, stream=True)
                try:
                    body = _read_capped(response, self.max_response_bytes)
                finally:
                    response.close()
            except httpx.TransportError:
                self._observe(None, started)
                raise
        self._observe(response.status_code, started)
        response._content = body
        logger.info(
            "%s %s %s -> %s in %.0f ms (attempt %d)", self.name, method, _display_url(shown),
            response.status_code, (time.monotonic() - started) * 1000, attempt,
            extra={"request_headers": redact_headers(request.headers), "response_body": redact_text(body[:2000])},
        )
        if body and len(body) >= self.max_response_bytes:
            raise ExternalSystemError(
                f"{self.name}: response to {method} {_display_url(url)} is larger than "
                f"{self.max_response_bytes // (1024 * 1024)} MB; refused.",
                permanent=True, category=ErrorCategory.TOO_LARGE, status=response.status_code,
            )
        return response

    def _observe(self, status: int | None, started: float) -> None:
        for observer in call_observers:
            observer(self.kind, status, time.monotonic() - started)

    def _backoff(self, attempt: int, retry_after: float | None) -> None:
        jittered = random.uniform(0, min(self.retry.backoff_cap, self.retry.backoff_base * 2 ** (attempt - 1)))
        self._sleep(max(retry_after or 0.0, jittered))

    def _guard_address(self, url: str) -> IPAddress | None:
        """The checked address to connect to (None: connect by name, the connection allows any address)."""
        host = urlsplit(url).hostname or ""
        addresses = vet_host(host, name=self.name, allow_private_network=self.allow_private_network,
                             resolver=self._resolver)
        return addresses[0] if addresses else None


def vet_host(host: str, *, name: str, allow_private_network: bool, resolver: Resolver | None = None
             ) -> list[IPAddress]:
    """Resolve ``host`` once and refuse it if any address is private, loopback or link-local, unless the
    connection allows private networks or the address is in ``WEFT_OUTBOUND_ALLOWED_NETWORKS`` (an operator's
    allow-list). Returns the checked addresses: connect to one of them, never to the name again."""
    if allow_private_network:
        return []
    addresses = list((resolver or resolve_host)(host))
    for address in addresses:
        if not address_allowed(address):
            raise ExternalSystemError(
                f"{name}: refusing to call {host} ({address}): private, loopback or link-local "
                "addresses are blocked unless the connection allows them.",
                permanent=True, category=ErrorCategory.CONFIG,
            )
    return addresses


def address_allowed(address: IPAddress) -> bool:
    """A public address, or one inside a network the operator listed in ``WEFT_OUTBOUND_ALLOWED_NETWORKS``."""
    return address.is_global or any(address in network for network in _allowed_networks())


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(text, strict=False) for text in settings.WEFT_OUTBOUND_ALLOWED_NETWORKS]


def _pin(request: httpx.Request, address: IPAddress | None) -> None:
    """Send ``request`` to ``address`` while it still names its host: the Host header was set from the URL
    when the request was built, and TLS checks the certificate against ``sni_hostname``."""
    if address is None or request.url.host == str(address):
        return
    request.extensions = {**request.extensions, "sni_hostname": request.url.host}
    request.url = request.url.copy_with(host=str(address))


def http_error(name: str, method: str, url: str, response: httpx.Response, retry_after: float | None):
    """An ``ExternalSystemError`` that says what the other side answered, classified for triage."""
    status = response.status_code
    category, permanent = {
        401: (ErrorCategory.AUTH, True), 403: (ErrorCategory.AUTH, True), 404: (ErrorCategory.NOT_FOUND, True),
        409: (ErrorCategory.CONFLICT, True), 413: (ErrorCategory.TOO_LARGE, True),
        429: (ErrorCategory.RATE_LIMIT, False),
    }.get(status, (ErrorCategory.VALIDATION, True) if 400 <= status < 500 else (ErrorCategory.TRANSPORT, False))
    detail = _error_detail(response)
    return ExternalSystemError(
        f"{name}: {method} {_display_url(url)} answered {status}{': ' + detail if detail else ''}",
        permanent=permanent, category=category, status=status, retry_after=retry_after,
    )


def parse_json(name: str, response: httpx.Response) -> Any:
    content_type = response.headers.get("content-type", "")
    if "json" not in content_type and response.content[:1] not in (b"{", b"["):
        raise ExternalSystemError(
            f"{name}: expected JSON but got {content_type or 'no content type'}: {_snippet(response.content)}",
            permanent=False, category=ErrorCategory.PARSE, status=response.status_code,
        )
    try:
        return json.loads(response.content)
    except ValueError as error:
        raise ExternalSystemError(
            f"{name}: malformed JSON ({error}): {_snippet(response.content)}",
            permanent=False, category=ErrorCategory.PARSE, status=response.status_code,
        ) from None


def redact_headers(headers) -> dict[str, str]:
    return {k: ("[redacted]" if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}


def redact_text(body: bytes) -> str:
    """Body text for logs with secret-looking JSON values blanked out."""
    text = body.decode("utf-8", errors="replace")
    try:
        return json.dumps(redact_data(json.loads(text)))[:2000]
    except ValueError:
        return text[:2000]


def redact_data(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: "[redacted]" if any(s in k.lower() for s in SECRET_KEYS) else redact_data(v)
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact_data(v) for v in value]
    return value


def _read_capped(response: httpx.Response, limit: int) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)[:limit]


def _retry_after_seconds(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def resolve_host(host: str) -> list[IPAddress]:
    """Every address ``host`` resolves to (a literal address is itself), in the resolver's order."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as error:
        raise ExternalSystemError(f"cannot resolve {host}: {error}", permanent=False,
                                  category=ErrorCategory.TRANSPORT) from None
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])  # drop an IPv6 scope id
        if address not in found:
            found.append(address)
    return found


def _display_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"  # no query: it may carry tokens


def _error_detail(response: httpx.Response) -> str:
    try:
        data = json.loads(response.content)
    except ValueError:
        return _snippet(response.content)
    if isinstance(data, dict):
        for key in ("message", "Message", "error_description", "error", "detail", "Detail", "title"):
            if data.get(key):
                return str(data[key])[:500]
    return json.dumps(redact_data(data))[:500]


def _snippet(content: bytes) -> str:
    text = " ".join(content[:300].decode("utf-8", errors="replace").split())
    return repr(text[:200]) if text else "(empty body)"
