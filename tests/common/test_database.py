"""Zero-setup database: the embedded server starts from nothing, survives a restart, is reused;
DATABASE_URL and the PG* variables point Weft at another server instead."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from config import embedded_postgres
from config.database import database_settings, database_source
from config.env import env_bool, env_int
from tests.cluster import ROOT, database_url_for_tests


@pytest.fixture(scope="module")
def fresh_data_dir():
    # Short path under /tmp: Unix socket paths are limited to ~100 characters.
    path = Path(tempfile.mkdtemp(prefix="weft-pg-", dir="/tmp"))
    yield path
    embedded_postgres.stop(path)
    subprocess.run(["rm", "-rf", str(path)], check=False)


def _query(info, sql: str, database: str = "weft_probe"):
    with psycopg.connect(host=str(info.socket_dir), port=info.port, user="postgres", dbname=database,
                         autocommit=True) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else None


def test_embedded_server_starts_from_nothing_survives_restart_and_is_reused(fresh_data_dir):
    assert embedded_postgres.read_server_info(fresh_data_dir / "pgdata") is None

    first = embedded_postgres.ensure_running(fresh_data_dir, "weft_probe")
    assert _query(first, "SHOW server_version")[0][0].startswith("18")
    _query(first, "CREATE TABLE kept (note text)")
    _query(first, "INSERT INTO kept VALUES ('survives')")

    reused = embedded_postgres.ensure_running(fresh_data_dir, "weft_probe")
    assert reused.pid == first.pid  # a second process start reuses the running server

    assert embedded_postgres.stop(fresh_data_dir) is True
    assert embedded_postgres.read_server_info(fresh_data_dir / "pgdata") is None
    assert embedded_postgres.stop(fresh_data_dir) is False

    restarted = embedded_postgres.ensure_running(fresh_data_dir, "weft_probe")
    assert restarted.pid != first.pid
    assert _query(restarted, "SELECT note FROM kept") == [("survives",)]


def test_server_listens_on_a_socket_in_its_own_folder_only(fresh_data_dir):
    info = embedded_postgres.ensure_running(fresh_data_dir, "weft_probe")
    assert info.socket_dir == (fresh_data_dir / "pgdata").resolve()
    assert _query(info, "SHOW listen_addresses") == [("",)]  # no TCP: never clashes with another server


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "embedded"),
        ({"PGHOST": "db.internal"}, "pg"),
        ({"DATABASE_URL": "postgres://u@h/d", "PGHOST": "other"}, "url"),
    ],
)
def test_database_source_prefers_url_then_pg_variables_then_embedded(environ, expected):
    assert database_source(environ) == expected


def test_pg_variables_build_the_connection(tmp_path):
    config = database_settings(
        environ={"PGHOST": "db.internal", "PGPORT": "6543", "PGUSER": "weft", "PGPASSWORD": "s3cret",
                 "PGDATABASE": "weft_prod"},
        data_dir=tmp_path, default_name="weft", conn_max_age=0,
    )
    assert (config["HOST"], config["PORT"], config["USER"], config["NAME"]) == (
        "db.internal", "6543", "weft", "weft_prod"
    )
    assert not (tmp_path / "pgdata").exists()  # no embedded server was started


def _django_in_subprocess(env: dict) -> dict:
    script = (
        "import django, json; django.setup();"
        "from django.db import connection; from django.conf import settings;"
        "c = connection.cursor(); c.execute('SELECT current_database()');"
        "print(json.dumps({'db': c.fetchone()[0], 'host': settings.DATABASES['default']['HOST']}))"
    )
    base = {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("PG")}
    completed = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings.local", **env},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def database_url_for_tests_points_weft_at_that_server(db, tmp_path):
    # The server under test stands in for "another PostgreSQL": it is reached only through the URL.
    seen = _django_in_subprocess({"DATABASE_URL": database_url_for_tests(), "WEFT_DATA_DIR": str(tmp_path)})
    assert seen["db"].startswith("test_")
    assert not (tmp_path / "pgdata").exists()


def test_pg_variables_point_weft_at_that_server(db, tmp_path):
    from django.db import connection

    settings_dict = connection.settings_dict
    seen = _django_in_subprocess({
        "PGHOST": settings_dict["HOST"], "PGPORT": str(settings_dict["PORT"] or 5432),
        "PGUSER": settings_dict["USER"], "PGDATABASE": settings_dict["NAME"], "WEFT_DATA_DIR": str(tmp_path),
    })
    assert seen == {"db": settings_dict["NAME"], "host": settings_dict["HOST"]}
    assert not (tmp_path / "pgdata").exists()


def test_malformed_environment_values_fail_loudly(monkeypatch):
    monkeypatch.setenv("WEFT_DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="WEFT_DEBUG must be a boolean"):
        env_bool("WEFT_DEBUG", False)
    monkeypatch.setenv("WEFT_Q_WORKERS", "two")
    with pytest.raises(ImproperlyConfigured, match="WEFT_Q_WORKERS must be an integer"):
        env_int("WEFT_Q_WORKERS", 2)
    with pytest.raises(ImproperlyConfigured, match="Set the environment variable WEFT_REQUIRED"):
        env_int("WEFT_REQUIRED")


def test_production_settings_pass_the_deploy_check(db):
    completed = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.production",
             "DATABASE_URL": database_url_for_tests(), "WEFT_CREDENTIAL_KEYS": Fernet.generate_key().decode(),
             "WEFT_SECRET_KEY": "k" * 20 + "-production-secret-key-for-the-check!"},
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "no issues" in completed.stdout


def test_production_settings_refuse_a_missing_secret_key(db):
    env = {k: v for k, v in os.environ.items() if k != "WEFT_SECRET_KEY"}
    completed = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings.production", "DATABASE_URL": database_url_for_tests()},
    )
    assert completed.returncode != 0 and "Set WEFT_SECRET_KEY" in completed.stderr
