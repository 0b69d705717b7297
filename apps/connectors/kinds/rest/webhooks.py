"""Vendor-native webhooks for manifest-driven connections: the vendor's own signature scheme (HMAC over what the
manifest says is signed), a timestamp tolerance against replays, and the events found in the body."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from apps.common.errors import ErrorCategory
from apps.connectors.errors import ConnectorError
from apps.connectors.kinds.rest.manifest import Manifest, search

# One answer for every failure a caller without the secret can cause, so connections cannot be probed.
BAD_SIGNATURE = "Invalid signature."
HASHES = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


@dataclass(frozen=True)
class VendorEvent:
    """One event of a vendor's webhook body, in Weft's terms."""

    event_id: str
    event_type: str
    object_name: str
    action: str  # changed or deleted
    record_id: str
    record: dict | None  # the whole record, when the vendor sends it


def webhook_verify(manifest: Manifest, *, secret: str, headers: Mapping[str, str], method: str, url: str,
                   body: bytes, now: float) -> None:
    """Refuse unless the signature header signs this request under ``secret`` within the timestamp tolerance. The
    signature is checked first: only a sender holding the secret learns that its clock is off."""
    config = manifest.webhooks
    signature, timestamp = config["signature"], config.get("timestamp")
    stamp = headers.get(timestamp["header"], "") if timestamp else ""
    signed = (signature.get("payload", "{body}").replace("{method}", method.upper()).replace("{url}", url)
              .replace("{timestamp}", stamp)).encode()
    signed = signed.replace(b"{body}", body)
    digest = hmac.new(secret.encode(), signed, HASHES[signature["algorithm"]]).digest()
    expected = signature.get("prefix", "") + (base64.b64encode(digest).decode() if signature.get(
        "encoding", "hex") == "base64" else digest.hex())
    given = headers.get(signature["header"], "")
    if not secret or not given or not hmac.compare_digest(expected.encode(), given.encode(errors="replace")):
        raise ConnectorError(BAD_SIGNATURE, permanent=True, category=ErrorCategory.AUTH)
    if timestamp:
        try:
            sent = float(stamp) / (1000 if timestamp.get("unit") == "milliseconds" else 1)
        except ValueError:
            raise ConnectorError(f"{timestamp['header']} is not a number.", permanent=True,
                                 category=ErrorCategory.AUTH) from None
        tolerance = timestamp.get("tolerance_seconds", 300)
        if abs(now - sent) > tolerance:
            raise ConnectorError(f"The timestamp is more than {tolerance} seconds from our clock; sign with the "
                                 "current time.", permanent=True, category=ErrorCategory.AUTH)


def webhook_events(manifest: Manifest, payload: Any) -> list[VendorEvent]:
    """The events in a verified body, of the types the manifest knows (others are left out)."""
    config = manifest.webhooks
    found = search(config.get("events", "@"), payload)
    items = found if isinstance(found, list) else [found] if isinstance(found, dict) else []
    events = []
    for item in items:
        event_type = search(config["type"], item)
        meaning = config["types"].get(str(event_type)) if event_type is not None else None
        if meaning is None:
            continue
        record = search(config.get("record"), item) if config.get("record") else None
        record_id = search(config.get("object_id"), item) if config.get("object_id") else None
        if record_id is None and isinstance(record, dict):
            record_id = search(manifest.object(meaning["object"]).get("id", "id"), record)
        event_id = search(config["id"], item)
        if event_id in (None, "") or record_id in (None, ""):
            raise ConnectorError(f"An event of type {event_type} has no id at {config['id']!r} or no record id.",
                                 permanent=True, category=ErrorCategory.PARSE)
        events.append(VendorEvent(str(event_id), str(event_type), meaning["object"], meaning["action"],
                                  str(record_id), record if isinstance(record, dict) else None))
    return events
