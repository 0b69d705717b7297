"""The sandbox side of ``apps.mappings.expressions``: evaluates JSONata in a separate, limited process.

Started only by the parent's pool as ``python -I <this file> '<settings json>'`` with an empty environment,
so it imports nothing from the project (and sees none of its secrets). It applies its own memory limit, then
answers requests on stdin with replies on stdout, both as frames (a 4-byte big-endian length, then the bytes):

- request: a header frame ``{"op": "compile"|"reads"|"eval", "expr": str, "vars": str|null, "sizes": [int]}`` (``vars``
  is the variables' JSON text, decoded here under the depth limit) and,
  for "eval", one body frame holding the records' JSON texts back to back (``sizes`` splits it);
- replies: ``C`` (compiled; for "reads" followed by the JSON list of fields the expression reads, or null),
  ``F<error>`` (the expression itself is refused; nothing else follows), or one
  frame per record in order: ``V<json value>`` or ``E<error>``, where ``<error>`` is
  ``{"message", "kind", "code", "position"}``.

Stopping runaway work is layered: jsonata's own depth and time checks between evaluation steps (cheap,
give a clean error), RE2 for regexes (no backtracking), RLIMIT_AS for memory, and - for work inside one
built-in that never returns to those checks - the parent's deadline, which kills this process.
"""

import contextlib
import json
import os
import resource
import signal
import sys
import time
from collections import OrderedDict

_CACHE_SIZE = 16
_MAX_REQUEST_BYTES = 64 * 2**20
JException = None  # jsonata's error class, bound by main() after the import


# --- Frames ----------------------------------------------------------------------------------------


def read_frame(fd: int) -> bytes:
    size = int.from_bytes(_read_exact(fd, 4), "big")
    if size > _MAX_REQUEST_BYTES:
        raise EOFError("request too large: the parent is out of step")
    return bytes(_read_exact(fd, size))


def _read_exact(fd: int, size: int) -> bytearray:
    buffer = bytearray(size)
    view, position = memoryview(buffer), 0
    while position < size:
        count = os.readv(fd, [view[position:]])
        if count == 0:
            raise EOFError
        position += count
    return buffer


def write_frame(fd: int, payload: bytes) -> None:
    view = memoryview(len(payload).to_bytes(4, "big") + payload)
    while view:
        view = view[os.write(fd, view):]


class Refused(Exception):
    """The expression or a record cannot be evaluated; ``kind`` matches ExpressionError kinds."""

    def __init__(self, message: str, kind: str, code: str | None = None, position: int | None = None):
        super().__init__(message)
        self.payload = {"message": message, "kind": kind, "code": code, "position": position}


class Bounds:
    """jsonata's Timebox, but restartable per record: its timer otherwise starts at compile time."""

    def __init__(self, frame, *, timeout_ms: int, max_depth: int):
        self.timeout = timeout_ms / 1000
        self.timeout_ms = timeout_ms
        self.max_depth = max_depth
        self.deadline = 0.0
        self.depth = 0
        frame.set_evaluate_entry_callback(self.enter)
        frame.set_evaluate_exit_callback(self.leave)

    def restart(self) -> None:
        self.deadline = time.monotonic() + self.timeout
        self.depth = 0

    def enter(self, expr, input, env) -> None:
        if not env.is_parallel_call:
            self.depth += 1
            self.check()

    def leave(self, expr, input, env, result) -> None:
        if not env.is_parallel_call:
            self.depth -= 1
            self.check()

    def check(self) -> None:
        if self.depth > self.max_depth:
            raise JException("D1011", -1)
        if time.monotonic() > self.deadline:
            raise JException("D1012", -1, self.timeout_ms)


