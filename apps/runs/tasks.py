"""Thin tasks: ids in, call a service. Queued through apps.tenants.tasks with the schema name."""

from apps.runs import engine, recovery, replay, services
from apps.runs.models import Flow, Trigger
from apps.tenants.models import User


def run_execute(run_id: int) -> None:
    engine.run_execute(run_id=run_id)


def inbound_event_process(event_id: int) -> None:
    services.inbound_event_process(event_id=event_id)


def inbound_stream_process(connection_id: int, event_type: str) -> int:
    """Queued by the webhook intake once per burst of a stream's events, not once per event; the result saved is
    how many events it settled."""
    return services.inbound_stream_process(connection_id=connection_id, event_type=event_type)


def flow_scheduled_run(flow_id: int) -> None:
    """A flow's schedule fired: queue a catch-up run (none if one is still unfinished)."""

    flow = Flow.objects.filter(pk=flow_id, is_enabled=True).first()
    if flow is not None:
        engine.flow_run_request(flow=flow, trigger=Trigger.SCHEDULE, acting_user=None)


def inbound_event_received(connection_id: int, event_key: str) -> None:
    """What the webhook intake queued per event before it queued per stream: kept for tasks queued by then."""
    services.inbound_event_process_by_key(connection_id=connection_id, event_key=event_key)


def work_recover() -> None:
    """Every minute: queue again the events and runs that no task will reach (apps/runs/recovery.py)."""
    recovery.work_recover()


def replay_bulk_execute(operation_id: int, item_ids: list[int], acting_user_id: int | None) -> None:
    replay.replay_bulk_execute(operation_id=operation_id, item_ids=item_ids,
                               acting_user=User.objects.filter(pk=acting_user_id).first())
