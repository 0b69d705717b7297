"""Handlers for inbound webhook events, keyed by event type.

A flow that reacts to events registers a handler: ``@register_event_handler("timesheet.approved")``.
A handler takes the stored ``InboundEvent`` and raises to report failure; events of a type no handler
claims are marked ignored, and stay stored so they can be reprocessed once one exists.
"""

from __future__ import annotations

from collections.abc import Callable

EventHandler = Callable[..., None]  # (event: InboundEvent) -> None
HANDLERS: dict[str, EventHandler] = {}


def register_event_handler(event_type: str) -> Callable[[EventHandler], EventHandler]:
    def decorator(func: EventHandler) -> EventHandler:
        if HANDLERS.get(event_type, func) is not func:
            raise ValueError(f"A handler for {event_type!r} events is registered already.")
        HANDLERS[event_type] = func
        return func

    return decorator


def handler_for(event_type: str) -> EventHandler | None:
    return HANDLERS.get(event_type)
