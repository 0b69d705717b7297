"""How Weft's objects map onto Tryton's models, for the Tryton connector kind (``kinds/tryton/kind.py``).

One class per object: which model and fields it reads, the native record it hands the engine (plain
JSON values), its canonical translation, its default payload from a canonical view, and how it
creates, updates and finds a record under our reference. See docs/connectors.md, "Tryton".

Where our reference lives, so that ``find`` sees a record we created even if the worker died before
it noted the id:

- customers: a party identifier (``party.identifier``, no type) whose code is the reference;
- employees: the same, on the employee's party;
- projects: a ``[<reference>]`` line in the project's comment (with ``[code:<code>]`` for the code);
- timesheet lines: ``[<reference>]`` at the start of the description.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from apps.common.errors import ErrorCategory
from apps.common.objects import CanonicalInput, ObjectType, Ref
from apps.connectors.errors import ConnectorError
from apps.connectors.kinds.base import ObjectSpec
from apps.connectors.kinds.tryton.rpc import TrytonRpc

READ_CONTEXT = {"active_test": False}  # deactivated parties and employees are changes too
REFERENCE_TAG = re.compile(r"\[(weft-[^\]\s]+)\][ \t]*\n?")
CODE_TAG = re.compile(r"\[code:([^\]\n]+)\][ \t]*\n?")
PROJECT_STATUS = {"Open": "active", "Done": "closed"}
STATUS_NAME = {"active": "Open", "on_hold": "Open", "closed": "Done"}
BILLING_TYPE = {"timesheet": "tm", "effort": "fixed", "progress": "fixed", "manual": "milestone"}
INVOICE_METHOD = {"tm": "timesheet", "fixed": "effort", "milestone": "manual", "non_billable": "manual"}
INVOICE_STATUS = {"draft": "draft", "validated": "draft", "posted": "sent", "paid": "paid", "cancelled": "void"}


# How long this process trusts a project's timesheet work it looked up (another process may change the project).
TIMESHEET_WORK_SECONDS = 300.0


@dataclass
class WorkMemo:
    """Projects' timesheet works remembered by this process for one tenant and connection, and the stamp
    (``LookupStamp``) they were looked up under: when the stamp has moved, some process wrote a project."""

    works: dict[int, tuple[int, float]] = dataclass_field(default_factory=dict)
    stamp: int | None = None

    def check(self, stamp: int) -> None:
        if stamp != self.stamp:
            self.works.clear()
            self.stamp = stamp


class TrytonSession:
    """A logged-in Tryton client for one company, with the look-ups the objects share, cached for the
    life of one kind instance (one run); the timesheet work of each project in ``shared`` (one dict per
    tenant, connection and server for the whole process: a webhook makes a run per batch), for
    ``TIMESHEET_WORK_SECONDS``, or until a project is written: by this process at once, by another at this
    process's next batch (``on_project_written`` tells the others, through the connection's ``LookupStamp``)."""

    def __init__(self, rpc: TrytonRpc, *, company_id: int | None, settings: dict[str, Any],
                 shared: dict[int, tuple[int, float]] | None = None,
                 on_project_written: Callable[[], None] | None = None):
        self.rpc = rpc
        self.settings = settings
        self._company_id = company_id
        self._cache: dict[str, dict] = {"project_of": {}, "status": {}}
        self._works = shared if shared is not None else {}
        self._on_project_written = on_project_written

    @property
    def company_id(self) -> int:
        if self._company_id is None:
            if self.rpc.user_id is None:
                self.rpc.login()  # the user's context names their current company
            self._company_id = self.rpc.context.get("company")
            if not self._company_id:
                raise ConnectorError(f"Tryton user {self.rpc.username!r} has no company; set company_id.",
                                     permanent=True, category=ErrorCategory.CONFIG)
        return self._company_id

    def context(self, **extra) -> dict:
        return {"company": self.company_id, **extra}

    def company(self) -> dict:
        if "company" not in self._cache:
            (row,) = self.rpc.read("company.company", [self.company_id], ["rec_name", "currency.code"],
                                   context=self.context())
            self._cache["company"] = row
        return self._cache["company"]

    def currency(self) -> str:
        return (self.company().get("currency.") or {}).get("code") or ""

    def status_id(self, name: str) -> int:
        if name not in self._cache["status"]:
            found = self.rpc.search("project.work.status", [["name", "=", name]], limit=1)
            if not found:
                raise ConnectorError(f"Tryton has no project status {name!r}.", permanent=True,
                                     category=ErrorCategory.CONFIG)
            self._cache["status"][name] = found[0]
        return self._cache["status"][name]

    def timesheet_work(self, project_id: int) -> int:
        """The ``timesheet.work`` that time on project (or task) ``project_id`` is logged against."""
        cached = self._works.get(project_id)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        rows = self.rpc.search_read("project.work", [["id", "=", project_id]], ["name", "timesheet_works"],
                                    context=self.context())
        if not rows:
            raise ConnectorError(f"Tryton has no project or task with id {project_id}.", permanent=True,
                                 category=ErrorCategory.MISSING_REFERENCE)
        if not rows[0]["timesheet_works"]:
            raise ConnectorError(
                f"Tryton project {rows[0]['name']!r} (id {project_id}) does not take timesheets: "
                "turn on 'Available on timesheets' in Tryton.", permanent=True,
                category=ErrorCategory.VALIDATION)
        work = rows[0]["timesheet_works"][0]
        self._works[project_id] = (work, time.monotonic() + TIMESHEET_WORK_SECONDS)
        return work

    def forget_timesheet_work(self, project_id: int) -> None:
        """The project was written: look its timesheet work up again next time, here and in other processes."""
        self._works.pop(project_id, None)
        if self._on_project_written is not None:
            self._on_project_written()

    def projects_of(self, timesheet_work_ids: list[int]) -> dict[int, tuple[int | None, str]]:
        """For each ``timesheet.work``: (the ``project.work`` project it belongs to, the task name or "").

        A timesheet work's origin is ``project.work,<id>``; for a task, its project is the nearest
        ancestor of type project.
        """
        cache = self._cache["project_of"]
        missing = sorted({w for w in timesheet_work_ids if w not in cache})
        if missing:
            origins = {r["id"]: _origin_id(r["origin"], "project.work")
                       for r in self.rpc.read("timesheet.work", missing, ["origin"], context=self.context())}
            nodes = self._work_tree([o for o in origins.values() if o])
            for work, origin in origins.items():
                cache[work] = _project_and_task(origin, nodes)
        return {w: cache[w] for w in timesheet_work_ids}

    def _work_tree(self, ids: list[int]) -> dict[int, dict]:
        nodes: dict[int, dict] = {}
        todo = set(ids)
        while todo:
            rows = self.rpc.read("project.work", sorted(todo), ["type", "name", "parent"], context=self.context())
            nodes.update({r["id"]: r for r in rows})
            todo = {r["parent"] for r in rows if r["type"] == "task" and r["parent"] and r["parent"] not in nodes}
        return nodes

    def non_customer_parties(self) -> list[int]:
        """Parties that are this company or employees: not customers."""
        if "non_customers" not in self._cache:
            employees = self.rpc.search_read("company.employee", [], ["party"], context=READ_CONTEXT)
            companies = self.rpc.search_read("company.company", [], ["party"])
            self._cache["non_customers"] = sorted({r["party"] for r in [*employees, *companies]})
        return self._cache["non_customers"]


# --- the objects ---------------------------------------------------------------------------------
class TrytonObject:
    """One Weft object on one Tryton model. ``fields`` are read; ``record`` turns a row into the native
    record (plain JSON values) the engine sees."""

    name: ClassVar[str]
    model: ClassVar[str]
    object_type: ClassVar[str]
    noun: ClassVar[str]  # for messages: "customer", "timesheet line"
    fields: ClassVar[tuple[str, ...]]
    readable: ClassVar[bool] = True  # False: written only (drafts Weft makes in Tryton, never read back as records)
    writable: ClassVar[bool] = True
    incremental: ClassVar[bool] = True

    def __init__(self, session: TrytonSession):
        self.session = session
        self.rpc = session.rpc

    @classmethod
    def spec(cls) -> ObjectSpec:
        return ObjectSpec(cls.name, cls.object_type, readable=cls.readable, writable=cls.writable,
                          incremental=cls.incremental)

    def domain(self) -> list:
        return [["company", "=", self.session.company_id]]

    def records(self, rows: list[dict]) -> list[dict]:
        return [plain(row) for row in rows]

    def to_canonical(self, record: dict) -> CanonicalInput:
        if not self.readable:
            raise ConnectorError(f"Tryton {self.noun}s are written, not read.", permanent=True,
                                 category=ErrorCategory.CONFIG)
        raise NotImplementedError

    def from_canonical(self, view: dict, refs: dict[str, str | None]) -> dict:
        raise NotImplementedError

    def find(self, reference: str) -> list[int]:
        raise NotImplementedError

    def create(self, payload: dict, reference: str) -> int:
        raise NotImplementedError

    def update(self, record_id: int, payload: dict, reference: str) -> None:
        raise NotImplementedError

    def location(self, record: dict) -> str:
        return f"Tryton {self.noun} {record.get('rec_name') or record.get('name') or ''} (id {record.get('id')})"

    def _canonical(self, record: dict, fields: dict, refs: dict | None = None) -> CanonicalInput:
        return CanonicalInput(self.object_type, str(record["id"]), fields, refs or {},
                              source_updated_at=_utc(record.get("last_modified_at")))


class Customers(TrytonObject):
    """``party.party`` (not the company's or an employee's party) as customers; the party code is the code."""

    name, model, object_type, noun = "customers", "party.party", ObjectType.CUSTOMER, "party"
    fields = ("name", "code", "active", "tax_identifier.code", "last_modified_at")

    def domain(self) -> list:
        domain = [["id", "not in", self.session.non_customer_parties()]]
        if self.session.settings.get("customer_category"):
            domain.append(["categories.name", "=", self.session.settings["customer_category"]])
        return domain

    def to_canonical(self, record: dict) -> CanonicalInput:
        tax = record.get("tax_identifier.") or {}
        return self._canonical(record, {"code": record["code"], "name": record["name"],
                                        "tax_id": tax.get("code") or "", "is_active": bool(record["active"])})

    def from_canonical(self, view: dict, refs: dict[str, str | None]) -> dict:
        return {"code": view.get("code"), "name": view.get("name"), "active": view.get("is_active", True)}

    def find(self, reference: str) -> list[int]:
        return self.rpc.search(self.model, [["identifiers.code", "=", reference]], context=READ_CONTEXT)

    def create(self, payload: dict, reference: str) -> int:
        (party,) = self.rpc.create(self.model, [party_values(payload, reference=reference)])
        return party

    def update(self, record_id: int, payload: dict, reference: str) -> None:
        party_update(self.rpc, record_id, payload)


class Projects(TrytonObject):
    """``project.work`` of type project. The code is the ``[code:…]`` tag of the comment if there is
    one (projects Weft created), else Tryton's number."""

    name, model, object_type, noun = "projects", "project.work", ObjectType.PROJECT, "project"
    fields = ("name", "number", "comment", "party", "status.name", "project_invoice_method", "list_price",
              "effort_duration", "last_modified_at")

    def domain(self) -> list:
        return [*super().domain(), ["type", "=", "project"]]

    def to_canonical(self, record: dict) -> CanonicalInput:
        code = CODE_TAG.search(record.get("comment") or "")
        effort = record.get("effort_duration")
        fields = {
            "code": code.group(1).strip() if code else (record.get("number") or str(record["id"])),
            "name": record["name"],
            "status": PROJECT_STATUS.get((record.get("status.") or {}).get("name"), "active"),
            "billing_type": BILLING_TYPE.get(record.get("project_invoice_method"), "tm"),
            "default_bill_rate": record.get("list_price"),
            "budget_hours": seconds_to_hours(effort) if effort is not None else None,
            "currency": self.session.currency(),
        }
        if fields["billing_type"] == "fixed" and effort and record.get("list_price") is not None:
            fields["budget_amount"] = _fee(effort, record["list_price"])
        return self._canonical(record, fields, {"customer": Ref.external(record.get("party"))})

    def from_canonical(self, view: dict, refs: dict[str, str | None]) -> dict:
        customer = view.get("customer") or {}
        party = require_ref(refs, "customer", f"Project {view.get('code')}",
                            f"its customer {customer.get('code') or customer.get('id')}")
        return {"code": view.get("code"), "name": view.get("name"), "party": party,
                "status": STATUS_NAME.get(view.get("status"), "Open"),
                "project_invoice_method": INVOICE_METHOD.get(view.get("billing_type"), "manual"),
                "list_price": view.get("default_bill_rate"), "effort_hours": view.get("budget_hours")}

    def find(self, reference: str) -> list[int]:
        rows = self.rpc.search_read(self.model, [["type", "=", "project"], ["comment", "ilike", like_tag(reference)]],
                                    ["comment"], context=READ_CONTEXT)
        return [r["id"] for r in rows if reference in REFERENCE_TAG.findall(r["comment"] or "")]

    def create(self, payload: dict, reference: str) -> int:
        values = {"type": "project", "company": self.session.company_id, "timesheet_available": True,
                  **self._values(payload, comment="", reference=reference)}
        (work,) = self.rpc.create(self.model, [values], context=self.session.context())
        self.session.forget_timesheet_work(work)
        return work

    def update(self, record_id: int, payload: dict, reference: str) -> None:
        (row,) = self.rpc.read(self.model, [record_id], ["comment"])
        values = self._values(payload, comment=row["comment"] or "", reference=reference)
        try:
            self.rpc.write(self.model, [record_id], values, context=self.session.context())
        finally:  # after the write (even one in doubt): a process that looks the work up again must see it
            self.session.forget_timesheet_work(record_id)

    def _values(self, payload: dict, *, comment: str, reference: str) -> dict:
        values = pick(payload, "name", "project_invoice_method")
        if "party" in payload:
            values["party"] = as_id(payload["party"], "party")
        if "status" in payload:
            values["status"] = self.session.status_id(payload["status"])
            if payload["status"] == "Done":
                values["progress"] = 1.0  # Tryton refuses "Done" below 100 %
        if "list_price" in payload:
            values["list_price"] = as_decimal(payload["list_price"], "list_price")
        if "effort_hours" in payload:
            hours = payload["effort_hours"]
            values["effort_duration"] = None if hours in (None, "") else hours_to_duration(hours, "effort_hours")
        kept = CODE_TAG.search(comment)  # a payload without a code keeps the one the project has
        code = payload.get("code") or (kept.group(1).strip() if kept else None)
        values["comment"] = tagged_comment(comment, reference=reference, code=code)
        return values


