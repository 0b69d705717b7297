"""Shared set-up for benchmarks: a dedicated database on the same server Weft uses, and the figures line."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def django_for_benchmarks(db_name: str, *, fresh: bool) -> None:
    """Point Django at ``db_name`` (created if missing, emptied first when ``fresh``) and set it up."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ["WEFT_DB_NAME"] = db_name
    os.environ.setdefault("WEFT_LOG_LEVEL", "WARNING")
    if fresh:
        _drop_database(db_name)
    # Migrating renders every migration's model state: done in a process of its own, that memory is not counted in
    # the benchmark's peak RSS (issue 18 bars it at 200 MB), and the figures start from a process like a server's.
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "weft_setup", "--verbosity", "0"], check=True,
                   env={**os.environ})
    import django

    django.setup()


def _drop_database(db_name: str) -> None:
    import psycopg
    from psycopg import sql

    from config.settings.base import DATABASES  # starts the embedded server if that is the source

    db = DATABASES["default"]
    with psycopg.connect(host=db["HOST"], port=db["PORT"] or None, user=db["USER"], password=db["PASSWORD"] or None,
                         dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db_name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db_name)))


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(pct) - 1]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> dict:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
            "date": datetime.now(UTC).strftime("%Y-%m-%d")}


def report(figures: dict) -> None:
    """Every benchmark ends with one JSON object on its last line."""
    print(json.dumps({**figures, "machine": machine()}, sort_keys=True))
