"""Handlers for inbound webhook events, keyed by event type.

A flow that reacts to events registers a handler: ``@register_event_handler("timesheet.approved")``.
A handler takes the stored ``InboundEvent`` and raises to report failure; events of a type no handler
claims are marked ignored, and stay stored so they can be reprocessed once one exists.

A type may also register a batch handler (``register_batch_handler``): the worker that takes an event then takes
the events of the same connection and type that wait behind it too, and hands them over together, so that a
stream's events waiting together are stored as one page and reach the target in one call where it allows.
"""

from __future__ import annotations

from collections.abc import Callable

EventHandler = Callable[..., None]  # (event: InboundEvent) -> None
# (events: list[InboundEvent], oldest first) -> the leading events it handled (at least the first), or raises.
BatchHandler = Callable[[list], list]
HANDLERS: dict[str, EventHandler] = {}
BATCH_HANDLERS: dict[str, tuple[EventHandler, BatchHandler]] = {}


def register_event_handler(event_type: str) -> Callable[[EventHandler], EventHandler]:
    def decorator(func: EventHandler) -> EventHandler:
        if HANDLERS.get(event_type, func) is not func:
            raise ValueError(f"A handler for {event_type!r} events is registered already.")
        HANDLERS[event_type] = func
        return func

    return decorator


def handler_for(event_type: str) -> EventHandler | None:
    return HANDLERS.get(event_type)


def register_batch_handler(event_type: str, *, alongside: EventHandler) -> Callable[[BatchHandler], BatchHandler]:
    """Register a batch handler for ``event_type`` that does what ``alongside`` (its single-event handler) does."""
    def decorator(func: BatchHandler) -> BatchHandler:
        BATCH_HANDLERS[event_type] = (alongside, func)
        return func

    return decorator


def batch_handler_for(event_type: str) -> BatchHandler | None:
    """The batch handler of ``event_type``, while the single-event handler registered is the one it goes with."""
    single, batch = BATCH_HANDLERS.get(event_type, (None, None))
    return batch if single is not None and HANDLERS.get(event_type) is single else None