class Employees(TrytonObject):
    """``company.employee`` as people; the code is the employee's party code. Read in full every time
    (not incremental): a rename changes the party, not the employee, so the employee's own timestamp
    would miss it. Weft's hub skips the unchanged ones."""

    name, model, object_type, noun = "employees", "company.employee", ObjectType.PERSON, "employee"
    fields = ("party", "party.name", "party.code", "party.email", "active", "cost_price", "start_date", "end_date",
              "last_modified_at")
    incremental = False

    def to_canonical(self, record: dict) -> CanonicalInput:
        party = record.get("party.") or {}
        cost = record.get("cost_price")
        fields = {"code": party.get("code"), "name": party.get("name"), "email": party.get("email") or "",
                  "is_active": record["active"], "cost_rate": cost,
                  "cost_currency": self.session.currency() if cost is not None else ""}
        return self._canonical(record, fields)

    def from_canonical(self, view: dict, refs: dict[str, str | None]) -> dict:
        return {"code": view.get("code"), "name": view.get("name"), "email": view.get("email") or "",
                "cost_price": view.get("cost_rate"), "active": view.get("is_active", True)}

    def location(self, record: dict) -> str:
        return f"Tryton employee {(record.get('party.') or {}).get('name', '')} (id {record.get('id')})"

    def find(self, reference: str) -> list[int]:
        return self.rpc.search(self.model, [["party.identifiers.code", "=", reference]], context=READ_CONTEXT)

    def create(self, payload: dict, reference: str) -> int:
        # Two calls (party, then employee): a party left over from a try that died in between is reused.
        parties = self.rpc.search("party.party", [["identifiers.code", "=", reference]], context=READ_CONTEXT)
        if parties:
            party = parties[0]
            party_update(self.rpc, party, {**payload, "active": True})
        else:
            # Active until the employee exists: Tryton refuses to touch an inactive party while creating it.
            (party,) = self.rpc.create("party.party", [party_values({**payload, "active": True}, reference=reference)])
        values = {"party": party, "company": self.session.company_id}
        if payload.get("cost_price") not in (None, ""):
            values["cost_prices"] = [["create", [{"date": today(),
                                                  "cost_price": as_decimal(payload["cost_price"], "cost_price")}]]]
        if payload.get("active") is False:
            values["end_date"] = today() - dt.timedelta(days=1)
        (employee,) = self.rpc.create(self.model, [values], context=self.session.context())
        if payload.get("active") is False:  # someone who had already left when first sent
            self.rpc.write("party.party", [party], {"active": False})
        return employee

    def update(self, record_id: int, payload: dict, reference: str) -> None:
        (row,) = self.rpc.read(self.model, [record_id], ["party", "cost_price", "end_date"], context=READ_CONTEXT)
        party_update(self.rpc, row["party"], payload)
        values = {}
        if "active" in payload:
            values.update(_end_date_change(bool(payload["active"]), row["end_date"]))
        if payload.get("cost_price") not in (None, ""):
            cost = as_decimal(payload["cost_price"], "cost_price")
            if cost != row["cost_price"]:
                values["cost_prices"] = self._cost_price_change(record_id, cost)
        if values:
            self.rpc.write(self.model, [record_id], values, context=self.session.context())

    def _cost_price_change(self, employee: int, cost: Decimal) -> list:
        """A cost price from today on (replacing one already dated today), so history stays."""
        dated_today = self.rpc.search("company.employee_cost_price", [["employee", "=", employee],
                                                                      ["date", "=", today()]])
        if dated_today:
            return [["write", dated_today, {"cost_price": cost}]]
        return [["create", [{"date": today(), "cost_price": cost}]]]


