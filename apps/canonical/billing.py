"""Billing readiness: approved billable time and expenses per project and period become draft invoices in the hub,
each saying what blocks it; revenue inputs per project and month.

``billing_drafts_prepare`` keeps one draft invoice per project and period (a month, or an ISO week), keyed by
``extra.billing_key`` (``ACME-042:2026-04``): a re-run rebuilds the same draft, never a second one, and only while
it is a draft. Its lines bill the approved billable time (one line per person and rate) and the approved billable
expenses (one line per category) of the period not already billed by another invoice; the lines link what they
bill (``InvoiceLine.time_entries``, ``.expenses``), so the blocked-invoices report sees through them.
``extra.blocked`` lists what stops the draft from going out, each with the hours and money at stake:

- ``missing_rate``: approved billable time with no bill rate (entry, assignment, project default, rate card);
- ``unapproved_time``: billable time of the period still waiting for approval (submitted or draft);
- ``unmapped_project``: the project's customer has no record in a billing target (no cross-reference);
- ``closed_period``: the period starts before the open period.

The outbound flow's ``billing_ready`` rule turns each into a failed ledger item and so an exception on the
invoice. ``revenue_inputs`` computes, per project and month, billable value, cost, percent complete and what the
month accrues (the billable value; for a fixed fee, its share of the fee by progress); ``revenue_inputs_store``
keeps them as revenue schedules (kind forecast) for a flow to send on.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.canonical.hashing import record_hash
from apps.canonical.models import (
    ApprovalStatus,
    Assignment,
    Expense,
    ExternalRef,
    Invoice,
    InvoiceLine,
    Project,
    RevenueSchedule,
    TimeEntry,
)
from apps.connectors.models import Connection

PERIODS = ("month", "week")
CENT = Decimal("0.01")
ZERO = Decimal("0")
PENDING = (ApprovalStatus.SUBMITTED, ApprovalStatus.DRAFT)
BLOCKERS = ("missing_rate", "unapproved_time", "unmapped_project", "closed_period")


def period_of(day: date, period: str) -> tuple[str, date, date]:
    """The period holding ``day``: its label (``2026-04`` or ``2026-W15``), first and last day."""
    if period == "week":
        start = day - timedelta(days=day.weekday())
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}", start, start + timedelta(days=6)
    if period != "month":
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {period!r}")
    start = day.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return f"{day:%Y-%m}", start, end


@dataclass
class DraftSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    blocked: int = 0
    voided: int = 0
    invoice_ids: list[int] = field(default_factory=list)


@dataclass
class _Bucket:
    """What one project's period holds."""

    project: Project
    label: str
    start: date
    end: date
    approved: list[TimeEntry] = field(default_factory=list)
    pending: list[TimeEntry] = field(default_factory=list)
    expenses: list[Expense] = field(default_factory=list)


def _rates(projects: list[Project]) -> dict[tuple[int, int], Decimal]:
    """Bill rates that assignments set for a person on a project."""
    return {(a.project_id, a.person_id): a.bill_rate_override for a in Assignment.objects.filter(
        project__in=projects, bill_rate_override__isnull=False, deleted_at__isnull=True)}


def bill_rate(entry: TimeEntry, overrides: dict[tuple[int, int], Decimal]) -> Decimal | None:
    """The rate billed for an entry: its own, its assignment's, the project's default, the project's rate card's."""
    project = entry.project
    for rate in (entry.bill_rate, overrides.get((entry.project_id, entry.person_id)), project.default_bill_rate,
                 project.rate_card.bill_rate if project.rate_card_id else None):
        if rate is not None:
            return rate
    return None


