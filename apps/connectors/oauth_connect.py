"""The Connect button's two halves: send a person to the vendor's sign-in (with state and PKCE), and on their
return swap the code for tokens, sealed into the connection's credentials like any other secret."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from apps.common.errors import ApplicationError
from apps.connectors import crypto
from apps.connectors.crypto import SENSITIVE_NAMES
from apps.connectors.models import Connection, GrantStatus, OAuthGrant
from apps.connectors.oauth2 import AuthorizationRequest, authorization_request, code_exchange
from apps.connectors.services import connection_kind, credentials_store
from apps.tenants import access


class ConnectError(ApplicationError):
    """Connect cannot start or finish (no OAuth2 for this kind, no client id, the vendor refused the code)."""


def oauth_connect_start(*, connection: Connection, redirect_uri: str) -> AuthorizationRequest:
    kind = connection_kind(connection)
    spec = kind.oauth2_spec()
    if spec is None or spec.grant != "authorization_code":
        raise ConnectError(f"{connection} does not sign in with OAuth2; enter its credentials instead.")
    client_id = crypto.unseal(connection.credentials_token).get("client_id")
    if not client_id:
        raise ConnectError(f"{connection}: enter the OAuth2 client id and secret of your app at the vendor first "
                           "(credentials client_id and client_secret), then click Connect.")
    return authorization_request(spec, client_id=client_id, redirect_uri=redirect_uri)


@sensitive_variables(*SENSITIVE_NAMES)
@transaction.atomic
def oauth_connect_finish(*, connection: Connection, code: str, redirect_uri: str, code_verifier: str,
                         acting_user) -> Connection:
    access.check(acting_user, "connection.connect")
    kind = connection_kind(connection)
    stored = crypto.unseal(connection.credentials_token)
    tokens = code_exchange(kind.oauth2_spec(), http_factory=kind.context.http_factory,
                           client_id=stored.get("client_id", ""), client_secret=stored.get("client_secret", ""),
                           code=code, redirect_uri=redirect_uri, code_verifier=code_verifier)
    connection = credentials_store(connection=connection, credentials=tokens, acting_user=acting_user)
    now = timezone.now()
    values = {"status": GrantStatus.CONNECTED, "message": "", "connected_at": now, "refreshed_at": now,
              "connected_by": getattr(acting_user, "username", "") or "",
              "expires_at": datetime.fromtimestamp(int(tokens["expires_at"]), tz=UTC)}
    OAuthGrant.objects.update_or_create(connection=connection, defaults=values)
    return connection