class Sandbox:
    """Compiles (with a small cache) and evaluates expressions under the limits the parent chose."""

    def __init__(self, limits: dict):
        self.limits = limits
        self.cache: OrderedDict[str, tuple] = OrderedDict()

    def compiled(self, text: str) -> tuple:
        if text in self.cache:
            self.cache.move_to_end(text)
            return self.cache[text]
        entry = self._compile(text)
        self.cache[text] = entry
        if len(self.cache) > _CACHE_SIZE:
            self.cache.popitem(last=False)
        return entry

    def _compile(self, text: str) -> tuple:
        from jsonata import Jsonata

        if len(text) > self.limits["max_expression_chars"]:
            raise Refused(f"The expression is longer than {self.limits['max_expression_chars']} characters.",
                          "too_large")
        try:
            expr = Jsonata(text, regex_engine=re2_engine)
        except JException as err:
            raise Refused(_jsonata_message(err), "syntax", err.error, _position(err))
        except RecursionError:
            raise Refused("The expression is nested too deeply.", "syntax")
        except Exception as err:  # re2 refuses a regex, or the parser trips on odd input
            raise Refused(f"Invalid expression: {_plain(err)}", "syntax")
        _refuse_forbidden_names(expr.ast)
        expr.set_validate_input(False)  # records come from json.loads: JSON types only, so skip the deep re-check
        # $eval would run code built from data, past the expression size cap and this compile-time check.
        expr.environment.bind("eval", None)
        bounds = Bounds(expr.environment, timeout_ms=self.limits["eval_timeout_ms"],
                        max_depth=self.limits["eval_max_depth"])
        return expr, bounds

    def evaluate(self, compiled: tuple, record: bytes, variables: dict | None) -> bytes:
        from jsonata import Jsonata

        expr, bounds = compiled
        data = self.load(record, "record")
        Jsonata.CURRENT.jsonata = expr  # $now()/$millis() read the "current" instance, not the one called
        bounds.restart()
        value = expr.evaluate(data, variables)
        return self._dump(value)

    def load(self, text: bytes | str, what: str):
        limit = self.limits["max_input_depth"]
        try:
            data = json.loads(text)
        except RecursionError:
            raise Refused(f"The {what} is nested deeper than {limit} levels.", "too_large")
        if _depth_exceeds(data, limit):
            raise Refused(f"The {what} is nested deeper than {limit} levels.", "too_large")
        return data

    def _dump(self, value) -> bytes:
        cap = self.limits["max_output_bytes"]
        if isinstance(value, str) and len(value) > cap:  # refuse before copying a huge string again
            raise Refused(f"The result is larger than {cap} bytes.", "too_large")
        limit = self.limits["max_input_depth"]
        if isinstance(value, dict | list) and _depth_exceeds(value, limit):  # the parent decodes it, recursively
            raise Refused(f"The result is nested deeper than {limit} levels.", "too_large")
        try:
            text = json.dumps(value, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
        except TypeError:
            raise Refused("The result is a function, not data: call it, or return a value.", "runtime")
        except ValueError:
            raise Refused("The result is not a finite number.", "runtime")
        except RecursionError:
            raise Refused("The result is nested too deeply.", "too_large")
        if len(text) > cap:
            raise Refused(f"The result is larger than {cap} bytes.", "too_large")
        return text.encode()


def re2_engine(pattern: str, flags):
    """jsonata regex literals on RE2: linear time, so no pattern can backtrack catastrophically."""
    import re2

    options = re2.Options()
    options.case_sensitive = not flags.case_insensitive
    options.log_errors = False  # errors come back to the caller as syntax errors, not as stderr noise
    return re2.compile(f"(?m){pattern}" if flags.multiline else pattern, options)


def _refuse_forbidden_names(ast) -> None:
    """Walk the parsed expression (iteratively: it may be deep) for variables we do not let it name."""
    for node in _symbols(ast):
        if node.type == "variable":
            _refuse_variable(node.value, node.position)


def _symbols(ast):
    """Every symbol of a parsed expression, each once, parents before their children (iteratively: it may be
    deep). A symbol's children are walked after the caller has looked at it."""
    from jsonata.parser import Parser

    stack, seen = [ast], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, Parser.Symbol):
            yield node
            stack.extend(vars(node).values())
        elif isinstance(node, list | tuple):
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(node.values())


def fields_read(expr) -> list | None:
    """The top-level fields of a record the expression may read, or None when it may read the record as a whole
    (``$``, ``$$``, ``*``, ``**``, ``%``, or a built-in that takes the context when an argument is left out), so the
    parent can send only those. A superset: every name and string the expression holds."""
    names, called = set(), set()
    for node in _symbols(expr.ast):
        kind = node.type
        if kind in ("wildcard", "descendant", "parent") or (kind == "variable" and node.value in ("", "$")):
            return None
        if kind in ("name", "string") and isinstance(node.value, str):
            names.add(node.value)
        if kind == "lambda" and getattr(node, "signature", None) is not None:
            return None  # a user function's signature may take the context too
        if kind in ("function", "partial") and getattr(node.procedure, "type", None) == "variable":
            called.add(id(node.procedure))
            if _takes_context(expr, node.procedure.value, len(node.arguments or ())):
                return None
        elif kind == "variable" and id(node) not in called and _takes_context(expr, node.value, 0):
            return None  # a built-in passed as a value (``x ~> $uppercase``) is called with fewer arguments
    return sorted(names)