def _buckets(*, period: str, bill_from: date, until: date) -> dict[tuple[int, str], _Bucket]:
    """Billable time and expenses of complete periods (ending before ``until``) from ``bill_from`` on, per project
    and period; time and expenses another invoice already bills are left out."""
    first = period_of(bill_from, period)[1]
    last = period_of(until, period)[1] - timedelta(days=1)  # the period holding ``until`` is not over yet
    billed_elsewhere = Q(invoice_lines__invoice__extra__billing_key__isnull=True) & Q(invoice_lines__isnull=False)
    live = Q(deleted_at__isnull=True, billable=True, date__gte=first, date__lte=last,
             project__billing_type=Project.BillingType.TIME_AND_MATERIALS)
    buckets: dict[tuple[int, str], _Bucket] = {}

    def bucket(project: Project, day: date) -> _Bucket:
        label, start, end = period_of(day, period)
        return buckets.setdefault((project.pk, label), _Bucket(project, label, start, end))

    entries = (TimeEntry.objects.filter(live, approval_status__in=[ApprovalStatus.APPROVED, *PENDING])
               .exclude(billed_elsewhere).select_related("person", "project__customer", "project__rate_card")
               .order_by("date", "pk"))
    for entry in entries:
        target = bucket(entry.project, entry.date)
        (target.approved if entry.approval_status == ApprovalStatus.APPROVED else target.pending).append(entry)
    expenses = (Expense.objects.filter(live, approval_status=ApprovalStatus.APPROVED).exclude(billed_elsewhere)
                .select_related("project__customer").order_by("date", "pk"))
    for expense in expenses:
        bucket(expense.project, expense.date).expenses.append(expense)
    return buckets


@transaction.atomic
def billing_drafts_prepare(*, period: str, targets: list[Connection], bill_from: date, open_from: date | None = None,
                           until: date | None = None, payment_days: int = 30) -> DraftSummary:
    """Create or refresh the draft invoice of every project and complete period with billable work (see the module
    doc). Drafts no longer a draft (sent, paid, void) are left as they are. ``targets``: the systems the drafts go
    to that must already know each customer (not those a flow sends customers to first); a customer one of them
    lacks makes an unmapped project. Every draft flow passes the same targets, so they agree on each draft."""
    until = until or date.today()
    buckets = _buckets(period=period, bill_from=bill_from, until=until)
    overrides = _rates([b.project for b in buckets.values()])
    known: dict[int, set[int]] = defaultdict(set)  # customer -> targets that know it
    for customer_id, connection_id in ExternalRef.objects.filter(
            connection__in=targets, object_type="customer").values_list("canonical_id", "connection_id"):
        known[customer_id].add(connection_id)
    keys = {f"{b.project.code}:{b.label}": b for b in buckets.values()}
    existing = {i.extra.get("billing_key"): i for i in Invoice.objects.filter(extra__billing_key__in=list(keys))}
    summary = DraftSummary()
    for key, found in sorted(keys.items()):
        invoice = existing.get(key)
        if invoice is not None and invoice.status != Invoice.Status.DRAFT:
            summary.unchanged += 1
            continue
        lacking = [t.name for t in targets if t.pk not in known[found.project.customer_id]]
        outcome, invoice = _draft(key, found, invoice, overrides=overrides, lacking=lacking, open_from=open_from,
                                  payment_days=payment_days)
        setattr(summary, outcome, getattr(summary, outcome) + 1)
        summary.blocked += bool(invoice.extra.get("blocked"))
        summary.invoice_ids.append(invoice.pk)
    summary.voided = _void_emptied(set(keys), period=period, bill_from=bill_from, until=until)
    return summary


def _void_emptied(kept: set[str], *, period: str, bill_from: date, until: date) -> int:
    """Drafts of this period kind, in the range just billed, whose project and period have no billable work left
    (all of it deleted, made non-billable or billed elsewhere): marked deleted, so the engine reverses them in the
    targets that have them (a draft can be deleted there) and their exceptions clear."""
    first = period_of(bill_from, period)[1]
    last = period_of(until, period)[1] - timedelta(days=1)
    width = 8 if period == "week" else 7  # 2026-W15 / 2026-04
    stale = [i for i in Invoice.objects.filter(extra__has_key="billing_key", status=Invoice.Status.DRAFT,
                                                deleted_at__isnull=True)
             if i.extra["billing_key"] not in kept and len(i.extra.get("period", "")) == width
             and first.isoformat() <= i.extra.get("period_start", "")
             and i.extra.get("period_end", "") <= last.isoformat()]
    now = timezone.now()
    for invoice in stale:
        invoice.deleted_at = now
        invoice.content_hash = record_hash(invoice)
        invoice.save(update_fields=["deleted_at", "content_hash", "updated_at"])
    return len(stale)


