"""Vendors that keep state, behind the spec-checked transport: a Harvest account and Xero Projects in memory.

Every request the engine sends is checked against the vendor's published OpenAPI spec, and so is every
successful answer these fakes give (``tests.vendor_mocks.openapi``). Reads reflect earlier writes, so a flow
that writes and a flow that reads back meet the same data, as they would at the vendor. ``faults`` script
what real vendors do now and then (429 with Retry-After, a 5xx burst, a write made but its answer lost)
in front of the normal handling.

``routed_vendors`` puts the fakes behind the engine: every ``OutboundClient`` a connection makes for a
vendor's base URL is given the fake's transport; anything else (the real Tryton) goes out as usual.
"""

from __future__ import annotations

import itertools
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx

from apps.common.http import OutboundClient
from tests.vendor_mocks.openapi import SpecCheckedTransport, server_url, spec_checked_transport

HARVEST_URL = server_url("harvest")  # https://api.harvestapp.com/v2
XERO_PROJECTS_URL = server_url("xero_projects")  # https://api.xero.com/projects.xro/2.0
XERO_ACCOUNTING_URL = server_url("xero_accounting")  # https://api.xero.com/api.xro/2.0
FINCH_URL = server_url("finch")  # https://api.tryfinch.com
HUBSPOT_URL = server_url("hubspot_deals")  # https://api.hubapi.com (companies too)
PIPEDRIVE_URL = server_url("pipedrive")  # https://api.pipedrive.com/v1


