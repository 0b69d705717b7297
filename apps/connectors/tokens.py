"""OAuth2 tokens kept in a connection's sealed credentials, refreshed by one worker at a time.

A refreshed token must outlive whatever transaction the kind was called in: a vendor that rotates refresh
tokens has already spent the old one, so losing the new one to a rollback (a webhook handler that failed)
would leave the connection needing re-authorization. Inside a transaction the store therefore writes through
a second database connection of its own, which commits at once. A connection row the outer transaction has
just created (or locked) is not visible (or not available) to that second connection; then the tokens go
with the outer transaction, which is the one that holds the row anyway.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

from django.db import connection as db
from django.db import connections, transaction
from django.db.utils import OperationalError
from django.utils import timezone

from apps.connectors import crypto
from apps.connectors.models import GrantStatus, OAuthGrant

logger = logging.getLogger(__name__)
LOCK_TIMEOUT = "5s"
SELECT = "SELECT credentials_token FROM connectors_connection WHERE id = %s FOR UPDATE"
UPDATE = "UPDATE connectors_connection SET credentials_token = %s, credentials_updated_at = %s WHERE id = %s"


class DatabaseTokenStore:
    """The token store of a saved connection (see ``apps.connectors.oauth2.TokenStore``)."""

    def __init__(self, connection_id: int):
        self.connection_id = connection_id
        self._cursor = None

    @contextlib.contextmanager
    def locked(self) -> Iterator[dict]:
        with self._independent_cursor() as cursor:
            cursor.execute(SELECT, [self.connection_id])
            row = cursor.fetchone()
            self._cursor = cursor
            try:
                yield crypto.unseal(row[0]) if row else {}
            finally:
                self._cursor = None

    def save(self, credentials: dict) -> None:
        """Replace the credentials (operational: a token refresh writes no history row)."""
        assert self._cursor is not None, "save() belongs inside locked()"
        self._cursor.execute(UPDATE, [crypto.seal(credentials), timezone.now(), self.connection_id])

    def mark(self, *, ok: bool, message: str = "", expires_at: float | None = None) -> None:
        grant_mark(connection_id=self.connection_id, ok=ok, message=message, expires_at=expires_at)

    @contextlib.contextmanager
    def _independent_cursor(self):
        side = _side_connection_holding(self.connection_id) if db.in_atomic_block else None
        if side is None:
            with transaction.atomic(), db.cursor() as cursor:
                yield cursor
            return
        try:
            with side.cursor() as cursor:
                yield cursor
            side.commit()
        except BaseException:
            side.rollback()
            raise
        finally:
            side.close()


def _side_connection_holding(connection_id: int):
    """A second connection to the same database and schema, in a transaction that holds the connection's row;
    None when the row is not visible to it (created in the outer transaction) or stays locked (by it)."""
    side = connections.create_connection("default")
    side.set_schema(db.schema_name)
    side.set_autocommit(False)
    try:
        with side.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            cursor.execute(SELECT, [connection_id])
            if cursor.fetchone() is not None:
                return side
    except OperationalError:
        logger.info("connection %s: its row is busy in this transaction; tokens are written within it", connection_id)
    side.rollback()
    side.close()
    return None


def grant_mark(*, connection_id: int, ok: bool, message: str = "", expires_at: float | None = None) -> None:
    """Record on the connection's grant whether the vendor still honours it (monitors raise the exception)."""
    now = timezone.now()
    changes = {"status": GrantStatus.CONNECTED if ok else GrantStatus.REAUTHORIZE, "message": message[:2000]}
    if ok:
        changes["refreshed_at"] = now
    if expires_at:
        changes["expires_at"] = datetime.fromtimestamp(expires_at, tz=UTC)
    if not OAuthGrant.objects.filter(connection_id=connection_id).update(**changes):
        OAuthGrant.objects.create(connection_id=connection_id, **changes)