def _draft(key: str, bucket: _Bucket, invoice: Invoice | None, *, overrides, lacking: list[str],
           open_from: date | None, payment_days: int) -> tuple[str, Invoice]:
    project = bucket.project
    currency = project.currency or project.customer.currency or next(
        (e.currency for e in bucket.approved + bucket.expenses if e.currency), "")
    lines, blocked, hours = _lines(bucket, overrides), [], sum((e.hours for e in bucket.approved), ZERO)
    net = sum((line["amount"] for line in lines), ZERO)
    unrated = [e for e in bucket.approved if bill_rate(e, overrides) is None]
    where = f"{project.code} in {bucket.label}"
    if unrated:
        unrated_hours = sum((e.hours for e in unrated), ZERO)
        blocked.append(_blocker("missing_rate", f"Missing rate: {unrated_hours} h of approved billable time on "
                                f"{where} have no bill rate (entry, assignment, project default or rate card); set "
                                "one, then replay.", unrated_hours, None, currency))
    money = None
    if bucket.pending:
        pending_hours = sum((e.hours for e in bucket.pending), ZERO)
        priced = [e.hours * rate for e in bucket.pending if (rate := bill_rate(e, overrides)) is not None]
        money = sum(priced, ZERO).quantize(CENT) if priced else None
        blocked.append(_blocker("unapproved_time", f"Unapproved time: {pending_hours} h of billable time on {where} "
                                f"still wait for approval{_money(money, currency)}; approve or reject them.",
                                pending_hours, money, currency))
    if lacking:
        blocked.append(_blocker("unmapped_project", f"Unmapped project: {project.code}'s customer "
                                f"{project.customer.code} has no record in {' or '.join(lacking)}; link or create it "
                                "there, then replay.", hours, net, currency))
    if open_from and bucket.start < open_from:
        blocked.append(_blocker("closed_period", f"Closed period: {bucket.label} starts before the open period "
                                f"({open_from}); reopen it or bill the work in an open period.",
                                hours, net, currency))
    at_stake = net + (money or ZERO)
    values = {
        "kind": Invoice.Kind.INVOICE, "customer_id": project.customer_id, "project_id": project.pk,
        "issue_date": bucket.end, "due_date": bucket.end + timedelta(days=payment_days),
        "status": Invoice.Status.DRAFT, "currency": currency, "amount_net": net, "amount_tax": ZERO,
        "amount_total": net, "extra": {
            "billing_key": key, "period": bucket.label, "period_start": bucket.start.isoformat(),
            "period_end": bucket.end.isoformat(), "hours": str(hours), "at_stake": str(at_stake),
            "lines": [{k: (str(v) if isinstance(v, Decimal) else v) for k, v in line.items() if k != "records"}
                      for line in lines], "blocked": blocked},
    }
    created = invoice is None
    invoice = invoice or Invoice()
    for name, value in values.items():
        setattr(invoice, name, value)
    new_hash = record_hash(invoice)
    if not created and new_hash == invoice.content_hash:
        return "unchanged", invoice
    invoice.content_hash = new_hash
    invoice.save()
    invoice.lines.all().delete()
    for position, line in enumerate(lines, start=1):
        row = InvoiceLine.objects.create(invoice=invoice, position=position, description=line["description"],
                                         quantity=line["quantity"], unit_price=line["unit_price"],
                                         amount=line["amount"])
        if line["records"] and isinstance(line["records"][0], TimeEntry):
            row.time_entries.set(line["records"])
        else:
            row.expenses.set(line["records"])
    if bucket.pending:  # the waiting time is what blocks: link it too, so the report shows it as failing records
        row = InvoiceLine.objects.create(invoice=invoice, position=len(lines) + 1, quantity=ZERO,
                                         description=f"Awaiting approval ({len(bucket.pending)} entries, not billed)")
        row.time_entries.set(bucket.pending)
    return ("created" if created else "updated"), invoice


