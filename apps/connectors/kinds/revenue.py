"""Revenue inputs per project and month as an ERP entry: the figures of one hub revenue schedule, for the kinds
that send them to an ERP as an accrual (Tryton ``revenue_moves``, Xero ``revenue_journals``).

A schedule (``apps.canonical.billing.revenue_inputs_store``) carries what the month accrues as its amount: the
billable value, or for a fixed-fee project (method percent complete) the fee x the percent complete gained in the
month; billable value, cost, hours and percent complete (and for a fixed fee the fee, the percent complete the
month started at and any note) are in ``extra``. The accrual a controller expects at month end is the month's
unbilled revenue: debit an accrued (unbilled) revenue account, credit revenue, for that amount, dated the month's
last day, as a draft the controller reviews and posts. The other figures have no column in a journal line, so
they are spelled out in its text, where the controller reads them.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from apps.common.errors import ErrorCategory
from apps.connectors.errors import ConnectorError

CENT = Decimal("0.01")
PERCENT_COMPLETE = "percent_complete"  # RevenueSchedule.Method for fixed-fee projects (kinds do not import the hub)


@dataclass(frozen=True)
class RevenueFigures:
    """One project-month's revenue inputs, read from a revenue schedule's canonical view."""

    project_code: str
    project_name: str
    customer: str
    month: dt.date
    amount: Decimal  # what the month accrues
    billable_value: Decimal
    cost: Decimal | None
    hours: Decimal | None
    percent_complete: Decimal | None
    currency: str
    fixed_fee: bool = False
    fee: Decimal | None = None
    percent_before: Decimal | None = None
    note: str = ""

    @property
    def month_end(self) -> dt.date:
        return self.month.replace(day=calendar.monthrange(self.month.year, self.month.month)[1])

    @property
    def title(self) -> str:
        """``Unbilled revenue ACME-042 2026-04``: the first words of every line, the same on each update."""
        return f"Unbilled revenue {self.project_code} {self.month:%Y-%m}"

    def summary(self) -> str:
        """The figures a journal line has no column for, in words; for a fixed fee, first how its amount was found."""
        parts = [f"billable value {self.currency} {self.billable_value}"]
        if self.fixed_fee:
            parts.insert(0, self._fee_share())
        if self.cost is not None:
            parts.append(f"cost {self.currency} {self.cost}")
        if self.hours is not None:
            parts.append(f"{self.hours} h")
        parts.append(f"{self.percent_complete} % complete" if self.percent_complete is not None
                     else "percent complete unknown (no budget)")
        who = f" ({self.project_name}, {self.customer})" if self.customer else f" ({self.project_name})"
        return f"{self.title}{who}: {', '.join(parts)}"

    def _fee_share(self) -> str:
        """``fixed fee EUR 30000.00, 0.0 % to 30.0 % complete: EUR 9000.00 recognised``: how the amount was found."""
        if self.note or self.fee is None or self.percent_complete is None:
            return f"fixed fee: {self.note or 'no fee or no percent complete, nothing accrued'}"
        return (f"fixed fee {self.currency} {self.fee}, {self.percent_before or Decimal('0.0')} % to "
                f"{self.percent_complete} % complete: {self.currency} {self.amount} recognised")


def revenue_figures(view: dict) -> RevenueFigures:
    """The figures of a revenue schedule's canonical view; a view that lacks them is a permanent error."""
    project, extra = view.get("project") or {}, view.get("extra") or {}
    label = f"Revenue inputs {view.get('id', '?')}"
    try:
        month = dt.date.fromisoformat(str(view.get("period"))[:10]).replace(day=1)
    except ValueError:
        raise ConnectorError(f"{label}: period {view.get('period')!r} is not a date.", permanent=True,
                             category=ErrorCategory.VALIDATION) from None
    if not project.get("code"):
        raise ConnectorError(f"{label}: it has no project.", permanent=True, category=ErrorCategory.MISSING_REFERENCE)
    return RevenueFigures(
        project_code=project["code"], project_name=project.get("name") or project["code"],
        customer=(project.get("customer") or {}).get("name") or "", month=month,
        amount=_amount(view.get("amount"), label, "amount"),
        billable_value=_amount(extra.get("billable_value", view.get("amount")), label, "billable value"),
        cost=_maybe(extra.get("cost"), label, "cost"), hours=_maybe(extra.get("hours"), label, "hours"),
        percent_complete=_maybe(extra.get("percent_complete"), label, "percent complete"),
        currency=view.get("currency") or "", fixed_fee=view.get("method") == PERCENT_COMPLETE,
        fee=_maybe(extra.get("fee"), label, "fee"),
        percent_before=_maybe(extra.get("percent_complete_before"), label, "percent complete before"),
        note=extra.get("note") or "")


def _maybe(value, label: str, what: str) -> Decimal | None:
    return None if value in (None, "") else _amount(value, label, what)


def _amount(value, label: str, what: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        number = None
    if number is None or not number.is_finite():
        raise ConnectorError(f"{label}: {what} {value!r} is not a number.", permanent=True,
                             category=ErrorCategory.VALIDATION)
    return number
