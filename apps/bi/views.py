"""The reporting schema's views: what a BI tool sees of one customer, one documented view per subject.

Each view reads the customer's own schema (``{s}``) and nothing else; columns are named for people who write
SQL in Power BI or Metabase (codes beside ids, amounts with their currency). ``docs/bi.md`` lists them; a test
keeps the two equal. Soft-deleted hub records are left out.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReportingView:
    name: str
    describes: str
    select: str  # SQL over the customer's schema, "{s}" standing for its quoted name


VIEWS: tuple[ReportingView, ...] = (
    ReportingView("customers", "The firm's clients (hub).", """
        SELECT c.id, c.code, c.name, c.currency, c.payment_terms, c.is_active, p.code AS parent_code,
               c.created_at, c.updated_at
        FROM {s}.canonical_customer c LEFT JOIN {s}.canonical_customer p ON p.id = c.parent_id
        WHERE c.deleted_at IS NULL"""),
    ReportingView("projects", "Projects with their client, budget and default rate (hub).", """
        SELECT p.id, p.code, p.name, c.code AS customer_code, c.name AS customer_name, p.status, p.billing_type,
               p.start_date, p.end_date, p.budget_amount, p.budget_hours, p.default_bill_rate, p.currency,
               m.code AS manager_code
        FROM {s}.canonical_project p JOIN {s}.canonical_customer c ON c.id = p.customer_id
        LEFT JOIN {s}.canonical_person m ON m.id = p.manager_id
        WHERE p.deleted_at IS NULL"""),
    ReportingView("people", "People with practice, capacity and cost rate (hub).", """
        SELECT id, code, name, email, employment, practice, capacity_hours_per_week, cost_rate, cost_currency,
               is_active
        FROM {s}.canonical_person WHERE deleted_at IS NULL"""),
    ReportingView("assignments", "Who is planned on which project, when and for how many hours (hub).", """
        SELECT a.id, pe.code AS person_code, pr.code AS project_code, a.role, a.start_date, a.end_date,
               a.planned_hours, a.bill_rate_override
        FROM {s}.canonical_assignment a JOIN {s}.canonical_person pe ON pe.id = a.person_id
        JOIN {s}.canonical_project pr ON pr.id = a.project_id
        WHERE a.deleted_at IS NULL"""),
    ReportingView("time_entries", "Hours worked, one row per entry, with approval state and rates (hub).", """
        SELECT t.id, pe.code AS person_code, pr.code AS project_code, t.date, t.hours, t.billable,
               t.approval_status, t.approved_at, t.bill_rate, t.cost_rate, t.currency, t.task
        FROM {s}.canonical_timeentry t JOIN {s}.canonical_person pe ON pe.id = t.person_id
        JOIN {s}.canonical_project pr ON pr.id = t.project_id
        WHERE t.deleted_at IS NULL"""),
    ReportingView("expenses", "Money spent on projects, with approval state (hub).", """
        SELECT e.id, pe.code AS person_code, pr.code AS project_code, e.date, e.category, e.amount, e.currency,
               e.billable, e.approval_status, e.approved_at
        FROM {s}.canonical_expense e JOIN {s}.canonical_person pe ON pe.id = e.person_id
        JOIN {s}.canonical_project pr ON pr.id = e.project_id
        WHERE e.deleted_at IS NULL"""),
    ReportingView("invoices", "Invoices and credit notes with their totals (hub).", """
        SELECT i.id, i.number, i.kind, c.code AS customer_code, pr.code AS project_code, i.issue_date, i.due_date,
               i.status, i.currency, i.amount_net, i.amount_tax, i.amount_total
        FROM {s}.canonical_invoice i JOIN {s}.canonical_customer c ON c.id = i.customer_id
        LEFT JOIN {s}.canonical_project pr ON pr.id = i.project_id
        WHERE i.deleted_at IS NULL"""),
    ReportingView("runs", "Every sync run: flow, trigger, status, counts by outcome, duration.", """
        SELECT r.id, f.slug AS flow, f.direction, r.object_type, r.trigger, r.status, r.started_at, r.finished_at,
               r.counts, r.error_category, r.error_message
        FROM {s}.runs_run r JOIN {s}.runs_flow f ON f.id = r.flow_id"""),
    ReportingView("ledger", "Every record a run handled (the ledger): outcome, error, target id, latency.", """
        SELECT i.id, i.run_id, f.slug AS flow, i.object_type, i.external_id, i.target_external_id, i.outcome,
               i.error_category, i.error_field, i.error_message, i.attempts, i.latency_ms, i.created_at
        FROM {s}.runs_runitem i JOIN {s}.runs_run r ON r.id = i.run_id JOIN {s}.runs_flow f ON f.id = r.flow_id"""),
    ReportingView("exceptions", "Integration exceptions with their business context and money at risk.", """
        SELECT id, kind, source, title, object_type, severity, status, first_seen, last_seen, opened_at,
               acknowledged_at, resolved_at, occurrences, open_records, records_total, hours_at_risk,
               amount_at_risk, currency, amounts, projects, people, period_start, period_end
        FROM {s}.exceptions_integrationexception"""),
    ReportingView("unposted_time", "Approved time an outbound flow has not posted yet, per flow and entry.", """
        SELECT f.slug AS flow, u.time_entry_id, pr.code AS project_code, pe.code AS person_code, u.work_date,
               u.approved_day, u.hours, u.billable_hours, u.value, u.unrated_hours, u.currency
        FROM {s}.reporting_unpostedentry u JOIN {s}.runs_flow f ON f.id = u.flow_id
        JOIN {s}.canonical_project pr ON pr.id = u.project_id JOIN {s}.canonical_person pe ON pe.id = u.person_id"""),
    ReportingView("time_by_week", "Live, not rejected time per person, project and week within a month: hours, "
                  "billable hours and value, cost (what utilization and margin add up).", """
        SELECT pe.code AS person_code, pr.code AS project_code, w.day, w.week, w.month, w.hours, w.billable_hours,
               w.billable_value, w.cost, w.uncosted_hours
        FROM {s}.reporting_timeweek w JOIN {s}.canonical_person pe ON pe.id = w.person_id
        JOIN {s}.canonical_project pr ON pr.id = w.project_id"""),
    ReportingView("planned_vs_actual", "Planned (assignments) and actual hours per person, project and ISO week.",
                  """
        SELECT pe.code AS person_code, pr.code AS project_code, k.week, COALESCE(p.hours, 0) AS planned_hours,
               COALESCE(a.hours, 0) AS actual_hours
        FROM (SELECT person_id, project_id, week FROM {s}.reporting_planweek
              UNION SELECT person_id, project_id, week FROM {s}.reporting_actualweek) k
        LEFT JOIN {s}.reporting_planweek p USING (person_id, project_id, week)
        LEFT JOIN {s}.reporting_actualweek a USING (person_id, project_id, week)
        JOIN {s}.canonical_person pe ON pe.id = k.person_id JOIN {s}.canonical_project pr ON pr.id = k.project_id"""),
    ReportingView("reconciliation_by_week", "Approved time in the hub against what each outbound flow's target has, "
                  "per person, project and ISO week.", """
        SELECT f.slug AS flow, pe.code AS person_code, pr.code AS project_code, r.week, r.source_hours,
               r.source_amount, r.target_hours, r.target_amount
        FROM {s}.reporting_reconciliationweek r JOIN {s}.runs_flow f ON f.id = r.flow_id
        JOIN {s}.canonical_person pe ON pe.id = r.person_id JOIN {s}.canonical_project pr ON pr.id = r.project_id"""),
    ReportingView("invoice_cycle", "Days from the last approval of the time an invoice bills to its issue date.", """
        SELECT i.number AS invoice_number, pr.code AS project_code, c.issue_date, c.days
        FROM {s}.reporting_invoicecycle c JOIN {s}.canonical_invoice i ON i.id = c.invoice_id
        LEFT JOIN {s}.canonical_project pr ON pr.id = c.project_id"""),
)
