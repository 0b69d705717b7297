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
from tests.vendor_mocks.openapi import server_url, spec_checked_transport

HARVEST_URL = server_url("harvest")  # https://api.harvestapp.com/v2
XERO_PROJECTS_URL = server_url("xero_projects")  # https://api.xero.com/projects.xro/2.0
FINCH_URL = server_url("finch")  # https://api.tryfinch.com


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
    """One Harvest account: clients, projects, users and time entries, with ``updated_since`` reads."""

    spec_name = "harvest"
    base_path = "/v2"

    def __init__(self, *, currency: str = "EUR"):
        super().__init__()
        self.currency = currency  # the account's currency: a client created without one gets it
        self.clients: dict[int, dict] = {}
        self.projects: dict[int, dict] = {}
        self.users: dict[int, dict] = {}
        self.time_entries: dict[int, dict] = {}
        self._ids = itertools.count(5001)
        self.me = self.add_user("Pat", "Admin", "pat.admin@example.com")

    # --- what people do in Harvest ---------------------------------------------------------------------
    def add_user(self, first: str, last: str, email: str, **fields) -> dict:
        user = {"id": next(self._ids), "first_name": first, "last_name": last, "email": email,
                "is_contractor": False, "is_active": True, "weekly_capacity": 144000, "cost_rate": 55.0,
                "created_at": stamp(), "updated_at": stamp(), **fields}
        self.users[user["id"]] = user
        return user

    def add_client(self, name: str) -> dict:
        return self._create_client({"name": name}).json()

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
                       "/time_entries": self.time_entries}
        if request.method == "GET" and path == "/users/me":
            return httpx.Response(200, json=self.me)
        if request.method == "GET" and path in collections:
            return _page(path[1:], self._since(collections[path], request.url.params.get("updated_since")))
        if request.method == "POST" and path == "/clients":
            return self._create_client(_body(request))
        if request.method == "POST" and path == "/projects":
            return self._create_project(_body(request))
        found = re.fullmatch(r"/(clients|projects)/(\d+)", path)
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

    def _update(self, collection: str, record_id: int, body: dict) -> httpx.Response:
        records = self.clients if collection == "clients" else self.projects
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


class FakeFinch(Vendor):
    """One employer's HRIS behind Finch: the directory (offset paging) and employment read in batches by
    individual id, as the shipped Finch manifest reads them."""

    spec_name = "finch"
    base_path = ""

    def __init__(self):
        super().__init__()
        self.people: dict[str, dict] = {}

    def hire(self, first: str, last: str, *, department: str = "Advisory", subtype: str = "full_time",
             kind: str = "employee", income: dict | None = None, start_date: str = "2024-01-08") -> dict:
        person = {"id": str(uuid.uuid4()), "first_name": first, "middle_name": None, "last_name": last,
                  "title": "Consultant", "manager": None, "department": {"name": department},
                  "employment": {"type": kind, "subtype": subtype}, "start_date": start_date, "end_date": None,
                  "is_active": True, "income": income, "class_code": None, "custom_fields": []}
        self.people[person["id"]] = person
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
            wanted = [r["individual_id"] for r in _body(request)["requests"]]
            return httpx.Response(200, json={"responses": [
                {"individual_id": i, "code": 200, "body": {k: v for k, v in self.people[i].items() if v is not None}}
                if i in self.people
                else {"individual_id": i, "code": 404, "body": {}} for i in wanted]})
        return httpx.Response(404, json={"message": "no such path"})


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
