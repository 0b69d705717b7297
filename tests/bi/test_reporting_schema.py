"""BI access: a customer's reporting schema of documented views, read by a role that can read nothing else (not
the customer's own tables, not another customer's views, not the platform's users), and Parquet snapshots that
hold the same rows."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pytest
from django.apps import apps
from django.db import ProgrammingError, connection, transaction
from django.db.models.signals import post_migrate, pre_migrate
from django_tenants.utils import schema_context

from apps.bi.models import ReportingAccess
from apps.bi.services import bi_access_grant, bi_access_revoke, bi_snapshot_settings_set
from apps.bi.snapshots import bi_snapshot_write
from apps.bi.views import VIEWS
from apps.reporting.services import reporting_refresh
from apps.tenants.choices import Role
from apps.tenants.errors import AccessDenied, NotVisible
from tests.conftest import member
from tests.reporting.dataset import build

DOCS = Path(__file__).resolve().parents[2] / "docs" / "bi.md"


@pytest.fixture
def alpha_data(cast):
    with schema_context("alpha"):
        data = build()
        reporting_refresh(full=True)
    return data


def _as_role(role: str, query: str):
    """Run ``query`` as the BI role (SET ROLE: its privileges, in this test's transaction); the error if refused."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f'SET LOCAL ROLE "{role}"')
        try:
            with transaction.atomic():
                cursor.execute(query)
                return cursor.fetchall()
        except ProgrammingError as error:
            return error.__cause__  # psycopg's own error: InsufficientPrivilege when refused
        finally:
            cursor.execute("RESET ROLE")


def test_the_role_reads_its_customers_views_and_nothing_else(cast, alpha_data):
    credentials = bi_access_grant(customer=cast.alpha, acting_user=None)
    other = bi_access_grant(customer=cast.gamma, acting_user=None)
    role = credentials.user

    # 12 entries in the data set, E8 deleted at the source
    rows = _as_role(role, "SELECT project_code, hours, approval_status FROM alpha_bi.time_entries ORDER BY id")
    assert len(rows) == 11 and ("ACME-1", Decimal("8.00"), "approved") in rows
    unposted = _as_role(role, "SELECT sum(hours) FROM alpha_bi.unposted_time")
    assert unposted[0][0] > 0

    for forbidden in ("SELECT * FROM alpha.canonical_timeentry", "SELECT * FROM gamma_bi.time_entries",
                      "SELECT * FROM gamma.canonical_project", "SELECT username, password FROM public.tenants_user",
                      "SELECT * FROM public.tenants_customer", "CREATE TABLE alpha_bi.x (id int)"):
        assert isinstance(_as_role(role, forbidden), psycopg.errors.InsufficientPrivilege), forbidden
    assert credentials.schema == "alpha_bi" and other.user != role
    assert len(credentials.password) >= 24 and credentials.password not in repr(credentials)


def test_a_second_grant_gives_a_new_password_and_keeps_one_record(cast, alpha_data):
    first = bi_access_grant(customer=cast.alpha, acting_user=None)
    second = bi_access_grant(customer=cast.alpha, acting_user=None)
    assert first.password != second.password and first.user == second.user
    assert ReportingAccess.objects.filter(customer=cast.alpha).count() == 1


def test_revoking_drops_the_schema_and_the_role(cast, alpha_data):
    credentials = bi_access_grant(customer=cast.alpha, acting_user=None)
    bi_access_revoke(customer=cast.alpha, acting_user=None)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", [credentials.user])
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT count(*) FROM pg_namespace WHERE nspname = 'alpha_bi'")
        assert cursor.fetchone()[0] == 0
    assert not ReportingAccess.objects.exists()


def test_only_admins_grant_and_other_partners_do_not_see_the_customer(cast):
    viewer = member(Role.VIEWER, customer=cast.alpha)
    admin = member(Role.CUSTOMER_ADMIN, customer=cast.alpha)
    stranger = member(Role.PARTNER_ADMIN, partner=cast.ypartner)
    with pytest.raises(AccessDenied):
        bi_access_grant(customer=cast.alpha, acting_user=viewer)
    with pytest.raises(NotVisible):
        bi_access_grant(customer=cast.alpha, acting_user=stranger)
    assert bi_access_grant(customer=cast.alpha, acting_user=admin).schema == "alpha_bi"


def test_a_snapshot_holds_every_view_with_the_same_rows(cast, alpha_data, tmp_path):
    bi_access_grant(customer=cast.alpha, acting_user=None)
    record = bi_snapshot_settings_set(customer=cast.alpha, enabled=True, folder=str(tmp_path), acting_user=None)

    folder = bi_snapshot_write(record)

    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{v.name}.parquet" for v in VIEWS)
    entries = pq.read_table(folder / "time_entries.parquet").to_pylist()
    with connection.cursor() as cursor:
        cursor.execute("SELECT id, hours, date FROM alpha_bi.time_entries")
        live = {row[0]: row[1:] for row in cursor.fetchall()}
    assert {e["id"]: (e["hours"], e["date"]) for e in entries} == live
    record.refresh_from_db()
    assert record.last_snapshot_at is not None


def test_a_migration_rebuilds_the_views_it_would_have_been_blocked_by(cast, alpha_data):
    bi_access_grant(customer=cast.alpha, acting_user=None)
    bi = apps.get_app_config("bi")
    alter = "ALTER TABLE alpha.canonical_timeentry ALTER COLUMN hours TYPE numeric(8, 2)"
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending foreign-key checks in the way of ALTER
        with pytest.raises(Exception, match="used by a view"), transaction.atomic():
            cursor.execute(alter)  # without the hooks, the views would block the migration
    with schema_context("alpha"):
        pre_migrate.send(sender=bi, app_config=bi, verbosity=0, interactive=False, using="default")
        with connection.cursor() as cursor:  # what a migration may now do: change a column the views read
            cursor.execute(alter)
        post_migrate.send(sender=bi, app_config=bi, verbosity=0, interactive=False, using="default")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM alpha_bi.time_entries")
        assert cursor.fetchone()[0] == 11  # E8 was deleted at the source


def test_the_docs_describe_every_view():
    documented = set(re.findall(r"^\| `(\w+)` \|", DOCS.read_text(), flags=re.M))
    assert documented == {v.name for v in VIEWS}


def test_a_partner_admin_grants_access_on_the_drill_in_and_sees_the_password_once(cast, client):
    admin = member(Role.PARTNER_ADMIN, partner=cast.xpartner)
    analyst = member(Role.ANALYST, partner=cast.xpartner)
    site = {"HTTP_HOST": cast.xpartner.domain_suffix}
    client.force_login(analyst)
    page = client.get("/customers/alpha/", **site).text
    assert "No BI access yet" in page and "Grant BI access" not in page  # an analyst sees, may not grant
    assert client.post("/customers/alpha/bi/", {"action": "grant"}, **site).status_code == 403

    client.force_login(admin)
    shown = client.post("/customers/alpha/bi/", {"action": "grant"}, **site)
    assert shown.status_code == 200 and "no-store" in shown["Cache-Control"]
    password = re.search(r'data-bi="password">([^<]+)<', shown.text).group(1)
    page = client.get("/customers/alpha/", **site).text
    assert "alpha_bi" in page and password not in page  # shown once, on the grant's answer only
    client.post("/customers/alpha/bi/", {"action": "snapshots-on"}, **site)
    assert ReportingAccess.objects.get(customer=cast.alpha).snapshot_enabled
    client.post("/customers/alpha/bi/", {"action": "revoke"}, **site)
    assert not ReportingAccess.objects.exists()
