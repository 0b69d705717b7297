"""Xero: contacts, sales invoices and bills (Accounting API), time on projects (Projects API), and timesheet
lines per pay period (Payroll UK API; with bills in ``xero_payroll``).

One connection is one Xero organisation (``tenant_id``, sent as ``xero-tenant-id``). Every write sends an
``Idempotency-Key`` derived from the engine's key, so a retried PUT/POST cannot make a second record; on top
of that, contacts carry our reference in ``ContactNumber`` and invoices in ``Reference``, so a record made by
an attempt that crashed before we saved its id is found and updated. Time entries have no searchable field:
for them the idempotency key is the only guard. Connected with the Connect button (OAuth2 authorization code
with PKCE), the kind renews its 30-minute access token before it expires and keeps the rotated refresh token, so
it runs unattended; a bare ``access_token`` credential still works, used as given.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.utils import timezone

from apps.common.errors import ErrorCategory, ExternalSystemError
from apps.common.http import OutboundClient
from apps.common.objects import CanonicalInput, ObjectType
from apps.connectors.errors import ConnectorError
from apps.connectors.kinds import register
from apps.connectors.kinds.base import (
    Capabilities,
    ConnectorKind,
    FieldSpec,
    ObjectSpec,
    Page,
    TestResult,
    WriteResult,
)
from apps.connectors.kinds.records import Fields, UpdatedSince, checked_page, reraise, start_from
from apps.connectors.kinds.xero_journals import RevenueJournals, journal_payload
from apps.connectors.kinds.xero_payroll import PAYROLL_SCOPES, PAYROLL_URL, PayrollTimesheets, bill_payload
from apps.connectors.oauth2 import BearerClient, OAuth2Spec
from apps.connectors.ratelimit import RateLimit

ACCOUNTING_URL = "https://api.xero.com/api.xro/2.0"
PROJECTS_URL = "https://api.xero.com/projects.xro/2.0"
# From the securitySchemes of Xero's published OpenAPI documents; offline_access is what grants a refresh token.
AUTHORIZE_URL = "https://login.xero.com/identity/connect/authorize"
TOKEN_URL = "https://identity.xero.com/connect/token"
SCOPES = ("offline_access", "accounting.contacts", "accounting.transactions", "projects")
PAGE_SIZE = 500
MAX_PAGES = 10_000
CONTACT_NUMBER_MAX = 50  # Xero's limit on ContactNumber
IDEMPOTENCY_KEY_MAX = 128  # Xero's limit on Idempotency-Key
MINUTES_MAX = 59940  # Xero Projects: one time entry is 1..59940 minutes
# A time entry is logged at noon UTC so it stays on the same calendar day in every organisation time zone.
TIME_OF_DAY = "T12:00:00Z"

COLLECTIONS = {"contacts": "Contacts", "invoices": "Invoices", "bills": "Invoices"}
STATUS_IN = {"DRAFT": "draft", "SUBMITTED": "draft", "AUTHORISED": "sent", "PAID": "paid", "VOIDED": "void",
             "DELETED": "void"}
STATUS_OUT = {"draft": "DRAFT", "sent": "AUTHORISED", "paid": "AUTHORISED", "void": "VOIDED"}
GONE = ("DELETED", "VOIDED")


@register
class XeroKind(PayrollTimesheets, RevenueJournals, ConnectorKind):
    """Xero Accounting, Projects and Payroll UK over OAuth2 (bearer token), one organisation per connection.
    Payroll timesheet lines and bills (expenses) live in ``xero_payroll``; revenue inputs as manual journals in
    ``xero_journals``."""

    slug = "xero"
    label = "Xero"
    capabilities = Capabilities(
        objects=(
            ObjectSpec("contacts", ObjectType.CUSTOMER, writable=True, incremental=True),
            ObjectSpec("invoices", ObjectType.INVOICE, writable=True, incremental=True),
            ObjectSpec("project_time", ObjectType.TIME_ENTRY, readable=False, writable=True),
            ObjectSpec("payroll_timesheet_lines", ObjectType.TIME_ENTRY, readable=False, writable=True),
            ObjectSpec("bills", ObjectType.EXPENSE, readable=False, writable=True),
            ObjectSpec("revenue_journals", ObjectType.REVENUE_SCHEDULE, readable=False, writable=True),
        ),
        # Per organisation: 60 calls a minute, 5 at once, 5,000 a day.
        rate_limit=RateLimit(windows=((60, 60), (5000, 86400)), concurrency=5),
    )
    settings_fields = (
        FieldSpec("tenant_id", "Xero organisation (tenant) id", help="From Xero's /connections after sign-in."),
        FieldSpec("accounting_base_url", "Accounting API URL", required=False, help=f"Default {ACCOUNTING_URL}."),
        FieldSpec("projects_base_url", "Projects API URL", required=False, help=f"Default {PROJECTS_URL}."),
        FieldSpec("sales_account_code", "Sales account code", required=False,
                  help="AccountCode on invoice lines we create (e.g. 200); needed to approve invoices."),
        FieldSpec("project_ids", "Xero project per project code", required=False, type="json",
                  help='JSON {"ACME-042": "<Xero projectId>"} for projects Weft did not create in Xero.'),
        FieldSpec("user_ids", "Xero user per person", required=False, type="json",
                  help='JSON {"<email or person code>": "<Xero userId>"}.'),
        FieldSpec("default_user_id", "Default Xero user", required=False,
                  help="Xero userId to log time under when a person has none."),
        FieldSpec("task_ids", "Xero task per project", required=False, type="json",
                  help='JSON {"<Xero projectId>": "<taskId>"}; otherwise the task is found by name.'),
        FieldSpec("payroll_base_url", "Payroll UK API URL", required=False, help=f"Default {PAYROLL_URL}."),
        FieldSpec("payroll_calendar_id", "Pay run calendar", required=False,
                  help="Xero payrollCalendarID whose pay periods approved hours go into (hours to payroll)."),
        FieldSpec("employee_ids", "Xero Payroll employee per person", required=False, type="json",
                  help='JSON {"<email or person code>": "<Xero employeeID>"}.'),
        FieldSpec("earnings_rate_id", "Earnings rate", required=False,
                  help="Xero earningsRateID of timesheet lines (e.g. Ordinary Hours)."),
        FieldSpec("earnings_rate_ids", "Earnings rate per task", required=False, type="json",
                  help='JSON {"<task name>": "<earningsRateID>"}, e.g. overtime; others take the earnings rate.'),
        FieldSpec("expense_account_code", "Expense account code", required=False,
                  help="AccountCode of bill lines for expenses (e.g. 493); without it bills stay drafts."),
        FieldSpec("unbilled_account_code", "Unbilled revenue account code", required=False,
                  help="Account the revenue-inputs journals debit (accrued or unbilled revenue, a balance-sheet "
                       "account); they credit the sales account."),
        FieldSpec("project_tracking_category", "Project tracking category", required=False,
                  help="Name of a tracking category whose options are project codes; revenue-inputs journal lines "
                       "are tagged with their project's option."),
        FieldSpec("oauth_authorize_url", "OAuth2 sign-in URL", required=False, help=f"Default {AUTHORIZE_URL}."),
        FieldSpec("oauth_token_url", "OAuth2 token URL", required=False, help=f"Default {TOKEN_URL}."),
    )
    credential_fields = (
        FieldSpec("client_id", "OAuth2 client id", required=False, help="Of the partner's Xero app (for Connect)."),
        FieldSpec("client_secret", "OAuth2 client secret", required=False, help="Of the partner's Xero app."),
        FieldSpec("access_token", "OAuth2 access token", required=False,
                  help="Set by Connect; or paste a token to use as given (it will not be renewed)."),
    )

    def __init__(self, context):
        super().__init__(context)
        self._clients: dict[str, OutboundClient | BearerClient] = {}
        self._tokens = None  # the OAuth2 token manager (False: a fixed access token), shared by both APIs
        self._tasks: dict[str, dict[str, str]] = {}  # projectId -> task name (casefolded) -> taskId
        # What find() just answered, so the write that follows it does not ask Xero a second time.
        self._found: dict[tuple[str, str], str | None] = {}
        self._payroll_init()

    # --- the interface ------------------------------------------------------------------------
    def oauth2_spec(self) -> OAuth2Spec:
        return OAuth2Spec(authorize_url=self.setting("oauth_authorize_url") or AUTHORIZE_URL,
                          token_url=self.setting("oauth_token_url") or TOKEN_URL,
                          scopes=SCOPES + (PAYROLL_SCOPES if self.setting("payroll_calendar_id") else ()),
                          token_auth="client_secret_basic", pkce=True)

    def test(self) -> TestResult:
        try:
            data = self._call("accounting", "GET", "/Organisation", what="Checking the Xero connection")
        except ExternalSystemError as error:
            return TestResult(False, error.message)
        organisations = data.get("Organisations") or [{}]
        return TestResult(True, f"Connected to Xero organisation {organisations[0].get('Name', '?')}.")

    def read(self, object_name: str, *, cursor: str | None = None) -> Iterator[Page]:
        spec = self.capabilities.spec(object_name)
        if not spec.readable:
            raise ConnectorError(f"Xero {object_name} can be written, not read.", permanent=True,
                                 category=ErrorCategory.CONFIG)
        since = start_from(cursor, f"Xero {object_name}")
        tracker = UpdatedSince(since, timezone.now())
        for items, last in self._pages(object_name, since):
            page = checked_page(items, lambda item, index: self._check(object_name, item, index, tracker), None)
            if last:
                page.next_cursor = tracker.cursor()
            yield page

    def to_canonical(self, object_name: str, record: dict) -> CanonicalInput:
        if object_name == "contacts":
            return _contact(_fields(object_name, record))
        if object_name == "invoices":
            return _invoice(_fields(object_name, record))
        raise ConnectorError(f"Xero {object_name} are not read.", permanent=True, category=ErrorCategory.CONFIG)

    def record_location(self, object_name: str, record: dict) -> str:
        return _fields(object_name, record).reference  # "Xero invoice 4f7a…"

    def from_canonical(self, object_name: str, canonical: dict, refs: dict[str, str | None]) -> dict:
        if object_name == "contacts":
            return _contact_payload(canonical)
        if object_name == "invoices":
            return _invoice_payload(canonical, refs, self.setting("sales_account_code"))
        if object_name == "project_time":
            return self._time_payload(canonical, refs)
        if object_name == "payroll_timesheet_lines":
            return self._timesheet_payload(canonical)
        if object_name == "bills":
            return bill_payload(canonical, account_code=self.setting("expense_account_code"))
        if object_name == "revenue_journals":
            return journal_payload(canonical, unbilled_account=self.setting("unbilled_account_code"),
                                   sales_account=self.setting("sales_account_code"),
                                   tracking_category=self.setting("project_tracking_category"))
        raise ConnectorError(f"Xero cannot write {object_name}.", permanent=True, category=ErrorCategory.CONFIG)

    def find(self, object_name: str, *, reference: str) -> str | None:
        """Contacts by ``ContactNumber``, sales invoices by ``Reference`` (deleted and voided ones do not count).
        Time entries cannot be searched: their Idempotency-Key is what keeps a retry from duplicating them."""
        # What Xero finds is checked again here: a filter it ignored must not make us update a stranger's record.
        if object_name == "contacts":
            number = contact_number(reference)
            found = self._search("contacts", {"where": f'ContactNumber=="{_quoted(number)}"',
                                              "includeArchived": "true"})
            match = next((c["ContactID"] for c in found if c.get("ContactID") and c.get("ContactNumber") == number),
                         None)
        elif object_name in ("invoices", "bills"):
            kind = "ACCREC" if object_name == "invoices" else "ACCPAY"
            found = self._search("invoices", {"where": f'Type=="{kind}" AND Reference=="{_quoted(reference)}"'})
            match = next((i["InvoiceID"] for i in found if i.get("InvoiceID") and i.get("Reference") == reference
                          and i.get("Status") not in GONE), None)
        elif object_name == "revenue_journals":
            match = self._find_journal(reference)
        else:
            return None
        self._found[(object_name, reference)] = match
        return match

    def write(
        self, object_name: str, payload: dict, *, reference: str, external_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> WriteResult:
        spec = self.capabilities.spec(object_name)
        if not spec.writable:
            raise ConnectorError(f"Xero cannot write {object_name}.", permanent=True, category=ErrorCategory.CONFIG)
        key = idempotency_key or reference
        if object_name == "project_time":
            return self._write_time(payload, reference=reference, external_id=external_id, key=key)
        if object_name == "payroll_timesheet_lines":
            return self._write_timesheet_line(payload, reference=reference, external_id=external_id, key=key)
        if object_name == "revenue_journals":
            return self._write_journal(payload, reference=reference, external_id=external_id,
                                       key_header=idempotency_header("update" if external_id else "create", key))
        if not external_id:
            looked_up = (object_name, reference)
            if looked_up not in self._found:
                self.find(object_name, reference=reference)
            external_id = self._found.pop(looked_up)  # used once: a later write looks again
        return self._write_accounting(object_name, payload, reference=reference, external_id=external_id, key=key)

    def delete(self, object_name: str, external_id: str) -> None:
        """A reversal: time entries and timesheet lines (e.g. a timesheet rejected after it was posted), bills, draft
        invoices whose work went away, and draft revenue journals with nothing left to accrue."""
        if object_name == "payroll_timesheet_lines":
            return self._delete_timesheet_line(external_id)
        if object_name == "revenue_journals":
            return self._delete_journal(external_id, idempotency_header("delete", external_id))
        if object_name == "bills":  # a draft bill can be deleted, an approved one only voided
            status = "VOIDED" if self.setting("expense_account_code") else "DELETED"
            self._call("accounting", "POST", "/Invoices", json_body={"Invoices": [
                {"InvoiceID": external_id, "Status": status}]}, what=f"Cancelling Xero bill {external_id}")
            return None
        if object_name == "invoices":  # a billing-readiness draft whose work went away; Xero refuses non-drafts
            what = f"Deleting Xero draft invoice {external_id}"
            data = self._call("accounting", "POST", "/Invoices", params={"summarizeErrors": "false"}, what=what,
                              json_body={"Invoices": [{"InvoiceID": external_id, "Status": "DELETED"}]},
                              headers=idempotency_header("delete", external_id))
            _only_element(data, "Invoices", what)
            return None
        if object_name != "project_time":
            return super().delete(object_name, external_id)
        project_id, entry_id = _split_time_id(external_id)
        self._call("projects", "DELETE", f"/Projects/{project_id}/Time/{entry_id}", expect_body=False,
                   what=f"Deleting Xero time entry {entry_id}")

    def _map_setting(self, name: str) -> dict[str, str]:
        return _setting_map(self, name)

    # --- accounting writes --------------------------------------------------------------------
    def _write_accounting(self, object_name: str, payload: dict, *, reference: str, external_id: str | None,
                          key: str) -> WriteResult:
        collection = COLLECTIONS[object_name]
        id_field = "ContactID" if object_name == "contacts" else "InvoiceID"
        body = dict(payload)
        if object_name == "contacts":
            body["ContactNumber"] = contact_number(reference)
        else:
            body["Reference"] = reference
        if external_id:
            body[id_field] = external_id
        method, operation = ("POST", "update") if external_id else ("PUT", "create")
        what = f"{operation.capitalize()} Xero {object_name[:-1]} {external_id or reference}"
        data = self._call("accounting", method, f"/{collection}", params={"summarizeErrors": "false"},
                          json_body={collection: [body]}, headers=idempotency_header(operation, key), what=what)
        element = _only_element(data, collection, what)
        if not element.get(id_field):
            raise ConnectorError(f"{what}: Xero's answer has no {id_field}.", permanent=False,
                                 category=ErrorCategory.PARSE)
        return WriteResult(external_id=element[id_field], created=not external_id, response=element)

    def _search(self, object_name: str, params: dict) -> list[dict]:
        collection = COLLECTIONS[object_name]
        data = self._call("accounting", "GET", f"/{collection}", params={**params, "page": 1},
                          what=f"Looking up Xero {object_name}")
        found = data.get(collection)
        return [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []

    # --- project time -------------------------------------------------------------------------
    def _time_payload(self, canonical: dict, refs: dict[str, str | None]) -> dict:
        label = f"Time entry {canonical.get('id', '?')}"
        project = canonical.get("project") or {}
        person = canonical.get("person") or {}
        project_id = refs.get("project") or _setting_map(self, "project_ids").get(project.get("code", ""))
        user_id = (refs.get("person") or _setting_map(self, "user_ids").get(person.get("email") or "")
                   or _setting_map(self, "user_ids").get(person.get("code") or "") or self.setting("default_user_id"))
        if not project_id:
            raise _missing(f"{label}: project {project.get('code', '?')} has no Xero project; send projects first "
                           "or map it in the project_ids setting.")
        if not user_id:
            raise _missing(f"{label}: {person.get('name', 'the person')} has no Xero user; set user_ids or "
                           "default_user_id.")
        payload = {"projectId": project_id, "userId": user_id, "dateUtc": f"{canonical.get('date')}{TIME_OF_DAY}",
                   "duration": _minutes(canonical.get("hours"), label),
                   "description": canonical.get("notes") or canonical.get("task") or ""}
        task_id = _setting_map(self, "task_ids").get(project_id)
        payload.update({"taskId": task_id} if task_id else {"taskName": canonical.get("task") or ""})
        return payload

    def _write_time(self, payload: dict, *, reference: str, external_id: str | None, key: str) -> WriteResult:
        body = dict(payload)
        project_id, task_name = body.pop("projectId", None), body.pop("taskName", None)
        if not project_id:
            raise ConnectorError(f"Time entry {reference}: the payload has no projectId.", permanent=True,
                                 category=ErrorCategory.MISSING_REFERENCE)
        if not body.get("taskId"):
            body["taskId"] = self._task_id(project_id, task_name, reference)
        if external_id:
            old_project, entry_id = _split_time_id(external_id)
            if old_project != project_id:
                raise ConnectorError(f"Time entry {reference} moved to another Xero project; Xero cannot move time "
                                     "entries: delete it there and send it again.", permanent=True,
                                     category=ErrorCategory.CONFLICT)
            self._call("projects", "PUT", f"/Projects/{project_id}/Time/{entry_id}", json_body=body,
                       headers=idempotency_header("update", key), expect_body=False,
                       what=f"Updating Xero time entry {entry_id}")
            return WriteResult(external_id=external_id, created=False)
        what = f"Creating Xero time entry {reference}"
        data = self._call("projects", "POST", f"/Projects/{project_id}/Time", json_body=body,
                          headers=idempotency_header("create", key), what=what)
        if not data.get("timeEntryId"):
            raise ConnectorError(f"{what}: Xero's answer has no timeEntryId.", permanent=False,
                                 category=ErrorCategory.PARSE)
        return WriteResult(external_id=f"{project_id}/{data['timeEntryId']}", created=True, response=data)

    def _task_id(self, project_id: str, name: str | None, reference: str) -> str:
        if project_id not in self._tasks:
            tasks: dict[str, str] = {}
            for page in range(1, MAX_PAGES + 1):
                data = self._call("projects", "GET", f"/Projects/{project_id}/Tasks",
                                  params={"page": page, "pageSize": PAGE_SIZE},
                                  what=f"Reading the tasks of Xero project {project_id}")
                items = data.get("items") if isinstance(data.get("items"), list) else []
                tasks.update({str(t.get("name", "")).strip().casefold(): t["taskId"]
                              for t in items if isinstance(t, dict) and t.get("taskId")})
                if _last_page(data, page, len(items)):
                    break
            self._tasks[project_id] = tasks
        task_id = self._tasks[project_id].get((name or "").strip().casefold())
        if not task_id:
            raise _missing(f"Time entry {reference}: Xero project {project_id} has no task named {name!r}; add it "
                           "there or map the project in the task_ids setting.")
        return task_id

    # --- reading ------------------------------------------------------------------------------
    def _pages(self, object_name: str, since: str | None) -> Iterator[tuple[list, bool]]:
        collection = COLLECTIONS[object_name]
        params: dict[str, Any] = {"pageSize": PAGE_SIZE, "order": "UpdatedDateUTC ASC"}
        params.update({"includeArchived": "true"} if object_name == "contacts" else {"where": 'Type=="ACCREC"'})
        headers = {"If-Modified-Since": since} if since else {}
        for page in range(1, MAX_PAGES + 1):
            what = f"Reading Xero {object_name} (page {page})"
            data = self._call("accounting", "GET", f"/{collection}", params={**params, "page": page},
                              headers=headers, what=what)
            items = data.get(collection)
            if not isinstance(items, list):
                raise ConnectorError(f"{what}: the answer has no {collection!r} list.", permanent=False,
                                     category=ErrorCategory.PARSE)
            last = _last_page(data, page, len(items))
            yield items, last
            if last:
                return
        raise ConnectorError(f"Reading Xero {object_name}: more than {MAX_PAGES} pages.", permanent=True,
                             category=ErrorCategory.TOO_LARGE)

    def _check(self, object_name: str, item: Any, index: int, tracker: UpdatedSince) -> None:
        fields = _fields(object_name, item, index)
        self.to_canonical(object_name, item)
        tracker.see(fields.datetime("UpdatedDateUTC"))

    # --- HTTP ---------------------------------------------------------------------------------
    def _call(self, api: str, method: str, path: str, *, what: str, expect_body: bool = True, **kwargs) -> dict:
        client = self._http(api)
        try:
            if not expect_body:
                client.request(method, path, **kwargs)
                return {}
            data = client.json(method, path, **kwargs)
        except ExternalSystemError as error:
            raise reraise(error, what) from error
        if not isinstance(data, dict):
            raise ConnectorError(f"{what}: expected a JSON object, got {type(data).__name__}.", permanent=False,
                                 category=ErrorCategory.PARSE)
        return data

    def _http(self, api: str) -> OutboundClient:
        if api not in self._clients:
            base = self.setting(f"{api}_base_url") or {"accounting": ACCOUNTING_URL, "projects": PROJECTS_URL,
                                                        "payroll": PAYROLL_URL}[api]
            headers = {"xero-tenant-id": str(self.setting("tenant_id")),
                       "Accept": "application/json"}  # Xero answers XML without it
            if self._tokens is None:
                self._tokens = self.oauth2_tokens() or False
            if self._tokens:
                self._clients[api] = BearerClient(self.http(base, headers), self._tokens)
            else:
                headers["Authorization"] = f"Bearer {self.credential('access_token')}"
                self._clients[api] = self.http(base, headers)
        return self._clients[api]


# --- helpers ------------------------------------------------------------------------------------
def contact_number(reference: str) -> str:
    """Our reference as a ContactNumber (at most 50 characters: long ones are shortened to a stable hash)."""
    if len(reference) <= CONTACT_NUMBER_MAX:
        return reference
    return "weft-" + hashlib.sha256(reference.encode()).hexdigest()[:CONTACT_NUMBER_MAX - 5]


def idempotency_header(operation: str, key: str) -> dict[str, str]:
    """The operation is part of the key: a create retried as an update must not be answered from Xero's
    memory of the create."""
    value = f"{operation}-{key}"
    if len(value) > IDEMPOTENCY_KEY_MAX:
        value = f"{operation}-{hashlib.sha256(key.encode()).hexdigest()}"
    return {"Idempotency-Key": value}


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _missing(message: str) -> ConnectorError:
    return ConnectorError(message, permanent=True, category=ErrorCategory.MISSING_REFERENCE)


def _setting_map(kind: ConnectorKind, name: str) -> dict[str, str]:
    """A settings value holding a JSON object (a dict already, or its text from a form)."""
    value = kind.setting(name) or {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ConnectorError(f"{kind.context.connection_name}: setting {name} is not valid JSON.",
                                 permanent=True, category=ErrorCategory.CONFIG) from None
    if not isinstance(value, dict):
        raise ConnectorError(f"{kind.context.connection_name}: setting {name} must be a JSON object.",
                             permanent=True, category=ErrorCategory.CONFIG)
    return {str(k): str(v) for k, v in value.items()}


def _last_page(data: dict, page: int, count: int) -> bool:
    pagination = data.get("pagination") if isinstance(data.get("pagination"), dict) else {}
    page_count = pagination.get("pageCount")
    if isinstance(page_count, int) and not isinstance(page_count, bool):
        return page >= page_count
    return count < PAGE_SIZE


def _only_element(data: dict, collection: str, what: str) -> dict:
    elements = data.get(collection)
    if not isinstance(elements, list) or not elements or not isinstance(elements[0], dict):
        raise ConnectorError(f"{what}: Xero's answer has no {collection}.", permanent=False,
                             category=ErrorCategory.PARSE)
    element = elements[0]
    problems = [str(e.get("Message")) for e in element.get("ValidationErrors") or [] if isinstance(e, dict)]
    if problems or element.get("HasValidationErrors") or element.get("HasErrors"):
        raise ConnectorError(f"{what}: Xero refused it: {'; '.join(problems) or 'validation errors'}",
                             permanent=True, category=ErrorCategory.VALIDATION)
    return element


def _split_time_id(external_id: str) -> tuple[str, str]:
    project_id, _, entry_id = external_id.partition("/")
    if not entry_id:
        raise ConnectorError(f"{external_id!r} is not a Xero time entry id (projectId/timeEntryId).",
                             permanent=True, category=ErrorCategory.CONFIG)
    return project_id, entry_id


def _minutes(hours: Any, label: str) -> int:
    try:
        minutes = int((Decimal(str(hours)) * 60).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except (InvalidOperation, ValueError):
        raise ConnectorError(f"{label}: hours {hours!r} is not a number.", permanent=True,
                             category=ErrorCategory.VALIDATION) from None
    if not 1 <= minutes <= MINUTES_MAX:
        raise ConnectorError(f"{label}: {hours} hours is {minutes} minutes; Xero takes 1 to {MINUTES_MAX}.",
                             permanent=True, category=ErrorCategory.VALIDATION)
    return minutes


def _fields(object_name: str, record: Any, index: int | None = None) -> Fields:
    label = "Xero contact" if object_name == "contacts" else "Xero invoice"
    id_field = "ContactID" if object_name == "contacts" else "InvoiceID"
    record_id = record.get(id_field) if isinstance(record, dict) else None
    return Fields(record, f"{label} {record_id}" if record_id else f"{label} #{(index or 0) + 1} on page")


def _contact(f: Fields) -> CanonicalInput:
    external_id = f.id("ContactID")
    number = f.text("ContactNumber")
    code = f.text("AccountNumber") or (number if number and not number.startswith("weft-") else "")
    fields = {"code": code or f"XERO-{external_id}", "name": f.text("Name", required=True),
              "currency": f.text("DefaultCurrency"), "tax_id": f.text("TaxNumber"),
              "is_active": f.text("ContactStatus") in ("", "ACTIVE")}
    return CanonicalInput(ObjectType.CUSTOMER, external_id, fields, source_updated_at=f.datetime("UpdatedDateUTC"))


def _invoice(f: Fields) -> CanonicalInput:
    external_id = f.id("InvoiceID")
    status = f.text("Status")
    if status not in STATUS_IN:
        raise f.problem("Status", f"{status!r} is not a Xero invoice status")
    if f.text("Type") not in ("", "ACCREC"):
        raise f.problem("Type", f"{f.text('Type')!r} is not a sales invoice (ACCREC)")
    fields = {"number": f.text("InvoiceNumber"), "kind": "invoice", "status": STATUS_IN[status],
              "issue_date": f.date("Date"), "due_date": f.date("DueDate"),
              "currency": f.text("CurrencyCode", required=True),
              "extra": {"reference": f.text("Reference"), "lines": _lines(f)}}
    amounts = {"amount_net": f.decimal("SubTotal"), "amount_tax": f.decimal("TotalTax"),
               "amount_total": f.decimal("Total")}
    fields.update({name: value for name, value in amounts.items() if value is not None})
    return CanonicalInput(ObjectType.INVOICE, external_id, fields, refs={"customer": f.ref("Contact.ContactID",
                                                                                            required=True)},
                          deleted=status == "DELETED", source_updated_at=f.datetime("UpdatedDateUTC"))


def _lines(f: Fields) -> list[dict]:
    raw = f.raw("LineItems") or []
    if not isinstance(raw, list):
        raise f.problem("LineItems", "is not a list")
    lines = []
    for number, item in enumerate(raw, start=1):
        line = Fields(item, f"{f.reference}, line {number}")
        lines.append({key: (str(value) if value is not None else None) for key, value in {
            "description": line.text("Description"), "quantity": line.decimal("Quantity"),
            "unit_price": line.decimal("UnitAmount"), "amount": line.decimal("LineAmount"),
            "account_code": line.text("AccountCode"),
        }.items()})
    return lines


def _contact_payload(canonical: dict) -> dict:
    code = canonical.get("code") or ""
    if len(code) > CONTACT_NUMBER_MAX:
        raise ConnectorError(f"Customer {code}: Xero account numbers take at most {CONTACT_NUMBER_MAX} characters.",
                             permanent=True, category=ErrorCategory.VALIDATION)
    payload = {"Name": canonical.get("name"), "AccountNumber": code,
               "ContactStatus": "ACTIVE" if canonical.get("is_active", True) else "ARCHIVED"}
    if canonical.get("tax_id"):
        payload["TaxNumber"] = canonical["tax_id"]
    if canonical.get("currency"):
        payload["DefaultCurrency"] = canonical["currency"]
    return payload


def _invoice_payload(canonical: dict, refs: dict[str, str | None], account_code: str | None) -> dict:
    contact_id = refs.get("customer")
    if not contact_id:
        customer = (canonical.get("customer") or {}).get("code", "?")
        raise _missing(f"Invoice {canonical.get('number') or canonical.get('id')}: customer {customer} is not in "
                       "Xero yet; send contacts first.")
    payload = {"Type": "ACCREC", "Contact": {"ContactID": contact_id}, "LineAmountTypes": "Exclusive",
               "Status": STATUS_OUT.get(canonical.get("status") or "draft", "DRAFT"),
               "CurrencyCode": canonical.get("currency"), "Date": canonical.get("issue_date"),
               "DueDate": canonical.get("due_date"), "InvoiceNumber": canonical.get("number") or None,
               "LineItems": _line_payloads(canonical, account_code)}
    return {key: value for key, value in payload.items() if value not in (None, "")}


def _number(value: Any) -> float:
    """Canonical decimals travel as strings; Xero takes JSON numbers."""
    try:
        return float(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        raise ConnectorError(f"Invoice line amount {value!r} is not a number.", permanent=True,
                             category=ErrorCategory.VALIDATION) from None


def _line_payloads(canonical: dict, account_code: str | None) -> list[dict]:
    lines = (canonical.get("extra") or {}).get("lines") or [{
        "description": (canonical.get("project") or {}).get("name") or f"Invoice {canonical.get('number') or ''}",
        "quantity": "1", "unit_price": canonical.get("amount_net") or "0",
    }]
    payloads = []
    for line in lines:
        item = {"Description": line.get("description") or "-", "Quantity": _number(line.get("quantity") or 1),
                "UnitAmount": _number(line.get("unit_price") or 0)}
        if account_code or line.get("account_code"):
            item["AccountCode"] = line.get("account_code") or account_code
        payloads.append(item)
    return payloads
