"""The small interface every connector kind implements, and the shapes it trades in.

A kind knows one system's wire format. It declares what it can read and write, reads pages since
a cursor, writes one record under our reference (so a retry never makes a second record), finds a
record by that reference, and tests the connection. It knows nothing of mappings or runs, and
raises ``ConnectorError(message, permanent=...)`` for every failure.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from apps.common.errors import ErrorCategory
from apps.common.http import OutboundClient
from apps.common.objects import CanonicalInput
from apps.connectors.errors import ConnectorError
from apps.connectors.oauth2 import MemoryTokenStore, TokenManager
from apps.connectors.ratelimit import RateLimit


@dataclass(frozen=True)
class ObjectSpec:
    """One object a kind can move. ``name`` is the kind's own name; ``object_type`` the canonical one."""

    name: str
    object_type: str
    readable: bool = True
    writable: bool = False
    incremental: bool = False  # reads can resume from a cursor instead of starting over


@dataclass(frozen=True)
class Capabilities:
    objects: tuple[ObjectSpec, ...]
    batch_size: int = 100
    rate_limit: RateLimit = RateLimit()

    def spec(self, name: str) -> ObjectSpec:
        for spec in self.objects:
            if spec.name == name:
                return spec
        known = ", ".join(s.name for s in self.objects)
        raise ConnectorError(f"Unknown object {name!r}; this kind knows {known}.", permanent=True,
                             category=ErrorCategory.CONFIG)

    @property
    def reads(self) -> list[str]:
        return [s.name for s in self.objects if s.readable]

    @property
    def writes(self) -> list[str]:
        return [s.name for s in self.objects if s.writable]


