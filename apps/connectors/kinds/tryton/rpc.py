"""A small client for Tryton's JSON-RPC (``POST <base>/<database>/rpc/``).

Tryton sends dates, times, durations, decimals and bytes as tagged objects
(``{"__class__": "date", "year": ..}``, ``{"__class__": "Decimal", "decimal": "12.50"}``,
``{"__class__": "timedelta", "seconds": 5400.0}``); this client turns them into Python values and back.

Every model method takes the user's context as its last argument; the client fetches it once at
login (the user's company, employee and language) and adds it to every model call.

The HTTP transport is one injectable callable, ``send(method, url, json, headers) -> (status, body)``:
``OutboundSend`` (the project's outbound client, used by the connector kind) or ``HttpxSend`` (bare,
for the test server's set-up). ``send`` raises ``OSError`` (``NoAnswer``) when the request did not get an
answer; ``NoAnswer.in_doubt`` says the request was sent, so Tryton may have carried it out.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable, Sequence
from decimal import Decimal
from itertools import count
from typing import Any

import httpx

from apps.common.errors import ErrorCategory, ExternalSystemError
from apps.common.http import OutboundClient
from apps.connectors.errors import ConnectorError

Send = Callable[[str, str, Any, dict[str, str]], tuple[int, bytes]]

# Tryton's exception names (the first item of a JSON-RPC "error") that a retry cannot fix.
_PERMANENT_FAULTS = {"UserError": ErrorCategory.VALIDATION, "UserWarning": ErrorCategory.VALIDATION,
                     "LoginException": ErrorCategory.AUTH}
_TRANSIENT_STATUSES = {408, 429, 500, 502, 503, 504}
# Methods that change records: one of these without an answer may have been carried out (see ``NoAnswer``).
_WRITING_METHODS = {"create", "write", "delete"}
# Answered at the server's root, without a database or a session.
_ANONYMOUS_METHODS = {"common.server.version", "common.db.list", "common.authentication.services"}


class TrytonError(ConnectorError):
    """A Tryton call failed. ``permanent`` failures (validation, access, unknown model or method,
    bad credentials) come back the same if retried as they stand; transport failures, time-outs,
    rate limits and record locks may pass on a later try.

    ``category`` is an ``ErrorCategory``; ``fault`` is Tryton's own exception name when it gave one
    ("UserError", "UserWarning", "ConcurrencyException", "KeyError"); ``status`` the HTTP status.
    """

    def __init__(
        self, message: str, *, permanent: bool, category: str = ErrorCategory.TRANSPORT, fault: str | None = None,
        status: int | None = None, in_doubt: bool = False,
    ):
        super().__init__(message, permanent=permanent, category=category, status=status, in_doubt=in_doubt)
        self.fault = fault


class NoAnswer(ConnectionError):
    """A request got no answer. ``in_doubt``: it was sent (the reply timed out or the connection broke after
    sending), so the server may have carried it out; otherwise it never reached the server."""

    def __init__(self, message: str, *, in_doubt: bool):
        super().__init__(message)
        self.in_doubt = in_doubt


def encode(value: Any) -> Any:
    """Python values to Tryton's JSON shapes (datetime before date: it is a subclass)."""
    if isinstance(value, dict):
        return {k: encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [encode(v) for v in value]
    if isinstance(value, dt.datetime):
        return {"__class__": "datetime", "year": value.year, "month": value.month, "day": value.day,
                "hour": value.hour, "minute": value.minute, "second": value.second,
                "microsecond": value.microsecond}
    if isinstance(value, dt.date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, dt.time):
        return {"__class__": "time", "hour": value.hour, "minute": value.minute, "second": value.second,
                "microsecond": value.microsecond}
    if isinstance(value, dt.timedelta):
        return {"__class__": "timedelta", "seconds": value.total_seconds()}
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, bytes | bytearray):
        return {"__class__": "bytes", "base64": base64.b64encode(value).decode()}
    return value


