"""Xero Payroll UK timesheets and Xero Accounting bills, for the Xero connector kind (``kinds/xero.py``).

Hours to payroll: each approved time entry becomes one line (date, earnings rate, hours) on its person's
timesheet for the pay period the entry falls in. The period comes from the connection's payroll calendar
(``/PayRunCalendars/{id}``: its type and the start of one period); the timesheet for that employee and period is
looked up (``/Timesheets?filter=employeeId==…,payrollCalendarId==…``) and created when there is none. A
timesheet that is no longer a draft (approved, or completed in a pay run) belongs to a closed pay period: the
line is refused with a message naming the person, the period and the hours, never dropped. Every POST carries
an Idempotency-Key, so a retried request makes no second timesheet or line; the engine's ledger and
cross-reference make a re-run send nothing twice. The external id of a line is ``<timesheetID>/<lineID>``.

Expenses: each approved expense becomes a bill (an ``ACCPAY`` invoice) payable to the person who spent the
money, its line on the connection's expense account, carrying our reference in ``Reference`` so a retried
create is found instead of made twice. (Xero's ``/ExpenseClaims`` are still in the published document, but
Xero retired expense claims for new organisations in favour of its Expenses app, which has no API: bills work
in every organisation.)
"""

from __future__ import annotations

import calendar
import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from apps.common.errors import ErrorCategory
from apps.connectors.errors import ConnectorError
from apps.connectors.kinds.base import WriteResult
from apps.connectors.kinds.rest.kind import idempotency_value

PAYROLL_URL = "https://api.xero.com/payroll.xro/2.0"
PAYROLL_SCOPES = ("payroll.timesheets", "payroll.settings.read")
OPEN_STATUS = "Draft"  # a timesheet in any other state (Approved, Completed) is part of a closed pay period
PERIOD_DAYS = {"Weekly": 7, "Fortnightly": 14, "FourWeekly": 28}
PERIOD_MONTHS = {"Monthly": 1, "Quarterly": 3, "Annual": 12}
MAX_UNITS = Decimal(24)


