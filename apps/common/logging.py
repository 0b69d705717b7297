"""Every log line says which tenant, run and flow it belongs to, and on which host it was written.

The fields live in context variables, so they follow a request's thread and a task's process without being
passed around: the ops middleware binds the tenant (and request id) of a request, the tenant task wrapper the
tenant of a task, and the engine the run and flow of the slice it works. ``TenantContextFilter`` copies them
onto each record, where the JSON formatter (settings ``LOGGING``) writes them.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator
from contextvars import ContextVar

from django.db import connection

FIELDS = ("tenant", "run", "flow", "request_id")
_context: ContextVar[dict[str, str]] = ContextVar("weft_log_context", default={})  # noqa: B039 (never mutated)
HOSTNAME = socket.gethostname()


@contextlib.contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add ``fields`` (tenant, run, flow, request_id) to every line logged inside the block."""
    token = _context.set({**_context.get(), **{k: str(v) for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def bind_log_context(**fields: object) -> None:
    """Add ``fields`` until ``clear_log_context()``: for a request, whose last log line comes after its middleware."""
    _context.set({**_context.get(), **{k: str(v) for k, v in fields.items() if v is not None}})


def clear_log_context() -> None:
    _context.set({})


def current_log_context() -> dict[str, str]:
    return dict(_context.get())


class TenantContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        bound = _context.get()
        record.schema_name = getattr(connection, "schema_name", "-")
        record.tenant = bound.get("tenant") or record.schema_name
        for name in ("run", "flow", "request_id"):
            setattr(record, name, bound.get(name, ""))
        record.host = HOSTNAME
        return True