_DECODERS: dict[str, Callable[[dict], Any]] = {
    "datetime": lambda d: dt.datetime(d["year"], d["month"], d["day"], d["hour"], d["minute"], d["second"],
                                      d.get("microsecond", 0)),
    "date": lambda d: dt.date(d["year"], d["month"], d["day"]),
    "time": lambda d: dt.time(d["hour"], d["minute"], d["second"], d.get("microsecond", 0)),
    "timedelta": lambda d: dt.timedelta(seconds=d["seconds"]),
    "Decimal": lambda d: Decimal(d["decimal"]),
    "bytes": lambda d: base64.b64decode(d["base64"]),
}


def _decode_object(obj: dict) -> Any:
    decoder = _DECODERS.get(obj.get("__class__"))
    return decoder(obj) if decoder else obj


def decode(body: bytes | str) -> Any:
    """Tryton's JSON text to Python values."""
    return json.loads(body, object_hook=_decode_object)


class HttpxSend:
    """A bare transport for tools and tests outside a connection (the test server's set-up). Connector
    code uses ``OutboundSend``, which goes through the project's one HTTP client."""

    def __init__(self, *, timeout: float = 30.0):
        self._client = httpx.Client(timeout=timeout, follow_redirects=False)

    def __call__(self, method: str, url: str, json: Any, headers: dict[str, str]) -> tuple[int, bytes]:
        try:
            response = self._client.request(method, url, json=json, headers=headers)
        except httpx.TransportError as exc:
            raise NoAnswer(f"{type(exc).__name__}: {exc}",
                           in_doubt=not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)) from exc
        return response.status_code, response.content


class OutboundSend:
    """The transport through ``apps.common.http.OutboundClient`` (rate limiter, private-address guard,
    redacted logging, size cap).

    The client raises on every HTTP error; this hands a status back instead, so that ``TrytonRpc`` can
    tell a 401 ("log in again") from the rest and word Tryton's errors itself. A request that got no
    answer comes back as ``ConnectionError`` (transient); the client's own refusals (a private address
    the connection does not allow, a response over the size cap) keep their classification. POST is
    not repeated by the client after a server error, so a write is never sent twice by the transport.
    """

    def __init__(self, client: OutboundClient):
        self.client = client

    def __call__(self, method: str, url: str, json: Any, headers: dict[str, str]) -> tuple[int, bytes]:
        try:
            response = self.client.request(method, url, json_body=json, headers=headers)
        except ExternalSystemError as error:
            if error.status is not None and error.category != ErrorCategory.TOO_LARGE:
                return error.status, error.message.encode()
            if error.category == ErrorCategory.TRANSPORT:
                raise NoAnswer(error.message, in_doubt=error.in_doubt) from error
            raise TrytonError(error.message, permanent=error.permanent, category=error.category,
                              status=error.status) from error
        return response.status_code, response.content


class _SessionExpired(Exception):
    pass


