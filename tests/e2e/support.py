"""Helpers for the end-to-end tests: connections to the real Tryton and the fake vendors, installing
accelerators, running flows the way the queue would, and looking records up in Tryton by our reference."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django_tenants.utils import schema_context

from apps.accelerators.models import FlowTemplate
from apps.accelerators.services import template_install
from apps.canonical.models import ExternalRef
from apps.connectors.models import Connection
from apps.connectors.services import connection_create
from apps.runs import engine
from apps.runs.models import Flow, Run, RunStatus, SyncCursor, Trigger
from apps.runs.outbound import record_reference
from tests.tryton.conftest_plugin import unique

HARVEST_ACCOUNT = {"account_id": "123456"}
XERO_TENANT = "9c2a8f4e-0000-4000-8000-000000000001"


def connect_harvest(slug: str = "harvest") -> Connection:
    return connection_create(name="Harvest", slug=slug, kind="harvest", settings=HARVEST_ACCOUNT,
                             credentials={"access_token": "harvest-token"}, acting_user=None)


def connect_tryton(tryton, slug: str = "tryton", **settings) -> Connection:
    """The real Tryton, reading only what changes from now on (``start_reading_now``) without a re-read window:
    the server is shared by the whole session, and other tests' records are not this test's business."""
    return connection_create(
        name="Tryton ERP", slug=slug, kind="tryton", allow_private_network=True,
        settings={"base_url": tryton.url, "database": tryton.database, "reread_seconds": 0, **settings},
        credentials={"username": tryton.username, "password": tryton.password}, acting_user=None,
    )


def connect_xero(*, project_ids: dict, user_ids: dict, slug: str = "xero") -> Connection:
    return connection_create(name="Xero", slug=slug, kind="xero", credentials={"access_token": "xero-token"},
                             settings={"tenant_id": XERO_TENANT, "project_ids": project_ids, "user_ids": user_ids},
                             acting_user=None)


def install(customer, slug: str, **variables) -> None:
    template = FlowTemplate.objects.get(partner__isnull=True, slug=slug)
    template_install(template=template, variables=variables, customer=customer, acting_user=None)


TRYTON_MODELS = {"customers": ("party.party", []), "projects": ("project.work", [["type", "=", "project"]])}


def start_reading_now(connection: Connection, tryton, *object_names: str) -> None:
    """Point the connection's cursors at Tryton's newest record, as for a customer who syncs from today on."""
    for name in object_names:
        model, domain = TRYTON_MODELS[name]
        newest = tryton.client.search_read(model, domain, ["last_modified_at"], limit=1,
                                           order=[["last_modified_at", "DESC"], ["id", "DESC"]])
        if newest:  # else there is nothing to skip
            SyncCursor.objects.update_or_create(connection=connection, object_name=name, defaults={
                "value": f"{newest[0]['last_modified_at'].isoformat()}|{newest[0]['id']}"})


def tryton_customer(tryton, name: str | None = None) -> dict:
    code = unique("C")
    (party,) = tryton.client.create("party.party", [{"name": name or unique("Acme Consulting"), "code": code}])
    return {"id": party, "code": code}


def tryton_project(tryton, customer: dict, *, name: str | None = None, rate: str = "150.00") -> int:
    (work,) = tryton.client.create("project.work", [{
        "name": name or unique("Website relaunch"), "type": "project", "company": tryton.company_id,
        "party": customer["id"], "timesheet_available": True, "project_invoice_method": "timesheet",
        "list_price": Decimal(rate)}])
    return work


def tryton_employee(tryton, *, code: str, name: str) -> int:
    """An employee whose party code is ``code`` (the time system's code for the person: their e-mail)."""
    (party,) = tryton.client.create("party.party", [{"name": name, "code": code}])
    (employee,) = tryton.client.create("company.employee", [{
        "party": party, "company": tryton.company_id, "start_date": dt.date(2020, 1, 1),
        "cost_prices": [["create", [{"date": dt.date(2020, 1, 1), "cost_price": Decimal("50.00")}]]]}])
    return employee


def lines_tagged(tryton, reference: str) -> list[dict]:
    """Timesheet lines in Tryton whose description carries ``[reference]`` (exactly; ``_`` is not a wildcard)."""
    pattern = "%[" + reference.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "]%"
    return tryton.client.search_read("timesheet.line", [["description", "ilike", pattern]],
                                     ["employee", "work", "date", "duration", "description"])


def entry_reference(canonical_id: int) -> str:
    return record_reference("time_entry", canonical_id)


def canonical_id(connection: Connection, object_type: str, external_id) -> int:
    return ExternalRef.objects.get(connection=connection, object_type=object_type,
                                   external_id=str(external_id)).canonical_id


def run_flow(slug: str, *, max_slices: int = 50) -> Run:
    """Run a flow now (a manual run), slice after slice as the queue would, until it finishes."""
    run = engine.flow_run_request(flow=Flow.objects.get(slug=slug), trigger=Trigger.MANUAL, enqueue=False,
                                  acting_user=None)
    return run_to_end(run, max_slices=max_slices)


def run_to_end(run: Run, *, max_slices: int = 50) -> Run:
    for _ in range(max_slices):
        engine.run_execute(run_id=run.pk)
        run.refresh_from_db()
        if run.status != RunStatus.QUEUED:
            return run
    raise AssertionError(f"run {run.pk} still {run.status} after {max_slices} slices: {run.counts}")


def run_queued() -> list[Run]:
    """Execute every queued run (what the cluster would do with the tasks tests do not run)."""
    done = []
    while queued := list(Run.objects.filter(status=RunStatus.QUEUED).order_by("pk")):
        done += [run_to_end(run) for run in queued]
    return done


SIGNING_SECRET = "whsec-e2e-0123456789abcdef0123456789ab"


@dataclass
class TimeChain:
    """Project setup and approved time → Tryton installed for one customer, with its people and project
    known on both sides: what every approved-time test starts from."""

    tryton: Connection
    harvest: Connection
    hooks: Connection
    project_id: int  # Tryton's
    harvest_project: dict
    people: dict[str, dict]  # name -> {"user": Harvest user, "employee": Tryton employee id or None, "code"}

    def user(self, name: str) -> dict:
        return self.people[name]["user"]


def approved_time_chain(customer, tryton, harvest, *, people=("ann", "bo"), strangers=("zoe",)) -> TimeChain:
    """Tryton customer, project and employees; Harvest users (``strangers`` have no Tryton employee); both
    accelerators installed; the project sent to Harvest and everyone read into the hub."""
    tryton_connection, harvest_connection = connect_tryton(tryton), connect_harvest()
    hooks = connection_create(name="Harvest webhooks", slug="harvest-hooks", kind="webhook",
                              credentials={"signing_secret": SIGNING_SECRET},
                              settings={"source_connection": harvest_connection.slug}, acting_user=None)
    install(customer, "project-setup")
    install(customer, "approved-time-to-erp")
    start_reading_now(tryton_connection, tryton, "customers", "projects")
    project_id = tryton_project(tryton, tryton_customer(tryton))
    team = {}
    for name in (*people, *strangers):
        code = f"{unique(name)}@example.com"
        employee = tryton_employee(tryton, code=code, name=f"{name.title()} Example") if name in people else None
        user = harvest.add_user(name.title(), "Example", code)
        team[name] = {"user": user, "employee": employee, "code": code}
    for slug in ("erp-customers-in", "erp-projects-in", "erp-employees-in", "time-people-in"):
        run = run_flow(slug)
        assert run.status == RunStatus.SUCCEEDED, (slug, list(run.items.values_list("error_message", flat=True)))
    (harvest_project,) = harvest.projects.values()
    return TimeChain(tryton_connection, harvest_connection, hooks, project_id, harvest_project, team)


class InAlpha(threading.Thread):
    """``work()`` in alpha on a database connection of its own, as a cluster worker runs a task; ``pid`` is that
    connection's backend (for looking at its locks)."""

    outcome_timeout = 30.0

    def __init__(self, work):
        super().__init__(daemon=True)
        self.work, self.result, self.error, self.pid = work, None, None, None
        self.start()

    def run(self) -> None:
        try:
            with schema_context("alpha"):
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    self.pid = cursor.fetchone()[0]
                self.result = self.work()
        except BaseException as error:  # re-raised by outcome()
            self.error = error
        finally:
            connection.close()

    def outcome(self, timeout: float | None = None):
        self.join(timeout or self.outcome_timeout)
        assert not self.is_alive(), "the thread did not finish"
        if self.error is not None:
            raise self.error
        return self.result
