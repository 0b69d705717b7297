"""The demo's billing: whatever day of the week the demo is built, an invoice for this month's time is blocked by
the time export's over-the-limit row (stop 24's CI built it on a Sunday, when that row fell on a Saturday
nobody else booked, and the blocked-invoices page was empty)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from apps.accelerators.services import templates_sync_builtin
from apps.demo.billing import demo_billing_seed
from apps.demo.flows import BAD_ROWS, bad_row_day, demo_flows_seed
from apps.reporting import selectors
from apps.reporting.filters import ReportFilters
from apps.runs import engine
from apps.runs.models import Flow, Trigger

SUNDAY = date(2026, 12, 6)


@pytest.mark.parametrize("today", [SUNDAY + timedelta(days=n) for n in range(7)], ids=lambda d: d.strftime("%a"))
def test_every_bad_row_is_booked_on_a_working_day_the_demo_bills(today):
    for *_, offset, _hours, _status, _note in BAD_ROWS:
        day = bad_row_day(today, offset)
        assert day.weekday() < 5 and day < today - timedelta(days=3), (today, offset, day)


def test_a_demo_built_on_a_sunday_has_a_blocked_invoice(in_alpha):
    templates_sync_builtin()
    demo_flows_seed(customer=in_alpha, today=SUNDAY)
    assert demo_billing_seed(customer=in_alpha, today=SUNDAY)
    run = engine.flow_run_request(flow=Flow.objects.get(slug="time-to-journal"), trigger=Trigger.MANUAL,
                                  enqueue=False, acting_user=None)
    engine.run_execute(run_id=run.pk)  # as the worker does when the time arrives in the hub

    blocked = selectors.blocked_invoices(filters=ReportFilters())
    assert blocked.summary["invoices"] >= 1
    assert all(row["status"] == "sent" and row["exception_kinds"] == "validation" for row in blocked.rows)
