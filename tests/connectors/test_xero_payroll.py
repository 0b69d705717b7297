"""Pay periods from a Xero pay run calendar, and the checks a timesheet line or a bill makes before any call."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.connectors.errors import ConnectorError
from apps.connectors.kinds.xero_payroll import bill_payload, pay_period, timesheet_line_payload

D = dt.date


@pytest.mark.parametrize(("kind", "anchor", "day", "period"), [
    ("Weekly", "2026-04-06", D(2026, 4, 12), (D(2026, 4, 6), D(2026, 4, 12))),
    ("Weekly", "2026-04-06", D(2026, 4, 13), (D(2026, 4, 13), D(2026, 4, 19))),
    ("Weekly", "2026-04-06", D(2026, 4, 1), (D(2026, 3, 30), D(2026, 4, 5))),  # before the anchor too
    ("Fortnightly", "2026-04-06", D(2026, 4, 21), (D(2026, 4, 20), D(2026, 5, 3))),
    ("FourWeekly", "2026-01-05", D(2026, 2, 2), (D(2026, 2, 2), D(2026, 3, 1))),
    ("Monthly", "2026-01-15", D(2026, 4, 1), (D(2026, 3, 15), D(2026, 4, 14))),
    ("Monthly", "2026-01-01", D(2026, 2, 28), (D(2026, 2, 1), D(2026, 2, 28))),
    ("Quarterly", "2026-01-01", D(2026, 5, 20), (D(2026, 4, 1), D(2026, 6, 30))),
    ("Annual", "2026-04-06", D(2026, 1, 10), (D(2025, 4, 6), D(2026, 4, 5))),  # the UK tax year
])
def test_the_pay_period_of_a_day_follows_the_calendar_both_ways_from_its_anchor(kind, anchor, day, period):
    assert pay_period({"calendarType": kind, "periodStartDate": f"{anchor}T00:00:00"}, day) == period


def test_a_calendar_type_weft_cannot_split_is_a_configuration_error():
    with pytest.raises(ConnectorError, match="cannot split into pay periods"):
        pay_period({"calendarType": "Lunar", "periodStartDate": "2026-01-01", "name": "Moon"}, D(2026, 2, 1))


ENTRY = {"id": 7, "date": "2026-04-07", "hours": "7.50", "person": {"name": "Ann Lee", "email": "ann@example.com"}}


def test_a_line_needs_an_employee_an_earnings_rate_and_sensible_hours():
    line = timesheet_line_payload(ENTRY, employee_id="e-1", earnings_rate_id="r-1")
    assert (line["date"], line["earningsRateID"], line["numberOfUnits"]) == ("2026-04-07", "r-1", 7.5)
    with pytest.raises(ConnectorError, match=r"Ann Lee \(ann@example.com\) is not a Xero Payroll employee"):
        timesheet_line_payload(ENTRY, employee_id=None, earnings_rate_id="r-1")
    with pytest.raises(ConnectorError, match="no earnings rate"):
        timesheet_line_payload(ENTRY, employee_id="e-1", earnings_rate_id="")
    with pytest.raises(ConnectorError, match="cannot go on a payroll timesheet"):
        timesheet_line_payload({**ENTRY, "hours": "30"}, employee_id="e-1", earnings_rate_id="r-1")


def test_a_bill_is_payable_to_the_person_and_refuses_a_missing_amount():
    expense = {"id": 3, "date": "2026-04-07", "amount": "86.40", "currency": "GBP", "category": "Travel",
               "notes": "Train", "person": {"name": "Ann Lee"}, "project": {"code": "ACME-042"}}
    bill = bill_payload(expense, account_code="493")
    assert (bill["Type"], bill["Contact"], bill["Status"], bill["CurrencyCode"]) == (
        "ACCPAY", {"Name": "Ann Lee"}, "AUTHORISED", "GBP")
    assert bill["LineItems"] == [{"Description": "Travel — Train (ACME-042, 2026-04-07)", "Quantity": 1.0,
                                  "UnitAmount": 86.4, "AccountCode": "493"}]
    assert bill_payload(expense, account_code=None)["Status"] == "DRAFT"
    with pytest.raises(ConnectorError, match="is not a positive amount"):
        bill_payload({**expense, "amount": None}, account_code="493")
