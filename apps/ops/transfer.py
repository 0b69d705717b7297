"""One customer out and back: ``tenant_export`` writes a customer's schema, files and public rows to one
archive; ``tenant_import`` restores it on this or another Weft at the same (or a later) version.

The archive (``.tar.gz``) holds ``manifest.json`` (the customer, its domains, plan, memberships with their
people, usage months, and every table's columns), ``tables/<table>.copy`` (each table of the schema in
PostgreSQL's COPY text format) and ``files/`` (the customer's connection files: inboxes, archives, exports).

Secrets stay sealed: connection credentials travel as the ciphertext stored in the database, readable only
where the same ``WEFT_CREDENTIAL_KEYS`` are configured; passwords as their hashes. The archive holds the
customer's business data: keep it as carefully as a database backup.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django_tenants.utils import schema_context

from apps.common.errors import ApplicationError
from apps.runs.schedules import schedules_sync_all
from apps.tenants.models import Customer, Domain, Membership, Partner, Plan, UsageMonth, User
from apps.tenants.services import customer_onboard, membership_grant

FORMAT = "weft-tenant-export/1"
# The clone's record of applied migrations describes the tables as they are here: kept, not the archive's.
KEEP_TABLES = {"django_migrations"}
USER_FIELDS = ("username", "email", "first_name", "last_name", "password", "is_active")


class TransferError(ApplicationError):
    """The archive cannot be imported here (the customer exists, its partner is missing, columns differ...)."""


@dataclass(frozen=True)
class ImportResult:
    customer: Customer
    tables: int
    rows: int
    files: int


# --- export ------------------------------------------------------------------------------------------
def tenant_export(*, customer: Customer, out: Path) -> dict:
    """Write ``customer`` to the archive ``out``; returns the manifest. Everything is read in one transaction;
    pause the customer's flows first for an exact copy of a busy customer (docs/deploy.md)."""
    with transaction.atomic():
        tables = _tables(customer.schema_name)
        manifest = {"format": FORMAT, "exported_at": datetime.now(UTC).isoformat(), **_public_rows(customer),
                    "tables": tables}
        with tarfile.open(out, "w:gz") as archive:
            for table in tables:
                _add(archive, f"tables/{table['name']}.copy", _copy_out(customer.schema_name, table))
            files_root = _files_root(customer.schema_name)
            if files_root.is_dir():
                archive.add(files_root, arcname="files")
            _add(archive, "manifest.json", json.dumps(manifest, indent=1, default=str).encode())
    return manifest


def _public_rows(customer: Customer) -> dict:
    memberships = Membership.objects.filter(customer=customer).select_related("user")
    return {
        "customer": {"slug": customer.slug, "name": customer.name, "kind": customer.kind,
                     "schema_name": customer.schema_name, "is_active": customer.is_active,
                     "partner": customer.partner.slug if customer.partner else None,
                     "plan": customer.plan.slug if customer.plan else None},
        "domains": [{"domain": d.domain, "is_primary": d.is_primary} for d in customer.domains.order_by("pk")],
        "memberships": [{"role": m.role, "user": {f: getattr(m.user, f) for f in USER_FIELDS}} for m in memberships],
        "usage": [{"month": u.month.isoformat(), "records_synced": u.records_synced, "runs": u.runs,
                   "api_calls": u.api_calls} for u in UsageMonth.objects.filter(customer=customer)],
    }


def _tables(schema: str) -> list[dict]:
    """Every ordinary table of the schema (partitions come through their parent) with its stored columns."""
    with connection.cursor() as cursor:
        cursor.execute("""
            SELECT c.relname, array_agg(a.attname ORDER BY a.attnum)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            WHERE n.nspname = %s AND c.relkind IN ('r', 'p') AND NOT c.relispartition
            GROUP BY c.relname ORDER BY c.relname""", [schema])
        return [{"name": name, "columns": list(columns)} for name, columns in cursor.fetchall()]