class TimesheetLines(TrytonObject):
    """``timesheet.line`` as time entries. A line is logged on a ``timesheet.work``; its project is the
    ``project.work`` that work came from (for a task: the task's project, the task's name as ``task``)."""

    name, model, object_type, noun = "timesheet_lines", "timesheet.line", ObjectType.TIME_ENTRY, "timesheet line"
    fields = ("employee", "work", "date", "duration", "description", "cost_price", "invoice_line", "last_modified_at")

    def records(self, rows: list[dict]) -> list[dict]:
        projects = self.session.projects_of([r["work"] for r in rows])
        records = super().records(rows)
        for record in records:
            record["project"], record["task"] = projects[record["work"]]
            record["hours"] = seconds_to_hours(record["duration"])
            record["currency"] = self.session.currency()
        return records

    def to_canonical(self, record: dict) -> CanonicalInput:
        if record.get("project") is None:
            raise ConnectorError(
                f"Timesheet line {record['id']} is logged on timesheet work {record['work']}, which belongs to no "
                "Tryton project.", permanent=True, category=ErrorCategory.MISSING_REFERENCE)
        fields = {"date": record["date"], "hours": record["hours"], "task": record.get("task") or "",
                  "notes": untagged(record.get("description") or ""), "cost_rate": record.get("cost_price"),
                  "currency": record.get("currency") or ""}
        refs = {"person": Ref.external(record["employee"]), "project": Ref.external(record["project"])}
        return self._canonical(record, fields, refs)

    def from_canonical(self, view: dict, refs: dict[str, str | None]) -> dict:
        person, project = view.get("person") or {}, view.get("project") or {}
        subject = f"Time entry {view.get('id')} ({view.get('date')})"
        employee = require_ref(refs, "person", subject, f"its person {person.get('code') or person.get('id')}")
        work = require_ref(refs, "project", subject, f"its project {project.get('code') or project.get('id')}")
        return {"employee": employee, "work": work, "date": view.get("date"), "hours": view.get("hours"),
                "description": view.get("notes") or ""}

    def location(self, record: dict) -> str:
        return f"Tryton timesheet line {record.get('id')} ({record.get('date')})"

    def hours_by_project_week(self, start: dt.date, end: dt.date, *,
                              page: int = 5000) -> dict[tuple[str, dt.date], Decimal]:
        """Hours of this company's lines dated ``start``..``end`` per (project id, ISO week's Monday), as Tryton
        holds them, whoever entered them. Lines on a timesheet work of no project are left out."""
        domain = [*self.domain(), ["date", ">=", start], ["date", "<=", end]]
        seconds: dict[tuple[int, dt.date], float] = {}
        last = 0
        while True:
            rows = self.rpc.search_read(self.model, [*domain, ["id", ">", last]], ["work", "date", "duration"],
                                        limit=page, order=[["id", "ASC"]], context=self.session.context())
            projects = self.session.projects_of([r["work"] for r in rows])
            for row in rows:
                project = projects[row["work"]][0]
                if project is not None:
                    day = as_date(plain(row["date"]), "date")
                    key = (project, day - dt.timedelta(days=day.weekday()))
                    seconds[key] = seconds.get(key, 0) + plain(row["duration"])
            if len(rows) < page:
                break
            last = rows[-1]["id"]
        return {(str(project), week): Decimal(seconds_to_hours(total)) for (project, week), total in seconds.items()}

    def references_held_twice(self, prefix: str, start: dt.date, end: dt.date, *,
                              page: int = 5000) -> dict[str, list[int]]:
        """{reference: line ids} for our references (starting ``prefix``) on more than one of this company's lines
        dated ``start``..``end``: a write made twice (a reply lost before Weft knew of writes in doubt, a copy made
        by hand)."""
        domain = [*self.domain(), ["date", ">=", start], ["date", "<=", end],
                  ["description", "ilike", f"%[{like_escaped(prefix)}%"]]
        lines: dict[str, list[int]] = {}
        last = 0
        while True:
            rows = self.rpc.search_read(self.model, [*domain, ["id", ">", last]], ["description"], limit=page,
                                        order=[["id", "ASC"]], context=self.session.context())
            for row in rows:
                for reference in set(REFERENCE_TAG.findall(row["description"] or "")):
                    if reference.startswith(prefix):
                        lines.setdefault(reference, []).append(row["id"])
            if len(rows) < page:
                break
            last = rows[-1]["id"]
        return {reference: ids for reference, ids in lines.items() if len(ids) > 1}

    def find(self, reference: str) -> list[int]:
        rows = self.rpc.search_read(self.model, [["description", "ilike", like_tag(reference)]], ["description"],
                                    context=self.session.context())
        return [r["id"] for r in rows if reference in REFERENCE_TAG.findall(r["description"] or "")]

    def find_many(self, references: list[str]) -> dict[str, list[int]]:
        """{reference: line ids} of the ``references`` Tryton holds, asked in one search."""
        if not references:
            return {}
        wanted = set(references)
        rows = self.rpc.search_read(
            self.model, [["OR", *[["description", "ilike", like_tag(reference)] for reference in references]]],
            ["description"], context=self.session.context())
        found: dict[str, list[int]] = {}
        for row in rows:
            for reference in set(REFERENCE_TAG.findall(row["description"] or "")) & wanted:
                found.setdefault(reference, []).append(row["id"])
        return found

    def create(self, payload: dict, reference: str) -> int:
        (line,) = self.create_many([(payload, reference)])
        return line

    def create_many(self, records: list[tuple[dict, str]]) -> list[int]:
        """Lines for ``(payload, reference)`` pairs in one call; their ids in the same order."""
        values = [{"company": self.session.company_id, **self._values(payload, reference)}
                  for payload, reference in records]
        return self.rpc.create(self.model, values, context=self.session.context())

    def update(self, record_id: int, payload: dict, reference: str) -> None:
        self.rpc.write(self.model, [record_id], self._values(payload, reference), context=self.session.context())

    def delete(self, record_id: int) -> None:
        if self.rpc.search(self.model, [["id", "=", record_id]], context=self.session.context()):
            self.rpc.delete(self.model, [record_id], context=self.session.context())

    def _values(self, payload: dict, reference: str) -> dict:
        # A missing employee, work, date or duration is left to Tryton, whose message names the field.
        values: dict[str, Any] = {"description": f"[{reference}] {untagged(payload.get('description') or '')}".strip()}
        if payload.get("employee") not in (None, ""):
            values["employee"] = as_id(payload["employee"], "employee")
        if payload.get("work") not in (None, ""):
            values["work"] = self.session.timesheet_work(as_id(payload["work"], "work"))
        if payload.get("date") not in (None, ""):
            values["date"] = as_date(payload["date"], "date")
        if payload.get("hours") not in (None, ""):
            values["duration"] = hours_to_duration(payload["hours"], "hours")
        return values


