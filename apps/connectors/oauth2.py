"""OAuth2 for every connector kind: the authorization request (state and PKCE), the code exchange, the client
credentials grant, and tokens that renew themselves before they expire.

The protocol pieces (authorization URL, PKCE challenge, client authentication at the token endpoint) come
from Authlib; every call to a token endpoint goes through the one outbound HTTP client, like any other call.
Tokens live in the connection's sealed credentials (``access_token``, ``refresh_token``, ``expires_at``) and
are written back through a ``TokenStore``: the database one serialises refreshes across workers with a row
lock and re-reads before refreshing, so a rotating refresh token is spent once, not once per worker.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from authlib.common.security import generate_token
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from apps.common.errors import ErrorCategory, ExternalSystemError
from apps.common.http import parse_json
from apps.connectors.errors import ConnectorError

DEFAULT_LIFETIME = 3600  # seconds, for token answers without expires_in


class ReauthorizationNeeded(ConnectorError):
    """The vendor no longer accepts this connection's grant; someone at the customer must click Connect again."""

    def __init__(self, message: str):
        super().__init__(message, permanent=True, category=ErrorCategory.AUTH)


@dataclass(frozen=True)
class OAuth2Spec:
    """A vendor's OAuth2 endpoints and habits. ``grant`` is ``authorization_code`` or ``client_credentials``."""

    token_url: str
    authorize_url: str = ""
    grant: str = "authorization_code"
    scopes: tuple[str, ...] = ()
    scope_separator: str = " "
    pkce: bool = True
    token_auth: str = "client_secret_basic"  # or client_secret_post, none
    authorize_params: dict[str, str] = field(default_factory=dict)
    token_params: dict[str, str] = field(default_factory=dict)
    refresh_margin_seconds: int = 300

    @classmethod
    def from_manifest(cls, auth: dict) -> OAuth2Spec:
        grant = "client_credentials" if auth["type"] == "oauth2_client_credentials" else "authorization_code"
        return cls(token_url=auth["token_url"], authorize_url=auth.get("authorize_url", ""), grant=grant,
                   scopes=tuple(auth.get("scopes") or ()), scope_separator=auth.get("scope_separator", " "),
                   pkce=auth.get("pkce", True), token_auth=auth.get("token_auth", "client_secret_basic"),
                   authorize_params=dict(auth.get("authorize_params") or {}),
                   token_params=dict(auth.get("token_params") or {}),
                   refresh_margin_seconds=auth.get("refresh_margin_seconds", 300))

    @property
    def scope(self) -> str:
        return self.scope_separator.join(self.scopes)


# --- the authorization request and the code exchange -------------------------------------------------------
@dataclass(frozen=True)
class AuthorizationRequest:
    """Where to send the person, and what to keep until they come back (never shown to them)."""

    url: str
    state: str
    code_verifier: str  # empty without PKCE


def authorization_request(spec: OAuth2Spec, *, client_id: str, redirect_uri: str) -> AuthorizationRequest:
    """The vendor's sign-in URL with a fresh ``state`` (against forged callbacks) and a PKCE S256 challenge."""
    state = generate_token(32)
    verifier = generate_token(64) if spec.pkce else ""
    extra = dict(spec.authorize_params)
    if verifier:
        extra.update(code_challenge=create_s256_code_challenge(verifier), code_challenge_method="S256")
    url = prepare_grant_uri(spec.authorize_url, client_id, "code", redirect_uri=redirect_uri,
                            scope=spec.scope or None, state=state, **extra)
    return AuthorizationRequest(url=url, state=state, code_verifier=verifier)


HttpFactory = Callable[[str, dict], Any]  # (base_url, headers) -> OutboundClient


