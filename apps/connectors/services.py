"""Writes for connections: create, set credentials, test, rotate keys; and building a kind instance."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings as django_settings
from django.db import connection as db
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from apps.common.errors import ExternalSystemError
from apps.common.history import save_attributed
from apps.common.http import OutboundClient
from apps.connectors import crypto
from apps.connectors.kinds import get_kind
from apps.connectors.kinds.base import ConnectorKind, KindContext, TestResult
from apps.connectors.models import Connection, HealthStatus
from apps.connectors.ratelimit import DatabaseRateLimiter
from apps.connectors.tokens import DatabaseTokenStore
from apps.tenants import access


def connection_create(
    *, name: str, kind: str, settings: dict | None = None, credentials: dict | None = None,
    slug: str | None = None, allow_private_network: bool = False, acting_user, description: str = "",
) -> Connection:
    access.check(acting_user, "configuration.change")
    get_kind(kind)  # refuses unknown kinds with a clear message
    connection = Connection(
        name=name, slug=slug or slugify(name), kind=kind, settings=settings or {}, description=description,
        allow_private_network=allow_private_network,
    )
    if credentials:
        _seal_into(connection, credentials)
    return save_attributed(connection, acting_user=acting_user, reason="Connection created")


# What a person may change after creation; slug and kind stay, since webhook senders and flows name them.
CONNECTION_EDITABLE_FIELDS = ("name", "description", "is_enabled", "settings", "allow_private_network")


@transaction.atomic
def connection_update(
    *, connection: Connection, changes: dict, credentials: dict | None = None, acting_user,
) -> Connection:
    """Change editable fields (one history row naming them) and, if given, replace secrets."""
    access.check(acting_user, "configuration.change")
    unknown = set(changes) - set(CONNECTION_EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"Not editable on a connection: {', '.join(sorted(unknown))}.")
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


def connection_set_credentials(*, connection: Connection, credentials: dict, acting_user) -> Connection:
    """Replace the stored secrets. Blank values keep what was stored, so a form can leave them empty."""
    access.check(acting_user, "configuration.change")
    return credentials_store(connection=connection, credentials=credentials, acting_user=acting_user)


def credentials_store(*, connection: Connection, credentials: dict, acting_user) -> Connection:
    """Seal and save secrets, for services that checked their own action first (OAuth2 Connect)."""
    merged = {**crypto.unseal(connection.credentials_token), **{k: v for k, v in credentials.items() if v}}
    _seal_into(connection, merged)
    return save_attributed(
        connection, acting_user=acting_user, reason="Credentials replaced",
        update_fields=["credentials_token", "credentials_updated_at", "updated_at"],
    )


def connection_kind(connection: Connection) -> ConnectorKind:
    """A ready instance of the connection's kind, with its secrets and the shared rate limiter."""
    kind_class = get_kind(connection.kind)
    limiters: list[DatabaseRateLimiter] = []  # made on first use: a manifest kind knows its limits once built
    built: list[ConnectorKind] = []

    def http_factory(base_url: str, headers: dict) -> OutboundClient:
        if not limiters:
            limits = (built[0] if built else kind_class).capabilities.rate_limit
            limiters.append(DatabaseRateLimiter(connection.pk, limits))
        return OutboundClient(
            base_url=base_url, name=connection.name, headers=headers, limiter=limiters[0],
            allow_private_network=connection.allow_private_network, kind=connection.kind,
        )

    context = KindContext(
        connection_id=connection.pk, connection_name=connection.name, settings=connection.settings,
        credentials=crypto.unseal(connection.credentials_token), http_factory=http_factory,
        files_root=connection_files_root(connection), token_store=DatabaseTokenStore(connection.pk),
    )
    built.append(kind_class(context))
    return built[0]


def connection_files_root(connection: Connection) -> Path:
    """The connection's private folder: inside its tenant's folder, so files never cross tenants."""
    return Path(django_settings.WEFT_DATA_DIR) / "files" / db.schema_name / connection.slug


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


def _seal_into(connection: Connection, credentials: dict) -> None:
    connection.credentials_token = crypto.seal(credentials)
    connection.credentials_updated_at = timezone.now()
