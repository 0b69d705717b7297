"""Writes for connections: create, set credentials, test, rotate keys; and building a kind instance."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings as django_settings
from django.db import connection as db
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.debug import sensitive_variables

from apps.common.errors import ExternalSystemError
from apps.common.history import save_attributed
from apps.common.http import OutboundClient, address_allowed, resolve_host
from apps.common.untrusted import UntrustedInputError, check_json_tree, has_nul
from apps.connectors import crypto
from apps.connectors.crypto import SENSITIVE_NAMES
from apps.connectors.errors import ConnectionInvalid, PrivateNetworkRefused
from apps.connectors.kinds import get_kind
from apps.connectors.kinds.base import ConnectorKind, KindContext, TestResult
from apps.connectors.models import Connection, HealthStatus
from apps.connectors.ratelimit import DatabaseRateLimiter
from apps.connectors.stamps import DatabaseLookupStamps
from apps.connectors.tokens import DatabaseTokenStore
from apps.tenants import access


@sensitive_variables(*SENSITIVE_NAMES)
def connection_create(
    *, name: str, kind: str, settings: dict | None = None, credentials: dict | None = None,
    slug: str | None = None, allow_private_network: bool = False, acting_user, description: str = "",
) -> Connection:
    access.check(acting_user, "configuration.change")
    get_kind(kind)  # refuses unknown kinds with a clear message
    connection_save_check(connection=None, kind=kind, settings=settings or {}, credentials=credentials,
                          allow_private_network=allow_private_network, acting_user=acting_user)
    connection = Connection(
        name=name, slug=slug or slugify(name), kind=kind, settings=settings or {}, description=description,
        allow_private_network=allow_private_network,
    )
    if credentials:
        _seal_into(connection, credentials)
    return save_attributed(connection, acting_user=acting_user, reason="Connection created")


# What a person may change after creation; slug and kind stay, since webhook senders and flows name them.
CONNECTION_EDITABLE_FIELDS = ("name", "description", "is_enabled", "settings", "allow_private_network")


@sensitive_variables(*SENSITIVE_NAMES)
@transaction.atomic
def connection_update(
    *, connection: Connection, changes: dict, credentials: dict | None = None, acting_user,
) -> Connection:
    """Change editable fields (one history row naming them) and, if given, replace secrets."""
    access.check(acting_user, "configuration.change")
    unknown = set(changes) - set(CONNECTION_EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"Not editable on a connection: {', '.join(sorted(unknown))}.")
    connection_save_check(
        connection=connection, kind=connection.kind, settings=changes.get("settings", connection.settings),
        credentials=credentials, allow_private_network=changes.get("allow_private_network",
                                                                   connection.allow_private_network),
        acting_user=acting_user,
    )
    changed = [name for name, value in changes.items() if getattr(connection, name) != value]
    for name in changed:
        setattr(connection, name, changes[name])
    if changed:
        save_attributed(connection, acting_user=acting_user, reason=f"Changed {', '.join(changed)}",
                        update_fields=[*changed, "updated_at"])
    if credentials:
        connection = connection_set_credentials(connection=connection, credentials=credentials,
                                                acting_user=acting_user)
    return connection


@sensitive_variables(*SENSITIVE_NAMES)
def connection_set_credentials(*, connection: Connection, credentials: dict, acting_user) -> Connection:
    """Replace the stored secrets. Blank values keep what was stored, so a form can leave them empty."""
    access.check(acting_user, "configuration.change")
    _secrets_check(connection.kind, connection.settings, credentials)
    return credentials_store(connection=connection, credentials=credentials, acting_user=acting_user)


@sensitive_variables(*SENSITIVE_NAMES)
def credentials_store(*, connection: Connection, credentials: dict, acting_user) -> Connection:
    """Seal and save secrets, for services that checked their own action first (OAuth2 Connect)."""
    merged = {**crypto.unseal(connection.credentials_token), **{k: v for k, v in credentials.items() if v}}
    _seal_into(connection, merged)
    return save_attributed(
        connection, acting_user=acting_user, reason="Credentials replaced",
        update_fields=["credentials_token", "credentials_updated_at", "updated_at"],
    )


@sensitive_variables(*SENSITIVE_NAMES)
def connection_save_check(
    *, connection: Connection | None, kind: str, settings: dict, credentials: dict | None,
    allow_private_network: bool, acting_user,
) -> None:
    """Everything a save of ``connection`` (None: a new one) must pass, for whoever saves it (admin form, API,
    import_config): ``connection_check``, and only a platform operator may switch private networks on or
    point a connection that has them at new hosts (an operator allowed the hosts they saw)."""
    current = connection.allow_private_network if connection is not None else False
    private_network_permission_check(acting_user=acting_user, requested=allow_private_network, current=current)
    if allow_private_network and not _is_operator(acting_user) and (
            connection is None or _hosts(kind, settings) != _hosts(kind, connection.settings)):
        allow_private_network = False
    connection_check(kind=kind, settings=settings, credentials=credentials,
                     allow_private_network=allow_private_network)


@sensitive_variables(*SENSITIVE_NAMES)
def connection_check(*, kind: str, settings: dict, credentials: dict | None, allow_private_network: bool) -> None:
    """Refuse, naming the field, what must not be saved on a connection: settings PostgreSQL cannot store
    (NUL characters, absurd nesting), what the kind rules out (a short webhook secret), and hosts at private,
    loopback or link-local addresses unless private networks are allowed. Every save path comes here."""
    if not isinstance(settings, dict):
        raise ConnectionInvalid("The settings must be a JSON object.", field="settings")
    try:
        check_json_tree(settings, max_depth=16, where="The settings")
    except UntrustedInputError as error:
        raise ConnectionInvalid(error.message, field="settings") from None
    _secrets_check(kind, settings, credentials or {})
    if not allow_private_network:
        for field, host in _hosts(kind, settings):
            _refuse_private_host(field, host)


def private_network_permission_check(*, acting_user, requested: bool, current: bool) -> None:
    """Only a platform operator (a superuser) may let a connection call private addresses; the system
    itself (``acting_user`` None: management commands, the demo seed) may too."""
    if requested and not current and not _is_operator(acting_user):
        raise PrivateNetworkRefused("Only a platform operator can allow a connection to call private network "
                                    "addresses.", field="allow_private_network")


def private_network_effective(*, acting_user, requested: bool, connection: Connection | None) -> bool:
    """Whether a call made for ``acting_user`` without saving (the workbench's "Try it") may reach private
    addresses: when a platform operator asks, or the saved connection is one an operator already allowed."""
    return requested and (_is_operator(acting_user) or bool(connection and connection.allow_private_network))


def _is_operator(acting_user) -> bool:
    return acting_user is None or bool(getattr(acting_user, "is_active", False) and acting_user.is_superuser)


def _hosts(kind: str, settings) -> list[tuple[str, str]]:
    return get_kind(kind).outbound_hosts(settings) if isinstance(settings, dict) else []


@sensitive_variables(*SENSITIVE_NAMES)
def _secrets_check(kind: str, settings: dict, credentials: dict) -> None:
    for name, value in credentials.items():
        if not isinstance(value, str) or has_nul(name) or has_nul(value):
            raise ConnectionInvalid("Credentials must be text without NUL characters.", field="credentials")
    for field, message in get_kind(kind).saved_problems(settings=settings, credentials=credentials):
        raise ConnectionInvalid(message, field=field)


def _refuse_private_host(field: str, host: str) -> None:
    try:
        addresses = resolve_host(host)
    except ExternalSystemError:
        return  # a name that does not resolve now cannot be judged now; every call checks it again
    refused = [address for address in addresses if not address_allowed(address)]
    if refused:
        raise ConnectionInvalid(
            f"{field}: {host} is a private, loopback or link-local address ({refused[0]}). Weft calls such "
            f"addresses only for connections a platform operator allows to use private networks.", field=field)


@sensitive_variables(*SENSITIVE_NAMES)
def connection_kind(connection: Connection, *, run=None) -> ConnectorKind:
    """A ready instance of the connection's kind, with its secrets and the shared rate limiter. ``run``: the run
    it works for; each of the run's slices makes its own instance, and ``run_stamp`` tells them they are one."""
    kind_class = get_kind(connection.kind)
    limiters: list[DatabaseRateLimiter] = []  # made on first use: a manifest kind knows its limits once built
    built: list[ConnectorKind] = []

    def http_factory(base_url: str, headers: dict, timeout: float = 30.0) -> OutboundClient:
        if not limiters:
            limits = (built[0] if built else kind_class).capabilities.rate_limit
            limiters.append(DatabaseRateLimiter(connection.pk, limits))
        return OutboundClient(
            base_url=base_url, name=connection.name, headers=headers, limiter=limiters[0],
            allow_private_network=connection.allow_private_network, kind=connection.kind, timeout=timeout,
        )

    context = KindContext(
        connection_id=connection.pk, connection_name=connection.name, settings=connection.settings,
        credentials=crypto.unseal(connection.credentials_token), http_factory=http_factory,
        files_root=connection_files_root(connection), token_store=DatabaseTokenStore(connection.pk),
        allow_private_network=connection.allow_private_network, run_stamp=_run_stamp(run),
        lookup_stamps=DatabaseLookupStamps(connection.pk) if connection.pk else None,
    )
    built.append(kind_class(context))
    return built[0]


def _run_stamp(run) -> str:
    if run is None or run.pk is None:
        return ""
    return f"{(run.started_at or run.created_at or timezone.now()):%Y%m%dT%H%M%SZ}-run{run.pk}"


def connection_files_root(connection: Connection) -> Path:
    """The connection's private folder: inside its tenant's folder, so files never cross tenants."""
    return Path(django_settings.WEFT_DATA_DIR) / "files" / db.schema_name / connection.slug


@sensitive_variables(*SENSITIVE_NAMES)
def connection_test(*, connection: Connection, acting_user) -> TestResult:
    """Try the connection now and record the outcome on it (``acting_user=None``: the circuit's probe)."""
    access.check(acting_user, "connection.test")
    try:
        result = connection_kind(connection).test()
    except ExternalSystemError as error:
        result = TestResult(ok=False, message=error.message)
    Connection.objects.filter(pk=connection.pk).update(  # operational fields: no history row
        health_status=HealthStatus.OK if result.ok else HealthStatus.FAILING,
        last_checked_at=timezone.now(), last_check_message=result.message[:2000],
    )
    return result


def credentials_reseal_all() -> int:
    """Re-encrypt every connection's secrets in this schema under the current primary key."""
    count = 0
    for connection in Connection.objects.exclude(credentials_token=""):
        Connection.objects.filter(pk=connection.pk).update(credentials_token=crypto.reseal(connection.credentials_token))
        count += 1
    return count


@sensitive_variables(*SENSITIVE_NAMES)
def _seal_into(connection: Connection, credentials: dict) -> None:
    connection.credentials_token = crypto.seal(credentials)
    connection.credentials_updated_at = timezone.now()
