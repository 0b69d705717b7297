"""Sandboxed JSONata expressions for mappings and validation rules.

Partner staff write these (``hours * 60``, ``$substring(notes, 0, 200)``, ``$exists(project.code) and
hours <= 24``), so they run in a small pool of long-lived worker processes (``_expression_worker.py``),
never in the Django process:

- a worker is a fresh interpreter (``python -I``, empty environment, cwd ``/``, no inherited descriptors), not a
  fork of a process holding database connections. It is a plain subprocess rather than a multiprocessing child
  because django-q2 workers are daemonic processes, which multiprocessing forbids to have children;
- each worker caps its address space (RLIMIT_AS); regexes run on RE2 (linear time); jsonata's own step checks
  stop recursion and loops with a clean error; for work inside one built-in (``$sum([1..10000000])``) the
  parent waits at most ``deadline_seconds`` per record, then kills the worker and starts another;
- expressions, records, variables and results have size caps; ``$eval`` and ``$__*`` names are refused.

API: ``compile_check(expression)``, ``evaluate(expression, data, variables=...)`` and
``evaluate_many(expression, items, variables=...) -> list[Result]``, which streams thousands of records through
one worker and settles each record on its own: a record that fails, or is stopped, gets an error ``Result`` and
the batch goes on (once ``max_stops`` records have timed out or crashed, the rest are skipped rather than each
waiting out the deadline).
Failures are ``ExpressionError`` with ``kind`` one of: syntax, forbidden, runtime, timeout, memory, too_large,
input, crash, skipped. Problems with the expression itself (syntax, forbidden, too_large) raise from every
entry point rather than repeating per record.

Numbers. JSONata computes in IEEE doubles. So that money never silently loses precision going in, a Decimal
is passed as an int when integral, as a float when that float reads back as exactly the same decimal (true for
up to 15 significant digits, i.e. any realistic amount), and otherwise as a string, so arithmetic on it fails
loudly (``$number()`` converts when precision loss is acceptable). Trailing zeros are not kept (1.50 -> 1.5).
Floats in results are rounded to 15 significant digits, which removes binary noise (0.1 + 0.2 gives 0.3);
callers storing money convert with ``Decimal(str(value))``. Dates, datetimes and UUIDs go in as ISO strings.
Results are plain JSON values (dict, list, str, int, float, bool, None).

The pool starts lazily, replaces dead or killed workers, forgets inherited workers after a fork, and closes
its workers at exit; a worker whose parent dies sees its pipe close and exits by itself.
"""

from __future__ import annotations

import atexit
import datetime
import json
import os
import select
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from apps.mappings.errors import ExpressionError

_WORKER_SCRIPT = Path(__file__).with_name("_expression_worker.py")


@dataclass(frozen=True)
class Limits:
    """What evaluating expressions may use. ``from_settings()`` reads the deployment's choices."""

    deadline_seconds: float = 2.0  # per record (and per compile), enforced by killing the worker
    eval_timeout_ms: int = 1000  # jsonata's own check between steps: stops loops with a clean error first
    eval_max_depth: int = 2000  # jsonata frames; ~500 levels of user recursion, inside Python's stack
    memory_mb: int = 512  # address space per worker
    workers: int = 2  # worker processes per Django/django-q2 process
    max_expression_chars: int = 4096
    max_record_bytes: int = 1_000_000  # serialized JSON per record, and for the variables
    max_output_bytes: int = 1_000_000  # serialized JSON per result
    max_input_depth: int = 64  # nesting of records, variables and results
    chunk_records: int = 1000  # records sent to a worker at once
    chunk_bytes: int = 8_000_000
    max_stops: int = 3  # records timed out or crashed before a batch skips the rest
    startup_seconds: float = 30.0

    @classmethod
    def from_settings(cls) -> Limits:
        from django.conf import settings

        deadline = float(getattr(settings, "WEFT_EXPRESSION_DEADLINE_SECONDS", cls.deadline_seconds))
        return cls(
            deadline_seconds=deadline,
            eval_timeout_ms=max(1, int(deadline * 500)),
            memory_mb=int(getattr(settings, "WEFT_EXPRESSION_MEMORY_MB", cls.memory_mb)),
            workers=int(getattr(settings, "WEFT_EXPRESSION_WORKERS", cls.workers)),
        )

    def for_worker(self) -> dict:
        keys = ("eval_timeout_ms", "eval_max_depth", "max_expression_chars", "max_output_bytes", "max_input_depth")
        return {key: getattr(self, key) for key in keys} | {"memory_bytes": self.memory_mb * 2**20}


