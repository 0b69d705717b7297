"""Inbound webhooks: a system pushes signed events to /api/v1/hooks/<connection>/.

The sender signs ``<timestamp>.<body>`` with HMAC-SHA256 under the connection's ``signing_secret``
and sends ``X-Weft-Timestamp`` and ``X-Weft-Signature: sha256=<hex>``; stale timestamps are refused
so a captured request cannot be replayed.

Senders that speak Standard Webhooks (https://www.standardwebhooks.com/) may sign that way instead:
``webhook-id``, ``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``,
keyed with the same signing secret's bytes (in that standard's terms, ``whsec_`` + base64 of the secret). The
signature is computed by the ``standardwebhooks`` library; the tolerance is the connection's, as above.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

from apps.common.errors import ErrorCategory
from apps.common.objects import ObjectType
from apps.connectors.errors import ConnectorError
from apps.connectors.kinds import register
from apps.connectors.kinds.base import Capabilities, ConnectorKind, FieldSpec, ObjectSpec, TestResult

DEFAULT_TOLERANCE_SECONDS = 300
MIN_TOLERANCE_SECONDS, MAX_TOLERANCE_SECONDS = 30, 3600  # a clock may drift; a captured request must not live long
MIN_SECRET_LENGTH = 32
# One answer for every failure a caller without the secret can cause, so slugs cannot be probed.
BAD_SIGNATURE = "Invalid signature."


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Weft-Signature`` value for ``body`` sent at ``timestamp`` (unix seconds, as sent)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


@register
class InboundWebhookKind(ConnectorKind):
    slug = "webhook"
    label = "Inbound webhook"
    capabilities = Capabilities(objects=(
        ObjectSpec("events", ObjectType.TIME_ENTRY, readable=False),
    ))
    credential_fields = (FieldSpec("signing_secret", "Signing secret", help="Shared with the sender; 32+ characters."),)
    settings_fields = (
        FieldSpec("tolerance_seconds", "Timestamp tolerance (s)", required=False, type="int",
                  help="Events signed longer ago than this are refused (default 300)."),
    )

    @classmethod
    def saved_problems(cls, *, settings: dict[str, Any], credentials: dict[str, Any]) -> Iterator[tuple[str, str]]:
        secret = credentials.get("signing_secret")
        if secret and len(secret) < MIN_SECRET_LENGTH:
            yield "signing_secret", f"The signing secret must be at least {MIN_SECRET_LENGTH} characters long."
        tolerance = settings.get("tolerance_seconds")
        if tolerance not in (None, "") and _whole_seconds(tolerance) is None:
            yield "tolerance_seconds", (f"tolerance_seconds must be a whole number of seconds from "
                                        f"{MIN_TOLERANCE_SECONDS} to {MAX_TOLERANCE_SECONDS}.")

    def test(self) -> TestResult:
        secret = self.context.credentials.get("signing_secret", "")
        if len(secret) < MIN_SECRET_LENGTH:
            return TestResult(False, "Set a signing secret of at least 32 characters.")
        return TestResult(True, "Ready to receive signed events.")

    def verify(self, *, timestamp: str, signature: str, body: bytes, now: float) -> None:
        """Refuse unless ``signature`` signs ``body`` at ``timestamp`` and that is within the tolerance.

        The signature is checked first: only a sender holding the secret learns that its clock is off.
        """
        secret = self.context.credentials.get("signing_secret", "")
        expected = sign(secret, timestamp, body).encode()
        if not secret or not hmac.compare_digest(expected, signature.encode(errors="replace")):
            raise ConnectorError(BAD_SIGNATURE, permanent=True, category=ErrorCategory.AUTH)
        self._check_fresh(timestamp, now)

    def verify_standard(self, *, message_id: str, timestamp: str, signature: str, body: bytes, now: float) -> None:
        """Refuse unless one of the ``v1,...`` signatures in ``signature`` (Standard Webhooks) signs this message."""
        secret = self.context.credentials.get("signing_secret", "")
        if not secret:
            raise ConnectorError(BAD_SIGNATURE, permanent=True, category=ErrorCategory.AUTH)
        sent_at = datetime.fromtimestamp(int(timestamp), tz=UTC)
        expected = Webhook(secret.encode()).sign(msg_id=message_id, timestamp=sent_at, data=body).encode()
        if not any(hmac.compare_digest(expected, given.encode(errors="replace")) for given in signature.split(" ")):
            raise ConnectorError(BAD_SIGNATURE, permanent=True, category=ErrorCategory.AUTH)
        self._check_fresh(timestamp, now)

    def _check_fresh(self, timestamp: str, now: float) -> None:
        tolerance = self.tolerance_seconds()
        if abs(now - int(timestamp)) > tolerance:
            raise ConnectorError(
                f"Timestamp is more than {tolerance} seconds from our clock; sign with the current time.",
                permanent=True, category=ErrorCategory.AUTH,
            )

    def tolerance_seconds(self) -> int:
        # A value saved before the bounds were checked must not open the window wider either.
        return _whole_seconds(self.setting("tolerance_seconds")) or DEFAULT_TOLERANCE_SECONDS


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit() and len(text) < 10


def _whole_seconds(value: Any) -> int | None:
    """A tolerance within the bounds (an int, or digits as text), else None."""
    if isinstance(value, bool) or not isinstance(value, int | str) or not _digits(str(value).strip()):
        return None
    seconds = int(str(value).strip())
    return seconds if MIN_TOLERANCE_SECONDS <= seconds <= MAX_TOLERANCE_SECONDS else None