def _lines(bucket: _Bucket, overrides) -> list[dict]:
    by_rate: dict[tuple[str, Decimal | None], list[TimeEntry]] = defaultdict(list)
    for entry in bucket.approved:
        by_rate[(entry.person.name, bill_rate(entry, overrides))].append(entry)
    lines = []
    for (person, rate), entries in sorted(by_rate.items(), key=lambda item: (item[0][0], item[0][1] or ZERO)):
        hours = sum((e.hours for e in entries), ZERO)
        lines.append({"description": f"{bucket.project.name}, {bucket.label}: {person}" + ("" if rate is not None
                                                                                        else " (no rate)"),
                      "quantity": hours, "unit_price": rate or ZERO, "amount": (hours * (rate or ZERO)).quantize(CENT),
                      "records": entries})
    by_category: dict[str, list[Expense]] = defaultdict(list)
    for expense in bucket.expenses:
        by_category[expense.category or "Expenses"].append(expense)
    for category, expenses in sorted(by_category.items()):
        amount = sum((e.amount for e in expenses), ZERO)
        lines.append({"description": f"{bucket.project.name}, {bucket.label}: expenses, {category}",
                      "quantity": Decimal(1), "unit_price": amount, "amount": amount, "records": expenses})
    return lines


def _blocker(reason: str, message: str, hours: Decimal, amount: Decimal | None, currency: str) -> dict:
    return {"reason": reason, "message": message, "hours": str(hours),
            "amount": str(amount.quantize(CENT)) if amount is not None else None, "currency": currency}


def _money(amount: Decimal | None, currency: str) -> str:
    return f" ({currency} {amount} at stake)" if amount is not None else ""


# --- revenue inputs ---------------------------------------------------------------------------------------------
@dataclass
class RevenueInput:
    """One project-month's revenue inputs and what the month accrues (``amount``): the billable value, or for a
    fixed-fee project its share of the fee (``fee`` x the percent complete gained since ``percent_before``);
    ``note`` says why a fixed-fee month accrues nothing when its progress cannot be measured."""

    project: Project
    month: date
    hours: Decimal
    billable_value: Decimal
    cost: Decimal
    percent_complete: Decimal | None
    currency: str
    amount: Decimal = ZERO
    fee: Decimal | None = None
    percent_before: Decimal | None = None
    note: str = ""

    @property
    def fixed_fee(self) -> bool:
        return self.project.billing_type == Project.BillingType.FIXED


def revenue_inputs(*, start: date, end: date) -> list[RevenueInput]:
    """Per project and month from ``start`` to ``end``: billable value (approved billable hours at their bill rate
    plus approved billable expenses), cost (approved hours at the entry's cost rate, else the person's, plus
    approved expenses), percent complete (``_complete``) and the amount the month accrues (``_accrue``)."""
    first = start.replace(day=1)
    rows: dict[tuple[int, date], dict] = defaultdict(lambda: {"hours": ZERO, "value": ZERO, "cost": ZERO})
    entries = (TimeEntry.objects.filter(deleted_at__isnull=True, approval_status=ApprovalStatus.APPROVED,
                                        date__lte=end)
               .select_related("person", "project__customer", "project__rate_card"))
    projects: dict[int, Project] = {}
    overrides = _rates(list(Project.objects.all()))
    to_date: dict[int, list[tuple[date, Decimal, Decimal]]] = defaultdict(list)  # (month, hours, cost)
    for entry in entries:
        month = entry.date.replace(day=1)
        cost_rate = entry.cost_rate if entry.cost_rate is not None else entry.person.cost_rate
        cost = entry.hours * (cost_rate or ZERO)
        projects[entry.project_id] = entry.project
        to_date[entry.project_id].append((month, entry.hours, cost))
        if month < first:
            continue
        row = rows[(entry.project_id, month)]
        row["hours"] += entry.hours
        row["cost"] += cost
        if entry.billable:
            row["value"] += entry.hours * (bill_rate(entry, overrides) or ZERO)
    for expense in Expense.objects.filter(deleted_at__isnull=True, approval_status=ApprovalStatus.APPROVED,
                                          date__gte=first, date__lte=end).select_related("project__customer"):
        month = expense.date.replace(day=1)
        projects[expense.project_id] = expense.project
        row = rows[(expense.project_id, month)]
        row["cost"] += expense.amount
        if expense.billable:
            row["value"] += expense.amount
    found = []
    for (project_id, month), row in sorted(rows.items(), key=lambda item: (projects[item[0][0]].code, item[0][1])):
        project = projects[project_id]
        done = [(h, c) for m, h, c in to_date[project_id] if m <= month]
        found.append(_accrue(RevenueInput(
            project=project, month=month, hours=row["hours"], billable_value=row["value"].quantize(CENT),
            cost=row["cost"].quantize(CENT), percent_complete=_complete(project, done),
            currency=project.currency or project.customer.currency),
            before=[(h, c) for m, h, c in to_date[project_id] if m < month]))
    return found