def stamp(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Fault:
    """Answer ``responses`` (one per matching request, in order) instead of the normal answer. With
    ``after_write`` the request is handled first, so the vendor holds the write whose answer is lost."""

    method: str
    path: str  # a regular expression matched against the path after the API base
    responses: list[httpx.Response]
    after_write: bool = False

    def matches(self, request: httpx.Request, path: str) -> bool:
        return bool(self.responses) and request.method == self.method and re.fullmatch(self.path, path) is not None


def retry_after(status: int = 429, seconds: int = 1) -> httpx.Response:
    return httpx.Response(status, headers={"Retry-After": str(seconds)}, json={"message": "Too many requests"})


def unavailable(status: int = 503) -> httpx.Response:
    return httpx.Response(status, json={"message": "Service unavailable"})


class Vendor:
    """Shared plumbing: faults, the request log, the spec-checked transport."""

    spec_name: str
    base_path: str

    def __init__(self):
        self.faults: list[Fault] = []
        self.transport = spec_checked_transport(self.spec_name, self._handle)
        self.down = False  # every request answers 503 while True

    @property
    def requests(self) -> list[httpx.Request]:
        return self.transport.requests

    def calls(self, *methods: str) -> list[tuple[str, str]]:
        return [(r.method, self._path(r)) for r in self.requests if not methods or r.method in methods]

    def fail(self, method: str, path: str, *responses: httpx.Response, after_write: bool = False) -> None:
        self.faults.append(Fault(method, path, list(responses), after_write))

    def _path(self, request: httpx.Request) -> str:
        return request.url.path.removeprefix(self.base_path)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        path = self._path(request)
        if self.down:
            return unavailable()
        fault = next((f for f in self.faults if f.matches(request, path)), None)
        if fault is None:
            return self.route(request, path)
        if fault.after_write:
            self.route(request, path)
        return fault.responses.pop(0)

    def route(self, request: httpx.Request, path: str) -> httpx.Response:
        raise NotImplementedError


def _body(request: httpx.Request) -> dict:
    return json.loads(request.content or b"{}")


def _page(key: str, items: list[dict]) -> httpx.Response:
    link = f"{HARVEST_URL}/{key}?page=1&per_page=2000"
    return httpx.Response(200, json={
        key: items, "per_page": 2000, "total_pages": 1, "total_entries": len(items), "page": 1, "next_page": None,
        "previous_page": None, "links": {"first": link, "last": link, "next": None, "previous": None}})


class FakeHarvest(Vendor):
    """One Harvest account: clients, projects, users and time entries, with ``updated_since`` reads; tasks and
    projects' task assignments (one per task on a project, as Harvest holds them); users' dated cost rates. Like
    Harvest, it refuses a second client with one name and a second user with one e-mail."""

    spec_name = "harvest"
    base_path = "/v2"

    def __init__(self, *, currency: str = "EUR"):
        super().__init__()
        self.currency = currency  # the account's currency: a client created without one gets it
        self.clients: dict[int, dict] = {}
        self.projects: dict[int, dict] = {}
        self.users: dict[int, dict] = {}
        self.time_entries: dict[int, dict] = {}
        self.expenses: dict[int, dict] = {}
        self.tasks: dict[int, dict] = {}
        self.task_assignments: dict[int, dict] = {}
        self.cost_rates: dict[int, list[dict]] = {}  # user id -> cost rates dated through the API
        self._ids = itertools.count(5001)
        self.me = self.add_user("Pat", "Admin", "pat.admin@example.com")

    # --- what people do in Harvest ---------------------------------------------------------------------
    def add_user(self, first: str, last: str, email: str, **fields) -> dict:
        user = {"id": next(self._ids), "first_name": first, "last_name": last, "email": email,
                "is_contractor": False, "is_active": True, "weekly_capacity": 144000, "cost_rate": 55.0,
                "created_at": stamp(), "updated_at": stamp(), **fields}
        self.users[user["id"]] = user
        return user

    def add_client(self, name: str, **fields) -> dict:
        return self._create_client({"name": name, **fields}).json()

    def add_project(self, client: dict, name: str, code: str, **fields) -> dict:
        return self._create_project({"client_id": client["id"], "name": name, "code": code, "is_billable": True,
                                     "is_fixed_fee": False, "bill_by": "Project", "hourly_rate": 150.0,
                                     **fields}).json()

    def add_time_entry(self, user: dict, project: dict, *, spent_date: str, hours: float, approved: bool,
                       notes: str = "", task: str = "Development", updated_at: datetime | None = None) -> dict:
        entry = {"id": next(self._ids), "spent_date": spent_date,
                 "user": {"id": user["id"], "name": f"{user['first_name']} {user['last_name']}"},
                 "client": {"id": project["client"]["id"], "name": project["client"]["name"]},
                 "project": {"id": project["id"], "name": project["name"]}, "task": {"id": 9, "name": task},
                 "hours": hours, "notes": notes, "is_billed": False, "is_running": False, "billable": True,
                 "billable_rate": 150.0, "cost_rate": 55.0, "created_at": stamp(), "updated_at": stamp(updated_at)}
        entry.update(self._approval(approved))
        self.time_entries[entry["id"]] = entry
        return entry

    def add_expense(self, user: dict, project: dict, *, spent_date: str, total_cost: float | None, approved: bool,
                    category: str = "Travel", notes: str = "", billable: bool = True) -> dict:
        """An expense on ``project`` in its client's currency (``total_cost`` None: a receipt without an amount)."""
        client = project["client"]
        expense = {"id": next(self._ids), "spent_date": spent_date, "total_cost": total_cost, "units": None,
                   "user": {"id": user["id"], "name": f"{user['first_name']} {user['last_name']}"},
                   "client": {"id": client["id"], "name": client["name"], "currency": client["currency"]},
                   "project": {"id": project["id"], "name": project["name"], "code": project.get("code")},
                   "expense_category": {"id": 77, "name": category, "unit_price": None, "unit_name": None},
                   "notes": notes, "billable": billable, "is_billed": False, "receipt": None, "invoice": None,
                   "created_at": stamp(), "updated_at": stamp()}
        expense.update(self._approval(approved))
        self.expenses[expense["id"]] = expense
        return expense

    def approve(self, entry: dict, approved: bool = True, *, at: datetime | None = None) -> dict:
        entry.update(self._approval(approved), updated_at=stamp(at))
        return entry

    def edit_project(self, project_id: int, **changes) -> dict:
        project = self.projects[project_id]
        project.update(changes, updated_at=stamp(datetime.now(UTC) + timedelta(seconds=1)))
        return project

    @staticmethod
    def _approval(approved: bool) -> dict:
        if approved:
            return {"is_closed": True, "is_locked": True,
                    "locked_reason": "Item Approved and Locked for this Time Period"}
        return {"is_closed": False, "is_locked": False, "locked_reason": None}

    # --- the API -------------------------------------------------------------------------------------
    def route(self, request: httpx.Request, path: str) -> httpx.Response:
        collections = {"/clients": self.clients, "/projects": self.projects, "/users": self.users,
                       "/time_entries": self.time_entries, "/expenses": self.expenses}
        if request.method == "GET" and path == "/users/me":
            return httpx.Response(200, json=self.me)
        if request.method == "GET" and path in collections:
            return _page(path[1:], self._since(collections[path], request.url.params.get("updated_since")))
        if request.method == "POST" and path == "/clients":
            return self._create_client(_body(request))
        if request.method == "POST" and path == "/projects":
            return self._create_project(_body(request))
        if request.method == "POST" and path == "/users":
            return self._create_user(_body(request))
        if path == "/tasks":
            return self._create_task(_body(request)) if request.method == "POST" else _page(
                "tasks", list(self.tasks.values()))
        costed = re.fullmatch(r"/users/(\d+)/cost_rates", path)
        if request.method == "POST" and costed:
            return self._date_cost_rate(int(costed.group(1)), _body(request))
        assigned = re.fullmatch(r"/projects/(\d+)/task_assignments(?:/(\d+))?", path)
        if assigned:
            return self._task_assignment(request, int(assigned.group(1)), assigned.group(2))
        found = re.fullmatch(r"/(clients|projects|users|time_entries)/(\d+)", path)
        if request.method == "PATCH" and found:
            return self._update(found.group(1), int(found.group(2)), _body(request))
        return httpx.Response(404, json={"error": "not_found", "error_description": f"No route {path}"})

    @staticmethod
    def _since(records: dict[int, dict], since: str | None) -> list[dict]:
        return [r for r in records.values() if since is None or r["updated_at"] >= since]

    def _create_client(self, body: dict) -> httpx.Response:
        if any(c["name"].casefold() == str(body.get("name", "")).casefold() for c in self.clients.values()):
            return httpx.Response(422, json={"message": "Name has already been taken"})
        client = {"id": next(self._ids), "name": body["name"], "is_active": body.get("is_active", True),
                  "address": None, "statement_key": uuid.uuid4().hex, "currency": body.get("currency") or self.currency,
                  "created_at": stamp(), "updated_at": stamp()}
        self.clients[client["id"]] = client
        return httpx.Response(201, json=client)

    def _create_project(self, body: dict) -> httpx.Response:
        client = self.clients.get(body.get("client_id"))
        if client is None:
            return httpx.Response(422, json={"message": "Client can't be blank"})
        project = {"id": next(self._ids), "created_at": stamp(), "is_active": True, "budget_by": "none",
                   "budget_is_monthly": False, "notify_when_over_budget": False, "show_budget_to_all": False,
                   "cost_budget_include_expenses": False, "notes": "", "starts_on": None, "ends_on": None}
        project.update({k: v for k, v in body.items() if k != "client_id"})
        project.update(client={"id": client["id"], "name": client["name"], "currency": client["currency"]},
                       updated_at=stamp())
        self.projects[project["id"]] = project
        return httpx.Response(201, json=project)

    def _create_user(self, body: dict) -> httpx.Response:
        if any(u["email"].casefold() == str(body.get("email", "")).casefold() for u in self.users.values()):
            return httpx.Response(422, json={"message": "Email has already been taken"})
        fields = {k: v for k, v in body.items() if k not in ("first_name", "last_name", "email")}
        return httpx.Response(201, json=self.add_user(body["first_name"], body["last_name"], body["email"], **fields))

    def _date_cost_rate(self, user_id: int, body: dict) -> httpx.Response:
        """A cost rate from a date (today by default); the user's ``cost_rate`` is the one in force."""
        user = self.users.get(user_id)
        if user is None:
            return httpx.Response(404, json={"error": "not_found"})
        rate = {"id": next(self._ids), "amount": body["amount"],
                "start_date": body.get("start_date") or datetime.now(UTC).date().isoformat(), "end_date": None,
                "created_at": stamp(), "updated_at": stamp()}
        self.cost_rates.setdefault(user_id, []).append(rate)
        user.update(cost_rate=body["amount"], updated_at=stamp())
        return httpx.Response(201, json=rate)

    def _create_task(self, body: dict) -> httpx.Response:
        if any(t["name"].casefold() == str(body.get("name", "")).casefold() for t in self.tasks.values()):
            return httpx.Response(422, json={"message": "Name has already been taken"})
        task = {"id": next(self._ids), "name": body["name"], "billable_by_default": True, "default_hourly_rate": None,
                "is_default": False, "is_active": True, "created_at": stamp(), "updated_at": stamp()}
        self.tasks[task["id"]] = task
        return httpx.Response(201, json=task)

    def _task_assignment(self, request: httpx.Request, project_id: int, assignment_id: str | None) -> httpx.Response:
        project = self.projects.get(project_id)
        if project is None:
            return httpx.Response(404, json={"error": "not_found"})
        mine = {i: a for i, a in self.task_assignments.items() if a["project"]["id"] == project_id}
        body = _body(request)
        if request.method == "GET" and assignment_id is None:
            link = f"{HARVEST_URL}/projects/{project_id}/task_assignments?page=1&per_page=2000"
            return httpx.Response(200, json={
                "task_assignments": list(mine.values()), "per_page": 2000, "total_pages": 1,
                "total_entries": len(mine), "page": 1, "next_page": None, "previous_page": None,
                "links": {"first": link, "last": link, "next": None, "previous": None}})
        if request.method == "POST" and assignment_id is None:
            task = self.tasks.get(body.get("task_id"))
            if task is None or any(a["task"]["id"] == task["id"] for a in mine.values()):
                return httpx.Response(422, json={"message": "Task has already been taken" if task else
                                                 "Task can't be blank"})
            assignment = {"id": next(self._ids), "task": {"id": task["id"], "name": task["name"]},
                          "project": {"id": project_id, "name": project["name"], "code": project.get("code")},
                          "is_active": True, "billable": True, "hourly_rate": None, "budget": None,
                          "created_at": stamp(), "updated_at": stamp()}
            assignment.update({k: v for k, v in body.items() if k != "task_id"})
            self.task_assignments[assignment["id"]] = assignment
            return httpx.Response(201, json=assignment)
        if request.method == "PATCH" and assignment_id and int(assignment_id) in mine:
            mine[int(assignment_id)].update(body, updated_at=stamp())
            return httpx.Response(200, json=mine[int(assignment_id)])
        return httpx.Response(404, json={"error": "not_found"})

    def rates(self, project_id: int) -> dict[str, tuple]:
        """A project's task rates as Harvest shows them: task name -> (hourly rate, budget hours)."""
        return {a["task"]["name"]: (a["hourly_rate"], a["budget"]) for a in self.task_assignments.values()
                if a["project"]["id"] == project_id}

    def _update(self, collection: str, record_id: int, body: dict) -> httpx.Response:
        records = {"clients": self.clients, "projects": self.projects, "users": self.users,
                   "time_entries": self.time_entries}[collection]
        if record_id not in records:
            return httpx.Response(404, json={"error": "not_found"})
        records[record_id].update({k: v for k, v in body.items() if k != "client_id"}, updated_at=stamp())
        return httpx.Response(200, json=records[record_id])


class FakeXeroProjects(Vendor):
    """Xero Projects for one organisation: projects with tasks, and time entries deduplicated by
    Idempotency-Key as Xero does (a repeated key answers the first result)."""

    spec_name = "xero_projects"
    base_path = "/projects.xro/2.0"

    def __init__(self):
        super().__init__()
        self.tasks: dict[str, list[dict]] = {}
        self.entries: dict[str, dict] = {}
        self.by_key: dict[str, str] = {}

    def add_project(self, *task_names: str) -> str:
        project_id = str(uuid.uuid4())
        self.tasks[project_id] = [{"taskId": str(uuid.uuid4()), "name": name, "projectId": project_id}
                                  for name in task_names]
        return project_id

    def route(self, request: httpx.Request, path: str) -> httpx.Response:
        found = re.fullmatch(r"/Projects/([0-9a-f-]+)/(Tasks|Time)(?:/([0-9a-f-]+))?", path)
        if found is None or found.group(1) not in self.tasks:
            return httpx.Response(400, json={"message": f"Unknown project in {path}"})
        project_id, what, entry_id = found.groups()
        if what == "Tasks" and request.method == "GET":
            items = self.tasks[project_id]
            return httpx.Response(200, json={"pagination": {"page": 1, "pageSize": 500, "pageCount": 1,
                                                            "itemCount": len(items)}, "items": items})
        if request.method == "POST" and entry_id is None:
            return self._create(project_id, request)
        if entry_id in self.entries and request.method == "PUT":
            self.entries[entry_id].update(_body(request))
            return httpx.Response(204)
        if entry_id in self.entries and request.method == "DELETE":
            del self.entries[entry_id]
            return httpx.Response(204)
        return httpx.Response(400, json={"message": f"No time entry {entry_id}"})

    def _create(self, project_id: str, request: httpx.Request) -> httpx.Response:
        key = request.headers.get("Idempotency-Key")
        if key and key in self.by_key and self.by_key[key] in self.entries:
            return httpx.Response(200, json=self.entries[self.by_key[key]])
        body = _body(request)
        entry = {"timeEntryId": str(uuid.uuid4()), "projectId": project_id, "dateEnteredUtc": stamp(),
                 "status": "ACTIVE", **body}
        self.entries[entry["timeEntryId"]] = entry
        if key:
            self.by_key[key] = entry["timeEntryId"]
        return httpx.Response(200, json=entry)


def _xero_date(day: str | None) -> str | None:
    """Xero's JSON dates (``/Date(ms+0000)/``) from ``YYYY-MM-DD``."""
    if not day:
        return None
    moment = datetime.fromisoformat(day[:10]).replace(tzinfo=UTC)
    return f"/Date({int(moment.timestamp() * 1000)}+0000)/"


class FakeXeroAccounting(Vendor):
    """Xero Accounting for one organisation: contacts (read) and sales invoices, created with PUT and updated with
    POST, found by ``Reference`` through ``where``, deduplicated by Idempotency-Key as Xero does; manual journals
    the same way, found by ``Narration.Contains("…")``, refused unless their lines balance, changed or deleted only
    while they are drafts (``post_journal`` posts one, as the controller would in Xero)."""

    spec_name = "xero_accounting"
    base_path = "/api.xro/2.0"

    def __init__(self):
        super().__init__()
        self.contacts: dict[str, dict] = {}
        self.invoices: dict[str, dict] = {}
        self.journals: dict[str, dict] = {}
        self.by_key: dict[str, str] = {}

    def add_contact(self, name: str, account_number: str) -> dict:
        contact = {"ContactID": str(uuid.uuid4()), "ContactStatus": "ACTIVE", "Name": name,
                   "AccountNumber": account_number, "DefaultCurrency": "EUR",
                   "UpdatedDateUTC": _xero_date(stamp()[:10])}
        self.contacts[contact["ContactID"]] = contact
        return contact

    def route(self, request: httpx.Request, path: str) -> httpx.Response:
        if request.method == "GET" and path == "/Contacts":
            return self._listing("Contacts", list(self.contacts.values()))
        if request.method == "GET" and path == "/Invoices":
            where = request.url.params.get("where", "")
            found = re.search(r'Reference=="([^"]*)"', where)
            items = [i for i in self.invoices.values() if found is None or i.get("Reference") == found.group(1)]
            return self._listing("Invoices", items)
        if path == "/Invoices" and request.method in ("PUT", "POST"):
            return self._save(request)
        if path.startswith("/ManualJournals"):
            return self._journals(request, path)
        return httpx.Response(404, json={"Message": f"No route {path}"})

    def _listing(self, collection: str, items: list[dict]) -> httpx.Response:
        return httpx.Response(200, json={"pagination": {"page": 1, "pageSize": 500, "pageCount": 1,
                                                        "itemCount": len(items)}, collection: items})

    def _save(self, request: httpx.Request) -> httpx.Response:
        key = request.headers.get("Idempotency-Key")
        if key and key in self.by_key:
            return httpx.Response(200, json={"Invoices": [self.invoices[self.by_key[key]]]})
        (body,) = _body(request)["Invoices"]
        if request.method == "POST" and body.get("Status") == "DELETED" and body.get("InvoiceID") in self.invoices:
            invoice = self.invoices[body["InvoiceID"]]
            if invoice["Status"] != "DRAFT":
                return httpx.Response(400, json={"ErrorNumber": 10, "Type": "ValidationException",
                                                 "Message": "A validation exception occurred"})
            invoice.update(Status="DELETED", UpdatedDateUTC=_xero_date(stamp()[:10]))
            return httpx.Response(200, json={"Invoices": [invoice]})
        if body.get("Contact", {}).get("ContactID") not in self.contacts:
            return httpx.Response(400, json={"ErrorNumber": 10, "Type": "ValidationException",
                                             "Message": "A validation exception occurred"})
        invoice_id = body.get("InvoiceID") or str(uuid.uuid4())
        if request.method == "POST" and invoice_id not in self.invoices:
            return httpx.Response(404, json={"Message": f"No invoice {invoice_id}"})
        lines = [{**line, "LineAmount": round(line["Quantity"] * line["UnitAmount"], 2)}
                 for line in body.get("LineItems", [])]
        total = round(sum(line["LineAmount"] for line in lines), 2)
        invoice = {**self.invoices.get(invoice_id, {}), **body, "InvoiceID": invoice_id, "LineItems": lines,
                   "Date": _xero_date(body.get("Date")), "DueDate": _xero_date(body.get("DueDate")),
                   "SubTotal": total, "TotalTax": 0.0, "Total": total,
                   "UpdatedDateUTC": _xero_date(stamp()[:10])}
        if not invoice.get("InvoiceNumber"):
            invoice["InvoiceNumber"] = f"INV-{len(self.invoices) + 1:04d}"
        self.invoices[invoice_id] = invoice
        if key:
            self.by_key[key] = invoice_id
        return httpx.Response(200, json={"Invoices": [invoice]})


    def post_journal(self, journal_id: str) -> None:
        self.journals[journal_id].update(Status="POSTED", UpdatedDateUTC=_xero_date(stamp()[:10]))

    def _journals(self, request: httpx.Request, path: str) -> httpx.Response:
        if request.method == "GET" and path == "/ManualJournals":
            found = re.search(r'Narration\.Contains\("((?:[^"\\]|\\.)*)"\)', request.url.params.get("where", ""))
            items = [j for j in self.journals.values() if found is None or found.group(1) in j["Narration"]]
            return self._listing("ManualJournals", items)
        if request.method == "GET":
            journal = self.journals.get(path.rsplit("/", 1)[1])
            return (httpx.Response(200, json={"ManualJournals": [journal]}) if journal else
                    httpx.Response(404, json={"Message": "Not found"}))
        if path != "/ManualJournals" or request.method not in ("PUT", "POST"):
            return httpx.Response(404, json={"Message": f"No route {path}"})
        key = request.headers.get("Idempotency-Key")
        if key and key in self.by_key:
            return httpx.Response(200, json={"ManualJournals": [self.journals[self.by_key[key]]]})
        (body,) = _body(request)["ManualJournals"]
        journal_id = body.get("ManualJournalID") or str(uuid.uuid4())
        old = self.journals.get(journal_id)
        if request.method == "POST" and old is None:
            return httpx.Response(404, json={"Message": f"No manual journal {journal_id}"})
        lines = body.get("JournalLines", old["JournalLines"] if old else [])
        if (old is not None and old["Status"] != "DRAFT") or round(sum(x["LineAmount"] for x in lines), 2) != 0:
            return httpx.Response(400, json={"ErrorNumber": 10, "Type": "ValidationException",
                                             "Message": "A validation exception occurred"})
        journal = {**(old or {}), **body, "ManualJournalID": journal_id, "JournalLines": lines,
                   "Date": _xero_date(body.get("Date")) or (old or {}).get("Date"),
                   "UpdatedDateUTC": _xero_date(stamp()[:10])}
        self.journals[journal_id] = journal
        if key:
            self.by_key[key] = journal_id
        return httpx.Response(200, json={"ManualJournals": [journal]})


class FakeFinch(Vendor):
    """One employer's HRIS behind Finch: the directory (offset paging) and employment read in batches by
    individual id, as the shipped Finch manifest reads them."""

    spec_name = "finch"
    base_path = ""

    def __init__(self):
        super().__init__()
        self.people: dict[str, dict] = {}
        self.emails: dict[str, str] = {}  # individual id -> work e-mail (the individual, not the employment)

    def hire(self, first: str, last: str, *, department: str = "Advisory", subtype: str = "full_time",
             kind: str = "employee", income: dict | None = None, start_date: str = "2024-01-08",
             email: str | None = None) -> dict:
        person = {"id": str(uuid.uuid4()), "first_name": first, "middle_name": None, "last_name": last,
                  "title": "Consultant", "manager": None, "department": {"name": department},
                  "employment": {"type": kind, "subtype": subtype}, "start_date": start_date, "end_date": None,
                  "is_active": True, "income": income, "class_code": None, "custom_fields": []}
        self.people[person["id"]] = person
        self.emails[person["id"]] = email or f"{first}.{last}@example.com".lower()
        return person

    def leave(self, person: dict, *, end_date: str) -> None:
        person.update(is_active=False, end_date=end_date)

    def route(self, request: httpx.Request, path: str) -> httpx.Response:
        if request.headers.get("authorization") != "Bearer finch-token":
            return httpx.Response(401, json={"message": "Unauthorized"})
        if request.method == "GET" and path == "/employer/directory":
            offset, limit = int(request.url.params.get("offset", 0)), int(request.url.params.get("limit", 100))
            rows = [{k: p[k] for k in ("id", "first_name", "middle_name", "last_name", "manager", "department",
                                       "is_active") if p[k] is not None} for p in self.people.values()]
            return httpx.Response(200, json={"paging": {"count": len(rows), "offset": offset},
                                             "individuals": rows[offset:offset + limit]})
        if request.method == "POST" and path == "/employer/employment":
            return self._batch(request, lambda p: {k: v for k, v in p.items() if v is not None})
        if request.method == "POST" and path == "/employer/individual":
            return self._batch(request, lambda p: {
                "id": p["id"], "first_name": p["first_name"], "last_name": p["last_name"],
                "emails": [{"data": self.emails[p["id"]], "type": "work"}]})
        return httpx.Response(404, json={"message": "no such path"})

    def _batch(self, request: httpx.Request, body: Callable[[dict], dict]) -> httpx.Response:
        """Finch's batch answer: one response per requested individual id."""
        wanted = [r["individual_id"] for r in _body(request)["requests"]]
        return httpx.Response(200, json={"responses": [
            {"individual_id": i, "code": 200, "body": body(self.people[i])} if i in self.people
            else {"individual_id": i, "code": 404, "body": {}} for i in wanted]})


class _HubSpotTransport(SpecCheckedTransport):
    """HubSpot publishes one document per object: each request is checked against the one for its path."""

    def _checked(self, request: httpx.Request) -> httpx.Response:
        self.spec_name = "hubspot_companies" if "/objects/companies" in request.url.path else "hubspot_deals"
        return super()._checked(request)


class FakeHubSpot(Vendor):
    """One HubSpot portal's CRM: companies (searched by last change) and deals (listed with their company, read
    and patched by id). Every change moves the record's ``updatedAt``, as HubSpot's does."""

    spec_name = "hubspot_deals"
    base_path = ""

    def __init__(self):
        super().__init__()
        self.transport = _HubSpotTransport("hubspot_deals", self._handle)
        self.companies: dict[str, dict] = {}
        self.deals: dict[str, dict] = {}
        # Ids differ between tests: the real Tryton is shared by the session, and company ids become party codes.
        self._ids = itertools.count(uuid.uuid4().int % 9_000_000_000 + 1_000_000_000)
        self._clock = datetime.now(UTC) - timedelta(minutes=5)

    def _tick(self) -> str:
        self._clock += timedelta(seconds=1)
        return self._clock.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    # --- what people do in HubSpot ----------------------------------------------------------------------
    def add_company(self, name: str) -> dict:
        now = self._tick()
        company = {"id": str(next(self._ids)), "properties": {"name": name, "hs_lastmodifieddate": now},
                   "createdAt": now, "updatedAt": now, "archived": False}
        self.companies[company["id"]] = company
        return company

    def add_deal(self, company: dict, name: str, *, amount: str, stage: str = "appointmentscheduled",
                 closedate: str = "2026-03-02T10:00:00.000Z", **properties) -> dict:
        now = self._tick()
        deal = {"id": str(next(self._ids)), "createdAt": now, "updatedAt": now, "archived": False,
                "properties": {"dealname": name, "amount": amount, "dealstage": stage, "pipeline": "default",
                               "closedate": closedate, "hs_lastmodifieddate": now, **properties},
                "associations": {"companies": {"results": [{"id": company["id"], "type": "deal_to_company"}]}}}
        self.deals[deal["id"]] = deal
        return deal

    def edit(self, deal: dict, **properties) -> dict:
        now = self._tick()
        deal["properties"].update(properties, hs_lastmodifieddate=now)
        deal["updatedAt"] = now
        return deal

    # --- the API -------------------------------------------------------------------------------------
    def route(self, request: httpx.Request, path: str) -> httpx.Response:
        if request.headers.get("authorization") != "Bearer hubspot-token":
            return httpx.Response(401, json={"status": "error", "message": "Authentication credentials not found.",
                                             "correlationId": str(uuid.uuid4()), "category": "INVALID_AUTHENTICATION"})
        if request.method == "POST" and path == "/crm/v3/objects/companies/search":
            return self._search_companies(_body(request))
        if request.method == "GET" and path == "/crm/v3/objects/deals":
            return httpx.Response(200, json={"results": list(self.deals.values())})
        found = re.fullmatch(r"/crm/v3/objects/(deals|companies)/(\d+)", path)
        records = (self.deals if found.group(1) == "deals" else self.companies) if found else {}
        if found is None or found.group(2) not in records:
            return httpx.Response(404, json={"status": "error", "message": "Object not found",
                                             "correlationId": str(uuid.uuid4()), "category": "OBJECT_NOT_FOUND"})
        record = records[found.group(2)]
        if request.method == "PATCH":
            self.edit(record, **_body(request)["properties"])
        return httpx.Response(200, json=record)

    def _search_companies(self, body: dict) -> httpx.Response:
        filters = [f for group in body.get("filterGroups", []) for f in group.get("filters", [])]
        since = next((f["value"] for f in filters if f["propertyName"] == "hs_lastmodifieddate"), "")
        hits = [c for c in self.companies.values() if c["updatedAt"] >= since]
        return httpx.Response(200, json={"total": len(hits), "results": hits})


class FakePipedrive(Vendor):
    """One Pipedrive company account: organizations and deals (start/limit paging, ``status`` filter on deals),
    deals updated with PUT, and the products attached to a deal (its line items). Every change moves the record's
    ``update_time``."""

    spec_name = "pipedrive"
    base_path = "/v1"

    def __init__(self):
        super().__init__()
        self.organizations: dict[int, dict] = {}
        self.deals: dict[int, dict] = {}
        self.products: dict[int, list[dict]] = {}  # deal id -> its product attachments
        # Ids differ between tests: the real Tryton is shared by the session, and organization ids become codes.
        self._ids = itertools.count(uuid.uuid4().int % 900_000_000 + 100_000_000)
        self._clock = datetime.now(UTC) - timedelta(minutes=5)

    def _tick(self) -> str:
        self._clock += timedelta(seconds=1)
        return self._clock.strftime("%Y-%m-%d %H:%M:%S")

    def add_organization(self, name: str) -> dict:
        now = self._tick()
        org = {"id": next(self._ids), "name": name, "active_flag": True, "add_time": now, "update_time": now}
        self.organizations[org["id"]] = org
        return org

    def add_deal(self, org: dict, title: str, *, value: float, currency: str = "EUR", status: str = "open",
                 won_time: str | None = None) -> dict:
        now = self._tick()
        deal = {"id": next(self._ids), "title": title, "value": value, "currency": currency, "status": status,
                "won_time": won_time, "pipeline_id": 1, "stage_id": 5, "add_time": now, "update_time": now,
                "active": status == "open", "deleted": False, "products_count": 0,
                "org_id": {"value": org["id"], "name": org["name"], "active_flag": True}}
        self.deals[deal["id"]] = deal
        return deal

    def add_product(self, deal: dict, name: str, *, item_price: int, quantity: int) -> dict:
        """A product attached to the deal (a line item: the price per unit, here an hour, and how many)."""
        now = self._tick()
        line = {"id": next(self._ids), "deal_id": deal["id"], "product_id": next(self._ids), "name": name,
                "item_price": item_price, "quantity": quantity, "sum": item_price * quantity,
                "currency": deal["currency"], "discount": 0, "discount_type": "percentage", "enabled_flag": True,
                "active_flag": True, "add_time": now, "last_edit": now, "order_nr": len(self.products.get(deal["id"],
                                                                                                     [])) + 1}
        self.products.setdefault(deal["id"], []).append(line)
        self.edit(deal, products_count=len(self.products[deal["id"]]))
        return line

    def edit(self, deal: dict, **fields) -> dict:
        deal.update(fields, update_time=self._tick())
        return deal

    def route(self, request: httpx.Request, path: str) -> httpx.Response:
        if request.url.params.get("api_token") != "pipedrive-token":
            return httpx.Response(401, json={"success": False, "error": "unauthorized access", "errorCode": 401})
        if request.method == "GET" and path == "/organizations":
            return self._page(list(self.organizations.values()), request)
        if request.method == "GET" and path == "/deals":
            status = request.url.params.get("status", "all_not_deleted")
            return self._page([d for d in self.deals.values() if status == "all_not_deleted" or d["status"] == status],
                              request)
        lines = re.fullmatch(r"/deals/(\d+)/products", path)
        if request.method == "GET" and lines and int(lines.group(1)) in self.deals:
            return self._page(self.products.get(int(lines.group(1)), []), request)
        found = re.fullmatch(r"/deals/(\d+)", path)
        if found is None or int(found.group(1)) not in self.deals:
            return httpx.Response(404, json={"success": False, "error": "Deal not found", "errorCode": 404})
        deal = self.deals[int(found.group(1))]
        if request.method == "PUT":
            self.edit(deal, **_body(request))
        return httpx.Response(200, json={"success": True, "data": deal})

    @staticmethod
    def _page(records: list[dict], request: httpx.Request) -> httpx.Response:
        start, limit = int(request.url.params.get("start", 0)), int(request.url.params.get("limit", 100))
        more = start + limit < len(records)
        pagination = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + limit
        return httpx.Response(200, json={"success": True, "data": records[start:start + limit],
                                         "additional_data": {"pagination": pagination}})


@dataclass
class Routes:
    """Which fake answers which base URL, and every pause the HTTP client took (Retry-After, backoff)."""

    vendors: dict[str, Vendor] = field(default_factory=dict)
    sleeps: list[float] = field(default_factory=list)

    def client_factory(self, real: type[OutboundClient]) -> Callable[..., OutboundClient]:
        def build(**kwargs) -> OutboundClient:
            for base, vendor in self.vendors.items():
                if kwargs["base_url"].rstrip("/").startswith(base):
                    # The fake has no address to check; everything else about the client is as in production.
                    return real(**{**kwargs, "allow_private_network": True}, transport=vendor.transport,
                                sleep=self.sleeps.append)
            return real(**kwargs)

        return build
