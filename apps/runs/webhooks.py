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
from apps.runs.events import register_batch_handler, register_event_handler
from apps.runs.inbound import inbound_page_store
from apps.runs.models import Flow, FlowDirection, Run, RunStatus, Trigger


@register_event_handler("record.changed")
def record_changed(event) -> None:
    _store(event, deleted=False)


@register_event_handler("record.deleted")
def record_deleted(event) -> None:
    _store(event, deleted=True)


@register_batch_handler("record.changed", alongside=record_changed)
def records_changed(events: list) -> list:
    return _store_many(events, deleted=False)


@register_batch_handler("record.deleted", alongside=record_deleted)
def records_deleted(events: list) -> list:
    return _store_many(events, deleted=True)


def _store(event, *, deleted: bool) -> None:
    object_name, record = _object_and_record(event)
    _store_page(event.connection, object_name, [record], deleted=deleted)


def _store_many(events: list, *, deleted: bool) -> list:
    """The leading events that change distinct records of one object, stored as one page: later events of a record
    already in the page, of another object or malformed are left to their own tasks (in order)."""
    object_name, first = _object_and_record(events[0])
    records, seen = [first], {str(first.get("id"))}
    for event in events[1:]:
        try:
            name, record = _object_and_record(event)
        except RunError:
            break
        if name != object_name or str(record.get("id")) in seen:
            break
        records.append(record)
        seen.add(str(record.get("id")))
    _store_page(events[0].connection, object_name, records, deleted=deleted)
    return events[:len(records)]


def _object_and_record(event) -> tuple[str, dict]:
    data = event.payload.get("data") or {}
    object_name, record = data.get("object"), data.get("record")
    if not isinstance(object_name, str) or not isinstance(record, dict):
        raise RunError("The event's data needs an 'object' name and a 'record' object.")
    return object_name, record


def _store_page(connection, object_name: str, records: list[dict], *, deleted: bool) -> None:
    source = connection.settings.get("source_connection")
    flows = list(Flow.objects.filter(direction=FlowDirection.INBOUND, on_webhook=True, is_enabled=True,
                                     object_name=object_name, connection__slug=source).select_related("connection"))
    if not flows:
        raise RunError(f"No enabled flow reads {object_name} from connection {source!r} on webhook events.")
    for flow in flows:
        run = Run.objects.create(flow=flow, connection=flow.connection, object_name=flow.object_name,
                                 object_type=flow.object_type, trigger=Trigger.WEBHOOK, status=RunStatus.RUNNING,
                                 record_ids=[], started_at=timezone.now())
        inbound_page_store(run, connection_kind(flow.connection), Page(records=records, next_cursor=None),
                           announce=engine.hub_changed, inline_fanout=True, deleted=deleted)
        engine.run_finish(run)
