"""Webhooks in a vendor's own format, for manifest-driven (``rest``) connections.

``POST /api/v1/hooks/vendor/<connection>/`` is checked by the scheme the connection's manifest describes (HubSpot's
v3 signature, a Stripe-like ``t=…,v1=…``); each event in the body is stored once per event id before Weft
answers, as ``rest.changed`` or ``rest.deleted``, and processed by the inbound flows that read its object from
this connection on webhook events. A record the event names only by id is fetched with the object's ``get``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from django.db import transaction
from django.utils import timezone

from apps.connectors.errors import ConnectorError, CredentialsError
from apps.connectors.kinds.base import Page
from apps.connectors.kinds.rest.webhooks import BAD_SIGNATURE
from apps.connectors.models import Connection
from apps.connectors.services import connection_kind
from apps.runs import engine
from apps.runs.engine import run_finish
from apps.runs.errors import EventInvalid, EventTooLarge, RunError, WebhookRefused
from apps.runs.events import register_event_handler
from apps.runs.inbound import inbound_page_store
from apps.runs.models import Flow, FlowDirection, Run, RunStatus, Trigger
from apps.runs.services import MAX_EVENT_BYTES, EventReceipt, _event_store

TYPES = {"changed": "rest.changed", "deleted": "rest.deleted"}


def vendor_event_receive(*, connection_slug: str, headers: Mapping[str, str], method: str, url: str, body: bytes,
                         now: float | None = None) -> list[EventReceipt]:
    """Authenticate a vendor's webhook request and store each of its events once (refusals store nothing)."""
    if len(body) > MAX_EVENT_BYTES:
        raise EventTooLarge(f"The body is larger than {MAX_EVENT_BYTES} bytes.")
    connection = Connection.objects.filter(slug=connection_slug, kind="rest", is_enabled=True).first()
    if connection is None:
        raise WebhookRefused(BAD_SIGNATURE)  # unknown connections answer like a wrong signature
    try:
        events = connection_kind(connection).webhook_events(headers=headers, method=method, url=url, body=body,
                                                            now=time.time() if now is None else now)
    except CredentialsError:
        raise WebhookRefused(BAD_SIGNATURE) from None
    except ConnectorError as error:
        if error.category == "auth":
            raise WebhookRefused(error.message) from None
        raise EventInvalid(error.message) from None
    with transaction.atomic():
        return [_event_store(connection, event.event_id[:255], TYPES[event.action], {
            "id": event.event_id, "type": event.event_type,
            "data": {"object": event.object_name, "record_id": event.record_id, "record": event.record}})
            for event in events]


@register_event_handler("rest.changed")
def rest_record_changed(event) -> None:
    _store(event, deleted=False)


@register_event_handler("rest.deleted")
def rest_record_deleted(event) -> None:
    _store(event, deleted=True)


def _store(event, *, deleted: bool) -> None:
    data = event.payload.get("data") or {}
    object_name = data.get("object")
    flows = list(Flow.objects.filter(direction=FlowDirection.INBOUND, on_webhook=True, is_enabled=True,
                                     object_name=object_name, connection=event.connection))
    if not flows:
        raise RunError(f"No enabled flow reads {object_name} from {event.connection} on webhook events.")
    kind = connection_kind(event.connection)
    record = data.get("record")
    if not record:
        id_path = kind.manifest.object(object_name).get("id", "id")
        record = {id_path: data["record_id"]} if deleted else kind.fetch(object_name, data["record_id"])
    for flow in flows:
        run = Run.objects.create(flow=flow, connection=flow.connection, object_name=flow.object_name,
                                 object_type=flow.object_type, trigger=Trigger.WEBHOOK, status=RunStatus.RUNNING,
                                 record_ids=[], started_at=timezone.now())
        inbound_page_store(run, kind, Page(records=[record], next_cursor=None), announce=engine.hub_changed,
                           inline_fanout=True, deleted=deleted)
        run_finish(run)
