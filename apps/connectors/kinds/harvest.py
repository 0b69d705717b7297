"""Harvest API v2: clients, projects, people, assignments, time entries and expenses.

Reads follow Harvest's ``links.next`` and resume from ``updated_since``. Writes (clients, projects) have
no idempotency header to lean on and Harvest has no search, so before creating, the kind looks for the
record it may already have made: projects carry our reference as a last line of their notes
(``Weft reference: weft-…``), clients are matched by name (Harvest refuses two clients with one name).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

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
from apps.connectors.ratelimit import RateLimit

DEFAULT_BASE_URL = "https://api.harvestapp.com/v2"
PER_PAGE = 2000  # Harvest's maximum: fewest calls under 100 per 15 s
MAX_PAGES = 10_000
REFERENCE_LINE = re.compile(r"^Weft reference: (\S+)\s*$", re.MULTILINE)
SECONDS_PER_HOUR = 3600

# Canonical approval statuses (the hub's ApprovalStatus; connectors sit below the hub and do not import it).
DRAFT, SUBMITTED, APPROVED = "draft", "submitted", "approved"
OPEN_STATUSES = (DRAFT, SUBMITTED, APPROVED)

LABELS = {
    "clients": "client", "projects": "project", "users": "user", "user_assignments": "user assignment",
    "task_assignments": "task assignment", "time_entries": "time entry", "expenses": "expense",
}


@register
class HarvestKind(ConnectorKind):
    """Harvest v2 over its REST API with a personal access token or an OAuth2 token."""

    slug = "harvest"
    label = "Harvest"
    capabilities = Capabilities(
        objects=(
            ObjectSpec("clients", ObjectType.CUSTOMER, writable=True, incremental=True),
            ObjectSpec("projects", ObjectType.PROJECT, writable=True, incremental=True),
            ObjectSpec("users", ObjectType.PERSON, incremental=True),
            ObjectSpec("user_assignments", ObjectType.ASSIGNMENT, incremental=True),
            # Native only: no canonical object holds a task's rate on a project (to_canonical says so).
            ObjectSpec("task_assignments", ObjectType.ASSIGNMENT, incremental=True),
            ObjectSpec("time_entries", ObjectType.TIME_ENTRY, incremental=True),
            ObjectSpec("expenses", ObjectType.EXPENSE, incremental=True),
        ),
        rate_limit=RateLimit(windows=((100, 15),)),
    )
    settings_fields = (
        FieldSpec("account_id", "Harvest account id", help="Sent as Harvest-Account-Id; shown with the token."),
        FieldSpec("base_url", "API base URL", required=False, help=f"Default {DEFAULT_BASE_URL}."),
        FieldSpec("open_entries_as", "Status of unapproved entries", required=False,
                  help="draft (default), submitted or approved: for accounts that do not use Harvest approvals."),
    )
    credential_fields = (FieldSpec("access_token", "Access token", help="Personal access token or OAuth2 token."),)
    TRANSLATORS: ClassVar[dict[str, str]] = {
        "clients": "_client", "projects": "_project", "users": "_user", "user_assignments": "_user_assignment",
        "task_assignments": "_task_assignment", "time_entries": "_time_entry", "expenses": "_expense",
    }

    def __init__(self, context):
        super().__init__(context)
        self._outbound: OutboundClient | None = None
        self._project_refs: dict[str, str] | None = None  # our reference -> project id, loaded once
        self._client_names: dict[str, str] | None = None  # name (casefolded) -> client id, loaded once

    # --- the interface ------------------------------------------------------------------------
    def test(self) -> TestResult:
        try:
            me = self._call("GET", "/users/me", what="Checking the Harvest token")
        except ExternalSystemError as error:
            return TestResult(False, error.message)
        name = f"{me.get('first_name', '')} {me.get('last_name', '')}".strip() or me.get("email", "?")
        return TestResult(True, f"Signed in to Harvest account {self.setting('account_id')} as {name}.")

    def read(self, object_name: str, *, cursor: str | None = None) -> Iterator[Page]:
        self.capabilities.spec(object_name)
        since = start_from(cursor, f"Harvest {object_name}")
        tracker = UpdatedSince(since, timezone.now())
        filters = {"updated_since": since} if since else {}
        for items, last in self._pages(object_name, filters):
            page = checked_page(items, lambda item, index: self._check(object_name, item, index, tracker), None)
            if last:
                page.next_cursor = tracker.cursor()
            yield page

    def to_canonical(self, object_name: str, record: dict) -> CanonicalInput:
        self.capabilities.spec(object_name)
        return getattr(self, self.TRANSLATORS[object_name])(self._fields(object_name, record))

    def record_location(self, object_name: str, record: dict) -> str:
        return self._fields(object_name, record).reference  # "Harvest time entry 8812"

    def from_canonical(self, object_name: str, canonical: dict, refs: dict[str, str | None]) -> dict:
        if object_name == "clients":
            return _client_payload(canonical)
        if object_name == "projects":
            return _project_payload(canonical, refs)
        raise ConnectorError(f"Harvest cannot write {object_name}.", permanent=True, category=ErrorCategory.CONFIG)

    def find(self, object_name: str, *, reference: str) -> str | None:
        """Projects: by the reference line in their notes. Clients carry no free field, so ``write`` matches
        them by name instead, and this answers None."""
        if object_name != "projects":
            return None
        if self._project_refs is None:
            self._project_refs = {}
            for items, _ in self._pages("projects", {}):
                self._project_refs.update(_project_references(items))
        return self._project_refs.get(reference)

    def write(
        self, object_name: str, payload: dict, *, reference: str, external_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> WriteResult:
        """Create or update a client or project. Without ``external_id`` it first looks for the record a
        crashed earlier attempt may have made, so a retry updates it instead of making a second one."""
        spec = self.capabilities.spec(object_name)
        if not spec.writable:
            raise ConnectorError(f"Harvest cannot write {object_name}.", permanent=True, category=ErrorCategory.CONFIG)
        body = dict(payload)
        if object_name == "projects":
            body = _with_reference(body, reference, creating=external_id is None)
        external_id = external_id or self._existing(object_name, body, reference)
        if external_id:
            return self._update(object_name, external_id, body)
        return self._create(object_name, body, reference)

    # --- writing ------------------------------------------------------------------------------
    def _existing(self, object_name: str, body: dict, reference: str) -> str | None:
        if object_name == "projects":
            return self.find("projects", reference=reference)
        return self._client_named(body.get("name"))

    def _client_named(self, name: Any) -> str | None:
        if not isinstance(name, str) or not name.strip():
            return None
        if self._client_names is None:
            self._client_names = {}
            for items, _ in self._pages("clients", {}):
                self._client_names.update({str(c.get("name") or "").strip().casefold(): str(c["id"])
                                           for c in items if isinstance(c, dict) and c.get("id")})
        return self._client_names.get(name.strip().casefold())

    def _create(self, object_name: str, body: dict, reference: str) -> WriteResult:
        what = f"Creating Harvest {LABELS[object_name]} {reference}"
        try:
            data = self._call("POST", f"/{object_name}", json_body=body, what=what)
        except ConnectorError as error:
            if not error.permanent:  # it may have been made all the same: look again before the next attempt
                self._project_refs = self._client_names = None
            if object_name == "clients" and error.status == 422:  # made meanwhile under the same name?
                self._client_names = None
                found = self._client_named(body.get("name"))
                if found:
                    return self._update(object_name, found, body)
            raise
        external_id = self._written_id(data, what)
        if object_name == "projects" and self._project_refs is not None:
            self._project_refs[reference] = external_id
        if object_name == "clients" and self._client_names is not None:
            self._client_names[str(body.get("name", "")).strip().casefold()] = external_id
        return WriteResult(external_id=external_id, created=True, response=data)

    def _update(self, object_name: str, external_id: str, body: dict) -> WriteResult:
        what = f"Updating Harvest {LABELS[object_name]} {external_id}"
        data = self._call("PATCH", f"/{object_name}/{external_id}", json_body=body, what=what)
        return WriteResult(external_id=self._written_id(data, what), created=False, response=data)

    @staticmethod
    def _written_id(data: dict, what: str) -> str:
        if not data.get("id"):
            raise ConnectorError(f"{what}: Harvest's answer has no id.", permanent=False, category=ErrorCategory.PARSE)
        return str(data["id"])

    # --- reading ------------------------------------------------------------------------------
    def _pages(self, object_name: str, filters: dict) -> Iterator[tuple[list, bool]]:
        """Each page's items and whether it is the last, following ``links.next`` (only its query: the
        path and host stay ours, so a link can never send the token elsewhere)."""
        params: dict[str, Any] = {"per_page": PER_PAGE, **filters}
        seen: set[tuple] = set()
        for number in range(1, MAX_PAGES + 1):
            what = f"Reading Harvest {object_name} (page {number})"
            data = self._call("GET", f"/{object_name}", params=params, what=what)
            items = data.get(object_name)
            if not isinstance(items, list):
                raise ConnectorError(f"{what}: the answer has no {object_name!r} list.", permanent=False,
                                     category=ErrorCategory.PARSE)
            following = _next_params(data, object_name, what)
            yield items, following is None
            if following is None:
                return
            params = {"per_page": PER_PAGE, **filters, **following}
            key = tuple(sorted(params.items()))
            if key in seen:
                raise ConnectorError(f"{what}: Harvest sent the same next-page link twice.", permanent=False,
                                     category=ErrorCategory.PARSE)
            seen.add(key)
        raise ConnectorError(f"Reading Harvest {object_name}: more than {MAX_PAGES} pages.", permanent=True,
                             category=ErrorCategory.TOO_LARGE)

    def _check(self, object_name: str, item: Any, index: int, tracker: UpdatedSince) -> None:
        fields = self._fields(object_name, item, index)
        if object_name != "task_assignments":
            self.to_canonical(object_name, item)
        tracker.see(fields.datetime("updated_at"))

    def _fields(self, object_name: str, record: Any, index: int | None = None) -> Fields:
        label = f"Harvest {LABELS[object_name]}"
        record_id = record.get("id") if isinstance(record, dict) else None
        reference = f"{label} {record_id}" if record_id not in (None, "") else f"{label} #{(index or 0) + 1} on page"
        return Fields(record, reference)

    # --- translations -------------------------------------------------------------------------
    def _client(self, f: Fields) -> CanonicalInput:
        external_id = f.id()
        return CanonicalInput(
            ObjectType.CUSTOMER, external_id,
            {"code": f"HARVEST-{external_id}", "name": f.text("name", required=True), "currency": f.text("currency"),
             "is_active": f.boolean("is_active", default=True)},
            source_updated_at=f.datetime("updated_at"),
        )

    def _project(self, f: Fields) -> CanonicalInput:
        external_id = f.id()
        is_billable, fixed = f.boolean("is_billable", default=True), f.boolean("is_fixed_fee", default=False)
        budget_by = f.text("budget_by")
        fields = {
            "code": f.text("code") or f"HARVEST-{external_id}", "name": f.text("name", required=True),
            "status": "active" if f.boolean("is_active", default=True) else "closed",
            "start_date": f.date("starts_on"), "end_date": f.date("ends_on"),
            "billing_type": "non_billable" if not is_billable else ("fixed" if fixed else "tm"),
            "budget_hours": f.decimal("budget") if budget_by in ("project", "task", "person") else None,
            "budget_amount": f.decimal("cost_budget") if budget_by == "project_cost" else (
                f.decimal("fee") if fixed else None),
            "currency": f.text("client.currency"), "default_bill_rate": f.decimal("hourly_rate"),
        }
        return CanonicalInput(ObjectType.PROJECT, external_id, fields, refs={"customer": f.ref("client.id",
                                                                                               required=True)},
                              source_updated_at=f.datetime("updated_at"))

    def _user(self, f: Fields) -> CanonicalInput:
        external_id = f.id()
        email = f.text("email").lower()
        capacity = f.decimal("weekly_capacity")
        fields = {
            "code": email if email and len(email) <= 64 else f"HARVEST-{external_id}",
            "name": f"{f.text('first_name')} {f.text('last_name')}".strip() or email,
            "email": email, "is_active": f.boolean("is_active", default=True),
            "employment": "contractor" if f.boolean("is_contractor", default=False) else "employee",
            "cost_rate": f.decimal("cost_rate"),
        }
        if capacity is not None:
            fields["capacity_hours_per_week"] = capacity / SECONDS_PER_HOUR
        if not fields["name"]:
            raise f.problem("first_name", "and last_name and email are all missing")
        return CanonicalInput(ObjectType.PERSON, external_id, fields, source_updated_at=f.datetime("updated_at"))

    def _user_assignment(self, f: Fields) -> CanonicalInput:
        custom_rate = f.boolean("use_default_rates", default=True) is False
        fields = {
            "role": "Project manager" if f.boolean("is_project_manager", default=False) else "",
            "planned_hours": f.decimal("budget"),
            "bill_rate_override": f.decimal("hourly_rate") if custom_rate else None,
        }
        refs = {"person": f.ref("user.id", required=True), "project": f.ref("project.id", required=True)}
        # An archived assignment is how Harvest takes someone off a project: a reversal in the hub.
        return CanonicalInput(ObjectType.ASSIGNMENT, f.id(), fields, refs,
                              deleted=f.boolean("is_active", default=True) is False,
                              source_updated_at=f.datetime("updated_at"))

    def _task_assignment(self, f: Fields) -> CanonicalInput:
        raise ConnectorError(
            f"{f.reference}: Harvest task assignments (a task's rate and budget on a project) have no canonical "
            "object; read user_assignments for assignments, or use task_assignments through a mapping.",
            permanent=True, category=ErrorCategory.MAPPING,
        )

    def _time_entry(self, f: Fields) -> CanonicalInput:
        status = self._approval(f)
        fields = {
            "date": f.date("spent_date", required=True), "hours": f.decimal("hours", required=True),
            "task": f.text("task.name"), "billable": f.boolean("billable", default=True),
            "approval_status": status,
            # Harvest does not say when an entry was approved; its last change is the closest it tells.
            "approved_at": f.datetime("updated_at") if status == APPROVED else None,
            "bill_rate": f.decimal("billable_rate"), "cost_rate": f.decimal("cost_rate"), "notes": f.text("notes"),
        }
        refs = {"person": f.ref("user.id", required=True), "project": f.ref("project.id", required=True)}
        return CanonicalInput(ObjectType.TIME_ENTRY, f.id(), fields, refs, source_updated_at=f.datetime("updated_at"))

    def _expense(self, f: Fields) -> CanonicalInput:
        status = self._approval(f)
        fields = {
            "date": f.date("spent_date", required=True), "amount": f.decimal("total_cost", required=True),
            "currency": f.text("client.currency"), "category": f.text("expense_category.name"),
            "billable": f.boolean("billable", default=True), "approval_status": status,
            "approved_at": f.datetime("updated_at") if status == APPROVED else None,
            "notes": f.text("notes"),
        }
        refs = {"person": f.ref("user.id", required=True), "project": f.ref("project.id", required=True)}
        return CanonicalInput(ObjectType.EXPENSE, f.id(), fields, refs, source_updated_at=f.datetime("updated_at"))

    def _approval(self, f: Fields) -> str:
        """``is_closed`` is Harvest's "approved"; a lock whose reason says it was submitted means waiting for
        approval. Harvest has no "rejected": a rejected timesheet simply opens again."""
        if f.boolean("is_closed", default=False):
            return APPROVED
        if f.boolean("is_locked", default=False) and "submit" in f.text("locked_reason").lower():
            return SUBMITTED
        configured = str(self.setting("open_entries_as") or DRAFT)
        return configured if configured in OPEN_STATUSES else DRAFT

    # --- HTTP ---------------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, what: str, **kwargs) -> dict:
        try:
            data = self._http().json(method, path, **kwargs)
        except ExternalSystemError as error:
            raise reraise(error, what) from error
        if not isinstance(data, dict):
            raise ConnectorError(f"{what}: expected a JSON object, got {type(data).__name__}.", permanent=False,
                                 category=ErrorCategory.PARSE)
        return data

    def _http(self) -> OutboundClient:
        if self._outbound is None:
            headers = {"Authorization": f"Bearer {self.credential('access_token')}",
                       "Harvest-Account-Id": str(self.setting("account_id")), "Accept": "application/json"}
            self._outbound = self.http(self.setting("base_url") or DEFAULT_BASE_URL, headers)
        return self._outbound


def _next_params(data: dict, object_name: str, what: str) -> dict[str, str] | None:
    links = data.get("links") if isinstance(data.get("links"), dict) else {}
    link = links.get("next")
    if not link:
        return None
    parts = urlsplit(str(link))
    if not parts.path.rstrip("/").endswith(f"/{object_name}"):
        raise ConnectorError(f"{what}: the next-page link points at {parts.path}, not {object_name}.",
                             permanent=False, category=ErrorCategory.PARSE)
    return dict(parse_qsl(parts.query))


def _project_references(items: list) -> dict[str, str]:
    found = {}
    for project in items:
        if isinstance(project, dict) and project.get("id") and isinstance(project.get("notes"), str):
            for reference in REFERENCE_LINE.findall(project["notes"]):
                found[reference] = str(project["id"])
    return found


def _with_reference(body: dict, reference: str, *, creating: bool) -> dict:
    """Put our reference on the last line of the notes (on create, or whenever the payload sets notes)."""
    if not creating and "notes" not in body:
        return body
    notes = REFERENCE_LINE.sub("", str(body.get("notes") or "")).rstrip()
    body["notes"] = f"{notes}\n\nWeft reference: {reference}" if notes else f"Weft reference: {reference}"
    return body


def _number(value: Any) -> float | None:
    """Canonical decimals travel as strings; Harvest takes JSON numbers."""
    return None if value in (None, "") else float(value)


def _client_payload(canonical: dict) -> dict:
    payload = {"name": canonical.get("name"), "is_active": canonical.get("is_active", True)}
    if canonical.get("currency"):
        payload["currency"] = canonical["currency"]
    return payload


def _project_payload(canonical: dict, refs: dict[str, str | None]) -> dict:
    client_id = refs.get("customer")
    if not client_id or not str(client_id).isdigit():
        customer = (canonical.get("customer") or {}).get("code", "?")
        raise ConnectorError(f"Project {canonical.get('code')}: its customer {customer} is not in Harvest yet; "
                             "send customers first.", permanent=False, category=ErrorCategory.MISSING_REFERENCE)
    billing = canonical.get("billing_type") or "tm"
    payload = {
        "client_id": int(client_id), "name": canonical.get("name"), "code": canonical.get("code"),
        "is_active": canonical.get("status") != "closed", "is_billable": billing != "non_billable",
        "is_fixed_fee": billing in ("fixed", "milestone"), "bill_by": "Project" if canonical.get(
            "default_bill_rate") not in (None, "") else "none",
        "budget_by": "none", "starts_on": canonical.get("start_date"), "ends_on": canonical.get("end_date"),
        "hourly_rate": _number(canonical.get("default_bill_rate")),
    }
    if canonical.get("budget_hours") not in (None, ""):
        payload.update(budget_by="project", budget=_number(canonical["budget_hours"]))
    elif canonical.get("budget_amount") not in (None, "") and billing not in ("fixed", "milestone"):
        payload.update(budget_by="project_cost", cost_budget=_number(canonical["budget_amount"]))
    if billing in ("fixed", "milestone") and canonical.get("budget_amount") not in (None, ""):
        payload["fee"] = _number(canonical["budget_amount"])
    return {key: value for key, value in payload.items() if value is not None}