def pay_period(calendar_row: dict, day: dt.date) -> tuple[dt.date, dt.date]:
    """The pay period of ``calendar_row`` (a Xero PayRunCalendar) that contains ``day``: periods repeat from the
    calendar's ``periodStartDate`` every 7/14/28 days or every 1/3/12 months, before it as after it."""
    kind = calendar_row.get("calendarType")
    anchor = _date(calendar_row.get("periodStartDate"), "periodStartDate")
    if kind in PERIOD_DAYS:
        length = PERIOD_DAYS[kind]
        start = anchor + dt.timedelta(days=((day - anchor).days // length) * length)
        return start, start + dt.timedelta(days=length - 1)
    if kind in PERIOD_MONTHS:
        step = PERIOD_MONTHS[kind]
        months = (day.year - anchor.year) * 12 + day.month - anchor.month
        offset = (months // step) * step
        start = _add_months(anchor, offset)
        if start > day:
            offset -= step
            start = _add_months(anchor, offset)
        return start, _add_months(anchor, offset + step) - dt.timedelta(days=1)
    raise ConnectorError(f"Xero payroll calendar {calendar_row.get('name', '?')} has type {kind!r}, which Weft "
                         "cannot split into pay periods.", permanent=True, category=ErrorCategory.CONFIG)


def _add_months(anchor: dt.date, months: int) -> dt.date:
    year, month = divmod(anchor.month - 1 + months, 12)
    year += anchor.year
    return dt.date(year, month + 1, min(anchor.day, calendar.monthrange(year, month + 1)[1]))


def _date(value: Any, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ConnectorError(f"Xero payroll: {field} {value!r} is not a date.", permanent=False,
                             category=ErrorCategory.PARSE) from None


def units(hours: Any, label: str) -> float:
    """Hours as Xero's numberOfUnits (a JSON number, 0 < hours <= 24)."""
    try:
        value = Decimal(str(hours))
    except (InvalidOperation, ValueError):
        value = None
    if value is None or not value.is_finite() or not 0 < value <= MAX_UNITS:
        raise ConnectorError(f"{label}: {hours!r} hours cannot go on a payroll timesheet (0 to 24 a line).",
                             permanent=True, category=ErrorCategory.VALIDATION)
    return float(value)


def timesheet_line_payload(canonical: dict, *, employee_id: str | None, earnings_rate_id: str | None) -> dict:
    """The line a time entry becomes, with what is needed to find its timesheet."""
    person = canonical.get("person") or {}
    label = f"Time entry {canonical.get('id', '?')} ({person.get('name') or 'no person'}, {canonical.get('date')})"
    if not employee_id:
        who = person.get("email") or person.get("code") or "no e-mail"
        raise ConnectorError(f"{label}: {person.get('name') or 'the person'} ({who}) is not a Xero Payroll employee; "
                             "add them to the employee_ids setting of the payroll connection.", permanent=True,
                             category=ErrorCategory.MISSING_REFERENCE)
    if not earnings_rate_id:
        raise ConnectorError(f"{label}: no earnings rate; set earnings_rate_id (or earnings_rate_ids per task) on the "
                             "payroll connection.", permanent=True, category=ErrorCategory.CONFIG)
    return {"employeeID": employee_id, "date": str(canonical.get("date"))[:10], "earningsRateID": earnings_rate_id,
            "numberOfUnits": units(canonical.get("hours"), label), "person": person.get("name") or "",
            "hours": str(canonical.get("hours"))}


def closed_period_error(line: dict, timesheet: dict, start: dt.date, end: dt.date) -> ConnectorError:
    """A line whose pay period Xero has closed: who, which period, how many hours, and what to do."""
    return ConnectorError(
        f"Pay period {start} to {end} is closed in Xero Payroll for {line.get('person') or 'this employee'}: their "
        f"timesheet is {timesheet.get('status')}. {line.get('hours')} h on {line.get('date')} were not sent. Revert "
        "the timesheet to draft in Xero (or book the hours in an open period), then replay.",
        permanent=True, category=ErrorCategory.CONFLICT)


def _key_header(operation: str, key: str) -> dict[str, str]:
    return {"Idempotency-Key": idempotency_value(operation, key)}


def split_line_id(external_id: str) -> tuple[str, str]:
    timesheet_id, _, line_id = external_id.partition("/")
    if not line_id:
        raise ConnectorError(f"{external_id!r} is not a Xero timesheet line id (timesheetID/timesheetLineID).",
                             permanent=True, category=ErrorCategory.CONFIG)
    return timesheet_id, line_id


def bill_payload(canonical: dict, *, account_code: str | None) -> dict:
    """An ACCPAY invoice (a bill) payable to the person who spent the money, one line for the expense."""
    person, project = canonical.get("person") or {}, canonical.get("project") or {}
    label = f"Expense {canonical.get('id', '?')}"
    if not person.get("name"):
        raise ConnectorError(f"{label}: it has no person to reimburse.", permanent=True,
                             category=ErrorCategory.MISSING_REFERENCE)
    try:
        amount = Decimal(str(canonical.get("amount")))
    except (InvalidOperation, ValueError):
        amount = None
    if amount is None or not amount.is_finite() or amount <= 0:
        raise ConnectorError(f"{label}: amount {canonical.get('amount')!r} is not a positive amount.",
                             permanent=True, category=ErrorCategory.VALIDATION)
    what = " — ".join(part for part in (canonical.get("category"), canonical.get("notes")) if part) or "Expense"
    line = {"Description": f"{what} ({project.get('code') or 'no project'}, {canonical.get('date')})",
            "Quantity": 1.0, "UnitAmount": float(amount)}
    if account_code:
        line["AccountCode"] = account_code
    payload = {"Type": "ACCPAY", "Contact": {"Name": person["name"]}, "Date": str(canonical.get("date"))[:10],
               "DueDate": str(canonical.get("date"))[:10], "LineAmountTypes": "Inclusive",
               "Status": "AUTHORISED" if account_code else "DRAFT", "CurrencyCode": canonical.get("currency"),
               "LineItems": [line]}
    return {key: value for key, value in payload.items() if value not in (None, "")}


class PayrollTimesheets:
    """The payroll half of ``XeroKind``: needs the kind's ``_call``, ``setting`` and ``_map_setting``."""

    def _payroll_init(self) -> None:
        self._calendar: dict | None = None
        self._timesheets: dict[tuple[str, dt.date], dict] = {}  # (employeeID, period start) -> timesheet

    def _timesheet_payload(self, canonical: dict) -> dict:
        person = canonical.get("person") or {}
        employees = self._map_setting("employee_ids")
        employee_id = employees.get(person.get("email") or "") or employees.get(person.get("code") or "")
        rates = self._map_setting("earnings_rate_ids")
        rate = rates.get((canonical.get("task") or "").strip()) or self.setting("earnings_rate_id")
        return timesheet_line_payload(canonical, employee_id=employee_id, earnings_rate_id=rate)

    def _write_timesheet_line(self, payload: dict, *, reference: str, external_id: str | None,
                              key: str) -> WriteResult:
        line = {k: payload[k] for k in ("date", "earningsRateID", "numberOfUnits")}
        if external_id:
            return self._update_timesheet_line(payload, line, external_id=external_id, key=key)
        return self._add_timesheet_line(payload, line, key=key)

    def _update_timesheet_line(self, payload: dict, line: dict, *, external_id: str, key: str) -> WriteResult:
        """Changed in place while the date stays in its timesheet's period; a date moved to another pay period is
        added to that period's timesheet first, then taken off the old one (a retry finds the added line again
        by its Idempotency-Key, so nothing is doubled or lost)."""
        timesheet_id, line_id = split_line_id(external_id)
        sheet = self._call("payroll", "GET", f"/Timesheets/{timesheet_id}",
                           what=f"Reading Xero timesheet {timesheet_id}").get("timesheet") or {}
        start, end = str(sheet.get("startDate"))[:10], str(sheet.get("endDate"))[:10]
        if start <= payload["date"] <= end:
            self._call("payroll", "PUT", f"/Timesheets/{timesheet_id}/Lines/{line_id}", json_body=line,
                       headers=_key_header("update", key), what=f"Updating Xero timesheet line {line_id}")
            return WriteResult(external_id=external_id, created=False)
        moved = self._add_timesheet_line(payload, line, key=key)
        self._delete_timesheet_line(external_id)
        return WriteResult(external_id=moved.external_id, created=False, response=moved.response)

    def _add_timesheet_line(self, payload: dict, line: dict, *, key: str) -> WriteResult:
        timesheet = self._open_timesheet(payload)
        what = f"Adding {payload['hours']} h on {payload['date']} to Xero timesheet {timesheet['timesheetID']}"
        data = self._call("payroll", "POST", f"/Timesheets/{timesheet['timesheetID']}/Lines", json_body=line,
                          headers=_key_header("create", key), what=what)
        line_id = (data.get("timesheetLine") or {}).get("timesheetLineID")
        if not line_id:
            raise ConnectorError(f"{what}: Xero's answer has no timesheetLineID.", permanent=False,
                                 category=ErrorCategory.PARSE)
        return WriteResult(external_id=f"{timesheet['timesheetID']}/{line_id}", created=True, response=data)

    def _delete_timesheet_line(self, external_id: str) -> None:
        timesheet_id, line_id = split_line_id(external_id)
        self._call("payroll", "DELETE", f"/Timesheets/{timesheet_id}/Lines/{line_id}", expect_body=False,
                   what=f"Deleting Xero timesheet line {line_id}")

    def _open_timesheet(self, line: dict) -> dict:
        """The draft timesheet of the line's employee and pay period (made if there is none); a closed one fails."""
        calendar_id = self._payroll_calendar_id()
        start, end = pay_period(self._payroll_calendar(), _date(line["date"], "date"))
        cache_key = (line["employeeID"], start)
        timesheet = self._timesheets.get(cache_key) or self._find_timesheet(line["employeeID"], calendar_id,
                                                                             start, end)
        if timesheet is None:
            timesheet = self._create_timesheet(line["employeeID"], calendar_id, start, end)
        self._timesheets[cache_key] = timesheet
        if timesheet.get("status") not in (None, OPEN_STATUS):
            raise closed_period_error(line, timesheet, start, end)
        return timesheet

    def _find_timesheet(self, employee_id: str, calendar_id: str, start: dt.date, end: dt.date) -> dict | None:
        for page in range(1, 101):
            data = self._call("payroll", "GET", "/Timesheets", params={
                "filter": f"employeeId=={employee_id},payrollCalendarId=={calendar_id}",
                "startDate": start.isoformat(), "endDate": end.isoformat(), "page": page},
                what=f"Looking up the Xero timesheet of employee {employee_id} for {start} to {end}")
            rows = [t for t in data.get("timesheets") or [] if isinstance(t, dict)]
            # Xero's filter is checked again here: a line must never land on another employee's or period's sheet.
            match = next((t for t in rows if t.get("employeeID") == employee_id
                          and str(t.get("startDate"))[:10] == start.isoformat() and t.get("timesheetID")), None)
            pagination = data.get("pagination") or {}
            if match or page >= (pagination.get("pageCount") or 1):
                return match
        return None

    def _create_timesheet(self, employee_id: str, calendar_id: str, start: dt.date, end: dt.date) -> dict:
        what = f"Creating the Xero timesheet of employee {employee_id} for {start} to {end}"
        data = self._call("payroll", "POST", "/Timesheets", json_body={
            "payrollCalendarID": calendar_id, "employeeID": employee_id, "startDate": start.isoformat(),
            "endDate": end.isoformat()}, headers=_key_header("create", f"timesheet-{employee_id}-{start}"),
            what=what)
        timesheet = data.get("timesheet") or {}
        if not timesheet.get("timesheetID"):
            raise ConnectorError(f"{what}: Xero's answer has no timesheetID.", permanent=False,
                                 category=ErrorCategory.PARSE)
        return timesheet

    def _payroll_calendar_id(self) -> str:
        calendar_id = self.setting("payroll_calendar_id")
        if not calendar_id:
            raise ConnectorError("Set payroll_calendar_id (the Xero pay run calendar the hours belong to) on the "
                                 "payroll connection.", permanent=True, category=ErrorCategory.CONFIG)
        return str(calendar_id)

    def _payroll_calendar(self) -> dict:
        if self._calendar is None:
            calendar_id = self._payroll_calendar_id()
            data = self._call("payroll", "GET", f"/PayRunCalendars/{calendar_id}",
                              what=f"Reading Xero pay run calendar {calendar_id}")
            self._calendar = data.get("payRunCalendar") or {}
        return self._calendar