@dataclass(frozen=True, slots=True)
class Result:
    """One record's outcome in ``evaluate_many``: a value, or the error that record met."""

    value: Any = None
    error: ExpressionError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


# --- Public API ------------------------------------------------------------------------------------


def compile_check(expression: str) -> None:
    """Raise ExpressionError (with the position, for syntax errors) unless the expression compiles."""
    _ask(op="compile", expression=expression)


def _ask(*, op: str, expression: str) -> bytes:
    """One question about ``expression`` (no record) answered by a worker; its reply, or the ExpressionError."""
    pool = _pool()
    _check_expression_size(expression, pool.limits)
    with pool.worker() as worker:
        try:
            worker.send({"op": op, "expr": expression, "vars": None}, None, expected=1)
            reply = worker.receive(pool.limits.deadline_seconds)
        except _Stopped as stop:
            raise stop.error
    if reply[:1] == b"F":
        raise _error_from(reply)
    return reply


def evaluate(expression: str, data: Any, *, variables: dict | None = None) -> Any:
    """Evaluate one expression over one record; raise ExpressionError if it fails or is stopped."""
    [result] = evaluate_many(expression, [data], variables=variables)
    if result.error is not None:
        raise result.error
    return result.value


def evaluate_many(expression: str, items: list[Any], *, variables: dict | None = None) -> list[Result]:
    """Evaluate one expression over many records in one worker; one Result per item, in order.

    ``variables`` are bound by name: ``{"vars": {"customer_code": "C1"}}`` is read as ``$vars.customer_code``.
    """
    pool = _pool()
    _check_expression_size(expression, pool.limits)
    header = {"op": "eval", "expr": expression, "vars": _encode_variables(variables, pool.limits)}
    reads = fields_read(expression) if items else None
    results: list[Result | None] = [None] * len(items)
    pending: list[tuple[int, bytes]] = []
    for index, item in enumerate(items):
        if reads is not None and isinstance(item, dict):  # only what the expression reads crosses the pipe
            item = {name: item[name] for name in reads if name in item}
        try:
            pending.append((index, _encode(item, pool.limits.max_record_bytes, "record")))
        except ExpressionError as err:
            results[index] = Result(error=err)
    _run(pool, header, pending, results)
    return results


_READS: dict[str, tuple[str, ...] | None] = {}
_READS_KEPT = 512  # expressions of the mapping versions and rule sets a process serves


def fields_read(expression: str) -> tuple[str, ...] | None:
    """The top-level fields of a record ``expression`` may read (None: it may read the whole record), worked out
    from its parsed form by the sandbox once per process and expression. ``evaluate_many`` sends only these: a
    record view of forty fields costs forty fields of JSON each way, for an expression that reads one."""
    if expression in _READS:
        return _READS[expression]
    found = json.loads(_ask(op="reads", expression=expression)[1:])
    if len(_READS) >= _READS_KEPT:
        _READS.clear()
    _READS[expression] = None if found is None else tuple(found)
    return _READS[expression]


def configure(limits: Limits | None = None) -> None:
    """Replace the pool (closing its workers) with one using ``limits``; None goes back to the settings."""
    global _POOL
    with _POOL_LOCK:
        old, _POOL = _POOL, (WorkerPool(limits) if limits is not None else None)
    if old is not None:
        old.close()


def shutdown() -> None:
    """Close every worker (run at exit; the next evaluation starts a new pool)."""
    configure(None)


# --- Batches -----------------------------------------------------------------------------------------