def code_exchange(spec: OAuth2Spec, *, http_factory: HttpFactory, client_id: str, client_secret: str, code: str,
                  redirect_uri: str, code_verifier: str = "", now: float | None = None) -> dict:
    """Swap the code the vendor sent back for tokens: the credentials to seal (access, refresh, expiry)."""
    fields = {"code": code, **spec.token_params}
    if code_verifier:
        fields["code_verifier"] = code_verifier
    body = prepare_token_request("authorization_code", redirect_uri=redirect_uri, **fields)
    answer = _token_call(spec, http_factory, client_id, client_secret, body, "exchanging the authorization code")
    return tokens_from_answer(answer, previous={}, now=time.time() if now is None else now)


def tokens_from_answer(answer: dict, *, previous: dict, now: float) -> dict:
    """Credentials from a token answer. A vendor that rotates refresh tokens sends a new one; one that does not
    leaves it out, and the old one is kept."""
    if not isinstance(answer, dict) or not answer.get("access_token"):
        raise ConnectorError("The token endpoint's answer has no access_token.", permanent=False,
                             category=ErrorCategory.PARSE)
    try:
        lifetime = float(answer.get("expires_in") or DEFAULT_LIFETIME)
    except (TypeError, ValueError):
        lifetime = DEFAULT_LIFETIME
    tokens = {"access_token": str(answer["access_token"]), "expires_at": str(int(now + lifetime)),
              "token_type": str(answer.get("token_type") or "Bearer")}
    refresh = answer.get("refresh_token") or previous.get("refresh_token")
    if refresh:
        tokens["refresh_token"] = str(refresh)
    if answer.get("scope"):
        tokens["scope"] = str(answer["scope"])
    return tokens


def _token_call(spec: OAuth2Spec, http_factory: HttpFactory, client_id: str, client_secret: str, body: str,
                what: str) -> dict:
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    _, headers, body = ClientAuth(client_id, client_secret, spec.token_auth).prepare("POST", spec.token_url, headers,
                                                                                    body)
    client = http_factory(spec.token_url, {})
    try:
        response = client.request("POST", spec.token_url, content=body.encode(), headers=headers)
        return parse_json("OAuth2 token endpoint", response)
    except ExternalSystemError as error:
        raise _token_error(error, what) from error
    finally:
        close = getattr(client, "close", None)
        if close:
            close()


def _token_error(error: ExternalSystemError, what: str) -> ConnectorError:
    detail = error.message
    # RFC 6749 5.2: 400/401 from a token endpoint (invalid_grant, invalid_client, ...) will not heal by retrying.
    if error.status in (400, 401):
        return ReauthorizationNeeded(f"Re-authorization needed: the vendor refused the grant while {what} "
                                     f"({detail}). Someone at the customer must click Connect again.")
    return ConnectorError(f"OAuth2: {what} failed: {detail}", permanent=error.permanent, category=error.category,
                          status=error.status, retry_after=error.retry_after)


# --- keeping tokens fresh ----------------------------------------------------------------------------------
class TokenStore(Protocol):
    """Where a connection's credentials live. ``locked`` yields them as stored now, under a lock that keeps
    other workers from refreshing at the same time; ``save`` (inside it) replaces them."""

    def locked(self) -> contextlib.AbstractContextManager[dict]: ...

    def save(self, credentials: dict) -> None: ...

    def mark(self, *, ok: bool, message: str = "", expires_at: float | None = None) -> None: ...


class MemoryTokenStore:
    """Credentials held in memory only (tests, and "Try it" before a connection is saved)."""

    def __init__(self, credentials: dict):
        self.credentials = dict(credentials)
        self.status: tuple[bool, str] = (True, "")
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict]:
        with self._lock:
            yield dict(self.credentials)

    def save(self, credentials: dict) -> None:
        self.credentials = dict(credentials)

    def mark(self, *, ok: bool, message: str = "", expires_at: float | None = None) -> None:
        self.status = (ok, message)


