"""Onboarding speed with many tenants: p50/p95 over 20 onboardings with 100 existing tenants.

Target (issue 2): p95 ≤ 5 s. Runs in its own database (weft_bench_tenants), rebuilt each run.
Usage: python bench/onboard_customers.py [--existing 100] [--measured 20]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._setup import django_for_benchmarks, percentile, report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--existing", type=int, default=100)
    parser.add_argument("--measured", type=int, default=20)
    args = parser.parse_args()
    django_for_benchmarks("weft_bench_tenants", fresh=True)

    from apps.tenants import services

    partner = services.partner_create(
        acting_user=None, name="Bench Partner", slug="bench", display_name="Bench", support_email="b@bench.example",
        email_sender_name="Bench", domain_suffix="bench.test",
    )

    def onboard(n: int) -> float:
        started = time.perf_counter()
        services.customer_onboard(partner=partner, slug=f"firm-{n:04d}", name=f"Firm {n}",
                                  admin_email=f"admin{n}@bench.example", acting_user=None)
        return time.perf_counter() - started

    setup_times = [onboard(n) for n in range(args.existing)]
    measured = [onboard(args.existing + n) for n in range(args.measured)]
    report({
        "benchmark": "onboard_customer",
        "existing_tenants": args.existing,
        "onboardings": args.measured,
        "p50_s": round(percentile(measured, 50), 3),
        "p95_s": round(percentile(measured, 95), 3),
        "max_s": round(max(measured), 3),
        "setup_onboardings_mean_s": round(sum(setup_times) / max(len(setup_times), 1), 3),
        "target_p95_s": 5.0,
        "meets_target": percentile(measured, 95) <= 5.0,
    })


if __name__ == "__main__":
    main()
