"""BI access: a read-only reporting schema of documented views per customer, a database role that may read only
that schema, and Parquet snapshots of every view.

The views belong to Weft's database user, so the role needs (and gets) no right on the customer's own tables,
another customer's, or the public schema's: it may use one schema and select from its views. Roles are
cluster-wide in PostgreSQL, so their names carry the database's name too.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql

from apps.bi.models import ReportingAccess
from apps.bi.views import VIEWS
from apps.common.history import save_attributed
from apps.tenants import access
from apps.tenants.models import Customer, User


@dataclass(frozen=True)
class BiCredentials:
    """What a BI tool needs to connect; the password exists only here (shown once, never stored)."""

    host: str
    port: str
    database: str
    user: str
    schema: str
    password: str = field(repr=False)


def reporting_schema_name(customer: Customer) -> str:
    return f"{customer.schema_name}_bi"[:63]


def reporting_role_name(customer: Customer) -> str:
    return f"{connection.settings_dict['NAME']}_{customer.schema_name}_bi"[:63]


def bi_access_grant(*, customer: Customer, acting_user: User | None) -> BiCredentials:
    """Create (or refresh) ``customer``'s reporting schema and its role with a new password; an earlier password
    stops working. Returns the credentials to show once."""
    access.check(acting_user, "bi.grant", customer=customer)
    role, password = reporting_role_name(customer), secrets.token_urlsafe(24)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        verb = "ALTER" if cursor.fetchone() else "CREATE"
        cursor.execute(sql.SQL(verb + " ROLE {} WITH LOGIN NOINHERIT PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(password)))
        found = ReportingAccess.objects.filter(customer=customer).first()
        record = found or ReportingAccess(customer=customer)
        record.schema_name, record.role_name = reporting_schema_name(customer), role
        record.granted_at, record.granted_by = timezone.now(), acting_user
        save_attributed(record, acting_user=acting_user, reason="BI access granted")
        reporting_views_build(record)
    db = connection.settings_dict
    return BiCredentials(host=db.get("HOST") or "localhost", port=str(db.get("PORT") or 5432), database=db["NAME"],
                         user=role, schema=record.schema_name, password=password)


def reporting_views_build(record: ReportingAccess) -> None:
    """(Re)create the reporting schema's views and grant the role what it needs: nothing more than
    using the schema and selecting from its views. After a migration the views are rebuilt (``receivers``)."""
    schema, role = sql.Identifier(record.schema_name), sql.Identifier(record.role_name)
    tenant = sql.Identifier(record.customer.schema_name)
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema))
        cursor.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
        cursor.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(schema))
        for view in VIEWS:
            name = sql.Identifier(record.schema_name, view.name)
            cursor.execute(sql.SQL("CREATE VIEW {} AS ").format(name) + sql.SQL(view.select).format(s=tenant))
            cursor.execute(sql.SQL("COMMENT ON VIEW {} IS {}").format(name, sql.Literal(view.describes)))
        cursor.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, role))
        cursor.execute(sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(schema, role))
        cursor.execute(sql.SQL("ALTER ROLE {} SET search_path = {}").format(role, schema))


def reporting_views_drop(record: ReportingAccess) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(record.schema_name)))


def bi_access_revoke(*, customer: Customer, acting_user: User | None) -> None:
    """Drop the reporting schema and the role: BI tools lose access at their next query."""
    access.check(acting_user, "bi.grant", customer=customer)
    record = ReportingAccess.objects.filter(customer=customer).first()
    if record is None:
        return
    with transaction.atomic(), connection.cursor() as cursor:
        reporting_views_drop(record)
        cursor.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(record.role_name)))
        record.delete()


def bi_snapshot_settings_set(*, customer: Customer, enabled: bool, folder: str | None = None,
                             acting_user: User | None) -> ReportingAccess:
    """Turn the nightly Parquet snapshot on or off; ``folder`` (``None``: unchanged, blank: the default) says where."""
    access.check(acting_user, "bi.grant", customer=customer)
    record = ReportingAccess.objects.get(customer=customer)
    record.snapshot_enabled = enabled
    if folder is not None:
        record.snapshot_folder = folder.strip()
    save_attributed(record, acting_user=acting_user, reason="BI snapshot settings changed")
    return record
