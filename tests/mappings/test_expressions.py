"""Sandboxed mapping expressions: ordinary expressions work; errors are clear; runaway work and attempts to
reach Python are refused or stopped within the deadline; the worker pool survives all of it."""

import datetime
import json
import multiprocessing
import os
import threading
import time
import uuid
from dataclasses import replace
from decimal import Decimal

import pytest

from apps.mappings import expressions
from apps.mappings.expressions import (
    ExpressionError,
    Limits,
    compile_check,
    configure,
    evaluate,
    evaluate_many,
)

# A shorter deadline than production (2 s) keeps the suite fast; the behaviour is the same.
LIMITS = Limits(deadline_seconds=1.0, eval_timeout_ms=500)
SLACK = 1.5  # kill, reap and the start of a fresh worker, on a loaded two-core machine

TIME_ENTRY = {
    "hours": Decimal("7.5"),
    "rate": Decimal("120.00"),
    "notes": "Workshop with the client about the roadmap",
    "approved": True,
    "project": {"code": "P-100", "client": {"name": "Acme"}},
    "lines": [{"amount": Decimal("10.10")}, {"amount": Decimal("20.20")}],
}


@pytest.fixture(autouse=True, scope="module")
def _test_pool():
    configure(LIMITS)
    yield
    configure(None)


def _error(expression: str, data=None, **kwargs) -> tuple[ExpressionError, float]:
    started = time.monotonic()
    with pytest.raises(ExpressionError) as caught:
        evaluate(expression, TIME_ENTRY if data is None else data, **kwargs)
    return caught.value, time.monotonic() - started


def _pool_still_works() -> None:
    assert evaluate("hours * 2", {"hours": 4}) == 8


