"""The OpenAPI document's ``webhooks`` section (OpenAPI 3.1): the webhook contracts, in the same document as
the API. ``inbound.*`` are what a system POSTs to Weft (``/api/v1/hooks/<connection>/``); the others are what
Weft POSTs to an endpoint subscribed to them (``/api/v1/webhook-subscriptions/``), signed the Standard Webhooks
way. A drf-spectacular postprocessing hook; the event list comes from the code that sends them."""

from __future__ import annotations

from apps.exceptions.webhooks import EVENT_EXAMPLES, EVENT_TYPES, RETRY_SCHEDULE

WEFT_HEADERS = [
    {"name": "X-Weft-Timestamp", "in": "header", "schema": {"type": "string", "pattern": "^[0-9]+$"},
     "description": "Unix seconds when it was signed; outside the connection's tolerance (300 s) it is refused."},
    {"name": "X-Weft-Signature", "in": "header", "schema": {"type": "string", "pattern": "^sha256=[0-9a-f]{64}$"},
     "description": "`sha256=` + hex HMAC-SHA256 of `<timestamp>.` + the raw body, keyed with the signing secret."},
]
STANDARD_HEADERS = [
    {"name": "webhook-id", "in": "header", "required": True, "schema": {"type": "string"},
     "description": "The message's id: the same on every retry of one message (receivers drop repeats by it)."},
    {"name": "webhook-timestamp", "in": "header", "required": True, "schema": {"type": "string", "pattern": "^[0-9]+$"},
     "description": "Unix seconds when this attempt was signed."},
    {"name": "webhook-signature", "in": "header", "required": True, "schema": {"type": "string"},
     "description": "`v1,` + base64 HMAC-SHA256 of `<webhook-id>.<webhook-timestamp>.` + the raw body (space-separated "
                    "when several secrets sign it). Verify with the `standardwebhooks` library."},
]
RECORD_EVENT = {
    "type": "object", "required": ["type", "data"],
    "properties": {
        "id": {"type": "string", "description": "The event's id; a re-delivery of the same id is a duplicate "
                                                "(default: the webhook-id header)."},
        "type": {"type": "string", "enum": ["record.changed", "record.deleted"]},
        "data": {"type": "object", "required": ["object", "record"], "properties": {
            "object": {"type": "string", "description": "The source object, as the source connection names it "
                                                        "(e.g. time_entries)."},
            "record": {"type": "object", "description": "The source system's record (record.deleted: at least its "
                                                        "id)."}}},
    },
}
INBOUND_ANSWERS = {
    "202": {"description": "A new event, stored: `{\"status\": \"accepted\", \"event\": \"<id>\"}`."},
    "200": {"description": "A re-delivery of an event already stored: `{\"status\": \"duplicate\"}`."},
    "401": {"description": "A missing, bad or stale signature (`application/problem+json`)."},
    "415": {"description": "Not JSON."},
}


def _inbound(kind: str) -> dict:
    example = {"id": "evt-123", "type": f"record.{kind}", "data": {"object": "time_entries", "record": {
        "id": "T-1", "spent_date": "2026-11-23", "hours": 7.5, "project": {"code": "ACME-104"}}}}
    return {"post": {
        "operationId": f"inbound_record_{kind}", "tags": ["webhooks into Weft"],
        "summary": f"A system tells Weft a record {kind}: POST to /api/v1/hooks/<connection>/",
        "description": "Sign with the connection's signing secret, either with the X-Weft-* pair or the Standard "
                       "Webhooks headers (then the secret's UTF-8 bytes are the key: `whsec_` + base64 of them in "
                       "that standard's terms). The body is signed as sent: do not re-serialise it.",
        "parameters": [*WEFT_HEADERS, *[{**h, "required": False} for h in STANDARD_HEADERS]],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": RECORD_EVENT, "examples": {"event": {"value": example}}}}},
        "responses": INBOUND_ANSWERS,
    }}


def _outbound(event_type: str, description: str) -> dict:
    schedule = ", ".join(_duration(s) for s in RETRY_SCHEDULE)
    return {"post": {
        "operationId": "event_" + event_type.replace(".", "_"), "tags": ["webhooks from Weft"],
        "summary": description,
        "description": f"Weft POSTs this to every active subscription to `{event_type}`, signed with the "
                       "subscription's secret (Standard Webhooks). Answer 2xx within 15 s; anything else, or no "
                       f"answer, is retried after {schedule} (then the delivery is given up), each retry with the "
                       "same `webhook-id`.",
        "parameters": STANDARD_HEADERS,
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"type": "object", "required": ["type", "timestamp", "data"], "properties": {
                "type": {"type": "string", "const": event_type}, "timestamp": {"type": "string", "format": "date-time"},
                "customer": {"type": "string", "description": "The customer's slug."}, "data": {"type": "object"}}},
            "examples": {"event": {"value": EVENT_EXAMPLES[event_type]}}}}},
        "responses": {"2XX": {"description": "Received; nothing is sent again."},
                      "default": {"description": "Not received: retried on the schedule above."}},
    }}


def _duration(seconds: int) -> str:
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def webhooks_section(result, generator, request, public):
    """drf-spectacular postprocessing hook: the ``webhooks`` section."""
    result["webhooks"] = {"inbound.record.changed": _inbound("changed"), "inbound.record.deleted": _inbound("deleted"),
                          **{name: _outbound(name, says) for name, says in EVENT_TYPES.items()}}
    return result
