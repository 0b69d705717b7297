"""Sandboxed expressions: cost per record in evaluate_many, and how long runaway cases take to be stopped.

Target: well under 100 µs per record for a simple expression over 10,000 records; every runaway case
stopped within the deadline (2 s by default) plus the kill. Needs no database.
Usage: python bench/expressions.py [--records 10000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._setup import report  # noqa: E402

RUNAWAY = [
    "($f := function($n){ $f($n + 1) }; $f(0))",
    "($f := function($n){ 1 + $f($n) }; $f(0))",
    "$sum([1..10000000])",
    '$pad("", 100000000)',
    '$pad("", 1000000000)',
    '$match("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!", /(a+)+$/)',
    '$join($map([1..100000], function($i){ $pad("", 10000, "x") }))',
    "$string([1..5000000])",
]


def per_record_us(expression: str, items: list[dict], runs: int = 5) -> float:
    from apps.mappings.expressions import evaluate_many

    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        results = evaluate_many(expression, items, variables={"vars": {"customer_code": "ACME"}})
        timings.append((time.perf_counter() - started) / len(items) * 1e6)
        assert all(r.ok for r in results), next(r.error for r in results if not r.ok)
    return round(statistics.median(timings), 1)


def stop_seconds(expression: str) -> tuple[float, str]:
    from apps.mappings.expressions import ExpressionError, evaluate

    started = time.perf_counter()
    try:
        evaluate(expression, {})
        outcome = "finished"
    except ExpressionError as error:
        outcome = error.kind
    return round(time.perf_counter() - started, 3), outcome


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=10_000)
    args = parser.parse_args()
    from apps.mappings.expressions import Limits, configure, evaluate

    limits = Limits()
    configure(limits)
    started = time.perf_counter()
    evaluate("1", {})
    startup = time.perf_counter() - started
    items = [{"hours": Decimal(i % 12) / 2, "notes": f"entry {i}", "approved": i % 3 == 0,
              "project": {"code": f"P-{i % 50}"}} for i in range(args.records)]
    simple = per_record_us("hours * 60", items)
    mapping = per_record_us('{"minutes": hours * 60, "status": approved ? "approved" : "submitted", '
                            '"text": $substring(notes, 0, 200), "ok": $exists(project.code) and hours <= 24, '
                            '"ref": $vars.customer_code & "/" & project.code}', items)
    stops = {expression: stop_seconds(expression) for expression in RUNAWAY}
    worst = max(seconds for seconds, _ in stops.values())
    report({
        "benchmark": "expressions",
        "records": args.records,
        "worker_start_s": round(startup, 3),
        "simple_us_per_record": simple,
        "mapping_us_per_record": mapping,
        "target_us_per_record": 100,
        "deadline_s": limits.deadline_seconds,
        "stops": {expression: {"s": s, "kind": kind} for expression, (s, kind) in stops.items()},
        "worst_stop_s": worst,
        "meets_target": simple < 100 and worst < limits.deadline_seconds + 1,
    })


if __name__ == "__main__":
    main()
