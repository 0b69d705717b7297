"""Webhook events that drive flows: a system pushes one changed (or deleted) record, and the inbound
flows that listen to webhooks store it at once; hub-change flows then post it within the same task, once the
store has committed (so the post holds no lock other events of the stream wait for).

Event contract (the body of a signed POST to /api/v1/hooks/<connection>/)::

    {"id": "evt-123", "type": "record.changed",
     "data": {"object": "time_entries", "record": {...the source system's record...}}}

``record.deleted`` carries the deleted record (at least its id). The webhook connection's setting
``source_connection`` names the connection whose kind understands the records.
"""

from __future__ import annotations

from django.utils import timezone

from apps.connectors.kinds.base import Page
from apps.connectors.services import connection_kind
from apps.runs import engine
from apps.runs.errors import RunError
from apps.runs.events import register_event_handler
from apps.runs.inbound import inbound_page_store
from apps.runs.models import Flow, FlowDirection, Run, RunStatus, Trigger


@register_event_handler("record.changed")
def record_changed(event) -> None:
    _store(event, deleted=False)


@register_event_handler("record.deleted")
def record_deleted(event) -> None:
    _store(event, deleted=True)


def _store(event, *, deleted: bool) -> None:
    data = event.payload.get("data") or {}
    object_name, record = data.get("object"), data.get("record")
    if not isinstance(object_name, str) or not isinstance(record, dict):
        raise RunError("The event's data needs an 'object' name and a 'record' object.")
    source = event.connection.settings.get("source_connection")
    flows = list(Flow.objects.filter(direction=FlowDirection.INBOUND, on_webhook=True, is_enabled=True,
                                     object_name=object_name, connection__slug=source).select_related("connection"))
    if not flows:
        raise RunError(f"No enabled flow reads {object_name} from connection {source!r} on webhook events.")
    for flow in flows:
        run = Run.objects.create(flow=flow, connection=flow.connection, object_name=flow.object_name,
                                 object_type=flow.object_type, trigger=Trigger.WEBHOOK, status=RunStatus.RUNNING,
                                 record_ids=[], started_at=timezone.now())
        inbound_page_store(run, connection_kind(flow.connection), Page(records=[record], next_cursor=None),
                           announce=engine.hub_changed, inline_fanout=True, deleted=deleted)
        engine.run_finish(run)