def _copy_out(schema: str, table: dict) -> bytes:
    buffer = io.BytesIO()
    with connection.cursor() as cursor, cursor.cursor.copy(
            f"COPY (SELECT {_columns(table)} FROM {_qualified(schema, table['name'])}) TO STDOUT") as copy:
        for chunk in copy:
            buffer.write(chunk)
    return buffer.getvalue()


# --- import ------------------------------------------------------------------------------------------
def tenant_import(*, source: Path, acting_user: User | None = None) -> ImportResult:
    """Restore the customer in the archive ``source``: a new schema cloned from the template, filled with the
    archive's rows, its domains, memberships and usage, and its files. All or nothing (one transaction,
    files last). Refused if the customer, its schema or a domain exists here, or if its partner does not."""
    with tarfile.open(source, "r:gz") as archive:
        manifest = json.loads(_read(archive, "manifest.json"))
        if manifest.get("format") != FORMAT:
            raise TransferError(f"{source} is not a Weft tenant export ({manifest.get('format')!r}).")
        info = manifest["customer"]
        partner = _import_checks(manifest)
        with transaction.atomic():
            primary = next((d["domain"] for d in manifest["domains"] if d["is_primary"]), None)
            customer = customer_onboard(partner=partner, slug=info["slug"], name=info["name"], domain=primary,
                                        admin_email=f"import-{info['slug']}@invalid.example",
                                        admin_username=f"weft-import-{info['slug']}", acting_user=acting_user,
                                        ).customer
            _drop_onboarding_admin(customer, info["slug"])
            rows = _load_tables(customer.schema_name, manifest["tables"], archive)
            _restore_public_rows(customer, manifest, partner, acting_user)
        files = _restore_files(archive, customer.schema_name)
    connection.set_schema_to_public()
    return ImportResult(customer=customer, tables=len(manifest["tables"]), rows=rows, files=files)


def _import_checks(manifest: dict) -> Partner:
    info = manifest["customer"]
    if info["schema_name"] != Customer.schema_for_slug(info["slug"]):
        raise TransferError("The archive's schema name does not match its slug.")
    if Customer.objects.filter(slug=info["slug"]).exists():
        raise TransferError(f"A customer {info['slug']!r} exists here; remove it before importing it again.")
    domains = [d["domain"] for d in manifest["domains"]]
    taken = Domain.objects.filter(domain__in=domains).values_list("domain", flat=True)
    if taken:
        raise TransferError(f"These domains serve another customer here: {', '.join(sorted(taken))}.")
    partner = Partner.objects.filter(slug=info["partner"]).first()
    if partner is None:
        raise TransferError(f"The partner {info['partner']!r} does not exist here; create it first.")
    return partner


def _drop_onboarding_admin(customer: Customer, slug: str) -> None:
    # Onboarding always makes a first admin; the archive brings the customer's real people instead. What the new
    # schema holds of them (history links, without constraints into the public schema) goes with the TRUNCATE of
    # every table that follows.
    with schema_context(customer.schema_name):
        User.objects.filter(username=f"weft-import-{slug}", memberships__customer=customer).delete()


def _load_tables(schema: str, tables: list[dict], archive: tarfile.TarFile) -> int:
    """Replace the cloned template's rows with the archive's, table by table; Django's foreign keys are
    deferrable, so the order does not matter inside the transaction. Then move every sequence past its rows."""
    here = {t["name"]: set(t["columns"]) for t in _tables(schema) if t["name"] not in KEEP_TABLES}
    tables = [t for t in tables if t["name"] not in KEEP_TABLES]
    for table in tables:
        missing = set(table["columns"]) - here.get(table["name"], set())
        if table["name"] not in here or missing:
            raise TransferError(f"Table {table['name']} here lacks {sorted(missing) or 'everything'}: import into "
                                f"a Weft at the archive's version or later.")
    total = 0
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        cursor.execute("TRUNCATE " + ", ".join(_qualified(schema, name) for name in here))
        for table in tables:
            with cursor.cursor.copy(f"COPY {_qualified(schema, table['name'])} ({_columns(table)}) FROM STDIN") as copy:
                copy.write(_read(archive, f"tables/{table['name']}.copy"))
            total += cursor.cursor.rowcount if cursor.cursor.rowcount > 0 else 0
        _reset_sequences(cursor, schema)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    return total