class Invoices(TrytonObject):
    """Customer invoices (``account.invoice`` of type out) with their lines in ``extra``. Written as drafts
    (billing readiness): our reference in the invoice's ``reference``, the lines replaced while it is a draft;
    an invoice someone validated or posted in Tryton is not changed."""

    name, model, object_type, noun = "invoices", "account.invoice", ObjectType.INVOICE, "invoice"
    fields = ("number", "state", "invoice_date", "party", "currency.code", "reference", "untaxed_amount",
              "tax_amount", "total_amount", "lines", "last_modified_at")
    line_fields = ("invoice", "type", "sequence", "description", "quantity", "unit_price", "amount")

    def from_canonical(self, view: dict, refs: dict[str, str | None]) -> dict:
        customer = view.get("customer") or {}
        subject = f"Invoice {(view.get('extra') or {}).get('billing_key') or view.get('number') or view.get('id')}"
        party = require_ref(refs, "customer", subject, f"its customer {customer.get('code') or customer.get('id')}")
        lines = (view.get("extra") or {}).get("lines") or []
        return {"party": party, "invoice_date": view.get("issue_date"), "currency": view.get("currency"),
                "description": (view.get("extra") or {}).get("billing_key") or view.get("number") or "",
                "lines": [{"description": line.get("description") or "-", "quantity": line.get("quantity") or "1",
                           "unit_price": line.get("unit_price") or "0"} for line in lines]}

    def find(self, reference: str) -> list[int]:
        return self.rpc.search(self.model, [["type", "=", "out"], ["reference", "=", reference],
                                            ["state", "!=", "cancelled"]], context=self.session.context())

    def create(self, payload: dict, reference: str) -> int:
        party = as_id(payload.get("party"), "party")
        (row,) = self.rpc.read("party.party", [party], ["account_receivable", "addresses"],
                               context=self.session.context())
        receivable = row["account_receivable"] or self._default_receivable()
        if not receivable:
            raise ConnectorError(f"Tryton party {party} has no receivable account, and the accounting configuration "
                                 "no default one: an invoice needs one.", permanent=True,
                                 category=ErrorCategory.CONFIG)
        # A party made without an address (over the API) gets the empty one Tryton's own client gives a new party.
        address = row["addresses"][0] if row["addresses"] else self.rpc.create(
            "party.address", [{"party": party}], context=self.session.context())[0]
        values = {"type": "out", "company": self.session.company_id, "party": party,
                  "invoice_address": address, "account": receivable,
                  "journal": self._journal(), "currency": self._currency(payload.get("currency")),
                  "reference": reference, **self._header(payload),
                  "lines": [["create", self._lines(payload)]]}
        (invoice,) = self.rpc.create(self.model, [values], context=self.session.context())
        return invoice

    def update(self, record_id: int, payload: dict, reference: str) -> None:
        (row,) = self.rpc.read(self.model, [record_id], ["state", "number", "lines"], context=self.session.context())
        if row["state"] != "draft":
            raise ConnectorError(f"Tryton invoice {row['number'] or record_id} is {row['state']}: a draft is changed "
                                 "only while it is a draft there.", permanent=True, category=ErrorCategory.CONFLICT)
        values = {**self._header(payload), "lines": [["delete", row["lines"]], ["create", self._lines(payload)]]}
        self.rpc.write(self.model, [record_id], values, context=self.session.context())

    def delete(self, record_id: int) -> None:
        """A draft whose work went away: deleted while a draft there (gone counts as done); else a conflict."""
        found = self.rpc.search(self.model, [["id", "=", record_id]], context=self.session.context())
        if not found:
            return
        (row,) = self.rpc.read(self.model, [record_id], ["state", "number"], context=self.session.context())
        if row["state"] != "draft":
            raise ConnectorError(f"Tryton invoice {row['number'] or record_id} is {row['state']}: only a draft is "
                                 "deleted.", permanent=True, category=ErrorCategory.CONFLICT)
        self.rpc.delete(self.model, [record_id], context=self.session.context())

    def _header(self, payload: dict) -> dict:
        values = {"description": payload.get("description") or ""}
        if payload.get("invoice_date"):
            values["invoice_date"] = as_date(payload["invoice_date"], "invoice_date")
        return values

    def _lines(self, payload: dict) -> list[dict]:
        account = self._revenue_account()
        return [{"type": "line", "company": self.session.company_id, "account": account,
                 "description": line["description"], "quantity": float(as_decimal(line["quantity"], "quantity")),
                 "unit_price": as_decimal(line["unit_price"], "unit_price")} for line in payload.get("lines") or []]

    def _default_receivable(self) -> int | None:
        """The accounting configuration's default receivable account (what Tryton itself falls back on)."""
        rows = self.rpc.search_read("account.configuration", [], ["default_account_receivable"],
                                    context=self.session.context())
        return rows[0]["default_account_receivable"] if rows else None

    def _journal(self) -> int:
        found = self.rpc.search("account.journal", [["type", "=", "revenue"]], limit=1)
        if not found:
            raise ConnectorError("Tryton has no revenue journal for customer invoices.", permanent=True,
                                 category=ErrorCategory.CONFIG)
        return found[0]

    def _currency(self, code: str | None) -> int:
        found = self.rpc.search("currency.currency", [["code", "=", code or self.session.currency()]], limit=1)
        if not found:
            raise ConnectorError(f"Tryton has no currency {code}.", permanent=True, category=ErrorCategory.CONFIG)
        return found[0]

    def _revenue_account(self) -> int:
        if self.session.settings.get("revenue_account_id"):
            return as_id(self.session.settings["revenue_account_id"], "revenue_account_id")
        found = self.rpc.search("account.account", [["type.revenue", "=", True], ["closed", "=", False],
                                                    ["company", "=", self.session.company_id]],
                                limit=1, order=[["code", "ASC"]])
        if not found:
            raise ConnectorError("Tryton has no open revenue account; set revenue_account_id.", permanent=True,
                                 category=ErrorCategory.CONFIG)
        return found[0]

    def domain(self) -> list:
        return [*super().domain(), ["type", "=", "out"]]

    def records(self, rows: list[dict]) -> list[dict]:
        line_ids = [line for row in rows for line in row["lines"]]
        lines = self.rpc.read("account.invoice.line", line_ids, self.line_fields) if line_ids else []
        by_invoice: dict[int, list[dict]] = {}
        for line in sorted(lines, key=lambda r: (r["sequence"] or 0, r["id"])):
            if line["type"] == "line":
                by_invoice.setdefault(line["invoice"], []).append(
                    plain({k: line[k] for k in ("description", "quantity", "unit_price", "amount")}))
        records = super().records(rows)
        for record in records:
            record["lines"] = by_invoice.get(record["id"], [])
        return records

    def to_canonical(self, record: dict) -> CanonicalInput:
        fields = {
            "number": record.get("number") or "", "kind": "invoice", "issue_date": record.get("invoice_date"),
            "status": INVOICE_STATUS.get(record["state"], "draft"),
            "currency": (record.get("currency.") or {}).get("code") or "",
            "amount_net": _amount(record.get("untaxed_amount")), "amount_tax": _amount(record.get("tax_amount")),
            "amount_total": _amount(record.get("total_amount")),
            "extra": {"lines": record.get("lines") or [], "reference": record.get("reference") or "",
                      "state": record["state"]},
        }
        return self._canonical(record, fields, {"customer": Ref.external(record.get("party"))})

    def location(self, record: dict) -> str:
        return f"Tryton invoice {record.get('number') or '(draft)'} (id {record.get('id')})"


