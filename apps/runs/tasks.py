"""Thin tasks: ids in, call a service. Queued through apps.tenants.tasks with the schema name."""

from apps.runs import services


def inbound_event_process(event_id: int) -> None:
    services.inbound_event_process(event_id=event_id)
