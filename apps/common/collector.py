"""Pausing Python's cyclic garbage collector around bulk work that makes no reference cycles."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """A page of a load allocates hundreds of thousands of short-lived objects (records, canonical inputs, ledger
    rows) and no cycles: the collector, triggered by those allocations, would only re-scan the process's long-lived
    objects again and again (a fifth of a 50k-row load's CPU, issue 18). Reference counting still frees everything;
    cycles made meanwhile wait for the next collection. Nesting and threads are safe: only the caller that found the
    collector on turns it back on, and a pause never outlives it."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
