"""Thin tasks: ids in, call a service. Queued through apps.tenants.tasks with the schema name."""

from apps.runs import engine, recovery, services
from apps.runs.models import Flow, Trigger


def run_execute(run_id: int) -> None:
    engine.run_execute(run_id=run_id)


def inbound_event_process(event_id: int) -> None:
    services.inbound_event_process(event_id=event_id)


def flow_scheduled_run(flow_id: int) -> None:
    """A flow's schedule fired: queue a catch-up run (none if one is still unfinished)."""

    flow = Flow.objects.filter(pk=flow_id, is_enabled=True).first()
    if flow is not None:
        engine.flow_run_request(flow=flow, trigger=Trigger.SCHEDULE, acting_user=None)


def inbound_event_received(connection_id: int, event_key: str) -> None:
    """Queued by the webhook intake's one statement, which knows the event by its key, not yet by its row id."""
    services.inbound_event_process_by_key(connection_id=connection_id, event_key=event_key)


def work_recover() -> None:
    """Every minute: queue again the events and runs that no task will reach (apps/runs/recovery.py)."""
    recovery.work_recover()
