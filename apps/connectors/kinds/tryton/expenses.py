"""Approved expenses as Tryton supplier invoices (``account.invoice`` of type ``in``), for expenses to the ERP.

Why a supplier invoice: of the modules Weft's Tryton runs (project, timesheet, account_invoice, company, party…),
none has an expense claim; a draft supplier invoice to the employee's party is how Tryton books money the firm
owes someone, and it is what accounts payable approves, posts and pays. One draft invoice per expense, with one
line on the expense account (the connection's ``expense_account_code``, else the chart's first expense
account) and the payable account on the invoice. Our reference is the invoice's ``reference`` (where a supplier's
own number goes), so ``find`` sees an invoice made by a try that died before Weft noted its id. A posted invoice
is never changed or deleted: that is an exception for accounts payable, not a silent edit of the books.
"""

from __future__ import annotations

from typing import Any

from apps.common.errors import ErrorCategory
from apps.common.objects import ObjectType
from apps.connectors.errors import ConnectorError
from apps.connectors.kinds.tryton.objects import OBJECTS, TrytonObject, as_date, as_decimal, as_id, require_ref

EDITABLE_STATES = ("draft",)


class ExpenseInvoices(TrytonObject):
    """Expenses written as draft supplier invoices payable to the employee who spent the money."""

    name, model, object_type, noun = "expense_invoices", "account.invoice", ObjectType.EXPENSE, "supplier invoice"
    fields = ("number", "state", "reference", "party", "total_amount", "last_modified_at")
    readable, incremental = False, False

    def from_canonical(self, view: dict, refs: dict[str, str | None]) -> dict:
        person, project = view.get("person") or {}, view.get("project") or {}
        subject = f"Expense {view.get('id')} ({person.get('name') or '?'}, {view.get('date')})"
        employee = require_ref(refs, "person", subject, f"its person {person.get('code') or person.get('name')}")
        what = " — ".join(part for part in (view.get("category"), view.get("notes")) if part) or "Expense"
        return {"employee": employee, "date": view.get("date"), "amount": view.get("amount"),
                "currency": view.get("currency"),
                "description": f"{what} ({project.get('code') or 'no project'}, {view.get('date')})"}

    def find(self, reference: str) -> list[int]:
        return self.rpc.search(self.model, [["type", "=", "in"], ["reference", "=", reference]],
                               context=self.session.context())

    def create(self, payload: dict, reference: str) -> int:
        party = self._party(payload)
        values = {"type": "in", "company": self.session.company_id, "party": party,
                  "invoice_address": self._address(party), "currency": self._currency(payload.get("currency")),
                  "account": self._account("payable", self.session.settings.get("payable_account_code")),
                  "journal": self._journal(), "reference": reference, **self._header(payload),
                  "lines": [["create", [self._line(payload)]]]}
        (invoice,) = self.rpc.create(self.model, [values], context=self.session.context())
        return invoice

    def update(self, record_id: int, payload: dict, reference: str) -> None:
        row = self._editable(record_id, "changed")
        self.rpc.write(self.model, [record_id], self._header(payload), context=self.session.context())
        lines = [line for line in row["lines"]]
        if lines:
            self.rpc.write("account.invoice.line", lines[:1], self._line(payload), context=self.session.context())

    def delete(self, record_id: int) -> None:
        if not self.rpc.search(self.model, [["id", "=", record_id]], context=self.session.context()):
            return  # gone already
        self._editable(record_id, "taken back")
        self.rpc.delete(self.model, [record_id], context=self.session.context())

    # --- helpers -------------------------------------------------------------------------------------
    def _editable(self, record_id: int, change: str) -> dict:
        (row,) = self.rpc.read(self.model, [record_id], ["state", "number", "lines"], context=self.session.context())
        if row["state"] not in EDITABLE_STATES:
            raise ConnectorError(
                f"Tryton supplier invoice {row.get('number') or record_id} is {row['state']}: the expense was "
                f"{change} at the source, but Weft changes only draft invoices. Correct it in Tryton (a credit "
                "note), then resolve this.", permanent=True, category=ErrorCategory.CONFLICT)
        return row

    def _header(self, payload: dict) -> dict:
        return {"invoice_date": as_date(payload.get("date"), "date"), "description": payload.get("description")}

    def _line(self, payload: dict) -> dict:
        amount = as_decimal(payload.get("amount"), "amount")
        if amount is None or amount <= 0:
            raise ConnectorError(f"Expense amount {payload.get('amount')!r} is not a positive amount.", permanent=True,
                                 category=ErrorCategory.VALIDATION)
        return {"type": "line", "company": self.session.company_id, "description": payload.get("description"),
                "quantity": 1.0, "unit_price": amount,
                "account": self._account("expense", self.session.settings.get("expense_account_code"))}

    def _party(self, payload: dict) -> int:
        employee = as_id(payload.get("employee"), "employee")
        rows = self.rpc.read("company.employee", [employee], ["party"], context={"active_test": False})
        if not rows:
            raise ConnectorError(f"Tryton has no employee with id {employee}.", permanent=True,
                                 category=ErrorCategory.MISSING_REFERENCE)
        return rows[0]["party"]

    def _address(self, party: int) -> int:
        found = self.rpc.search("party.address", [["party", "=", party]], limit=1)
        if found:
            return found[0]
        (address,) = self.rpc.create("party.address", [{"party": party}])
        return address

    def _currency(self, code: Any) -> int:
        found = self.rpc.search("currency.currency", [["code", "=", str(code or self.session.currency())]], limit=1)
        if not found:
            raise ConnectorError(f"Tryton has no currency {code!r}; add it there or convert the expense.",
                                 permanent=True, category=ErrorCategory.VALIDATION)
        return found[0]

    def _journal(self) -> int:
        found = self.rpc.search("account.journal", [["type", "=", "expense"]], limit=1)
        if not found:
            raise ConnectorError("Tryton has no expense journal.", permanent=True, category=ErrorCategory.CONFIG)
        return found[0]

    def _account(self, kind: str, code: str | None) -> int:
        domain = [["company", "=", self.session.company_id], ["closed", "!=", True]]
        domain.append(["code", "=", code] if code else [f"type.{kind}", "=", True])
        if kind == "payable" and not code:
            domain.append(["party_required", "=", True])
        found = self.rpc.search("account.account", domain, limit=1, order=[["code", "ASC"]],
                                context=self.session.context())
        if not found:
            wanted = f"account {code}" if code else f"open {kind} account"
            raise ConnectorError(f"Tryton has no {wanted} for supplier invoices.", permanent=True,
                                 category=ErrorCategory.CONFIG)
        return found[0]


OBJECTS[ExpenseInvoices.name] = ExpenseInvoices  # the kind's registry of objects (see kinds/tryton/kind.py)