@dataclass
class _Stops:
    """Records that timed out or crashed in one batch: each costs up to a deadline, so a batch stops trying
    after ``limit`` of them rather than spend hours on an expression that loops on every record."""

    limit: int
    count: int = 0

    def record(self, result: Result) -> bool:
        """Count ``result`` if it is a stop; True when the batch should give up."""
        if result.error is not None and result.error.kind in _STOP_KINDS:
            self.count += 1
        return self.count >= self.limit


_STOP_KINDS = ("timeout", "crash")


def _run(pool: WorkerPool, header: dict, pending: list[tuple[int, bytes]], results: list) -> None:
    position, stops = 0, _Stops(pool.limits.max_stops)
    while position < len(pending):
        if stops.count >= stops.limit:
            _skip(pending[position:], results, stops.count)
            return
        chunk = _next_chunk(pending, position, pool.limits)
        position += _run_chunk(pool, header, chunk, results, stops)


def _next_chunk(pending: list[tuple[int, bytes]], start: int, limits: Limits) -> list[tuple[int, bytes]]:
    end, size = start, 0
    while end < len(pending) and end - start < limits.chunk_records:
        size += len(pending[end][1])
        if size > limits.chunk_bytes and end > start:
            break
        end += 1
    return pending[start:end]


def _run_chunk(pool: WorkerPool, header: dict, chunk: list[tuple[int, bytes]], results: list, stops: _Stops) -> int:
    """Settle records in order until the chunk ends, one is killed, or the batch gives up; return how many."""
    with pool.worker() as worker:
        try:
            worker.send(header | {"sizes": [len(r) for _, r in chunk]}, b"".join(r for _, r in chunk),
                        expected=len(chunk))
        except _Stopped as stop:  # the worker died before it started: counts, so this cannot loop
            stops.record(Result(error=stop.error))
            return 0
        for done, (index, _) in enumerate(chunk, start=1):
            try:
                result = _result_from(worker.receive(pool.limits.deadline_seconds))
            except _Stopped as stop:  # killed or died: the rest of the chunk goes to a fresh worker
                result = Result(error=stop.error)
                results[index] = result
                stops.record(result)
                return done
            results[index] = result
            if stops.record(result):
                return done  # the worker still owes replies, so the pool kills it on release
    return len(chunk)


def _skip(rest: list[tuple[int, bytes]], results: list, stops: int) -> None:
    error = ExpressionError(f"Not evaluated: the expression timed out or crashed on {stops} earlier records.",
                            kind="skipped")
    for index, _ in rest:
        results[index] = Result(error=error)


# --- Encoding ----------------------------------------------------------------------------------------


def _decimal_to_json(value: Decimal) -> int | float | str:
    if value.is_finite():
        if value == value.to_integral_value():
            return int(value)
        as_float = float(value)
        if Decimal(repr(as_float)) == value:
            return as_float
    return str(value)  # more digits than a double holds: a string, so arithmetic fails instead of rounding


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _decimal_to_json(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} values cannot be passed to an expression")


_ENCODER = json.JSONEncoder(default=_json_default, allow_nan=False, ensure_ascii=False, separators=(",", ":"))


def _encode(value: Any, cap: int, what: str) -> bytes:
    try:
        text = _ENCODER.encode(value).encode()
    except (TypeError, ValueError) as err:
        raise ExpressionError(f"The {what} is not JSON data: {err}", kind="input")
    except RecursionError:
        raise ExpressionError(f"The {what} is nested too deeply.", kind="too_large")
    if len(text) > cap:
        raise ExpressionError(f"The {what} is larger than {cap} bytes.", kind="too_large")
    return text


def _encode_variables(variables: dict | None, limits: Limits) -> str | None:
    if not variables:
        return None
    for name in variables:
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("__"):
            raise ExpressionError(f"{name!r} cannot be a variable name.", kind="input")
    return _encode(variables, limits.max_record_bytes, "variables").decode()


