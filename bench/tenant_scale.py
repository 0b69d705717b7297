"""Thousands of customers on one PostgreSQL (issue 20): grow in steps and measure each one.

Per step: onboarding p50/p95 (real ``customer_onboard``), database size, relations per customer, the largest
catalogue cache one connection held while touching every customer (with Weft's connection recycling), a
whole-database pg_dump (success, seconds), and a no-op and a one-column ``migrate_schemas``.

Runs on a throwaway embedded server of its own in /dev/shm (so a hundred thousand files do not thrash the shared
disk; onboarding is therefore somewhat faster than on disk); customers beyond the measured onboardings are cloned
cheaply (tests/ops/crowd.py). Stops growing when the time budget is spent.
With ``--clones-without-user-fks`` the clones lack their 19 foreign keys into the shared user table, which make each
clone cost in proportion to the customers already there (tests/ops/crowd.py); onboarded customers keep theirs.
Usage: python bench/tenant_scale.py [--steps 100,300,600,1000,2000] [--onboard 10] [--budget 300] [--spares]
       [--clones-without-user-fks]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._setup import machine, percentile  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", default="100,300,600,1000,2000")
    parser.add_argument("--onboard", type=int, default=10, help="real onboardings measured at each step")
    parser.add_argument("--budget", type=float, default=300, help="seconds; no new step starts after it")
    parser.add_argument("--spares", action="store_true", help="onboard from spare schemas made ahead of time")
    parser.add_argument("--clones-without-user-fks", action="store_true",
                        help="cloned customers lack their foreign keys into tenants_user (fast growth, less faithful)")
    args = parser.parse_args()
    started = time.monotonic()
    from tests.ops import crowd  # imports Django settings lazily: the server must be chosen first

    with crowd.scratch_server() as server:
        os.environ.update(PGHOST=str(server.socket_dir), PGPORT=str(server.port), PGUSER="postgres",
                          PGDATABASE="weft", DJANGO_SETTINGS_MODULE="config.settings.local", WEFT_LOG_LEVEL="WARNING")
        os.environ.pop("DATABASE_URL", None)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("weft_setup", verbosity=0)
        steps = _grow(args, started, crowd)
    print(json.dumps({"benchmark": "tenant_scale", "steps": steps, "budget_s": args.budget,
                      "elapsed_s": round(time.monotonic() - started, 1), "load_average": os.getloadavg(),
                      "machine": machine()}, sort_keys=True, default=float))


def _grow(args, started: float, crowd) -> list[dict]:
    from apps.ops.backups import Database
    from apps.tenants import services

    partner = services.partner_create(
        acting_user=None, name="Bench Partner", slug="bench", display_name="Bench", support_email="b@bench.example",
        email_sender_name="Bench", domain_suffix="bench.test")
    steps, have, onboarded = [], 0, 0
    for target in [int(n) for n in args.steps.split(",")]:
        if time.monotonic() - started > args.budget:
            break
        cloned = max(target - have - args.onboard, 0)
        grow_started = time.perf_counter()
        if cloned:
            crowd.customers_clone(Database.of(), partner_slug="bench", count=cloned, offset=have,
                                  shared_foreign_keys=not args.clones_without_user_fks)
        if args.spares:  # made ahead, as the platform schedule does; not timed
            services.spare_schemas_fill(count=target - have - cloned)
        grown = time.perf_counter() - grow_started
        times = []
        for _ in range(target - have - cloned):
            t0 = time.perf_counter()
            services.customer_onboard(partner=partner, slug=f"firm-{onboarded:04d}", name=f"Firm {onboarded}",
                                      admin_email=f"admin{onboarded}@bench.example", acting_user=None)
            times.append(time.perf_counter() - t0)
            onboarded += 1
        have = target
        step = {"customers": have, "spares": args.spares, "clone_user_fks": not args.clones_without_user_fks,
                "grow_s": round(grown, 1), "onboard_p50_s": round(percentile(times, 50), 3),
                "onboard_p95_s": round(percentile(times, 95), 3), **_catalogue(), **_connection_memory(),
                **_dump(), **_migrations(), "load_average": os.getloadavg()[0]}
        steps.append(step)
        print(json.dumps(step, default=float), flush=True)
    return steps


def _catalogue() -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database()), (SELECT count(*) FROM pg_class),"
                       " (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                       "   WHERE n.nspname = 'weft_template'),"
                       " (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                       "   JOIN pg_class t ON t.reltoastrelid = c.oid OR t.oid = c.oid"
                       "   WHERE n.nspname = 'pg_toast' AND t.relnamespace = 'weft_template'::regnamespace)")
        size, pg_class, template, toast = cursor.fetchone()
    return {"db_size_mb": round(size / 2**20, 1), "pg_class_rows": pg_class,
            "relations_per_customer": template + toast}


def _connection_memory() -> dict:
    """Touch every customer from one connection, as a web thread or worker serving them all would; report the
    largest catalogue cache a connection held (Weft's backend replaces it every WEFT_DB_RECYCLE_SCHEMAS schemas)."""
    from django.db import close_old_connections, connection
    from django_tenants.utils import schema_context

    from apps.tenants.selectors import active_firm_schemas

    peak, replaced, pids = 0, 0, set()
    started = time.perf_counter()
    for schema in list(active_firm_schemas()):
        with schema_context(schema), connection.cursor() as cursor:
            cursor.execute("SELECT (SELECT count(*) FROM runs_flow) + (SELECT count(*) FROM runs_run)"
                           " + (SELECT count(*) FROM exceptions_integrationexception)")
            cursor.execute("SELECT pg_backend_pid(), (SELECT sum(total_bytes) FROM pg_backend_memory_contexts)")
            pid, total = cursor.fetchone()
        pids.add(pid)
        peak = max(peak, total)
        close_old_connections()  # what the end of a request or the start of the next task does
    replaced = len(pids) - 1
    return {"connection_peak_mb": round(peak / 2**20, 1), "connections_replaced": replaced,
            "touch_all_s": round(time.perf_counter() - started, 1)}


def _dump() -> dict:
    from apps.ops.backups import Database, database_dump

    with tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").is_dir() else None) as folder:
        try:
            seconds = database_dump(database=Database.of(), out=Path(folder) / "weft.dump")
            return {"dump_ok": True, "dump_s": round(seconds, 1)}
        except RuntimeError as error:
            return {"dump_ok": False, "dump_error": str(error)[-200:]}


def _migrations() -> dict:
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    from apps.tenants.selectors import firm_schemas
    from tests.ops.test_migrate_as_sql import _a_leaf_run_as_sql, _forget

    t0 = time.perf_counter()
    call_command("migrate_schemas", tenant=True, interactive=False, verbosity=0)
    noop = time.perf_counter() - t0
    # A deploy: every schema lacks the latest SQL-only migration nothing depends on (columns, indexes, constraints).
    _, migration = _a_leaf_run_as_sql()
    connection.set_schema(settings.TENANT_BASE_SCHEMA)
    undo = [sql for sql in MigrationLoader(connection).collect_sql([(migration, True)]) if not sql.startswith("--")]
    connection.set_schema_to_public()
    for schema in [*firm_schemas(), settings.TENANT_BASE_SCHEMA]:
        _forget(schema, migration, undo)
    connection.close()
    t0 = time.perf_counter()
    call_command("migrate_schemas", tenant=True, interactive=False, verbosity=0)
    return {"migrate_noop_s": round(noop, 1), "migrate_deploy_s": round(time.perf_counter() - t0, 1),
            "migrate_deploy": f"{migration.app_label}.{migration.name}"}


if __name__ == "__main__":
    main()