def _reset_sequences(cursor, schema: str) -> None:
    cursor.execute("""
        SELECT c.relname, a.attname, pg_get_serial_sequence(quote_ident(n.nspname) || '.' || quote_ident(c.relname),
                                                            a.attname)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE n.nspname = %s AND c.relkind = 'r'""", [schema])
    for table, column, sequence in [row for row in cursor.fetchall() if row[2]]:
        cursor.execute(f"SELECT setval(%s, COALESCE((SELECT max({_ident(column)}) FROM "
                       f"{_qualified(schema, table)}), 0) + 1, false)", [sequence])
    # The schema's shared id sequences (config.postgresql_backend.schema): past the largest id of every table
    # whose key draws from them.
    cursor.execute("""
        SELECT c.relname, a.attname, substring(pg_get_expr(d.adbin, d.adrelid) from 'nextval\\(''(.*)''::regclass\\)')
        FROM pg_attrdef d JOIN pg_class c ON c.oid = d.adrelid
        JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
        WHERE c.relnamespace = to_regnamespace(%s) AND c.relkind = 'r'
          AND pg_get_expr(d.adbin, d.adrelid) ~ '^nextval\\(''[^'']*weft_(small_)?ids''::regclass\\)$'""", [schema])
    tops: dict[str, list[str]] = {}
    for table, column, sequence in cursor.fetchall():
        tops.setdefault(sequence, []).append(f"(SELECT max({_ident(column)}) FROM {_qualified(schema, table)})")
    for sequence, maxima in tops.items():
        cursor.execute(f"SELECT setval(%s, COALESCE(greatest({', '.join(maxima)}), 0) + 1, false)", [sequence])


def _restore_public_rows(customer: Customer, manifest: dict, partner: Partner, acting_user: User | None) -> None:
    info = manifest["customer"]
    customer.kind, customer.is_active = info["kind"], info["is_active"]
    customer.plan = Plan.objects.filter(partner=partner, slug=info["plan"]).first() if info["plan"] else None
    customer.save(update_fields=["kind", "is_active", "plan"])
    for domain in manifest["domains"]:
        if not domain["is_primary"]:
            Domain.objects.create(domain=domain["domain"], tenant=customer, is_primary=False)
    for membership in manifest["memberships"]:
        person = membership["user"]
        user, _ = User.objects.get_or_create(username=person["username"], defaults=person)
        membership_grant(user=user, role=membership["role"], customer=customer, acting_user=acting_user)
    UsageMonth.objects.bulk_create([UsageMonth(customer=customer, plan=customer.plan, **row)
                                    for row in manifest["usage"]])
    with schema_context(customer.schema_name):
        schedules_sync_all()  # the flows' django-q2 schedules live in the public schema


def _restore_files(archive: tarfile.TarFile, schema: str) -> int:
    members = [m for m in archive.getmembers() if m.name.startswith("files/") and (m.isfile() or m.isdir())]
    target = _files_root(schema)
    for member in members:
        member.name = member.name.removeprefix("files/")
        archive.extract(member, target, filter="data")  # "data": no absolute paths, links out or devices
    return sum(1 for m in members if m.isfile())


# --- helpers -----------------------------------------------------------------------------------------
def _files_root(schema: str) -> Path:
    return Path(settings.WEFT_DATA_DIR) / "files" / schema


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    member = tarfile.TarInfo(name)
    member.size, member.mtime = len(data), int(datetime.now(UTC).timestamp())
    archive.addfile(member, io.BytesIO(data))


def _read(archive: tarfile.TarFile, name: str) -> bytes:
    try:
        return archive.extractfile(name).read()
    except KeyError:
        raise TransferError(f"The archive has no {name}.") from None


def _ident(name: str) -> str:
    return connection.ops.quote_name(name)


def _qualified(schema: str, table: str) -> str:
    return f"{_ident(schema)}.{_ident(table)}"


def _columns(table: dict) -> str:
    return ", ".join(_ident(c) for c in table["columns"])
