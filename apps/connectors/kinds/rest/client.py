"""The REST kind's side of a call: authentication as the manifest says, the vendor's remaining-quota headers,
which statuses are transient, permanent or need re-authorization, and (optionally) a check of every request
and answer against the vendor's OpenAPI document. The call itself goes through the one outbound HTTP client
(timeouts, retries with Retry-After, the shared rate limiter, redaction, the private-address guard).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from apps.common.errors import ErrorCategory, ExternalSystemError
from apps.common.http import parse_json
from apps.connectors.errors import ConnectorError
from apps.connectors.kinds.rest.manifest import Manifest
from apps.connectors.kinds.rest.render import Variables, render, render_path
from apps.connectors.oauth2 import OAuth2Spec, ReauthorizationNeeded, TokenManager

DEFAULT_REAUTHORIZE = (401,)
OAUTH2_TYPES = ("oauth2_client_credentials", "oauth2_authorization_code")
MAX_QUOTA_WAIT = 60.0  # longer waits for the vendor's window go back to the engine as a rate-limit error


@dataclass
class Answer:
    data: Any
    response: httpx.Response


class RestClient:
    """One connection's API as its manifest describes it."""

    def __init__(self, *, manifest: Manifest, connection_name: str, settings: dict, credentials: dict,
                 http_factory: Callable, token_store, validator=None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time):
        self.manifest, self.name = manifest, connection_name
        self.settings, self.credentials = settings, credentials
        self.sleep, self.clock, self.validator = sleep, clock, validator
        self.base_url = base_url(manifest, settings)
        self.variables = Variables({}, settings=settings)
        self.query_auth: dict[str, str] = {}
        headers = dict(manifest.client.get("headers") or {})
        headers.update(self._static_auth())
        self.tokens: TokenManager | None = None
        if manifest.auth["type"] in OAUTH2_TYPES:
            self.tokens = TokenManager(oauth2_spec(manifest, settings), store=token_store,
                                       credentials=credentials, http_factory=http_factory, clock=clock)
        self.http = http_factory(self.base_url, headers)
        errors = manifest.client.get("errors") or {}
        self.transient = set(errors.get("transient") or ())
        self.permanent = set(errors.get("permanent") or ())
        self.reauthorize = set(errors.get("reauthorize") or DEFAULT_REAUTHORIZE)
        self._resume_at = 0.0  # the vendor said its window is spent until then

    # --- calling ----------------------------------------------------------------------------------------
    def call(self, method: str, target: str, *, what: str, params: dict | None = None, body: Any = None,
             headers: dict | None = None, expect_body: bool = True) -> Answer:
        """One request (``target`` a path under the base URL, or a URL on the same host); the answer parsed."""
        url = self._url(target, what)
        params = {**(params or {}), **self.query_auth}
        for attempt in (1, 2):
            self._wait_for_quota()
            try:
                response = self.http.request(method, url, params=params or None, json_body=body,
                                             headers={**(headers or {}), **self._token_header()})
            except ExternalSystemError as error:
                if attempt == 1 and self.tokens and error.status in self.reauthorize:
                    self.tokens.refresh(force=True)  # the vendor refused a token it issued: renew once, try again
                    continue
                raise self._classified(error, what) from error
            break
        self._note_quota(response)
        if self.validator is not None:
            self.validator(response.request, response, what)
        if not expect_body or not response.content.strip():
            return Answer(None, response)
        try:
            return Answer(parse_json(self.name, response), response)
        except ExternalSystemError as error:
            raise ConnectorError(f"{what}: {error.message}", permanent=error.permanent, category=error.category,
                                 status=error.status) from error

    def close(self) -> None:
        self.http.close()

    def _url(self, target: str, what: str) -> str:
        if not target.startswith(("http://", "https://")):
            return self.base_url + target
        if urlsplit(target).netloc != urlsplit(self.base_url).netloc:
            # A next-page link must not send our credentials to another host.
            raise ConnectorError(f"{what}: the vendor's link points at {urlsplit(target).netloc}, not at "
                                 f"{urlsplit(self.base_url).netloc}; refused so credentials stay with the API.",
                                 permanent=True, category=ErrorCategory.CONFIG)
        return target

    # --- authentication ---------------------------------------------------------------------------------
    def _static_auth(self) -> dict[str, str]:
        auth = self.manifest.auth
        kind = auth["type"]
        if kind == "api_key":
            key = auth.get("prefix", "") + self._credential(auth.get("credential", "api_key"))
            if auth.get("in", "header") == "query":
                self.query_auth[auth["name"]] = key
                return {}
            return {auth["name"]: key}
        if kind == "basic":
            user = self._credential(auth.get("username_credential", "username"))
            password = self.credentials.get(auth.get("password_credential", "password"), "")
            return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}
        if kind == "bearer":
            return {"Authorization": f"Bearer {self._credential(auth.get('credential', 'access_token'))}"}
        return {}

    def _token_header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens.access_token()}"} if self.tokens else {}

    def _credential(self, name: str) -> str:
        value = self.credentials.get(name)
        if not value:
            raise ConnectorError(f"{self.name}: the credential {name!r} is not set; enter it on the connection "
                                 f"(the manifest's auth is {self.manifest.auth['type']}).", permanent=True,
                                 category=ErrorCategory.AUTH)
        return str(value)

    def _classified(self, error: ExternalSystemError, what: str) -> ConnectorError:
        status = error.status
        message = f"{what}: {error.message}"
        if status in self.reauthorize:
            if self.tokens:
                refused = ReauthorizationNeeded(f"{message}. Re-authorization needed: the vendor refuses this "
                                                "connection's OAuth2 grant even after a token refresh; someone at the "
                                                "customer must click Connect again.")
                self.tokens.store.mark(ok=False, message=refused.message)
                return refused
            return ConnectorError(f"{message}. The vendor refused the credentials: check {self._auth_hint()}.",
                                  permanent=True, category=ErrorCategory.AUTH, status=status)
        permanent = error.permanent
        if status in self.transient:
            permanent = False
        elif status in self.permanent:
            permanent = True
        return ConnectorError(message, permanent=permanent, category=error.category, status=status,
                              retry_after=error.retry_after)

    def _auth_hint(self) -> str:
        auth = self.manifest.auth
        kind = auth["type"]
        if kind == "api_key":
            return (f"the credential {auth.get('credential', 'api_key')!r} (sent as {auth.get('in', 'header')} "
                    f"{auth['name']!r})")
        if kind == "basic":
            return (f"the credentials {auth.get('username_credential', 'username')!r} and "
                    f"{auth.get('password_credential', 'password')!r}")
        if kind == "bearer":
            return f"the credential {auth.get('credential', 'access_token')!r} (sent as a bearer token)"
        return "the manifest's auth (the vendor may need credentials: auth type is none)"

    # --- the vendor's own quota headers -----------------------------------------------------------------
    def _note_quota(self, response: httpx.Response) -> None:
        limits = self.manifest.client.get("rate_limit") or {}
        header = limits.get("remaining_header")
        if not header or header not in response.headers:
            return
        try:
            remaining = int(float(response.headers[header]))
        except ValueError:
            return
        if remaining > limits.get("min_remaining", 1):
            return
        self._resume_at = self.clock() + self._reset_seconds(response, limits)

    def _reset_seconds(self, response: httpx.Response, limits: dict) -> float:
        raw = response.headers.get(limits.get("reset_header") or "", "")
        try:
            value = float(raw)
        except ValueError:
            return 1.0  # no usable reset time: a short pause, then the vendor's 429 and Retry-After decide
        unit = limits.get("reset_unit", "seconds")
        if unit == "milliseconds":
            return value / 1000
        if unit == "epoch_seconds":
            return max(0.0, value - self.clock())
        return value

    def _wait_for_quota(self) -> None:
        wait = self._resume_at - self.clock()
        if wait <= 0:
            return
        if wait > MAX_QUOTA_WAIT:
            raise ConnectorError(f"{self.name}: the vendor's rate-limit window is spent for {wait:.0f} s more.",
                                 permanent=False, category=ErrorCategory.RATE_LIMIT, retry_after=wait)
        self.sleep(wait)


def oauth2_spec(manifest: Manifest, settings: dict) -> OAuth2Spec | None:
    """The manifest's OAuth2 endpoints with the connection's settings filled in (``{settings.oauth_token_url}``)."""
    if manifest.auth["type"] not in OAUTH2_TYPES:
        return None
    return OAuth2Spec.from_manifest(render(manifest.auth, Variables({}, settings=settings)))


def base_url(manifest: Manifest, settings: dict) -> str:
    """The connection's ``base_url`` setting (sandboxes, test servers), else the manifest's, settings filled in."""
    configured = settings.get("base_url") or manifest.client["base_url"]
    return render_path(configured, Variables({}, settings=settings)).rstrip("/")