def _takes_context(expr, name, arguments: int) -> bool:
    """Whether calling built-in ``name`` with this many arguments may use the context for a missing one."""
    bound = expr.environment.lookup(name) if isinstance(name, str) else None
    params = getattr(getattr(bound, "signature", None), "_params", None)
    if not params:
        return False
    return any(getattr(param, "context", False) for param in params) and arguments < len(params)


def _refuse_variable(name, position) -> None:
    if name == "eval":
        raise Refused("$eval is not available in Weft expressions.", "forbidden", position=position)
    if isinstance(name, str) and name.startswith("__"):
        raise Refused(f"${name} is reserved.", "forbidden", position=position)


def _depth_exceeds(value, limit: int) -> bool:
    """Iterative, so a deep record cannot exhaust the stack while being measured."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def _jsonata_message(err) -> str:
    message = str(err).strip()
    return message[:1].upper() + message[1:]


def _position(err) -> int | None:
    location = getattr(err, "location", None)
    return location if isinstance(location, int) and location >= 0 else None


def _plain(err: BaseException) -> str:
    text = err.args[0] if err.args else str(err)
    return text.decode(errors="replace") if isinstance(text, bytes) else str(text)


def _runtime_error(err: BaseException) -> dict:
    if isinstance(err, Refused):
        return err.payload
    if isinstance(err, JException):
        kind = "timeout" if err.error == "D1012" else "runtime"
        return Refused(_jsonata_message(err), kind, err.error, _position(err)).payload
    if isinstance(err, MemoryError):
        return Refused("The expression used more memory than allowed.", "memory").payload
    if isinstance(err, RecursionError):
        return Refused("The expression recursed too deeply.", "runtime").payload
    if isinstance(err, ZeroDivisionError):
        return Refused("Division by zero.", "runtime").payload
    return Refused(f"The expression failed: {_plain(err)}", "runtime").payload


def _reply_error(replies: int, tag: bytes, payload: dict) -> None:
    write_frame(replies, tag + json.dumps(payload).encode())


def serve(sandbox: Sandbox, requests: int, replies: int) -> None:
    while True:
        try:
            header = json.loads(read_frame(requests))
            body = read_frame(requests) if header["op"] == "eval" else b""
        except EOFError:
            return  # the parent closed the pipe or died: nothing left to do
        try:
            compiled = sandbox.compiled(header["expr"])
            variables = sandbox.load(header["vars"], "variables") if header.get("vars") else None
        except Exception as err:  # Refused, or e.g. MemoryError while compiling: the request fails, we go on
            _reply_error(replies, b"F", _runtime_error(err))
            continue
        if header["op"] == "compile":
            write_frame(replies, b"C")
            continue
        if header["op"] == "reads":
            write_frame(replies, b"C" + json.dumps(fields_read(compiled[0])).encode())
            continue
        _evaluate_records(sandbox, compiled, variables, header["sizes"], body, replies)


def _evaluate_records(
    sandbox: Sandbox, compiled: tuple, variables: dict | None, sizes: list[int], body: bytes, replies: int,
) -> None:
    offset = 0
    for size in sizes:
        record = body[offset:offset + size]
        offset += size
        try:
            value = sandbox.evaluate(compiled, record, variables)
        except Exception as err:  # MemoryError and RecursionError included: each is one record's failure
            _reply_error(replies, b"E", _runtime_error(err))
        else:
            write_frame(replies, b"V" + value)


def _apply_limits(limits: dict) -> None:
    memory = limits["memory_bytes"]
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main() -> None:
    global JException
    limits = json.loads(sys.argv[1])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent; we end when it closes the pipe
    requests, replies = os.dup(0), os.dup(1)
    # Stray prints (jsonata prints "Proc not found") must never reach the reply channel.
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    import re2  # noqa: F401  (imported before the memory limit applies, and before "ready")
    from jsonata import JException

    _apply_limits(limits)
    write_frame(replies, b"R")
    with contextlib.suppress(BrokenPipeError, EOFError):  # the parent went away mid-reply
        serve(Sandbox(limits), requests, replies)


if __name__ == "__main__":
    main()
