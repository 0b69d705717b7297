"""Harvest API v2: clients, projects, people, assignments, time entries and expenses.

Reads follow Harvest's ``links.next`` and resume from ``updated_since``. Writes (clients, projects, users) have
no idempotency header to lean on and Harvest has no search, so before creating, the kind looks for the
record it may already have made: projects carry our reference as a last line of their notes
(``Weft reference: weft-…``), clients are matched by name (Harvest refuses two clients with one name), users by
e-mail (Harvest refuses two users with one e-mail). A leaver is archived (``is_active: false``), never deleted.
A project's rate card (``project_rates``: hub rate cards of one project) becomes task assignments with their own
hourly rate and budget hours: the task is found by name (made if the account lacks it), the assignment by its task
on the project (Harvest holds one per task), so a retry updates what an earlier attempt made.
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
    "project_rates": "task assignment",
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
            ObjectSpec("users", ObjectType.PERSON, writable=True, incremental=True),
            ObjectSpec("user_assignments", ObjectType.ASSIGNMENT, incremental=True),
            # Native only: no canonical object holds a task's rate on a project (to_canonical says so).
            ObjectSpec("task_assignments", ObjectType.ASSIGNMENT, incremental=True),
            ObjectSpec("time_entries", ObjectType.TIME_ENTRY, incremental=True),
            ObjectSpec("expenses", ObjectType.EXPENSE, incremental=True),
            # Posting status written back: each time entry an invoice bills gets the invoice as its external reference.
            ObjectSpec("time_entry_links", ObjectType.INVOICE, readable=False, writable=True),
            # A project's rate card, line by line: task assignments with their hourly rate (the project bills by task).
            ObjectSpec("project_rates", ObjectType.RATE_CARD, readable=False, writable=True),
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
        self._task_names: dict[str, str] | None = None  # name (casefolded) -> task id, loaded once
        self._user_emails: dict[str, str] | None = None  # e-mail (casefolded) -> user id, loaded once

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
        if object_name == "users":
            return _user_payload(canonical)
        if object_name == "time_entry_links":
            return _links_payload(canonical, refs)
        if object_name == "project_rates":
            return _rate_payload(canonical, refs)
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
        """Create or update a client, project or user. Without ``external_id`` it first looks for the record a
        crashed earlier attempt may have made, so a retry updates it instead of making a second one."""
        spec = self.capabilities.spec(object_name)
        if not spec.writable:
            raise ConnectorError(f"Harvest cannot write {object_name}.", permanent=True, category=ErrorCategory.CONFIG)
        if object_name == "time_entry_links":
            return self._link_time(payload, reference=reference, external_id=external_id)
        if object_name == "project_rates":
            return self._assign_rate(payload, reference=reference, external_id=external_id)
        body = dict(payload)
        if object_name == "projects":
            body = _with_reference(body, reference, creating=external_id is None)
        external_id = external_id or self._existing(object_name, body, reference)
        if object_name == "users" and external_id:
            return self._update_user(external_id, body)
        if external_id:
            return self._update(object_name, external_id, body)
        return self._create(object_name, body, reference)

    def delete(self, object_name: str, external_id: str) -> None:
        """An invoice draft withdrawn (its work went away): its entries keep the link they were given, which names
        an invoice the ERP no longer holds; nothing else can be deleted here."""
        if object_name != "time_entry_links":
            super().delete(object_name, external_id)

    # --- writing ------------------------------------------------------------------------------
    def _link_time(self, payload: dict, *, reference: str, external_id: str | None) -> WriteResult:
        """Harvest's API cannot mark time invoiced or locked (``is_billed`` and ``is_locked`` are read-only; only
        Harvest's own invoices set them), so the posting status goes where it can: each billed entry's
        ``external_reference`` names the ERP invoice. A PATCH sets the same value again, so a retry is harmless."""
        link = payload.get("external_reference") or {}
        entries = [str(e) for e in payload.get("time_entries") or []]
        for entry in entries:
            self._call("PATCH", f"/time_entries/{entry}", json_body={"external_reference": link},
                       what=f"Linking Harvest time entry {entry} to invoice {link.get('group_id') or reference}")
        return WriteResult(external_id=external_id or f"links:{reference}", created=external_id is None,
                           response={"time_entries": entries, "external_reference": link})

    def _assign_rate(self, payload: dict, *, reference: str, external_id: str | None) -> WriteResult:
        """One line of a project's rate card as the task of its name on the project, with the line's hourly rate and
        hours as its budget."""
        body = {k: v for k, v in payload.items() if k not in ("project_id", "task")}
        project = payload["project_id"]
        path = f"/projects/{project}/task_assignments"
        task = self._task_id(payload["task"], reference)
        external_id = external_id or self._assignment_of(project, task)
        if external_id:
            data = self._call("PATCH", f"{path}/{external_id}", json_body=body,
                              what=f"Updating the rate of task {payload['task']!r} on Harvest project {project}")
            return WriteResult(external_id=self._written_id(data, reference), created=False, response=data)
        data = self._call("POST", path, json_body={"task_id": int(task), **body},
                          what=f"Assigning task {payload['task']!r} to Harvest project {project} ({reference})")
        return WriteResult(external_id=self._written_id(data, reference), created=True, response=data)

    def _task_id(self, name: str, reference: str) -> str:
        """The account's task of this name, made if it has none (tasks are the account's; rates are per project)."""
        if self._task_names is None:
            self._task_names = {}
            for items, _ in self._pages("tasks", {}):
                self._task_names.update({str(t.get("name") or "").strip().casefold(): str(t["id"])
                                         for t in items if isinstance(t, dict) and t.get("id")})
        key = name.strip().casefold()
        if key not in self._task_names:
            data = self._call("POST", "/tasks", json_body={"name": name.strip()},
                              what=f"Creating Harvest task {name!r} for {reference}")
            self._task_names[key] = self._written_id(data, reference)
        return self._task_names[key]

    def _assignment_of(self, project: int, task: str) -> str | None:
        """The project's assignment of this task (made by an earlier attempt whose answer was lost, or by hand)."""
        for items, _ in self._pages(f"projects/{project}/task_assignments", {}, key="task_assignments"):
            for item in items:
                if isinstance(item, dict) and str((item.get("task") or {}).get("id")) == task and item.get("id"):
                    return str(item["id"])
        return None

    def _existing(self, object_name: str, body: dict, reference: str) -> str | None:
        if object_name == "projects":
            return self.find("projects", reference=reference)
        if object_name == "users":
            return self._user_with_email(body.get("email"))
        return self._client_named(body.get("name"))

    def _user_with_email(self, email: Any) -> str | None:
        if not isinstance(email, str) or not email.strip():
            return None
        if self._user_emails is None:
            self._user_emails = {}
            for items, _ in self._pages("users", {}):
                self._user_emails.update({str(u.get("email") or "").strip().casefold(): str(u["id"])
                                          for u in items if isinstance(u, dict) and u.get("id")})
        return self._user_emails.get(email.strip().casefold())

    def _client_named(self, name: Any) -> str | None:
        if not isinstance(name, str) or not name.strip():
            return None
        if self._client_names is None:
            self._client_names = {}
            for items, _ in self._pages("clients", {}):
                self._client_names.update({str(c.get("name") or "").strip().casefold(): str(c["id"])
                                           for c in items if isinstance(c, dict) and c.get("id")})
        return self._client_names.get(name.strip().casefold())

    def _update_user(self, user_id: str, body: dict) -> WriteResult:
        """An archived user's name and e-mail are locked, so a leaver is only archived. Harvest's PATCH takes no cost
        rate: a changed one is a dated cost rate from today, so the time already booked keeps its cost."""
        if body.get("is_active") is False:
            return self._update("users", user_id, {"is_active": False})
        result = self._update("users", user_id, {k: v for k, v in body.items() if k != "cost_rate"})
        cost = body.get("cost_rate")
        if cost is not None and (result.response or {}).get("cost_rate") != cost:
            # No start date: Harvest takes its own today (ours may be its tomorrow, which it refuses).
            self._call("POST", f"/users/{user_id}/cost_rates", json_body={"amount": cost},
                       what=f"Dating a new cost rate for Harvest user {user_id}")
        return result

    def _create(self, object_name: str, body: dict, reference: str) -> WriteResult:
        what = f"Creating Harvest {LABELS[object_name]} {reference}"
        try:
            data = self._call("POST", f"/{object_name}", json_body=body, what=what)
        except ConnectorError as error:
            if not error.permanent:  # it may have been made all the same: look again before the next attempt
                self._project_refs = self._client_names = self._user_emails = None
            if object_name in ("clients", "users") and error.status == 422:  # made meanwhile, same name or e-mail?
                self._client_names = self._user_emails = None
                found = self._existing(object_name, body, reference)
                if found and object_name == "users":
                    return self._update_user(found, body)
                if found:
                    return self._update(object_name, found, body)
            raise
        external_id = self._written_id(data, what)
        if object_name == "projects" and self._project_refs is not None:
            self._project_refs[reference] = external_id
        if object_name == "clients" and self._client_names is not None:
            self._client_names[str(body.get("name", "")).strip().casefold()] = external_id
        if object_name == "users" and self._user_emails is not None:
            self._user_emails[str(body.get("email", "")).strip().casefold()] = external_id
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
    def _pages(self, object_name: str, filters: dict, *, key: str | None = None) -> Iterator[tuple[list, bool]]:
        """Each page's items and whether it is the last, following ``links.next`` (only its query: the
        path and host stay ours, so a link can never send the token elsewhere). ``key``: the answer's list, when
        ``object_name`` is a path (``projects/7/task_assignments``)."""
        listed = key or object_name
        params: dict[str, Any] = {"per_page": PER_PAGE, **filters}
        seen: set[tuple] = set()
        for number in range(1, MAX_PAGES + 1):
            what = f"Reading Harvest {object_name} (page {number})"
            data = self._call("GET", f"/{object_name}", params=params, what=what)
            items = data.get(listed)
            if not isinstance(items, list):
                raise ConnectorError(f"{what}: the answer has no {listed!r} list.", permanent=False,
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
            # A fixed-fee project's budget amount is its fee (what it is sold for, what is written back as
            # ``fee``), never its cost budget: revenue is recognised as a share of it.
            "budget_amount": f.decimal("fee") if fixed else (
                f.decimal("cost_budget") if budget_by == "project_cost" else None),
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


def _links_payload(canonical: dict, refs: dict) -> dict:
    """The ERP invoice an invoice became (its id there, else our reference), for the time entries it bills."""
    extra = canonical.get("extra") or {}
    entries = refs.get("time_entries") or []
    if not entries:
        raise ConnectorError(f"Invoice {extra.get('billing_key') or canonical.get('id')}: it bills no time entry "
                             "read from this Harvest account.", permanent=True, category=ErrorCategory.VALIDATION)
    posted = refs.get("posted") or {}
    system, invoice_id = next(iter(posted.items()), ("", None))
    return {"time_entries": entries, "external_reference": {
        "id": invoice_id or canonical.get("number") or str(canonical.get("id")),
        "group_id": extra.get("billing_key") or canonical.get("number") or None,
        "account_id": system or None, "permalink": None}}


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


def _user_payload(canonical: dict) -> dict:
    """A hub person as a Harvest user, keyed by e-mail; capacity travels in seconds. A leaver (inactive in the hub,
    as the HRIS says) is an archived user."""
    email = str(canonical.get("email") or "").strip()
    if not email:  # the hub change that brings the e-mail sends the person again
        raise ConnectorError(f"Person {canonical.get('code')}: no e-mail yet, and Harvest keys its users by e-mail.",
                             permanent=False, category=ErrorCategory.MISSING_REFERENCE)
    first, _, last = str(canonical.get("name") or "").strip().partition(" ")
    capacity = canonical.get("capacity_hours_per_week")
    payload = {
        "first_name": first, "last_name": last.strip() or first, "email": email,
        "is_contractor": canonical.get("employment") == "contractor",
        "weekly_capacity": None if capacity in (None, "") else round(float(capacity) * SECONDS_PER_HOUR),
        "cost_rate": _number(canonical.get("cost_rate")), "is_active": canonical.get("is_active", True) is not False,
    }
    return {key: value for key, value in payload.items() if value is not None}


def _rate_payload(canonical: dict, refs: dict[str, str | None]) -> dict:
    project_id = refs.get("project")
    if not canonical.get("project"):
        raise ConnectorError(f"Rate card {canonical.get('code')} belongs to no project: Harvest keeps rates per "
                             "project.", permanent=True, category=ErrorCategory.VALIDATION)
    if not project_id or not str(project_id).isdigit():
        raise ConnectorError(f"Rate card {canonical.get('code')}: its project {canonical['project'].get('code')} is "
                             "not in Harvest yet; send projects first.", permanent=False,
                             category=ErrorCategory.MISSING_REFERENCE)
    payload = {"project_id": int(project_id), "task": canonical.get("role") or canonical.get("name"),
               "hourly_rate": _number(canonical.get("bill_rate")), "billable": True, "is_active": True,
               "budget": _number((canonical.get("extra") or {}).get("hours"))}
    return {key: value for key, value in payload.items() if value is not None}


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
    if (canonical.get("extra") or {}).get("rates_by_task"):  # its rate card's lines are its tasks' rates
        payload["bill_by"] = "Tasks"
    return {key: value for key, value in payload.items() if value is not None}