OBJECTS: dict[str, type[TrytonObject]] = {o.name: o for o in (Customers, Projects, Employees, TimesheetLines,
                                                               Invoices)}


# --- shared by the objects -----------------------------------------------------------------------
def party_values(payload: dict, *, reference: str) -> dict:
    values = {"identifiers": [["create", [{"code": reference}]]], **pick(payload, "name", "code")}
    if payload.get("email"):
        values["email"] = payload["email"]
    if "active" in payload:
        values["active"] = bool(payload["active"])
    return values


def party_update(rpc: TrytonRpc, party: int, payload: dict) -> None:
    """Name, e-mail and active; Tryton never lets a party's code change, so a different code is refused
    here with a message that says so (rather than Tryton's generic one)."""
    (row,) = rpc.read("party.party", [party], ["code", "email", "active"], context=READ_CONTEXT)
    if payload.get("code") and payload["code"] != row["code"]:
        raise ConnectorError(f"Tryton party {party} has code {row['code']!r}; Tryton does not allow changing it to "
                             f"{payload['code']!r}.", permanent=True, category=ErrorCategory.VALIDATION)
    values = pick(payload, "name")
    if "email" in payload and (payload["email"] or "") != (row["email"] or ""):
        values["email"] = payload["email"] or None
    # Tryton refuses changes to an inactive party: reactivate it first, deactivate it with the changes.
    if not row["active"] and (payload.get("active") or values):
        rpc.write("party.party", [party], {"active": True})
        if not payload.get("active"):
            values["active"] = False
    elif row["active"] and "active" in payload and not payload["active"]:
        values["active"] = False
    if values:
        rpc.write("party.party", [party], values)


