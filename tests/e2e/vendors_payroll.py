"""Stateful, spec-checked fakes for hours to payroll and expenses to Xero: Xero Payroll UK (a pay run calendar,
employees' timesheets and their lines) and the bills half of Xero Accounting (``ACCPAY`` invoices).

Like ``tests.e2e.vendors``: every request is checked against Xero's published OpenAPI document and so is every
successful answer; writes are deduplicated by Idempotency-Key as Xero does. A timesheet that is approved (or
completed in a pay run) refuses new and changed lines with a 400 problem, as Xero does for a closed pay period.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

import httpx

from tests.e2e.vendors import Vendor, _body, stamp
from tests.vendor_mocks.openapi import server_url

XERO_PAYROLL_URL = server_url("xero_payroll_uk")  # https://api.xero.com/payroll.xro/2.0
XERO_ACCOUNTING_URL = server_url("xero_accounting")  # https://api.xero.com/api.xro/2.0


def _problem(detail: str) -> httpx.Response:
    return httpx.Response(400, json={"type": "application/problem+json", "title": "BadRequest", "status": "400",
                                     "detail": detail})


class FakeXeroPayroll(Vendor):
    """One UK organisation's payroll: a weekly pay run calendar and timesheets per employee and period."""

    spec_name = "xero_payroll_uk"
    base_path = "/payroll.xro/2.0"

    def __init__(self, *, period_start: str = "2026-04-06", calendar_type: str = "Weekly"):
        super().__init__()
        self.calendar = {"payrollCalendarID": str(uuid.uuid4()), "name": "Weekly staff", "calendarType": calendar_type,
                         "periodStartDate": period_start, "paymentDate": period_start,
                         "updatedDateUTC": stamp()}
        self.timesheets: dict[str, dict] = {}
        self.by_key: dict[str, dict] = {}  # Idempotency-Key -> the answer first given

    # --- what people do in Xero Payroll --------------------------------------------------------------
    def approve(self, employee_id: str, start: str, status: str = "Approved") -> dict:
        """Approve (or complete in a pay run) an employee's timesheet for the period starting ``start``."""
        sheet = self.sheet(employee_id, start) or self._new_sheet(employee_id, start, _end_of(start))
        sheet["status"] = status
        return sheet

    def sheet(self, employee_id: str, start: str) -> dict | None:
        return next((s for s in self.timesheets.values()
                     if s["employeeID"] == employee_id and s["startDate"] == start), None)

    def lines(self, employee_id: str | None = None) -> list[tuple[str, str, float, str]]:
        """(period start, date, hours, earnings rate) of every line, oldest period first."""
        return sorted((s["startDate"], line["date"], line["numberOfUnits"], line["earningsRateID"])
                      for s in self.timesheets.values() if employee_id in (None, s["employeeID"])
                      for line in s["timesheetLines"])

    # --- the API ----------------------------------------------------------------------------------------
    def route(self, request: httpx.Request, path: str) -> httpx.Response:
        key = request.headers.get("Idempotency-Key")
        if key and key in self.by_key:
            return httpx.Response(200, json=self.by_key[key])
        if request.method == "GET" and path == f"/PayRunCalendars/{self.calendar['payrollCalendarID']}":
            return httpx.Response(200, json={"payRunCalendar": self.calendar})
        if request.method == "GET" and path == "/Timesheets":
            return self._search(request)
        if request.method == "POST" and path == "/Timesheets":
            return self._remember(key, self._create(_body(request)))
        sheet = re.fullmatch(r"/Timesheets/([0-9a-f-]+)", path)
        if request.method == "GET" and sheet and sheet.group(1) in self.timesheets:
            return httpx.Response(200, json={"timesheet": self._public(self.timesheets[sheet.group(1)])})
        found = re.fullmatch(r"/Timesheets/([0-9a-f-]+)/Lines(?:/([0-9a-f-]+))?", path)
        if found and found.group(1) in self.timesheets:
            return self._remember(key, self._line(request, self.timesheets[found.group(1)], found.group(2)))
        return httpx.Response(404, json={"title": "NotFound", "detail": f"No route {path}"})

    def _remember(self, key: str | None, response: httpx.Response) -> httpx.Response:
        if key and response.status_code == 200:
            self.by_key[key] = response.json()
        return response

    def _search(self, request: httpx.Request) -> httpx.Response:
        wanted = dict(part.split("==", 1) for part in request.url.params.get("filter", "").split(",") if "==" in part)
        start, end = request.url.params.get("startDate"), request.url.params.get("endDate")
        rows = [s for s in self.timesheets.values()
                if wanted.get("employeeId") in (None, s["employeeID"])
                and wanted.get("payrollCalendarId") in (None, s["payrollCalendarID"])
                and (start is None or s["startDate"] >= start) and (end is None or s["endDate"] <= end)]
        return httpx.Response(200, json={"pagination": {"page": 1, "pageSize": 100, "pageCount": 1,
                                                        "itemCount": len(rows)},
                                         "timesheets": [self._public(s) for s in rows]})

    def _create(self, body: dict) -> httpx.Response:
        if body.get("payrollCalendarID") != self.calendar["payrollCalendarID"]:
            return _problem("The payroll calendar does not exist.")
        if self.sheet(body["employeeID"], body["startDate"]):
            return _problem("A timesheet already exists for this employee and period.")
        sheet = self._new_sheet(body["employeeID"], body["startDate"], body["endDate"])
        return httpx.Response(200, json={"timesheet": self._public(sheet)})

    def _new_sheet(self, employee_id: str, start: str, end: str) -> dict:
        sheet = {"timesheetID": str(uuid.uuid4()), "payrollCalendarID": self.calendar["payrollCalendarID"],
                 "employeeID": employee_id, "startDate": start, "endDate": end, "status": "Draft",
                 "updatedDateUTC": stamp(), "timesheetLines": []}
        self.timesheets[sheet["timesheetID"]] = sheet
        return sheet

    def _line(self, request: httpx.Request, sheet: dict, line_id: str | None) -> httpx.Response:
        if sheet["status"] != "Draft":
            return _problem(f"Timesheet is {sheet['status'].lower()}: lines cannot be changed in a closed pay period.")
        line = next((li for li in sheet["timesheetLines"] if li["timesheetLineID"] == line_id), None)
        if request.method == "DELETE" and line is not None:
            sheet["timesheetLines"].remove(line)
            return httpx.Response(200, json=line)
        body = _body(request)
        if not sheet["startDate"] <= body["date"] <= sheet["endDate"]:
            return _problem("The date is outside the timesheet's period.")
        if request.method == "POST" and line_id is None:
            line = {"timesheetLineID": str(uuid.uuid4()), **body}
            sheet["timesheetLines"].append(line)
            return httpx.Response(200, json={"timesheetLine": line})
        if request.method == "PUT" and line is not None:
            line.update(body)
            return httpx.Response(200, json={"timesheetLine": line})
        return _problem(f"No timesheet line {line_id}.")

    @staticmethod
    def _public(sheet: dict) -> dict:
        total = sum(line["numberOfUnits"] for line in sheet["timesheetLines"])
        return {**sheet, "totalHours": total}