def _complete(project: Project, done: list[tuple[Decimal, Decimal]]) -> Decimal | None:
    """Approved hours to date over the budget hours; else, except for a fixed fee, cost to date over the budget
    amount; None without a budget; at most 100. A fixed-fee project's budget amount is its fee, the price: cost
    over price is not progress (an overrun would read as done, a margin as unfinished), so it needs budget hours."""
    if project.budget_hours:
        share = sum((h for h, _ in done), ZERO) / project.budget_hours
    elif project.budget_amount and project.billing_type != Project.BillingType.FIXED:
        share = sum((c for _, c in done), ZERO) / project.budget_amount
    else:
        return None
    return min(share * 100, Decimal(100)).quantize(Decimal("0.1"))


def _accrue(found: RevenueInput, *, before: list[tuple[Decimal, Decimal]]) -> RevenueInput:
    """The month's amount. Time and materials: the billable value. Fixed fee: recognised by progress, the fee x
    percent complete to the month's end, less the same to the previous month's end; each side is rounded to the
    cent and percent complete stops at 100, so the months add up to the fee at most. No fee or no measurable
    progress: nothing, with a note saying why (a guess would book revenue nobody can defend)."""
    if not found.fixed_fee:
        found.amount = found.billable_value
        return found
    found.fee = found.project.budget_amount or None
    if found.fee is None:
        found.note = "fixed fee unknown (the project has no budget amount): nothing accrued"
    elif found.percent_complete is None:
        found.note = "no budget hours, so no percent complete: nothing of the fixed fee accrued"
    else:
        found.percent_before = _complete(found.project, before) or Decimal("0.0")
        found.amount = _share(found.fee, found.percent_complete) - _share(found.fee, found.percent_before)
    return found


def _share(fee: Decimal, percent: Decimal) -> Decimal:
    return (fee * percent / 100).quantize(CENT)


@transaction.atomic
def revenue_inputs_store(*, start: date, end: date) -> int:
    """Keep ``revenue_inputs`` as revenue schedules (kind forecast, one per project and month); returns how many
    changed. The amount is what the month accrues; billable value, cost, hours and percent complete are in
    ``extra``, and for a fixed fee also the fee, the percent complete it started the month at and any note."""
    changed = 0
    for found in revenue_inputs(start=start, end=end):
        method = (RevenueSchedule.Method.PERCENT_COMPLETE if found.fixed_fee
                  else RevenueSchedule.Method.TIME_AND_MATERIALS)
        schedule = RevenueSchedule.objects.filter(project=found.project, period=found.month,
                                                  kind=RevenueSchedule.Kind.FORECAST).first() or RevenueSchedule(
            project=found.project, period=found.month, kind=RevenueSchedule.Kind.FORECAST)
        schedule.method, schedule.amount, schedule.currency = method, found.amount, found.currency
        schedule.extra = _schedule_extra(found)
        new_hash = record_hash(schedule)
        if new_hash != schedule.content_hash:
            schedule.content_hash = new_hash
            schedule.save()
            changed += 1
    return changed


def _schedule_extra(found: RevenueInput) -> dict:
    extra = {"billable_value": str(found.billable_value), "cost": str(found.cost), "hours": str(found.hours),
             "percent_complete": _text(found.percent_complete)}
    if found.fixed_fee:  # only there, so time-and-materials schedules keep their content (and are not sent again)
        extra.update(fee=_text(found.fee), percent_complete_before=_text(found.percent_before),
                     note=found.note or None)
    return extra


def _text(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None
