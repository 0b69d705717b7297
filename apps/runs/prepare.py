"""Outbound flows that make their records in the hub before sending them (billing readiness).

A flow whose ``variables`` name ``prepare`` runs that step at the start of each catch-up run (scheduled or
manual; not targeted runs or replays), then sends what is pending as any outbound flow does, so the drafts it
made or changed go out once each through the ledger:

- ``billing_drafts``: draft invoices per project and ``period`` (month or week) from ``bill_from`` on, blocked
  before ``open_from`` (``apps.canonical.billing.billing_drafts_prepare``);
- ``revenue_inputs``: revenue inputs per project and month from ``bill_from`` on (``revenue_inputs_store``).
"""

from __future__ import annotations

import logging
from datetime import date

from django.utils.dateparse import parse_date

from apps.canonical.billing import PERIODS, billing_drafts_prepare, revenue_inputs_store
from apps.common.errors import ErrorCategory
from apps.common.objects import ObjectType
from apps.connectors.errors import ConnectorError
from apps.runs.models import Flow, FlowDirection, Run

logger = logging.getLogger(__name__)
PREPARERS = ("billing_drafts", "revenue_inputs")


def run_prepare(run: Run) -> None:
    """The flow's preparation step, on the first slice of a catch-up run."""
    variables = (run.flow.variables if run.flow else None) or {}
    step = variables.get("prepare")
    if not step or run.record_ids is not None or run.cursor_end:
        return
    bill_from = _day(variables, "bill_from") or date(date.today().year, 1, 1)
    if step == "billing_drafts":
        period = str(variables.get("period") or "month")
        if period not in PERIODS:
            raise ConnectorError(f"Flow {run.flow}: period {period!r} is not one of {', '.join(PERIODS)}.",
                                 permanent=True, category=ErrorCategory.CONFIG)
        summary = billing_drafts_prepare(period=period, targets=_invoice_targets(), bill_from=bill_from,
                                         open_from=_day(variables, "open_from"),
                                         payment_days=int(variables.get("payment_days") or 30))
        logger.info("billing drafts for %s: %s", run.flow, summary)
    elif step == "revenue_inputs":
        revenue_inputs_store(start=bill_from, end=date.today())
    else:
        raise ConnectorError(f"Flow {run.flow}: unknown preparation step {step!r} (known: {', '.join(PREPARERS)}).",
                             permanent=True, category=ErrorCategory.CONFIG)


def _invoice_targets() -> list:
    """Connections drafts go to (an enabled draft flow's) that must already know each customer: not those an
    enabled flow sends customers to, since the engine sends a draft's customer first there."""
    drafts = Flow.objects.filter(direction=FlowDirection.OUTBOUND, object_type=ObjectType.INVOICE, is_enabled=True,
                                 variables__prepare="billing_drafts").select_related("connection")
    sending = set(Flow.objects.filter(direction=FlowDirection.OUTBOUND, object_type=ObjectType.CUSTOMER,
                                      is_enabled=True).values_list("connection_id", flat=True))
    return sorted({f.connection for f in drafts if f.connection_id not in sending}, key=lambda c: c.pk)


def _day(variables: dict, name: str) -> date | None:
    value = variables.get(name)
    if isinstance(value, date):
        return value
    day = parse_date(str(value)) if value else None
    if value and day is None:
        raise ConnectorError(f"Flow variable {name} {value!r} is not a date (YYYY-MM-DD).", permanent=True,
                             category=ErrorCategory.CONFIG)
    return day
