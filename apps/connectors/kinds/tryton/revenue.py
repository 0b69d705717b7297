"""Revenue inputs per project and month into Tryton (``revenue_moves``), for billing readiness.

What Weft's Tryton can hold, looked at: ``project_revenue`` gives ``project.work`` a revenue and a cost, but both are
computed from timesheets and list prices (read-only), and per project, not per month; ``project.work.progress``
(percent complete, 0 to 1) is writable and is what ``project_invoice`` bills fixed-fee projects by when their
invoice method is "progress"; there is no analytic accounting module. So each project-month becomes:

- one draft ``account.move`` dated the month's last day, in the connection's ``accrual_journal_code`` journal
  (default: the first general journal): debit the ``unbilled_account_code`` account (accrued, unbilled revenue),
  credit revenue (``revenue_account_id``, default the first open revenue account), for what the month accrues (the
  billable value; for a fixed fee, the fee x the percent complete gained in the month: ``kinds/revenue.py``);
  its description starts with our reference and spells out billable value, cost, hours and percent complete. The
  controller reviews and posts it; while it is a draft a recomputation replaces its lines, once posted it is
  refused as a conflict (never changed), and a month with nothing left to accrue deletes the draft;
- the project's ``progress`` set to the month's percent complete, when the project is in Tryton and no later
  month of it was sent already (an old month recomputed must not move progress back).
"""

from __future__ import annotations

from decimal import Decimal

from apps.common.errors import ErrorCategory
from apps.common.objects import ObjectType
from apps.connectors.errors import ConnectorError
from apps.connectors.kinds.revenue import revenue_figures
from apps.connectors.kinds.tryton.objects import (
    OBJECTS,
    REFERENCE_TAG,
    Invoices,
    TrytonObject,
    as_date,
    as_decimal,
    as_id,
    like_escaped,
    like_tag,
)

MOVE = "account.move"