def _check_expression_size(expression: str, limits: Limits) -> None:
    if not isinstance(expression, str) or not expression.strip():
        raise ExpressionError("The expression is empty.", kind="syntax")
    if len(expression) > limits.max_expression_chars:
        raise ExpressionError(f"The expression is longer than {limits.max_expression_chars} characters.",
                              kind="too_large")


def _round_float(text: str) -> float:
    return float(f"{float(text):.15g}")


def _result_from(reply: bytes) -> Result:
    if reply[:1] == b"F":
        raise _error_from(reply)  # the expression itself is refused: not one record's problem
    if reply[:1] == b"E":
        return Result(error=_error_from(reply))
    try:
        return Result(value=json.loads(reply[1:], parse_float=_round_float))
    except (ValueError, RecursionError):
        return Result(error=ExpressionError("The evaluator sent an unreadable result.", kind="crash"))


def _error_from(reply: bytes) -> ExpressionError:
    try:
        payload = json.loads(reply[1:])
        return ExpressionError(payload["message"], kind=payload["kind"], code=payload.get("code"),
                               position=payload.get("position"))
    except (ValueError, KeyError, TypeError):
        return ExpressionError("The evaluator sent an unreadable error.", kind="crash")


# --- Workers -----------------------------------------------------------------------------------------


class _Stopped(Exception):
    """The worker was killed (deadline) or died; ``error`` is what the record in hand gets."""

    def __init__(self, error: ExpressionError):
        super().__init__(error.message)
        self.error = error


class _Replies:
    """Reads the worker's frames in bulk: one read() often brings many records' replies."""

    def __init__(self, fd: int, max_frame: int):
        self.fd = fd
        self.max_frame = max_frame
        self.buffer = bytearray()
        self.start = 0
        self.poller = select.poll()  # not select.select(): a Django process may hold fds past 1024
        self.poller.register(fd, select.POLLIN)

    def next(self, timeout: float) -> bytes | None:
        """The next frame, or None if none is complete within ``timeout``; EOFError if the worker is gone."""
        deadline = time.monotonic() + timeout
        while (frame := self._take()) is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self.poller.poll(remaining * 1000):
                return None
            data = os.read(self.fd, 1 << 20)
            if not data:
                raise EOFError
            if self.start:
                del self.buffer[:self.start]
                self.start = 0
            self.buffer += data
        return frame

    def _take(self) -> bytes | None:
        available = len(self.buffer) - self.start
        if available < 4:
            return None
        size = int.from_bytes(self.buffer[self.start:self.start + 4], "big")
        if size > self.max_frame:
            raise EOFError("reply too large: the worker is out of step")
        if available < 4 + size:
            return None
        begin = self.start + 4
        self.start = begin + size
        return bytes(self.buffer[begin:self.start])


def _write_frame(fd: int, payload: bytes) -> None:
    os.write(fd, len(payload).to_bytes(4, "big"))
    view = memoryview(payload)
    while view:
        view = view[os.write(fd, view):]