class TokenManager:
    """Hands out a valid access token, renewing it ``refresh_margin_seconds`` before it expires.

    Refreshes are serialised through the store: whoever gets the lock first refreshes; the others find the
    new token when they read the credentials again under the lock, and use it.
    """

    def __init__(self, spec: OAuth2Spec, *, store: TokenStore, credentials: dict, http_factory: HttpFactory,
                 clock: Callable[[], float] = time.time):
        self.spec, self.store, self.http_factory, self.clock = spec, store, http_factory, clock
        self.credentials = dict(credentials)

    def access_token(self) -> str:
        if not self._fresh(self.credentials):
            self.refresh(force=False)
        return self.credentials["access_token"]

    def refresh(self, *, force: bool) -> None:
        """Renew the token (``force``: even if it looks fresh, because the vendor just refused it)."""
        stale = self.credentials.get("access_token")
        try:
            with self.store.locked() as stored:
                if (stored.get("access_token") and stored.get("access_token") != stale and self._fresh(stored)) or (
                        not force and self._fresh(stored)):
                    self.credentials = stored  # another worker renewed it meanwhile
                    return
                tokens = self._renew(stored)
                self.credentials = {**stored, **tokens}
                self.store.save(self.credentials)
        except ReauthorizationNeeded as error:
            self.store.mark(ok=False, message=error.message)  # outside the lock's transaction, which rolled back
            raise
        self.store.mark(ok=True, expires_at=float(self.credentials["expires_at"]))

    def _fresh(self, credentials: dict) -> bool:
        if not credentials.get("access_token"):
            return False
        try:
            expires_at = float(credentials.get("expires_at") or 0)
        except ValueError:
            return False
        if not expires_at:
            return True  # no expiry known: use it until the vendor refuses it
        return expires_at - self.spec.refresh_margin_seconds > self.clock()

    def _renew(self, stored: dict) -> dict:
        client_id, client_secret = stored.get("client_id", ""), stored.get("client_secret", "")
        if self.spec.grant == "client_credentials":
            if not client_id or not client_secret:
                raise ReauthorizationNeeded("Set the credentials client_id and client_secret for the OAuth2 client "
                                            "credentials grant.")
            extra = {"scope": self.spec.scope} if self.spec.scope else {}
            body = prepare_token_request("client_credentials", **extra, **self.spec.token_params)
            what = "getting a token (client credentials)"
        else:
            if not stored.get("refresh_token"):
                raise ReauthorizationNeeded("Re-authorization needed: the access token has expired and there is no "
                                            "refresh token. Someone at the customer must click Connect.")
            body = prepare_token_request("refresh_token", refresh_token=stored["refresh_token"],
                                         **self.spec.token_params)
            what = "refreshing the access token"
        answer = _token_call(self.spec, self.http_factory, client_id, client_secret, body, what)
        return tokens_from_answer(answer, previous=stored, now=self.clock())


class BearerClient:
    """An outbound client whose calls carry the current OAuth2 access token (renewed before it expires). A 401
    renews the token once and repeats the call; a second 401 means the vendor no longer honours the grant."""

    def __init__(self, client, tokens: TokenManager):
        self.client, self.tokens = client, tokens

    def request(self, method: str, path: str, *, headers: dict | None = None, **kwargs):
        for attempt in (1, 2):
            bearer = {"Authorization": f"Bearer {self.tokens.access_token()}"}
            try:
                return self.client.request(method, path, headers={**(headers or {}), **bearer}, **kwargs)
            except ExternalSystemError as error:
                if error.status != 401:
                    raise
                if attempt == 1:
                    self.tokens.refresh(force=True)
                    continue
                refused = ReauthorizationNeeded(f"{error.message}. Re-authorization needed: the vendor refuses the "
                                                "connection's OAuth2 grant; someone at the customer must click Connect "
                                                "again.")
                self.tokens.store.mark(ok=False, message=refused.message)
                raise refused from error
        raise AssertionError("unreachable")  # pragma: no cover

    def json(self, method: str, path: str, **kwargs) -> Any:
        return parse_json(self.client.name, self.request(method, path, **kwargs))

    def close(self) -> None:
        self.client.close()
