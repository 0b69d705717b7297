"""Invoices blocked by integration errors."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from apps.canonical import models as hub_models
from apps.exceptions.models import ExceptionRecord, IntegrationException
from apps.reporting.filters import ReportFilters
from apps.reporting.selectors.money_at_risk import opened_by
from apps.reporting.sql import T, fetch, where
from apps.reporting.tables import Column, Table

BLOCKED_COLUMNS = (
    Column("number", "Invoice"), Column("kind", "Kind"), Column("customer", "Customer"), Column("project", "Project"),
    Column("issue_date", "Issued", "date"), Column("status", "Status"), Column("amount", "Amount", "money"),
    Column("currency", "Currency"), Column("blocked_by", "Blocked by"), Column("failing_records", "Failing records",
                                                                               "int"),
    Column("exception_kinds", "Exception kinds"), Column("blocked_since", "Blocked since", "datetime"),
    Column("why", "Why"),
)


def blocked_invoices(*, filters: ReportFilters) -> Table:
    """Live, not void invoices and billing events with an open exception on the invoice itself, or on a time
    entry or expense one of its lines bills (the invoice cannot be completed or posted as it stands).

    A billing-readiness draft has no number yet: it shows its project and period (``ACME-042:2026-04``), and
    ``why`` names what holds it back (missing_rate, unapproved_time, unmapped_project, closed_period).
    Amount is the invoice total; ``start``/``end`` filter on the issue date (undated invoices always show), and
    ``end`` leaves out exceptions opened after that day.
    """

    records, exceptions = ExceptionRecord._meta.db_table, IntegrationException._meta.db_table
    line_expense = hub_models.InvoiceLine.expenses.through._meta.db_table
    exception_filter, exception_params = "x.status IN ('open', 'acknowledged')", []
    if filters.flow:
        exception_filter += f" AND x.flow_id IN (SELECT id FROM {T['flow']} WHERE slug = %s)"
        exception_params.append(filters.flow)
    if filters.end:  # blocked by the end of that day: exceptions opened later are left out
        exception_filter += " AND x.opened_at < %s"
        exception_params.append(opened_by(filters.end))
    invoice_clauses, invoice_params = _invoice_scope(filters)
    rows = fetch(f"""
        WITH open_records AS (
            SELECT er.object_type, er.canonical_id, x.kind, x.opened_at
            FROM {records} er JOIN {exceptions} x ON x.id = er.exception_id
            WHERE er.is_open AND er.canonical_id IS NOT NULL AND er.object_type IN ('invoice', 'time_entry', 'expense')
              AND {exception_filter}
        ), blocked AS (
            SELECT canonical_id AS invoice_id, 'invoice' AS via, canonical_id AS record_id, kind, opened_at
            FROM open_records WHERE object_type = 'invoice'
            UNION ALL
            SELECT l.invoice_id, 'time entries', o.canonical_id, o.kind, o.opened_at
            FROM open_records o CROSS JOIN LATERAL (  -- an index lookup per failing record, not a scan of every
                SELECT lt.invoiceline_id FROM {T['line_time']} lt  -- billed entry (OFFSET 0 keeps it a lookup)
                WHERE lt.timeentry_id = o.canonical_id OFFSET 0) lt
            JOIN {T['line']} l ON l.id = lt.invoiceline_id WHERE o.object_type = 'time_entry'
            UNION ALL
            SELECT l.invoice_id, 'expenses', o.canonical_id, o.kind, o.opened_at
            FROM open_records o CROSS JOIN LATERAL (
                SELECT le.invoiceline_id FROM {line_expense} le WHERE le.expense_id = o.canonical_id OFFSET 0) le
            JOIN {T['line']} l ON l.id = le.invoiceline_id WHERE o.object_type = 'expense'
        )
        SELECT coalesce(nullif(i.number, ''), i.extra ->> 'billing_key', '') AS number, i.kind,
               c.name AS customer, p.code AS project, i.issue_date, i.status,
               i.amount_total AS amount, i.currency, string_agg(DISTINCT b.via, ', ') AS blocked_by,
               count(DISTINCT (b.via, b.record_id)) AS failing_records,
               string_agg(DISTINCT b.kind, ', ') AS exception_kinds, min(b.opened_at) AS blocked_since,
               coalesce((SELECT string_agg(r ->> 'reason', ', ') FROM jsonb_array_elements(
                   CASE WHEN jsonb_typeof(i.extra -> 'blocked') = 'array' THEN i.extra -> 'blocked' ELSE '[]' END
               ) r), '') AS why
        FROM blocked b JOIN {T['invoice']} i ON i.id = b.invoice_id JOIN {T['customer']} c ON c.id = i.customer_id
        LEFT JOIN {T['project']} p ON p.id = i.project_id
        WHERE i.deleted_at IS NULL AND i.status <> 'void' AND {where(invoice_clauses)}
        GROUP BY i.id, c.name, p.code
        ORDER BY i.amount_total DESC, i.id
    """, [*exception_params, *invoice_params])
    money: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        money[row["currency"]] += row["amount"]
    return Table(BLOCKED_COLUMNS, rows, {"invoices": len(rows), "amount": dict(money)},
                 ["An invoice is blocked while an exception on it, or on time or expenses it bills, is open."])


def _invoice_scope(filters: ReportFilters) -> tuple[list[str], list[Any]]:
    clauses, params = [], []
    if filters.project:
        clauses.append(f"i.project_id IN (SELECT id FROM {T['project']} WHERE code = %s)")
        params.append(filters.project)
    if filters.customer:
        clauses.append(f"i.customer_id IN (SELECT id FROM {T['customer']} WHERE code = %s)")
        params.append(filters.customer)
    for name, op in (("start", ">="), ("end", "<=")):
        if getattr(filters, name):
            clauses.append(f"(i.issue_date IS NULL OR i.issue_date {op} %s)")
            params.append(getattr(filters, name))
    return clauses, params