def _children() -> dict[int, tuple[str, str]]:
    """This process's child processes: pid -> (state, command name)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                head, _, rest = stat.read().rpartition(")")
        except OSError:
            continue
        state, ppid = rest.split()[:2]
        if int(ppid) == os.getpid():
            found[int(entry)] = (state, head.partition("(")[2])
    return found


def _workers() -> list[int]:
    return [pid for pid, (state, name) in _children().items() if name.startswith("python") and state != "Z"]


# --- Ordinary expressions ------------------------------------------------------------------------


@pytest.mark.parametrize(("expression", "expected"), [
    ("hours * 60", 450),
    ("$round(hours * rate, 2)", 900),
    ("$substring(notes, 0, 8)", "Workshop"),
    ('$uppercase(project.code) & "/" & project.client.name', "P-100/Acme"),
    ('$replace(notes, /the (\\w+)/, "our $1", 1)', "Workshop with our client about the roadmap"),
    ('approved ? "approved" : "submitted"', "approved"),
    ("$exists(project.code) and hours <= 24", True),
    ("$exists(project.missing)", False),
    ("$sum(lines.amount)", 30.3),
    ("lines[1].amount", 20.2),
    ('{"code": project.code, "minutes": hours * 60}', {"code": "P-100", "minutes": 450}),
    ("nothing.here", None),
])
def test_ordinary_expressions_give_plain_json_values(expression, expected):
    value = evaluate(expression, TIME_ENTRY)

    assert value == expected
    assert json.loads(json.dumps(value)) == expected


def test_variables_are_bound_by_name():
    variables = {"vars": {"customer_code": "ACME", "max_hours": 10}}

    assert evaluate('$vars.customer_code & "-" & project.code', TIME_ENTRY, variables=variables) == "ACME-P-100"
    assert evaluate("hours <= $vars.max_hours", TIME_ENTRY, variables=variables) is True


def test_money_keeps_its_value_and_never_silently_loses_digits():
    assert evaluate("amount", {"amount": Decimal("1234.56")}) == 1234.56
    # binary noise is rounded away, so Decimal(str(value)) is the amount a person expects
    assert Decimal(str(evaluate("a + b", {"a": Decimal("0.1"), "b": Decimal("0.2")}))) == Decimal("0.3")
    assert Decimal(str(evaluate("price * 3", {"price": Decimal("19.99")}))) == Decimal("59.97")
    # more digits than a double holds: passed as text, so arithmetic fails loudly instead of rounding
    huge = Decimal("12345678901234.5678")
    assert evaluate("amount", {"amount": huge}) == "12345678901234.5678"
    error, _ = _error("amount * 2", {"amount": huge})
    assert error.kind == "runtime" and "must evaluate to a number" in error.message


def test_dates_and_uuids_go_in_as_iso_text():
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    data = {"day": datetime.date(2026, 3, 1), "at": datetime.datetime(2026, 3, 1, 9, 30), "id": ident}

    assert evaluate('day & " " & at & " " & id', data) == f"2026-03-01 2026-03-01T09:30:00 {ident}"


# --- Errors -------------------------------------------------------------------------------------


def test_a_syntax_error_says_what_and_where():
    with pytest.raises(ExpressionError) as caught:
        compile_check("hours +")

    assert caught.value.kind == "syntax"
    assert caught.value.code == "S0207"
    assert caught.value.position == 7
    assert "Unexpected end of expression" in caught.value.message


def test_compile_check_accepts_a_good_expression():
    assert compile_check('$exists(project.code) and $substring(notes, 0, 200) != ""') is None


def test_evaluating_an_expression_with_a_syntax_error_raises_it():
    error, _ = _error("(hours")
    assert error.kind == "syntax"


def test_an_unknown_function_is_a_clear_runtime_error():
    error, _ = _error("$frobnicate(hours)")

    assert error.kind == "runtime"
    assert error.code == "T1006"
    assert "Attempted to invoke a non-function" in error.message


def test_an_expression_over_the_size_cap_is_refused():
    with pytest.raises(ExpressionError) as caught:
        compile_check("1 + " * 1100 + "1")

    assert caught.value.kind == "too_large"
    assert "4096 characters" in caught.value.message


def test_an_invalid_regex_is_a_syntax_error():
    with pytest.raises(ExpressionError) as caught:
        compile_check('$match(notes, /(a)\\1/)')  # back-references need backtracking; RE2 has none

    assert caught.value.kind == "syntax"


# --- Runaway work is stopped within the deadline -----------------------------------------------


@pytest.mark.parametrize(("expression", "kinds"), [
    ("($f := function($n){ $f($n + 1) }; $f(0))", {"timeout"}),  # tail recursion, forever
    ("($f := function($n){ 1 + $f($n) }; $f(0))", {"runtime"}),  # deep recursion
    ("$sum([1..10000000])", {"timeout"}),  # work inside one built-in
    ("$reduce([1..10000000], function($a, $b){ $a + $b })", {"timeout"}),
    # 100 MB result: refused by size, or by the deadline when a loaded machine builds it slower than 500 ms
    ('$pad("", 100000000)', {"too_large", "timeout"}),
    ('$pad("", 1000000000)', {"memory"}),  # 1 GB: beyond the worker's address space
    ('$join($map([1..100000], function($i){ $pad("", 10000, "x") }))', {"timeout", "memory", "too_large"}),
    ("$string([1..5000000])", {"timeout", "too_large"}),
])
def test_runaway_work_is_stopped_and_the_pool_keeps_working(expression, kinds):
    error, elapsed = _error(expression)

    assert error.kind in kinds, error.message
    assert elapsed < LIMITS.deadline_seconds + SLACK
    _pool_still_works()


def test_a_catastrophic_backtracking_regex_runs_in_linear_time():
    started = time.monotonic()

    assert evaluate('$match("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!", /(a+)+$/)', {}) is None
    assert evaluate('$contains($pad("", 100000, "a") & "!", /^(a|aa)+$/)', {}) is False
    assert time.monotonic() - started < 0.5


def test_the_hard_deadline_kills_the_worker_and_a_fresh_one_takes_over():
    configure(replace(LIMITS, eval_timeout_ms=60_000, workers=1))  # only the kill can stop it now
    try:
        _pool_still_works()
        [before] = _workers()
        error, elapsed = _error("$sum([1..10000000])")  # one built-in call: ~20 s if left alone
        assert before not in _workers()  # killed...
        assert not [pid for pid, (state, _) in _children().items() if state == "Z"]  # ...and reaped
        _pool_still_works()
        assert len(_workers()) == 1  # replaced
    finally:
        configure(LIMITS)

    assert error.kind == "timeout" and "stopped after 1 seconds" in error.message
    assert elapsed < LIMITS.deadline_seconds + SLACK


# --- Input limits --------------------------------------------------------------------------------


def _nested(depth: int):
    value = {}
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize("depth", [100, 5000])
def test_deeply_nested_input_is_refused(depth):
    error, _ = _error("$string($)", _nested(depth))

    assert error.kind == "too_large" and "nested" in error.message
    _pool_still_works()


def test_a_deeply_nested_result_is_refused():
    error, _ = _error('($f := function($n){ $n = 0 ? 1 : {"a": $f($n - 1)} }; $f(100))', {})

    assert error.kind == "too_large" and "nested" in error.message
    assert evaluate('($f := function($n){ $n = 0 ? 1 : {"a": $f($n - 1)} }; $f(3))', {}) == {"a": {"a": {"a": 1}}}


def test_a_huge_record_is_refused_before_it_reaches_the_sandbox():
    error, _ = _error("$length(notes)", {"notes": "x" * 2_000_000})

    assert error.kind == "too_large" and "1000000 bytes" in error.message


def test_data_that_is_not_json_is_refused():
    error, _ = _error("thing", {"thing": object()})
    assert error.kind == "input"

    error, _ = _error("ratio", {"ratio": float("nan")})
    assert error.kind == "input"


def test_variable_names_must_be_plain_identifiers():
    error, _ = _error("1", {}, variables={"__evaluate_entry": 1})
    assert error.kind == "input"


# --- Nothing reaches Python ------------------------------------------------------------------------


def test_eval_is_not_available():
    error, _ = _error('$eval("1 + 1")')
    assert error.kind == "forbidden" and "$eval" in error.message

    error, _ = _error('($e := $eval; $e("1"))')
    assert error.kind == "forbidden"


def test_the_sandboxs_own_hooks_cannot_be_named():
    error, _ = _error("$__evaluate_entry")
    assert error.kind == "forbidden"

    error, _ = _error("($__evaluate_entry := function($a, $b, $c){ 0 }; 1)")
    assert error.kind == "forbidden"


def test_dunder_names_are_plain_dictionary_keys():
    data = {"__class__": "just text", "__init__": {"__globals__": 1}}

    assert evaluate("__class__", data) == "just text"
    assert evaluate("__class__", {}) is None
    assert evaluate("notes.__class__", {"notes": "text"}) is None
    assert evaluate('$lookup($, "__dict__")', data) is None
    assert json.loads(evaluate("$string($)", data)) == data


def test_a_function_is_not_a_result():
    error, _ = _error("$substring")
    assert error.kind == "runtime" and "function" in error.message

    assert evaluate("$string($sum)", {}) == ""
    assert evaluate("$keys($sum)", {}) is None


def test_the_sandbox_process_has_a_memory_limit_and_none_of_our_environment():
    _pool_still_works()
    [pid, *_] = _workers()

    with open(f"/proc/{pid}/limits") as limits:
        address_space = next(line for line in limits if line.startswith("Max address space"))
    with open(f"/proc/{pid}/environ", "rb") as environ:
        assert environ.read() == b""
    assert str(LIMITS.memory_mb * 2**20) in address_space


# --- Batches -------------------------------------------------------------------------------------


def test_evaluate_many_settles_each_record_on_its_own():
    items = [{"hours": 1}, {"hours": "one"}, {"hours": 2}, {}, {"hours": "x" * 2_000_000}, {"hours": 3}]

    results = evaluate_many("hours * 60", items)

    assert [r.value for r in results] == [60, None, 120, None, None, 180]
    assert [r.ok for r in results] == [True, False, True, True, False, True]
    assert results[1].error.kind == "runtime"
    assert results[4].error.kind == "too_large"


def test_a_record_stopped_mid_batch_does_not_stop_the_others():
    items = [{"n": 10}, {"n": 10_000_000}, {"n": 3}, {"n": 4}]

    results = evaluate_many("$sum([1..n])", items)

    assert [r.value for r in results] == [55, None, 6, 10]
    assert results[1].error.kind == "timeout"


@pytest.mark.parametrize("expression", [
    "$sum([1..n])",  # stopped by the kill
    "($f := function($i){ $f($i + 1) }; $f(n))",  # stopped by jsonata's own check
])
def test_after_several_timeouts_the_rest_of_the_batch_is_skipped(expression):
    configure(replace(LIMITS, max_stops=2))
    try:
        started = time.monotonic()
        results = evaluate_many(expression, [{"n": 10_000_000}] * 6)
        elapsed = time.monotonic() - started
        _pool_still_works()
    finally:
        configure(LIMITS)

    assert [r.error.kind for r in results] == ["timeout", "timeout", "skipped", "skipped", "skipped", "skipped"]
    assert "timed out or crashed on 2 earlier records" in results[-1].error.message
    assert elapsed < 2 * (LIMITS.deadline_seconds + SLACK)


def test_ten_thousand_records_go_through_one_worker_quickly():
    items = [{"hours": i, "code": f"P-{i}"} for i in range(10_000)]
    evaluate("1", {})  # the worker is started
    workers = set(_workers())

    started = time.monotonic()
    results = evaluate_many('{"minutes": hours * 60, "code": $lowercase(code)}', items)
    elapsed = time.monotonic() - started

    assert [r.value for r in results[:2]] == [{"minutes": 0, "code": "p-0"}, {"minutes": 60, "code": "p-1"}]
    assert all(r.ok for r in results) and results[-1].value["minutes"] == 599_940
    assert set(_workers()) == workers  # no process per record (or per chunk)
    assert elapsed < 10  # ~0.5 s here; a process spawn per record would take minutes


def test_threads_share_the_pool_safely():
    outcomes = {}

    def work(n):
        outcomes[n] = [r.value for r in evaluate_many("x * $vars.k", [{"x": i} for i in range(500)],
                                                      variables={"vars": {"k": n}})]

    threads = [threading.Thread(target=work, args=(n,)) for n in range(1, 6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes == {n: [i * n for i in range(500)] for n in range(1, 6)}
    assert len(_workers()) <= LIMITS.workers


# --- The pool's life -------------------------------------------------------------------------------


def test_a_worker_that_died_while_idle_is_replaced():
    _pool_still_works()
    for pid in _workers():
        os.kill(pid, 9)
        os.waitpid(pid, 0)

    _pool_still_works()


def _pipes(pid: int | str, *, but_stderr: bool = False) -> set[str]:
    base = f"/proc/{pid}/fd"
    fds = [fd for fd in os.listdir(base) if not (but_stderr and fd == "2")]
    links = {os.readlink(f"{base}/{fd}") for fd in fds if os.path.exists(f"{base}/{fd}")}
    return {link for link in links if link.startswith("pipe:")}


def _report_evaluation(conn) -> None:
    inherited = _pipes("self")  # after the fork hook ran
    conn.send((evaluate("x + 1", {"x": 41}), _workers(), inherited))


def test_works_in_a_daemonic_forked_process_like_a_django_q2_worker():
    _pool_still_works()
    parents_workers = set(_workers())
    workers_pipes = set().union(*(_pipes(pid, but_stderr=True) for pid in parents_workers))
    receiver, sender = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(target=_report_evaluation, args=(sender,), daemon=True)

    child.start()
    assert receiver.poll(30)
    value, childs_workers, childs_pipes = receiver.recv()
    child.join(10)

    assert value == 42
    assert childs_workers and not set(childs_workers) & parents_workers  # its own worker, not ours
    assert workers_pipes and not workers_pipes & childs_pipes  # it let go of our workers' pipes
    _pool_still_works()


def test_shutdown_ends_every_worker_and_the_next_call_starts_again():
    evaluate_many("x", [{"x": 1}])
    assert _workers()

    configure(LIMITS)  # what shutdown() does at exit, then a fresh pool

    assert _workers() == []
    assert not [pid for pid, (state, _) in _children().items() if state == "Z"]
    _pool_still_works()


def test_limits_come_from_settings(settings):
    settings.WEFT_EXPRESSION_DEADLINE_SECONDS = 3.0
    settings.WEFT_EXPRESSION_MEMORY_MB = 256
    settings.WEFT_EXPRESSION_WORKERS = 1

    limits = Limits.from_settings()

    assert (limits.deadline_seconds, limits.eval_timeout_ms, limits.memory_mb, limits.workers) == (3.0, 1500, 256, 1)
    assert expressions.Limits().deadline_seconds == 2.0
