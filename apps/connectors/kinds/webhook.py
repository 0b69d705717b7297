"""Inbound webhooks: a system pushes signed events to /api/v1/hooks/<connection>/.

The sender signs ``<timestamp>.<body>`` with HMAC-SHA256 under the connection's ``signing_secret``
and sends ``X-Weft-Timestamp`` and ``X-Weft-Signature: sha256=<hex>``; stale timestamps are refused
so a captured request cannot be replayed.
"""

from __future__ import annotations

import hashlib
import hmac

from apps.common.errors import ErrorCategory
from apps.common.objects import ObjectType
from apps.connectors.errors import ConnectorError
from apps.connectors.kinds import register
from apps.connectors.kinds.base import Capabilities, ConnectorKind, FieldSpec, ObjectSpec, TestResult

DEFAULT_TOLERANCE_SECONDS = 300
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
        FieldSpec("tolerance_seconds", "Timestamp tolerance (s)", required=False,
                  help="Events signed longer ago than this are refused (default 300)."),
    )

    def test(self) -> TestResult:
        secret = self.context.credentials.get("signing_secret", "")
        if len(secret) < 32:
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
        tolerance = self.tolerance_seconds()
        if abs(now - int(timestamp)) > tolerance:
            raise ConnectorError(
                f"Timestamp is more than {tolerance} seconds from our clock; sign with the current time.",
                permanent=True, category=ErrorCategory.AUTH,
            )

    def tolerance_seconds(self) -> int:
        try:
            value = int(self.setting("tolerance_seconds") or DEFAULT_TOLERANCE_SECONDS)
        except (TypeError, ValueError):
            return DEFAULT_TOLERANCE_SECONDS  # a mistyped setting must not open the window wider
        return value if value > 0 else DEFAULT_TOLERANCE_SECONDS