@dataclass
class Page:
    """Records read in one go, and the cursor to resume after them (None: nothing more to read)."""

    records: list[dict[str, Any]]
    next_cursor: str | None
    errors: list[RecordError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the run should say it left for later (a file too new)


@dataclass
class RecordError:
    """A source record that could not be read, named well enough to find and fix it."""

    reference: str  # e.g. "row 17" or "time entry 8812"
    message: str
    field: str | None = None
    category: str = ErrorCategory.PARSE
    raw: Any = None


@dataclass
class WriteResult:
    external_id: str
    created: bool  # False: the record existed already (found by our reference) and was updated
    response: dict[str, Any] | None = None


@dataclass(frozen=True)
class WriteRequest:
    """One record of a ``write_many`` batch: its payload, our reference and its idempotency key."""

    payload: dict[str, Any]
    reference: str
    idempotency_key: str | None = None


@dataclass
class TestResult:
    ok: bool
    message: str


@dataclass(frozen=True)
class FieldSpec:
    """A setting or credential a kind needs, for forms and validation."""

    name: str
    label: str
    required: bool = True
    help: str = ""
    type: str = "text"  # how forms ask for it: text, int, url or json (a mapping such as project code → id)


@dataclass
class KindContext:
    """What a kind instance gets: the connection's settings, its decrypted credentials, a way to build
    the one HTTP client with the connection's limits, and the connection's private file area."""

    connection_id: int | None
    connection_name: str
    settings: dict[str, Any]
    credentials: dict[str, Any] = field(repr=False)  # never in a repr: error pages and logs print reprs
    http_factory: Any  # (base_url, headers, timeout=None) -> OutboundClient
    files_root: Path
    token_store: Any = None  # where refreshed OAuth2 tokens are kept (apps.connectors.oauth2.TokenStore); None: memory
    allow_private_network: bool = False  # for protocols other than HTTP (SFTP), which check hosts themselves
    run_stamp: str = ""  # names the run this instance works for (a run's slices each make an instance), if any
    lookup_stamps: Any = None  # stamps of look-ups remembered per process (apps.connectors.stamps); None: unsaved


class ConnectorKind:
    slug: ClassVar[str]
    label: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    settings_fields: ClassVar[tuple[FieldSpec, ...]] = ()
    credential_fields: ClassVar[tuple[FieldSpec, ...]] = ()
    # The target's maximum processing window: how long after we stop waiting for its reply a write may still be
    # carried out (a request queued behind others, a slow commit). A create in doubt is looked for by its
    # reference until this has passed, and only then sent again. 0: the kind's writes cannot land late (an
    # idempotency key, or no find). A connection's ``write_window_seconds`` setting overrides it.
    write_window_seconds: ClassVar[float] = 0

    def __init__(self, context: KindContext):
        self.context = context
        self._check_configuration()

    # --- the interface -----------------------------------------------------------------------
    def test(self) -> TestResult:
        raise NotImplementedError

    def read(self, object_name: str, *, cursor: str | None = None) -> Iterator[Page]:
        raise ConnectorError(f"{self.label} cannot read {object_name}.", permanent=True, category=ErrorCategory.CONFIG)

    def write(
        self, object_name: str, payload: dict, *, reference: str, external_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> WriteResult:
        """Create (``external_id`` None) or update one record. ``reference`` is our stable name for the
        record (store it where ``find`` can see it); ``idempotency_key`` changes with the content and
        suits vendor idempotency headers."""
        raise ConnectorError(f"{self.label} cannot write {object_name}.", permanent=True, category=ErrorCategory.CONFIG)

    def writes_many(self, object_name: str) -> bool:
        """Whether ``write_many`` can create several ``object_name`` records in one call."""
        return False

    def write_many(self, object_name: str, requests: list[WriteRequest]) -> list[WriteResult]:
        """Create several records in one call, all or none; results in the order of ``requests``. A failure
        raises for the whole batch: ``in_doubt`` when the answer was lost (any of them may exist), a permanent
        validation error when the target refused the batch (perhaps for one bad record: the engine splits it)."""
        raise ConnectorError(f"{self.label} cannot write many {object_name} at once.", permanent=True,
                             category=ErrorCategory.CONFIG)

    def find(self, object_name: str, *, reference: str) -> str | None:
        """The external id of the record we wrote under ``reference``, if the system has it."""
        return None

    def find_many(self, object_name: str, references: list[str]) -> dict[str, str]:
        """``find`` for several references: {reference: external id} of those the system has (a kind that can
        ask in one call says so here)."""
        return {reference: found for reference in references
                if (found := self.find(object_name, reference=reference)) is not None}

    def write_window(self) -> float:
        """Seconds a write in doubt may still land in the target (see ``write_window_seconds``)."""
        value = self.setting("write_window_seconds")
        try:
            return float(value) if value not in (None, "") else float(self.write_window_seconds)
        except (TypeError, ValueError):
            raise ConnectorError(f"{self.context.connection_name}: setting write_window_seconds must be a number of "
                                 f"seconds, not {value!r}.", permanent=True, category=ErrorCategory.CONFIG) from None

    def batch(self) -> AbstractContextManager:
        """Writes inside may be held back, then made durable together when it ends without an exception (the
        engine records them only after that). A kind whose every write is durable when it returns (an API
        call) holds nothing back."""
        return nullcontext()

    def delete(self, object_name: str, external_id: str) -> None:
        raise ConnectorError(f"{self.label} cannot delete {object_name}.", permanent=True,
                             category=ErrorCategory.CONFIG)

    def to_canonical(self, object_name: str, record: dict) -> CanonicalInput:
        """The kind's default translation of a native record into canonical fields."""
        raise NotImplementedError

    def from_canonical(self, object_name: str, canonical: dict, refs: dict[str, str | None]) -> dict:
        """The kind's default payload for a canonical record; ``refs`` are this system's ids of related records."""
        raise NotImplementedError

    def oauth2_spec(self):
        """The vendor's OAuth2 endpoints (``apps.connectors.oauth2.OAuth2Spec``) if connections authorize with a
        Connect button; None for kinds that take static credentials."""
        return None

    def record_location(self, object_name: str, record: dict) -> str:
        """Where a native record came from, to put in front of its error messages ("time.csv row 17");
        empty when its external id says enough."""
        return ""

    # --- checks when a connection is saved (admin form, API, import_config: all through the services) ------
    @classmethod
    def saved_problems(cls, *, settings: dict[str, Any], credentials: dict[str, Any]) -> Iterator[tuple[str, str]]:
        """``(field, message)`` for settings or secrets that must not be saved; ``credentials`` holds only
        the secrets being entered now."""
        return iter(())

    @classmethod
    def outbound_hosts(cls, settings: dict[str, Any]) -> list[tuple[str, str]]:
        """``(setting, host)`` for every host a connection with ``settings`` calls: by default every setting
        named ``*url`` (its host) or ``*host``, so a new kind's addresses are checked without more code."""
        found = []
        for key, value in settings.items():
            if not isinstance(value, str) or not value.strip():
                continue
            if key.endswith("url"):
                try:
                    host = urlsplit(value.strip()).hostname
                except ValueError:
                    host = None
            else:
                host = value.strip() if key.endswith("host") else None
            if host:
                found.append((key, host))
        return found

    # --- helpers for kinds -------------------------------------------------------------------
    def http(self, base_url: str, headers: dict[str, str] | None = None, *,
             timeout: float | None = None) -> OutboundClient:
        """The one HTTP client, bound to the connection; ``timeout`` (seconds per request) if the kind's
        settings name one, else the client's default."""
        if timeout is None:
            return self.context.http_factory(base_url, headers or {})
        return self.context.http_factory(base_url, headers or {}, timeout=timeout)

    def oauth2_tokens(self):
        """A token manager for the connection's OAuth2 grant, or None when its credentials are a fixed token (no
        refresh token and no client credentials to renew it with)."""
        spec, credentials = self.oauth2_spec(), self.context.credentials
        renewable = credentials.get("refresh_token") or (
            spec is not None and spec.grant == "client_credentials" and credentials.get("client_id"))
        if spec is None or not renewable:
            return None
        store = self.context.token_store or MemoryTokenStore(credentials)
        return TokenManager(spec, store=store, credentials=credentials, http_factory=self.context.http_factory,
                            clock=getattr(self, "clock", None) or time.time)

    def setting(self, name: str, default: Any = None) -> Any:
        return self.context.settings.get(name, default)

    def credential(self, name: str) -> str:
        value = self.context.credentials.get(name)
        if not value:
            raise ConnectorError(f"{self.context.connection_name}: credential {name!r} is not set.", permanent=True,
                                 category=ErrorCategory.AUTH)
        return value

    def _check_configuration(self) -> None:
        missing = [f.name for f in self.settings_fields if f.required and not self.context.settings.get(f.name)]
        if missing:
            raise ConnectorError(
                f"{self.context.connection_name}: missing setting(s) {', '.join(missing)}.", permanent=True,
                category=ErrorCategory.CONFIG,
            )
