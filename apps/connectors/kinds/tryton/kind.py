"""Tryton ERP over JSON-RPC: customers, projects, employees and timesheet lines both ways; invoices in;
expenses out as draft supplier invoices (``expenses``); revenue inputs out as draft accrual moves (``revenue``).

Reads go in pages, oldest change first, ordered by (``last_modified_at``, ``id``); the cursor is the
last pair read (``2026-11-26T10:10:56.362458|17``), so records sharing a timestamp are neither lost
nor read twice across pages. Tryton stamps a change with its transaction's start time, so a change
committed late can carry a time before the cursor: each read starts ``reread_seconds`` (default 60)
before the cursor, and Weft's hub skips what it already has. Employees are read in full each time
(see ``objects.Employees``).

Writes carry our reference where ``find`` can see it (see ``objects``); the engine asks
``find`` before it creates anything, so a worker that died after writing makes no duplicate. Tryton
carries out a request it received even after we stopped waiting for the reply (it has no request
time-out of its own, and a busy server queues requests): a create whose reply was lost is looked for
until ``write_window_seconds`` (default 120) have passed before it is sent again.
Calls go through the project's one HTTP client (``OutboundSend``). See docs/connectors.md, "Tryton".
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator

from django.db import connection as db

from apps.common.errors import ErrorCategory
from apps.common.objects import CanonicalInput
from apps.connectors.errors import ConnectorError
from apps.connectors.kinds import register
from apps.connectors.kinds.base import (
    Capabilities,
    ConnectorKind,
    FieldSpec,
    Page,
    TestResult,
    WriteRequest,
    WriteResult,
)
from apps.connectors.kinds.tryton.expenses import ExpenseInvoices  # adds expense_invoices to OBJECTS
from apps.connectors.kinds.tryton.objects import (
    OBJECTS,
    Invoices,
    TimesheetLines,
    TrytonObject,
    TrytonSession,
    WorkMemo,
    as_id,
)
from apps.connectors.kinds.tryton.revenue import RevenueMoves  # adds revenue_moves to OBJECTS
from apps.connectors.kinds.tryton.rpc import OutboundSend, TrytonRpc

DEFAULT_REREAD_SECONDS = 60
DEFAULT_TIMEOUT_SECONDS = 30
_SESSIONS: dict[tuple, tuple[int, str, dict]] = {}  # open sessions of this process, see TrytonKind.session
_WORKS: dict[tuple, WorkMemo] = {}  # projects' timesheet works per tenant and connection (TrytonSession.timesheet_work)
WORK_LOOKUP = "timesheet_work"  # the LookupStamp a project written through the connection bumps
BY_TIME = [["last_modified_at", "ASC"], ["id", "ASC"]]
BY_ID = [["id", "ASC"]]

Position = tuple[dt.datetime | None, int]


@register
class TrytonKind(ConnectorKind):
    slug = "tryton"
    label = "Tryton ERP"
    capabilities = Capabilities(objects=tuple(o.spec() for o in OBJECTS.values()), batch_size=100)
    write_window_seconds = 120
    settings_fields = (
        FieldSpec("base_url", "Server URL", help="e.g. https://erp.example.com (without the database).", type="url"),
        FieldSpec("database", "Database"),
        FieldSpec("company_id", "Company id", required=False, help="Default: the user's current company.",
                  type="int"),
        FieldSpec("customer_category", "Customer category", required=False,
                  help="Read only parties in this party category as customers (default: every party that is "
                       "not the company or an employee)."),
        FieldSpec("revenue_account_id", "Revenue account id", required=False, type="int",
                  help="Account of the lines of draft invoices Weft writes (default: the first open revenue account)."),
        FieldSpec("reread_seconds", "Re-read window (s)", required=False, type="int",
                  help="Each incremental read starts this long before the last change read (default 60)."),
        FieldSpec("page_size", "Page size", required=False, help="Records per call (default 100).", type="int"),
        FieldSpec("timeout_seconds", "Request time-out (s)", required=False, type="int",
                  help="How long to wait for Tryton's answer to one call (default 30)."),
        FieldSpec("write_window_seconds", "Write window (s)", required=False, type="int",
                  help="How long Tryton may still carry out a write after its answer was lost (default 120): a "
                       "record created in that time is found, not created twice."),
        FieldSpec("expense_account_code", "Expense account code", required=False,
                  help="Account of supplier-invoice lines for expenses (default: the chart's first expense account)."),
        FieldSpec("payable_account_code", "Payable account code", required=False,
                  help="Account payable of supplier invoices for expenses (default: the first payable account)."),
        FieldSpec("unbilled_account_code", "Unbilled revenue account code", required=False,
                  help="Account the revenue-inputs accrual moves debit (accrued or unbilled revenue); they credit "
                       "the revenue account."),
        FieldSpec("accrual_journal_code", "Accrual journal code", required=False,
                  help="Journal of the revenue-inputs accrual moves (default: the first general journal)."),
    )
    credential_fields = (FieldSpec("username", "User"), FieldSpec("password", "Password"))

    def __init__(self, context):
        super().__init__(context)
        self._session: TrytonSession | None = None

    @property
    def session(self) -> TrytonSession:
        """Logged in on first use; the session is re-opened by ``TrytonRpc`` when Tryton forgets it.

        A kind lives for one run, and a webhook makes a run per event: the process keeps the session
        it opened for these settings and credentials, so each run does not pay Tryton a login (a
        password hash, ≈0.2 s of the server's CPU)."""
        if self._session is None:
            base_url = str(self.setting("base_url")).rstrip("/")
            rpc = TrytonRpc(base_url, str(self.setting("database")), self.credential("username"),
                            self.credential("password"), http=OutboundSend(self.http(
                                base_url, timeout=self._int_setting("timeout_seconds", DEFAULT_TIMEOUT_SECONDS))))
            key = self._session_key()
            if (state := _SESSIONS.get(key)) is not None:
                rpc.resume(state)
            rpc.on_login = lambda state: _SESSIONS.__setitem__(key, state)  # also when Tryton forgot the last one
            # Keyed by tenant too: connection ids repeat across tenants' schemas.
            memo = _WORKS.setdefault((db.schema_name, *key), WorkMemo())
            stamps = self.context.lookup_stamps
            if stamps is not None:  # once per instance (a run's batch): another process may have written a project
                memo.check(stamps.read(WORK_LOOKUP))
            self._session = TrytonSession(rpc, company_id=self._int_setting("company_id", None),
                                          settings=self.context.settings, shared=memo.works,
                                          on_project_written=stamps and (lambda: stamps.bump(WORK_LOOKUP)))
        return self._session

    def _session_key(self) -> tuple:
        secret = hashlib.sha256(f"{self.credential('username')}\0{self.credential('password')}".encode()).digest()
        return (self.context.connection_id, str(self.setting("base_url")).rstrip("/"), str(self.setting("database")),
                secret)

    # --- the interface -----------------------------------------------------------------------
    def test(self) -> TestResult:
        try:
            company = self.session.company()["rec_name"]
        except ConnectorError as error:
            return TestResult(False, error.message)
        return TestResult(True, f"Logged in to {self.setting('database')} as {self.credential('username')}; "
                                f"company {company}.")

    def read(self, object_name: str, *, cursor: str | None = None) -> Iterator[Page]:
        handler = self._handler(object_name)
        floor = self._parse_cursor(cursor)
        position = self._reread_start(floor) if handler.incremental else floor
        size = self._int_setting("page_size", self.capabilities.batch_size)
        while True:
            rows = self.session.rpc.search_read(
                handler.model, [*handler.domain(), *_after(position)], handler.fields, limit=size,
                order=BY_TIME if handler.incremental else BY_ID, context=self.session.context(active_test=False),
            )
            if not rows:
                return
            position = (rows[-1]["last_modified_at"] if handler.incremental else None, rows[-1]["id"])
            cursor_at = max(position, floor, key=_sort_key) if floor else position  # never behind where we began
            yield Page(handler.records(rows), next_cursor=_format_cursor(cursor_at))
            if len(rows) < size:
                return

    def write(self, object_name: str, payload: dict, *, reference: str, external_id: str | None = None,
              idempotency_key: str | None = None) -> WriteResult:
        """Create, or update ``external_id``. Tryton has no idempotency keys: ``find`` (which the engine
        calls before creating) is what keeps a retried create from making a second record."""
        handler = self._handler(object_name, writing=True)
        if external_id:
            record_id = as_id(external_id, "external id")
            handler.update(record_id, payload, reference)
            return WriteResult(str(record_id), created=False, response={"model": handler.model, "id": record_id})
        record_id = handler.create(payload, reference)
        return WriteResult(str(record_id), created=True, response={"model": handler.model, "id": record_id})

    def writes_many(self, object_name: str) -> bool:
        return object_name == TimesheetLines.name

    def write_many(self, object_name: str, requests: list[WriteRequest]) -> list[WriteResult]:
        """Timesheet lines: one ``create`` with a list (Tryton creates them in one transaction: all or none)."""
        handler = self._handler(object_name, writing=True)
        if not isinstance(handler, TimesheetLines):
            return super().write_many(object_name, requests)
        ids = handler.create_many([(request.payload, request.reference) for request in requests])
        return [WriteResult(str(record_id), created=True, response={"model": handler.model, "id": record_id})
                for record_id in ids]

    def find(self, object_name: str, *, reference: str) -> str | None:
        handler = self._handler(object_name, writing=True)
        found = sorted(handler.find(reference))
        if len(found) > 1:
            raise ConnectorError(
                f"Tryton has {len(found)} {handler.model} records under our reference {reference} "
                f"(ids {', '.join(map(str, found))}); keep one and delete the others.", permanent=True,
                category=ErrorCategory.DUPLICATE)
        return str(found[0]) if found else None

    def find_many(self, object_name: str, references: list[str]) -> dict[str, str]:
        """Timesheet lines: one search for all ``references`` (other objects: one each)."""
        handler = self._handler(object_name, writing=True)
        if not isinstance(handler, TimesheetLines):
            return super().find_many(object_name, references)
        found = handler.find_many(references)
        twice = {reference: ids for reference, ids in found.items() if len(ids) > 1}
        if twice:
            reference, ids = next(iter(twice.items()))
            raise ConnectorError(
                f"Tryton has {len(ids)} {handler.model} records under our reference {reference} "
                f"(ids {', '.join(map(str, sorted(ids)))}); keep one and delete the others.", permanent=True,
                category=ErrorCategory.DUPLICATE)
        return {reference: str(ids[0]) for reference, ids in found.items()}

    def delete(self, object_name: str, external_id: str) -> None:
        """Delete a timesheet line (a reversal), an expense invoice, a draft customer invoice whose work went
        away, or a draft accrual move with nothing left to accrue. Gone already counts as done; a record Tryton
        keeps (e.g. an invoiced line, a posted invoice or move) is a permanent error."""
        handler = self._handler(object_name, writing=True)
        if not isinstance(handler, TimesheetLines | ExpenseInvoices | Invoices | RevenueMoves):
            super().delete(object_name, external_id)
        handler.delete(as_id(external_id, "external id"))

    def read_totals(self, object_name: str, *, start: dt.date, end: dt.date) -> dict | None:
        """Reconciliation's read-back: {(project id, week Monday): (hours, None)} of the timesheet lines Tryton holds
        (None for other objects). Tryton's lines carry no bill amount, so only hours are compared."""
        if object_name != TimesheetLines.name:
            return None
        handler = TimesheetLines(self.session)
        return {key: (hours, None) for key, hours in handler.hours_by_project_week(start, end).items()}

    def references_held_twice(self, object_name: str, *, prefix: str, start: dt.date,
                              end: dt.date) -> dict[str, list[str]] | None:
        """Reconciliation's duplicate check: {reference: ids} of timesheet lines dated ``start``..``end`` that carry
        one of our references (starting ``prefix``) twice or more; None for other objects."""
        if object_name != TimesheetLines.name:
            return None
        found = TimesheetLines(self.session).references_held_twice(prefix, start, end)
        return {reference: [str(i) for i in ids] for reference, ids in found.items()}

    def to_canonical(self, object_name: str, record: dict) -> CanonicalInput:
        return self._handler(object_name).to_canonical(record)

    def from_canonical(self, object_name: str, canonical: dict, refs: dict[str, str | None]) -> dict:
        return self._handler(object_name, writing=True).from_canonical(canonical, refs)

    def record_location(self, object_name: str, record: dict) -> str:
        return self._handler(object_name).location(record)

    # --- helpers -------------------------------------------------------------------------------
    def _handler(self, object_name: str, *, writing: bool = False) -> TrytonObject:
        spec = self.capabilities.spec(object_name)
        if writing and not spec.writable:
            raise ConnectorError(f"{self.label} cannot write {object_name}.", permanent=True,
                                 category=ErrorCategory.CONFIG)
        return OBJECTS[object_name](self.session)

    def _reread_start(self, floor: Position | None) -> Position | None:
        seconds = self._int_setting("reread_seconds", DEFAULT_REREAD_SECONDS)
        if floor is None or floor[0] is None or seconds <= 0:
            return floor
        return floor[0] - dt.timedelta(seconds=seconds), 0

    def _parse_cursor(self, cursor: str | None) -> Position | None:
        if not cursor:
            return None
        stamp, _, record_id = cursor.rpartition("|")
        try:
            return (dt.datetime.fromisoformat(stamp) if stamp else None), int(record_id)
        except ValueError:
            raise ConnectorError(f"{self.context.connection_name}: cannot resume from cursor {cursor!r}; "
                                 "read from the start.", permanent=True, category=ErrorCategory.CONFIG) from None

    def _int_setting(self, name: str, default: int | None) -> int | None:
        value = self.setting(name)
        if value in (None, ""):
            return default
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConnectorError(f"{self.context.connection_name}: setting {name} must be a whole number, "
                                 f"not {value!r}.", permanent=True, category=ErrorCategory.CONFIG) from None


def _after(position: Position | None) -> list:
    """The Tryton domain for records after ``position`` in (last_modified_at, id) order (or id order)."""
    if position is None:
        return []
    stamp, record_id = position
    if stamp is None:
        return [["id", ">", record_id]]
    return [["OR", [["last_modified_at", ">", stamp]],
             [["last_modified_at", "=", stamp], ["id", ">", record_id]]]]


def _sort_key(position: Position) -> tuple:
    return position[0] or dt.datetime.min, position[1]


def _format_cursor(position: Position) -> str:
    stamp, record_id = position
    return f"{stamp.isoformat() if stamp else ''}|{record_id}"
