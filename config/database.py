"""Which PostgreSQL Weft talks to: ``DATABASE_URL``, the standard ``PG*`` variables, or the embedded one."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import dj_database_url

ENGINE = "config.postgresql_backend"  # django-tenants' backend, recycling connections (its docstring)
PG_VARIABLES = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE")


def database_source(environ: Mapping[str, str]) -> str:
    """``"url"``, ``"pg"`` or ``"embedded"``: the first configured source wins."""
    if environ.get("DATABASE_URL"):
        return "url"
    if environ.get("PGHOST"):
        return "pg"
    return "embedded"


def database_settings(
    *, environ: Mapping[str, str], data_dir: Path, default_name: str, conn_max_age: int, pool_size: int = 0
) -> dict:
    """The ``DATABASES["default"]`` entry for this environment, starting the embedded server if needed.

    ``pool_size`` > 0 pools connections per process with psycopg's pool (Django's ``OPTIONS["pool"]``): a
    process never holds more than that many, so processes × pool size bounds what PostgreSQL must accept.
    """
    source = database_source(environ)
    if source == "url":
        config = dj_database_url.parse(environ["DATABASE_URL"], conn_max_age=conn_max_age)
    elif source == "pg":
        config = {
            "HOST": environ["PGHOST"],
            "PORT": environ.get("PGPORT", ""),
            "USER": environ.get("PGUSER", ""),
            "PASSWORD": environ.get("PGPASSWORD", ""),
            "NAME": environ.get("PGDATABASE") or default_name,
            "CONN_MAX_AGE": conn_max_age,
        }
    else:
        from config.embedded_postgres import ensure_running

        server = ensure_running(data_dir, default_name)
        config = {
            "HOST": str(server.socket_dir),
            "PORT": str(server.port),
            "USER": "postgres",
            "PASSWORD": "",
            "NAME": default_name,
            "CONN_MAX_AGE": conn_max_age,
        }
    config["ENGINE"] = ENGINE
    config.setdefault("OPTIONS", {})
    if pool_size > 0:
        config["CONN_MAX_AGE"] = 0  # the pool keeps connections; Django refuses both at once
        config["OPTIONS"]["pool"] = pool_options(pool_size)
    return config


def pool_options(size: int) -> dict:
    """psycopg_pool settings: at most ``size`` connections, none kept open while idle for long, and a caller
    waits (rather than fails) while all are busy, up to a bound that stays below a client's patience."""
    return {"min_size": 1, "max_size": size, "timeout": 20, "max_idle": 300, "max_lifetime": 1800}
