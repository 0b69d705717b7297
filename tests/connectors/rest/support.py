"""Building a REST kind instance over a fake vendor, through the real outbound HTTP client."""

from __future__ import annotations

from pathlib import Path

import httpx

from apps.common.http import OutboundClient
from apps.connectors.kinds.base import KindContext
from apps.connectors.kinds.rest.kind import RestKind
from apps.connectors.oauth2 import MemoryTokenStore


def rest_kind(manifest: dict, transport: httpx.BaseTransport, *, credentials: dict | None = None,
              settings: dict | None = None, sleeps: list | None = None, clock=None, token_store=None) -> RestKind:
    sleeps = sleeps if sleeps is not None else []
    credentials = credentials or {}

    def http_factory(base_url: str, headers: dict) -> OutboundClient:
        return OutboundClient(base_url=base_url, name="Test REST", headers=headers, transport=transport,
                              sleep=sleeps.append, allow_private_network=True)

    context = KindContext(connection_id=None, connection_name="Test REST",
                          settings={"manifest_document": manifest, **(settings or {})}, credentials=credentials,
                          http_factory=http_factory, files_root=Path("/nonexistent"),
                          token_store=token_store or MemoryTokenStore(credentials))
    kind = RestKind(context)
    if clock is not None:
        kind.clock = clock
    kind.sleep = sleeps.append
    return kind


def live_rest_kind(manifest: dict, *, base_url: str, credentials: dict, settings: dict | None = None) -> RestKind:
    """A REST kind that calls a real server on this machine (Prism) through the real outbound client."""

    def http_factory(url: str, headers: dict) -> OutboundClient:
        return OutboundClient(base_url=url, name="Prism", headers=headers, allow_private_network=True,
                              sleep=lambda seconds: None)

    context = KindContext(connection_id=None, connection_name="Prism",
                          settings={"manifest_document": manifest, "base_url": base_url, **(settings or {})},
                          credentials=credentials, http_factory=http_factory, files_root=Path("/nonexistent"),
                          token_store=MemoryTokenStore(credentials))
    return RestKind(context)
