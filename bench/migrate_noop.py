"""`migrate_schemas` with nothing to apply over many tenants. Target (issue 2): ≤ 0.25 s per tenant.

Also times django-tenants' own executor (``migrate`` in every schema) for comparison: what each schema
costs when it does have a migration pending, before applying it.
Reuses the tenants bench/onboard_customers.py left in weft_bench_tenants (creates them if missing).
Usage: python bench/migrate_noop.py [--tenants 100]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._setup import django_for_benchmarks, report  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=100)
    args = parser.parse_args()
    django_for_benchmarks("weft_bench_tenants", fresh=False)

    from django.core.management import call_command

    from apps.tenants import services
    from apps.tenants.models import Customer, Partner

    partner = Partner.objects.filter(slug="bench").first() or services.partner_create(
        acting_user=None, name="Bench Partner", slug="bench", display_name="Bench", support_email="b@bench.example",
        email_sender_name="Bench", domain_suffix="bench.test",
    )
    for n in range(Customer.objects.firms().count(), args.tenants):
        services.customer_onboard(partner=partner, slug=f"firm-{n:04d}", name=f"Firm {n}",
                                  admin_email=f"admin{n}@bench.example", acting_user=None)
    schemas = Customer.objects.exclude(schema_name="public").count()

    started = time.perf_counter()
    call_command("migrate_schemas", tenant=True, interactive=False, verbosity=0)
    elapsed = time.perf_counter() - started
    per_tenant = elapsed / schemas

    from django_tenants.management.commands import migrate_schemas
    from django_tenants.migration_executors import get_executor

    migrate_schemas.GET_EXECUTOR_FUNCTION = get_executor  # django-tenants' own: `migrate` in every schema
    started = time.perf_counter()
    call_command("migrate_schemas", tenant=True, interactive=False, verbosity=0)
    every_schema = time.perf_counter() - started
    report({
        "benchmark": "migrate_schemas_noop",
        "schemas": schemas,
        "total_s": round(elapsed, 3),
        "per_tenant_s": round(per_tenant, 4),
        "migrate_in_every_schema_total_s": round(every_schema, 3),
        "migrate_in_every_schema_per_tenant_s": round(every_schema / schemas, 4),
        "target_per_tenant_s": 0.25,
        "meets_target": per_tenant <= 0.25,
    })


if __name__ == "__main__":
    main()