def _end_of(start: str) -> str:
    return (date.fromisoformat(start) + timedelta(days=6)).isoformat()


class FakeXeroBills(Vendor):
    """The bills (``ACCPAY`` invoices) of one Xero organisation, searchable by Reference."""

    spec_name = "xero_accounting"
    base_path = "/api.xro/2.0"

    def __init__(self):
        super().__init__()
        self.bills: dict[str, dict] = {}
        self.by_key: dict[str, dict] = {}

    def live(self) -> list[dict]:
        return [b for b in self.bills.values() if b["Status"] not in ("DELETED", "VOIDED")]

    def route(self, request: httpx.Request, path: str) -> httpx.Response:
        if path != "/Invoices":
            return httpx.Response(404, json={"Message": f"No route {path}"})
        key = request.headers.get("Idempotency-Key")
        if key and key in self.by_key:
            return httpx.Response(200, json=self.by_key[key])
        if request.method == "GET":
            found = re.search(r'Reference=="([^"]*)"', request.url.params.get("where", ""))
            rows = [b for b in self.bills.values() if found is None or b.get("Reference") == found.group(1)]
            return httpx.Response(200, json={"Invoices": rows})
        answer = {"Invoices": [self._save(item) for item in _body(request)["Invoices"]]}
        if key:
            self.by_key[key] = answer
        return httpx.Response(200, json=answer)

    def _save(self, item: dict) -> dict:
        bill = self.bills.get(item.get("InvoiceID", "")) or {"InvoiceID": str(uuid.uuid4()), "Status": "DRAFT"}
        bill.update(item)
        lines = bill.get("LineItems") or []
        total = round(sum(line.get("Quantity", 1) * line.get("UnitAmount", 0) for line in lines), 2)
        bill.update(Total=total, SubTotal=total, TotalTax=0.0, UpdatedDateUTC="/Date(1775000000000+0000)/")
        self.bills[bill["InvoiceID"]] = bill
        return bill