class TrytonRpc:
    """One user's session with one Tryton database. Not thread-safe; make one per worker."""

    def __init__(
        self, base_url: str, database: str, username: str, password: str, *, http: Send | None = None,
        language: str = "en",
    ):
        self.base_url = base_url.rstrip("/")
        self.database = database
        self.username = username
        self._password = password
        self._send = http or HttpxSend()
        self.language = language
        self.user_id: int | None = None
        self.context: dict[str, Any] = {}
        self._authorization: str | None = None
        self._ids = count(1)
        self.on_login: Callable[[tuple[int, str, dict[str, Any]]], None] | None = None  # told of each new session

    # -- session --------------------------------------------------------------------------------------------

    def login(self) -> int:
        """Open a session and load the user's context; return the user id."""
        self._authorization = None
        try:
            user_id, token, *_ = self._post("common.db.login", [self.username, {"password": self._password},
                                                                 self.language])
        except _SessionExpired:  # Tryton answers a wrong password with 401
            raise TrytonError(f"Tryton refused the login of {self.username!r} to {self.database!r}.",
                              permanent=True, category=ErrorCategory.AUTH, status=401)
        credentials = f"{self.username}:{user_id}:{token}".encode()
        self._authorization = "Session " + base64.b64encode(credentials).decode()
        try:
            context = self._post("model.res.user.get_preferences", [True, {}])
        except (TrytonError, _SessionExpired) as error:
            # Half a login is no login: without the user's context (their company) every later call would go
            # wrong, so the next call logs in again. A server error here is as transient as anywhere else.
            self._authorization = None
            detail = error.message if isinstance(error, TrytonError) else "the new session was refused"
            raise TrytonError(
                f"Tryton accepted the login of {self.username!r} to {self.database!r} but failed to load the "
                f"user's preferences (company, language): {detail}", permanent=getattr(error, "permanent", False),
                category=getattr(error, "category", ErrorCategory.TRANSPORT), status=getattr(error, "status", None),
            ) from error
        self.user_id, self.context = user_id, context
        if self.on_login is not None:
            self.on_login(self.session_state())
        return user_id

    def session_state(self) -> tuple[int, str, dict[str, Any]] | None:
        """The open session (user id, token, context), for ``resume`` in another client; None before login."""
        if self._authorization is None or self.user_id is None:
            return None
        return self.user_id, self._authorization, dict(self.context)

    def resume(self, state: tuple[int, str, dict[str, Any]]) -> None:
        """Use a session another client opened (a login costs Tryton a password hash). Should Tryton have
        forgotten it, the next call logs in again (see ``call``)."""
        self.user_id, self._authorization, self.context = state[0], state[1], dict(state[2])

    def call(self, method: str, *params: Any) -> Any:
        """Call ``method`` with ``params`` as given (model methods need the context last: see ``execute``).

        A session the server no longer knows is opened again once, then the call is repeated: Tryton
        refuses such calls before running them, so repeating is safe even for writes.
        """
        if method in _ANONYMOUS_METHODS:
            return self._post(method, list(params))
        if self._authorization is None:
            self.login()
        try:
            return self._post(method, list(params))
        except _SessionExpired:
            self.login()
        try:
            return self._post(method, list(params))
        except _SessionExpired:
            raise TrytonError(f"Tryton refused {method} right after a fresh login.", permanent=True,
                              category=ErrorCategory.AUTH, status=401)

    # -- model methods ----------------------------------------------------------------------------------------

    def execute(self, model: str, method: str, *args: Any, context: dict | None = None) -> Any:
        """Call ``model.<model>.<method>(*args, context)`` with the user's context (plus ``context``)."""
        if self._authorization is None:
            self.login()
        return self.call(f"model.{model}.{method}", *args, {**self.context, **(context or {})})

    def search(self, model: str, domain: Sequence, *, offset: int = 0, limit: int | None = None,
               order: Sequence | None = None, context: dict | None = None) -> list[int]:
        return self.execute(model, "search", list(domain), offset, limit, order, context=context)

    def search_read(self, model: str, domain: Sequence, fields: Sequence[str], *, offset: int = 0,
                    limit: int | None = None, order: Sequence | None = None,
                    context: dict | None = None) -> list[dict]:
        """Records matching ``domain`` (e.g. ``[["description", "=", "ref"]]``), with ``fields`` and ``id``.

        ``order`` is a list of ``[field, "ASC"|"DESC"]``; relations come back as ids, and
        ``"party.name"`` style names read through them.
        """
        return self.execute(model, "search_read", list(domain), offset, limit, order, list(fields),
                            context=context)

    def read(self, model: str, ids: Sequence[int], fields: Sequence[str], *,
             context: dict | None = None) -> list[dict]:
        return self.execute(model, "read", list(ids), list(fields), context=context)

    def create(self, model: str, values: Sequence[dict], *, context: dict | None = None) -> list[int]:
        """Create one record per dict; return their ids in the same order."""
        return self.execute(model, "create", list(values), context=context)

    def write(self, model: str, ids: Sequence[int], values: dict, *, context: dict | None = None) -> None:
        self.execute(model, "write", list(ids), values, context=context)

    def delete(self, model: str, ids: Sequence[int], *, context: dict | None = None) -> None:
        self.execute(model, "delete", list(ids), context=context)

    # -- wire ---------------------------------------------------------------------------------------------

    def _url(self, method: str) -> str:
        # Calls outside a database (server version, database list) go to the root.
        if method in _ANONYMOUS_METHODS:
            return f"{self.base_url}/rpc/"
        return f"{self.base_url}/{self.database}/rpc/"

    def _post(self, method: str, params: list) -> Any:
        payload = {"id": next(self._ids), "method": method, "params": encode(params)}
        headers = {"Content-Type": "application/json"}
        if self._authorization:
            headers["Authorization"] = self._authorization
        try:
            status, body = self._send("POST", self._url(method), payload, headers)
        except OSError as exc:
            in_doubt = getattr(exc, "in_doubt", False) and method.rsplit(".", 1)[-1] in _WRITING_METHODS
            raise TrytonError(f"Tryton did not answer {method}"
                              + (" (it may have been carried out)" if in_doubt else "") + f": {exc}",
                              permanent=False, category=ErrorCategory.TRANSPORT, in_doubt=in_doubt)
        if status == 401:
            raise _SessionExpired()
        if status != 200:
            raise _status_error(method, status, body)
        try:
            answer = decode(body)
        except ValueError:
            raise TrytonError(f"Tryton answered {method} with unreadable JSON.", permanent=False,
                              category=ErrorCategory.PARSE, status=status)
        if answer.get("error") is not None:
            raise _fault_error(method, answer["error"])
        return answer.get("result")


