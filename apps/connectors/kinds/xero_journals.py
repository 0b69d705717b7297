"""Revenue inputs as Xero manual journals, for the Xero connector kind (``kinds/xero.py``): ``revenue_journals``.

Xero Accounting has no revenue-recognition object; what a controller posts at month end for work done but not
yet invoiced is a manual journal: debit accrued (unbilled) revenue, credit sales. So each project-month becomes
one DRAFT manual journal dated the month's last day, for what the month accrues (the billable value; for a fixed
fee, the fee x the percent complete gained in the month), lines on the connection's ``unbilled_account_code`` and
``sales_account_code`` (tagged with the project's option of ``project_tracking_category`` when set), its
narration naming the project, month, billable value, cost, hours and percent complete, and ending with our
reference. The controller reviews and posts it (best with an auto-reversing date, since the invoice raised later
books the same revenue). A manual journal has no reference field: ``find`` searches narrations for ours. A later
recomputation updates the draft (same ManualJournalID); one the controller posted is refused as a conflict, never
changed, a draft someone deleted in Xero is made again on the month's next change, and a month with nothing left
to accrue deletes the draft. Every write carries an Idempotency-Key.
"""

from __future__ import annotations

from decimal import Decimal

from apps.common.errors import ErrorCategory
from apps.connectors.errors import ConnectorError
from apps.connectors.kinds.base import WriteResult
from apps.connectors.kinds.revenue import revenue_figures

JOURNALS = "ManualJournals"
GONE = ("DELETED", "VOIDED")


def journal_payload(view: dict, *, unbilled_account: str | None, sales_account: str | None,
                    tracking_category: str | None) -> dict:
    """A DRAFT manual journal accruing what the month accrues (the billable value, or a fixed fee's share by
    progress); our reference is added when it is written."""
    figures = revenue_figures(view)
    if figures.amount <= 0:  # the flow's rule set skips these; a journal of zero lines would be noise in Xero
        raise ConnectorError(f"{figures.title}: nothing to accrue ({figures.amount}).", permanent=True,
                             category=ErrorCategory.VALIDATION)
    if not unbilled_account or not sales_account:
        missing = " and ".join(name for name, value in (("unbilled_account_code", unbilled_account),
                                                        ("sales_account_code", sales_account)) if not value)
        raise ConnectorError(f"{figures.title}: set {missing} on the Xero connection (the accrued revenue and "
                             "sales accounts the journal debits and credits).", permanent=True,
                             category=ErrorCategory.CONFIG)
    amount = float(figures.amount.quantize(Decimal("0.01")))
    tracking = [{"Name": tracking_category, "Option": figures.project_code}] if tracking_category else None
    lines = [{"Description": figures.title, "AccountCode": unbilled_account, "LineAmount": amount},
             {"Description": figures.title, "AccountCode": sales_account, "LineAmount": -amount}]
    if tracking:
        lines = [{**line, "Tracking": tracking} for line in lines]
    return {"Narration": figures.summary(), "Date": figures.month_end.isoformat(), "Status": "DRAFT",
            "LineAmountTypes": "NoTax", "JournalLines": lines}


def tagged(narration: str, reference: str) -> str:
    return f"{narration} [{reference}]"


class RevenueJournals:
    """The manual-journal half of ``XeroKind``: needs the kind's ``_call``."""

    def _find_journal(self, reference: str) -> str | None:
        tag = f"[{reference}]"
        data = self._call("accounting", "GET", f"/{JOURNALS}", params={"where": f'Narration.Contains("{tag}")',
                                                                        "page": 1},
                          what="Looking up Xero manual journals")
        found = data.get(JOURNALS) if isinstance(data.get(JOURNALS), list) else []
        # Checked again here: a filter Xero ignored must not make us update a stranger's journal.
        return next((j["ManualJournalID"] for j in found if isinstance(j, dict) and j.get("ManualJournalID")
                     and str(j.get("Narration", "")).endswith(tag) and j.get("Status") not in GONE), None)

    def _write_journal(self, payload: dict, *, reference: str, external_id: str | None,
                       key_header: dict) -> WriteResult:
        body = {**payload, "Narration": tagged(payload.get("Narration") or "", reference)}
        if external_id and self._draft_journal(external_id, "changed") is None:
            external_id = None  # someone deleted the draft in Xero: the month is accrued again, as a new draft
        if external_id:
            body["ManualJournalID"] = external_id
        method, operation = ("POST", "Update") if external_id else ("PUT", "Create")
        what = f"{operation} Xero manual journal {external_id or reference}"
        data = self._call("accounting", method, f"/{JOURNALS}", params={"summarizeErrors": "false"},
                          json_body={JOURNALS: [body]}, headers=key_header, what=what)
        element = _only_journal(data, what)
        return WriteResult(external_id=element["ManualJournalID"], created=not external_id, response=element)

    def _delete_journal(self, external_id: str, key_header: dict) -> None:
        """A month with nothing left to accrue: its draft is deleted (gone already counts as done)."""
        journal = self._draft_journal(external_id, "withdrawn")
        if journal is None:
            return
        what = f"Deleting Xero manual journal {external_id}"
        body = {"ManualJournalID": external_id, "Status": "DELETED", "Narration": journal.get("Narration") or "-"}
        data = self._call("accounting", "POST", f"/{JOURNALS}", params={"summarizeErrors": "false"},
                          json_body={JOURNALS: [body]}, headers=key_header, what=what)
        _only_journal(data, what)

    def _draft_journal(self, external_id: str, change: str) -> dict | None:
        """The journal while it is a draft; None when it is gone; a conflict once the controller posted it."""
        data = self._call("accounting", "GET", f"/{JOURNALS}/{external_id}",
                          what=f"Reading Xero manual journal {external_id}")
        journal = next(iter(data.get(JOURNALS) or []), None)
        if not isinstance(journal, dict) or journal.get("Status") in GONE:
            return None
        if journal.get("Status") != "DRAFT":
            raise ConnectorError(
                f"Xero manual journal {external_id} ({str(journal.get('Narration', ''))[:60]}) is "
                f"{journal.get('Status')}: the revenue inputs were {change} since, but Weft changes only draft "
                "journals. Adjust it in Xero (a new journal), then resolve this.", permanent=True,
                category=ErrorCategory.CONFLICT)
        return journal


def _only_journal(data: dict, what: str) -> dict:
    elements = data.get(JOURNALS)
    if not isinstance(elements, list) or not elements or not isinstance(elements[0], dict):
        raise ConnectorError(f"{what}: Xero's answer has no {JOURNALS}.", permanent=False,
                             category=ErrorCategory.PARSE)
    element = elements[0]
    problems = [str(e.get("Message")) for e in element.get("ValidationErrors") or [] if isinstance(e, dict)]
    if problems:
        raise ConnectorError(f"{what}: Xero refused it: {'; '.join(problems)}", permanent=True,
                             category=ErrorCategory.VALIDATION)
    if not element.get("ManualJournalID"):
        raise ConnectorError(f"{what}: Xero's answer has no ManualJournalID.", permanent=False,
                             category=ErrorCategory.PARSE)
    return element