def _end_date_change(active: bool, end_date: dt.date | None) -> dict:
    """Tryton derives an employee's ``active`` from its dates: leaving ends yesterday; returning clears it."""
    if not active and (end_date is None or end_date >= today()):
        return {"end_date": today() - dt.timedelta(days=1)}
    if active and end_date is not None and end_date < today():
        return {"end_date": None}
    return {}


def require_ref(refs: dict[str, str | None], name: str, subject: str, what: str) -> int:
    value = refs.get(name)
    if not value:
        raise ConnectorError(f"{subject}: {what} is not in Tryton yet (no cross-reference); send it first.",
                             permanent=True, category=ErrorCategory.MISSING_REFERENCE)
    return as_id(value, name)


def tagged_comment(comment: str, *, reference: str, code: str | None) -> str:
    """``comment`` with our tags (reference, code) on its first lines and the rest kept as people wrote it."""
    rest = CODE_TAG.sub("", REFERENCE_TAG.sub("", comment)).strip()
    tags = f"[{reference}]" + (f"\n[code:{code}]" if code else "")
    return f"{tags}\n{rest}" if rest else tags


def untagged(text: str) -> str:
    return CODE_TAG.sub("", REFERENCE_TAG.sub("", text)).strip()


def like_tag(reference: str) -> str:
    """An ``ilike`` pattern for ``[reference]``; ``_`` and ``%`` in it are literal, not wildcards."""
    return f"%[{like_escaped(reference)}]%"