def _status_error(method: str, status: int, body: bytes) -> TrytonError:
    text = body[:300].decode("utf-8", "replace").strip()
    if status == 403:
        message, category = f"Tryton does not allow {method} over RPC (or it does not exist).", ErrorCategory.CONFIG
    elif status == 404:
        message, category = "Tryton has no such database, or the URL is not a Tryton server.", ErrorCategory.CONFIG
    elif status == 429:
        message, category = "Tryton asks us to slow down (too many requests).", ErrorCategory.RATE_LIMIT
    elif status == 409:
        message, category = "Tryton raised a warning that needs confirmation.", ErrorCategory.VALIDATION
    elif status == 423:
        message, category = "The record is locked by another change.", ErrorCategory.CONFLICT
    else:
        message, category = f"Tryton answered {method} with HTTP {status}: {text}", ErrorCategory.TRANSPORT
    permanent = status not in _TRANSIENT_STATUSES and status != 423
    return TrytonError(message, permanent=permanent, category=category, status=status)


def _fault_error(method: str, error: Any) -> TrytonError:
    """Tryton's error shapes: ``[name, args]`` for its own exceptions, ``[str(exc), traceback]`` otherwise."""
    name, args = (error + [None, None])[:2] if isinstance(error, list) else (str(error), None)
    if name in _PERMANENT_FAULTS:
        parts = args if isinstance(args, list) else [args]
        # UserError: [message, description, domain]; UserWarning: [name, message, description].
        texts = parts[1:3] if name == "UserWarning" else parts[:2]
        message = " - ".join(str(t) for t in texts if t)
        return TrytonError(message or name, permanent=True, category=_PERMANENT_FAULTS[name], fault=name)
    if name == "ConcurrencyException":
        return TrytonError(str(args), permanent=False, category=ErrorCategory.CONFLICT, fault=name)
    # Any other exception is a bug or a wrong call on the server side (unknown model, field or
    # arguments): trying again sends the same request, so it is permanent. A KeyError arrives as
    # its repr, the unknown name in quotes.
    text = str(name)
    missing = text[1:-1] if len(text) > 1 and text[0] == text[-1] == "'" else None
    if missing and method.startswith(f"model.{missing}."):
        return TrytonError(f"Tryton has no model {missing!r}; is its module activated?", permanent=True,
                           category=ErrorCategory.CONFIG, fault="KeyError")
    if missing:
        return TrytonError(f"Tryton does not know {missing!r} in {method} (no such field or name).",
                           permanent=True, category=ErrorCategory.VALIDATION, fault="KeyError")
    return TrytonError(f"Tryton failed on {method}: {text}", permanent=True, category=ErrorCategory.VALIDATION,
                       fault=text)
