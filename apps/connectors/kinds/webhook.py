"""Inbound webhooks: a system pushes signed events to /api/v1/hooks/<connection>/.

The sender signs ``<timestamp>.<body>`` with HMAC-SHA256 under the connection's ``signing_secret``
and sends ``X-Weft-Timestamp`` and ``X-Weft-Signature: sha256=<hex>``; stale timestamps are refused
so a captured request cannot be replayed.
"""

from __future__ import annotations

from apps.common.objects import ObjectType
from apps.connectors.kinds import register
from apps.connectors.kinds.base import Capabilities, ConnectorKind, FieldSpec, ObjectSpec, TestResult


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