def like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def pick(payload: dict, *names: str) -> dict:
    return {n: payload[n] for n in names if n in payload}


def as_id(value: Any, field: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConnectorError(f"{field}: {value!r} is not a Tryton id.", permanent=True,
                             category=ErrorCategory.VALIDATION) from None


def as_decimal(value: Any, field: str) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise ConnectorError(f"{field}: {value!r} is not a number.", permanent=True, category=ErrorCategory.VALIDATION)
    return number


def as_date(value: Any, field: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ConnectorError(f"{field}: {value!r} is not a date (YYYY-MM-DD).", permanent=True,
                             category=ErrorCategory.VALIDATION) from None


def hours_to_duration(value: Any, field: str) -> dt.timedelta:
    return dt.timedelta(seconds=float(as_decimal(value, field) * 3600))


def _fee(effort_seconds: float, list_price) -> str:
    """A fixed-fee Tryton project's fee: ``project_invoice`` bills its effort hours at its list price (all once done,
    method "effort"; by progress, method "progress"), so that is the fee its revenue is recognised from."""
    hours = Decimal(str(effort_seconds)) / 3600
    return str((hours * Decimal(str(list_price))).quantize(Decimal("0.01")))


def seconds_to_hours(seconds: float) -> str:
    return format((Decimal(str(seconds)) / 3600).quantize(Decimal("0.0001")).normalize(), "f")


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def plain(value: Any) -> Any:
    """Tryton's values as JSON: decimals as strings, dates ISO, durations in seconds."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return value


def _amount(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal("0")


def _utc(value: Any) -> dt.datetime | None:
    """Tryton's timestamps carry no zone; they are UTC."""
    if not value:
        return None
    parsed = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    return parsed.replace(tzinfo=dt.UTC)


def _origin_id(origin: str | None, model: str) -> int | None:
    if not origin or not origin.startswith(f"{model},"):
        return None
    return int(origin.split(",", 1)[1])


def _project_and_task(work_id: int | None, nodes: dict[int, dict]) -> tuple[int | None, str]:
    if work_id is None or work_id not in nodes:
        return None, ""
    node, task = nodes[work_id], ""
    if node["type"] == "task":
        task = node["name"]
        while node["type"] == "task" and node["parent"] in nodes:
            node = nodes[node["parent"]]
    return (node["id"] if node["type"] == "project" else None), task