class RevenueMoves(TrytonObject):
    """Revenue inputs written as draft accrual moves, with percent complete on the project."""

    name, model, object_type, noun = "revenue_moves", MOVE, ObjectType.REVENUE_SCHEDULE, "accrual move"
    fields = ("number", "state", "date", "description", "last_modified_at")
    readable, incremental = False, False

    def from_canonical(self, view: dict, refs: dict[str, str | None]) -> dict:
        figures = revenue_figures(view)
        return {"date": figures.month_end.isoformat(), "amount": str(figures.amount),
                "description": figures.summary(), "title": figures.title, "project": refs.get("project"),
                "progress": (str(figures.percent_complete / 100) if figures.percent_complete is not None
                             else None)}

    def find(self, reference: str) -> list[int]:
        rows = self.rpc.search_read(self.model, [["company", "=", self.session.company_id],
                                                 ["description", "ilike", like_tag(reference)]], ["description"],
                                    context=self.session.context())
        return [r["id"] for r in rows if reference in REFERENCE_TAG.findall(r["description"] or "")]

    def create(self, payload: dict, reference: str) -> int:
        day = as_date(payload.get("date"), "date")
        values = {"company": self.session.company_id, "journal": self._journal(), "period": self._period(day),
                  "date": day, "description": self._description(payload, reference),
                  "lines": [["create", self._lines(payload)]]}
        (move,) = self.rpc.create(self.model, [values], context=self.session.context())
        self._progress(payload)
        return move

    def update(self, record_id: int, payload: dict, reference: str) -> None:
        row = self._draft(record_id, "changed")
        day = as_date(payload.get("date"), "date")
        values = {"date": day, "period": self._period(day), "description": self._description(payload, reference),
                  "lines": [["delete", row["lines"]], ["create", self._lines(payload)]]}
        self.rpc.write(self.model, [record_id], values, context=self.session.context())
        self._progress(payload)

    def delete(self, record_id: int) -> None:
        """A month with nothing left to accrue: its draft goes (gone already counts as done)."""
        if not self.rpc.search(self.model, [["id", "=", record_id]], context=self.session.context()):
            return
        self._draft(record_id, "withdrawn")
        self.rpc.delete(self.model, [record_id], context=self.session.context())

    def location(self, record: dict) -> str:
        return f"Tryton accrual move {record.get('number') or '(draft)'} (id {record.get('id')})"

    # --- helpers -------------------------------------------------------------------------------------
    def _draft(self, record_id: int, change: str) -> dict:
        (row,) = self.rpc.read(self.model, [record_id], ["state", "number", "lines"], context=self.session.context())
        if row["state"] != "draft":
            raise ConnectorError(
                f"Tryton accrual move {row.get('number') or record_id} is {row['state']}: the revenue inputs were "
                f"{change} since, but Weft changes only draft moves. Adjust it in Tryton (a new move), then resolve "
                "this.", permanent=True, category=ErrorCategory.CONFLICT)
        return row

    @staticmethod
    def _description(payload: dict, reference: str) -> str:
        return f"[{reference}] {payload.get('description') or ''}".strip()

    def _lines(self, payload: dict) -> list[dict]:
        amount = as_decimal(payload.get("amount"), "amount") or Decimal(0)
        if amount <= 0:
            raise ConnectorError(f"{payload.get('title')}: nothing to accrue ({amount}).", permanent=True,
                                 category=ErrorCategory.VALIDATION)
        unbilled = self._unbilled_account()
        debit = {"account": unbilled["id"], "debit": amount, "credit": Decimal(0),
                 "description": payload.get("title") or ""}
        if unbilled["party_required"]:
            debit["party"] = self._party(payload)
        credit = {"account": Invoices(self.session)._revenue_account(), "debit": Decimal(0), "credit": amount,
                  "description": payload.get("title") or ""}
        return [debit, credit]

    def _unbilled_account(self) -> dict:
        code = self.session.settings.get("unbilled_account_code")
        if not code:
            raise ConnectorError("Set unbilled_account_code on the Tryton connection: the account (accrued or "
                                 "unbilled revenue) that revenue-inputs moves debit.", permanent=True,
                                 category=ErrorCategory.CONFIG)
        rows = self.rpc.search_read("account.account", [["company", "=", self.session.company_id],
                                                        ["code", "=", str(code)], ["closed", "!=", True]],
                                    ["party_required"], limit=1, context=self.session.context())
        if not rows:
            raise ConnectorError(f"Tryton has no open account {code} (unbilled_account_code).", permanent=True,
                                 category=ErrorCategory.CONFIG)
        return rows[0]

    def _party(self, payload: dict) -> int:
        if not payload.get("project"):
            raise ConnectorError(f"{payload.get('title')}: the unbilled revenue account needs a party, and the "
                                 "project is not in Tryton (no cross-reference).", permanent=True,
                                 category=ErrorCategory.MISSING_REFERENCE)
        (row,) = self.rpc.read("project.work", [as_id(payload["project"], "project")], ["party"],
                               context=self.session.context())
        if not row["party"]:
            raise ConnectorError(f"{payload.get('title')}: Tryton project {payload['project']} has no party.",
                                 permanent=True, category=ErrorCategory.MISSING_REFERENCE)
        return row["party"]

    def _journal(self) -> int:
        code = self.session.settings.get("accrual_journal_code")
        domain = [["code", "=", str(code)]] if code else [["type", "=", "general"]]
        found = self.rpc.search("account.journal", domain, limit=1, order=[["code", "ASC"]])
        if not found:
            raise ConnectorError(f"Tryton has no {'journal ' + str(code) if code else 'general journal'} for "
                                 "accrual moves.", permanent=True, category=ErrorCategory.CONFIG)
        return found[0]

    def _period(self, day) -> int:
        found = self.rpc.search("account.period", [["company", "=", self.session.company_id],
                                                   ["type", "=", "standard"], ["start_date", "<=", day],
                                                   ["end_date", ">=", day]], limit=1,
                                context=self.session.context())
        if not found:
            raise ConnectorError(f"Tryton has no accounting period for {day}: open the fiscal year first.",
                                 permanent=True, category=ErrorCategory.CONFIG)
        return found[0]

    def _progress(self, payload: dict) -> None:
        """Percent complete onto the project, unless a later month of it is in Tryton already."""
        if not payload.get("project") or payload.get("progress") in (None, ""):
            return
        later = self.rpc.search(self.model, [["company", "=", self.session.company_id],
                                             ["date", ">", as_date(payload["date"], "date")],
                                             ["description", "ilike",
                                              f"%] {like_escaped(payload.get('title', '').rsplit(' ', 1)[0])} %"]],
                                limit=1, context=self.session.context())
        if not later:
            self.rpc.write("project.work", [as_id(payload["project"], "project")],
                           {"progress": float(as_decimal(payload["progress"], "progress"))},
                           context=self.session.context())


OBJECTS[RevenueMoves.name] = RevenueMoves  # the kind's registry of objects (see kinds/tryton/kind.py)