class _Worker:
    """One sandbox process and its two pipes. Used by one thread at a time (the pool sees to it)."""

    def __init__(self, limits: Limits):
        request_read, self._requests = os.pipe()
        reply_read, reply_write = os.pipe()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", str(_WORKER_SCRIPT), json.dumps(limits.for_worker())],
                stdin=request_read, stdout=reply_write, env={}, cwd="/", close_fds=True,
            )
        except BaseException:
            os.close(self._requests)
            os.close(reply_read)
            raise
        finally:
            os.close(request_read)
            os.close(reply_write)
        self._replies = _Replies(reply_read, limits.max_output_bytes + 64 * 1024)
        self._open = True
        self.expected = 0  # replies still owed; a worker returned with some owed is out of step and is stopped
        self._await_ready(limits.startup_seconds)

    def _await_ready(self, timeout: float) -> None:
        try:
            ready = self.receive(timeout) == b"R"
        except _Stopped:
            ready = False
        if not ready:
            self.kill()
            raise ExpressionError("The expression evaluator could not start.", kind="crash")

    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, header: dict, body: bytes | None, *, expected: int) -> None:
        self.expected = expected
        try:
            _write_frame(self._requests, json.dumps(header).encode())
            if body is not None:
                _write_frame(self._requests, body)
        except OSError:
            raise self._died()

    def receive(self, timeout: float) -> bytes:
        try:
            reply = self._replies.next(timeout)
        except (EOFError, OSError):
            raise self._died()
        if reply is None:
            self.kill()
            raise _Stopped(ExpressionError(
                f"The expression was stopped after {timeout:g} seconds.", kind="timeout"))
        self.expected = 0 if reply[:1] == b"F" else max(0, self.expected - 1)
        return reply

    def _died(self) -> _Stopped:
        self.kill()
        code = self.process.returncode
        how = f"signal {-code}" if code < 0 else f"exit status {code}"
        return _Stopped(ExpressionError(f"The expression evaluator stopped unexpectedly ({how}).", kind="crash"))

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()  # reap now: no zombies
        self._close_pipes()

    def close(self, grace: float = 1.0) -> None:
        """Ask politely (closing stdin ends the worker's loop), then kill."""
        self._close_pipes()
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill()

    def abandon(self) -> None:
        """Close our copies of the pipes only: after a fork the process is not ours to kill or reap."""
        self._close_pipes()

    def _close_pipes(self) -> None:
        if self._open:
            self._open = False
            os.close(self._requests)
            os.close(self._replies.fd)


class WorkerPool:
    """Up to ``limits.workers`` workers, started on first use and reused; dead or out-of-step ones are replaced."""

    def __init__(self, limits: Limits):
        self.limits = limits
        self._idle: list[_Worker] = []
        self._all: set[_Worker] = set()  # idle and busy
        self._starting = 0
        self._closed = False
        self._condition = threading.Condition()

    @contextmanager
    def worker(self) -> Iterator[_Worker]:
        worker = self._acquire()
        try:
            yield worker
        finally:
            self._release(worker)

    def _acquire(self) -> _Worker:
        with self._condition:
            while True:
                if self._closed:
                    raise ExpressionError("The expression evaluator is shutting down.", kind="crash")
                if self._idle:
                    worker = self._idle.pop()
                    if worker.alive():
                        return worker
                    self._all.discard(worker)
                    worker.kill()
                elif len(self._all) + self._starting < self.limits.workers:
                    self._starting += 1
                    break
                else:
                    self._condition.wait()
        try:
            worker = _Worker(self.limits)  # started outside the lock: it takes ~0.1-0.3 s
        finally:
            with self._condition:
                self._starting -= 1
                self._condition.notify()
        with self._condition:
            self._all.add(worker)
        return worker

    def _release(self, worker: _Worker) -> None:
        reusable = worker.expected == 0 and worker.alive()
        if not reusable:
            worker.kill()
        with self._condition:
            keep = reusable and not self._closed
            if keep:
                self._idle.append(worker)
            else:
                self._all.discard(worker)
            self._condition.notify()
        if reusable and not keep:
            worker.close()

    def close(self) -> None:
        with self._condition:
            self._closed = True
            idle, self._idle = self._idle, []
            self._all.difference_update(idle)
            self._condition.notify_all()
        for worker in idle:
            worker.close()

    def abandon(self) -> None:
        """In a forked child: let go of the parent's workers without touching them (or any lock)."""
        for worker in self._all:
            worker.abandon()


_POOL: WorkerPool | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> WorkerPool:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = WorkerPool(Limits.from_settings())
        return _POOL


def _forget_pool_after_fork() -> None:
    """A forked child must not talk to its parent's workers (nor wait on a lock held at fork time), nor hold
    their pipes open: a worker ends when its parent's end of the pipe closes, so a copy would keep it alive."""
    global _POOL, _POOL_LOCK
    if _POOL is not None:
        _POOL.abandon()
    _POOL, _POOL_LOCK = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_pool_after_fork)
atexit.register(shutdown)

__all__ = ["ExpressionError", "Limits", "Result", "compile_check", "configure", "evaluate", "evaluate_many",
           "fields_read", "shutdown"]
