"""The demo `make run` ships, walked through as its users (issues 4, 5 and 6).

`seed_demo` runs once for this module, committed like the session cast, in a private data folder; the walk is
committed too (hub changes fan out after commit, as in the running demo). Everything it made in the public
schema, and the demo schemas, are removed afterwards, so the rest of the suite never sees them.
"""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal

import pytest
from django.apps import apps
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.db.models import ProtectedError
from django.test import Client, override_settings
from django.urls import reverse
from django_tenants.utils import schema_context

from apps.accelerators.models import FlowTemplate
from apps.canonical.models import ExternalRef, Project, TimeEntry
from apps.common.history import save_attributed
from apps.connectors.models import Connection
from apps.connectors.services import connection_files_root
from apps.demo.billing import HISTORY_NOTE
from apps.demo.flows import BAD_ROWS
from apps.demo.partners import DEMO_PASSWORD
from apps.exceptions.choices import Kind, Status
from apps.exceptions.models import IntegrationException
from apps.mappings.models import Mapping
from apps.mappings.services import mapping_version_create, mapping_version_publish
from apps.runs.models import Flow, ItemOutcome, RunItem
from apps.tenants.models import Customer, CustomerHealth, User
from tests.conftest import host

# Public-schema tables seed_demo and the walk write to; rows that were not there before are removed after.
PUBLIC_MODELS = ["tenants.Customer", "tenants.Plan", "tenants.Partner", "tenants.User", "accelerators.FlowTemplate",
                 "tenants.Domain", "tenants.Membership", "tenants.UsageMonth", "tenants.CustomerHealth",
                 "exception_defaults.PartnerEscalationPolicy", "django_q.Schedule", "django_q.Task", "django_q.OrmQ",
                 "sessions.Session"]
DEMO_SCHEMAS = ["acme", "globex", "initech"]
BAD_ROWS_NOTES = {row[0]: row[-1] for row in BAD_ROWS}


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    data = tmp_path_factory.mktemp("weft-demo")
    with override_settings(WEFT_DATA_DIR=data, MEDIA_ROOT=data / "media"), django_db_blocker.unblock():
        before = {label: set(apps.get_model(label).objects.values_list("pk", flat=True)) for label in PUBLIC_MODELS}
        try:
            call_command("seed_demo", stdout=io.StringIO())
            yield data
        finally:
            _remove_demo(before)


def _remove_demo(before: dict[str, set]) -> None:
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        for schema in DEMO_SCHEMAS:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    # Deleting users nulls their name on tenant history rows: in the (empty) template schema, public behind it.
    with schema_context(settings.TENANT_BASE_SCHEMA):
        pending = list(PUBLIC_MODELS)
        for _ in range(3):  # customers first (plans are protected by them), then whatever is left
            for label in list(pending):
                try:
                    apps.get_model(label).objects.exclude(pk__in=before[label]).delete()
                except ProtectedError:
                    continue
                pending.remove(label)


@pytest.fixture(autouse=True)
def _private_data_dir(demo):
    """Replaces the suite's per-test folder: the demo's inboxes and journal exports live for the module."""


@pytest.fixture
def committed(demo, django_db_blocker):
    with django_db_blocker.unblock():
        yield


def customer(slug: str) -> Customer:
    return Customer.objects.get(slug=slug)


def log_in(client, username: str, hostname: str, path: str = "/admin/login/"):
    """Log in through the site's own login form, with the password seed_demo prints."""
    client.logout()
    page = client.post(path, {"username": username, "password": DEMO_PASSWORD}, HTTP_HOST=hostname)
    assert page.status_code == 302, (username, hostname, page.content[:500])


def journal_rows(slug: str) -> list[dict]:
    with schema_context(slug):
        outbox = connection_files_root(Connection.objects.get(slug="erp-journal")) / "outbox"
        files = sorted(outbox.glob("*.csv"))
    return [row for path in files for row in csv.DictReader(path.read_text().splitlines())]


def source_ids(canonical_ids) -> set[str]:
    """The time export's ids of these hub time entries."""
    return set(ExternalRef.objects.filter(object_type="time_entry", connection__slug="time-export",
                                          canonical_id__in=canonical_ids).values_list("external_id", flat=True))


def entry(external_id: str) -> TimeEntry:
    ref = ExternalRef.objects.get(object_type="time_entry", connection__slug="time-export", external_id=external_id)
    return TimeEntry.objects.select_related("project").get(pk=ref.canonical_id)


# --- Issue 4: accelerators installed from the admin; zero-setup time flowing into export files -----------------
def test_the_zero_setup_demo_has_time_in_export_files_and_the_bad_rows_fail_visibly(committed):
    for slug in DEMO_SCHEMAS:
        rows = journal_rows(slug)
        with schema_context(slug):
            exported = RunItem.objects.filter(run__flow__slug="time-to-journal", outcome=ItemOutcome.CREATED).count()
            failed_inbound = set(RunItem.objects.filter(run__flow__slug="time-in", outcome=ItemOutcome.FAILED)
                                 .values_list("external_id", flat=True))
            failed_outbound = source_ids(RunItem.objects.filter(
                run__flow__slug="time-to-journal", outcome=ItemOutcome.FAILED).values("canonical_id"))
            approved = TimeEntry.objects.filter(approval_status="approved").exclude(notes=HISTORY_NOTE).count()
        assert len(rows) == exported > 50, slug  # every exported entry is one line of the day's file
        assert {r["approval_status"] for r in rows} == {"approved"} and all(r["project"] for r in rows)
        assert not {note for *_, note in BAD_ROWS} & {r["notes"] for r in rows}  # no bad row reached the journal
        assert failed_inbound == {"bad-1", "bad-2", "bad-3"}, slug  # unknown project twice, hours in words
        assert "bad-4" in failed_outbound, slug  # 14 h on one day: over the daily limit
        # Approved entries are exported or failed, none lost (the invoiced history was posted by hand before go-live).
        assert approved == len(rows) + len(failed_outbound)


def test_a_partner_engineer_installs_both_accelerators_from_the_customers_admin(committed, client):
    globex = customer("globex")
    log_in(client, "northwind.engineer", host(globex))
    install = reverse("admin:runs_flow_install")
    form = client.get(install, HTTP_HOST=host(globex))
    assert form.status_code == 200
    assert "Approved time → ERP (Tryton)" in form.text and "Project setup (ERP → time system)" in form.text
    for slug, variables in [
        ("approved-time-to-erp", {"time_connection": "time-export", "read_people": False}),
        ("project-setup", {}),
    ]:
        template = FlowTemplate.objects.get(partner=None, slug=slug)
        done = client.post(install, {"template": template.pk, "variables": json.dumps(variables)},
                           HTTP_HOST=host(globex))
        assert done.status_code == 302 and done.url == reverse("admin:runs_flow_changelist"), done.text[:2000]
    with schema_context("globex"):
        flows = {f.slug: f for f in Flow.objects.select_related("connection")}
        assert {"erp-employees-in", "time-to-erp", "erp-customers-in", "erp-projects-in", "customers-to-time-system",
                "projects-to-time-system", "time-system-projects-in"} <= set(flows)
        assert flows["time-to-erp"].installed_from == "approved-time-to-erp@2"
        assert flows["projects-to-time-system"].installed_from == "project-setup@1"
        needs_credentials = {c.slug: c for c in Connection.objects.filter(slug__in=["tryton", "harvest"])}
        assert set(needs_credentials) == {"tryton", "harvest"}
        assert not any(c.is_enabled for c in needs_credentials.values())
        assert flows["time-in"].connection.slug == "time-export"  # the demo's time keeps flowing to the journal
        assert Connection.objects.get(slug="time-export").is_enabled


# --- Issue 5: grouped exceptions with money at risk, escalation email, fix a mapping, replay ------------------
def open_exceptions(slug: str) -> dict[str, IntegrationException]:
    with schema_context(slug):
        return {e.title: e for e in IntegrationException.objects.filter(status=Status.OPEN).select_related("flow")}


def test_the_bad_rows_are_a_handful_of_grouped_exceptions_with_hours_and_money_at_risk(committed):
    found = open_exceptions("acme")
    assert set(found) == {"project NOPE-999 is not known", "hours: '…' is not a number",
                          "over the 12 h daily limit"}
    unknown, words, limit = (found["project NOPE-999 is not known"], found["hours: '…' is not a number"],
                             found["over the 12 h daily limit"])
    assert (unknown.kind, unknown.open_records, unknown.hours_at_risk) == (Kind.MISSING_REFERENCE, 2, Decimal("10"))
    assert words.kind == Kind.VALIDATION and words.open_records == 1
    with schema_context("acme"):
        records = list(limit.records.filter(is_open=True))
        entries = TimeEntry.objects.filter(pk__in=[r.canonical_id for r in records]).select_related("project")
        hours = sum(e.hours for e in entries)
        money = sum(e.hours * (e.bill_rate or e.project.default_bill_rate) for e in entries if e.billable)
        assert "bad-4" in source_ids([r.canonical_id for r in records])
    assert len(entries) == len(records) == limit.open_records
    assert limit.hours_at_risk == hours >= 14 and limit.amount_at_risk == money > 0 and limit.currency == "EUR"


def test_an_escalation_email_lands_in_the_outbox(committed):
    call_command("exceptions_tick", "acme", stdout=io.StringIO())
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["support@northwind.example"] and "Northwind Connect" in message.from_email
    for text in ("over the 12 h daily limit", "project NOPE-999 is not known", "acme.northwind.localhost"):
        assert text in message.body, text
    call_command("exceptions_tick", "acme", stdout=io.StringIO())
    assert len(mail.outbox) == 1  # a rule fires once per exception and cycle


def test_an_engineer_maps_the_unknown_project_code_replays_and_the_exception_resolves(committed, client):
    """The inbound flow had no mapping (the kind's default translation): the engineer gives it one that translates
    the same way and sends the retired code to a real project, publishes it as v1, previews, replays."""
    acme = customer("acme")
    engineer = User.objects.get(username="northwind.engineer")
    with schema_context("acme"):
        real = Project.objects.order_by("code").first()
        mapping = save_attributed(Mapping(name="Time export → hub", slug="time-export-in", direction="inbound",
                                          object_type="time_entry", connector_kind="csv"),
                                  acting_user=engineer, reason="Legacy project codes")
        version = mapping_version_create(mapping=mapping, acting_user=engineer, notes="NOPE-999 is " + real.code,
                                         rules=time_export_rules(real.code))
        mapping_version_publish(version=version, acting_user=engineer)
        flow = Flow.objects.get(slug="time-in")
        flow.mapping = mapping
        save_attributed(flow, acting_user=engineer, reason="Map legacy project codes")
        unknown = IntegrationException.objects.get(title="project NOPE-999 is not known")
    log_in(client, "northwind.engineer", host(acme))
    preview = client.get(reverse("admin:exceptions_integrationexception_replay", args=[unknown.pk]),
                         HTTP_HOST=host(acme))
    assert preview.status_code == 200 and f"&quot;project&quot;: &quot;code:{real.code}&quot;" in preview.text
    client.post(reverse("admin:exceptions_integrationexception_replay", args=[unknown.pk]), HTTP_HOST=host(acme))
    with schema_context("acme"):
        unknown.refresh_from_db()
        assert unknown.status == Status.RESOLVED and unknown.open_records == 0
        assert {entry("bad-1").project.code, entry("bad-2").project.code} == {real.code}
    exported = {r["notes"] for r in journal_rows("acme")}
    with schema_context("acme"):
        over_limit = source_ids(IntegrationException.objects.get(title="over the 12 h daily limit").records
                                .filter(is_open=True).values("canonical_id"))
    for row in ("bad-1", "bad-2"):  # exported now, or held by the daily limit when that day was already full
        assert BAD_ROWS_NOTES[row] in exported or row in over_limit, row


def test_hours_typed_as_words_are_edited_then_replayed(committed, client):
    acme = customer("acme")
    with schema_context("acme"):
        words = IntegrationException.objects.get(title="hours: '…' is not a number")
        record = words.records.get(external_id="bad-3")
        payload = dict(record.last_item.payload_before)
    log_in(client, "northwind.engineer", host(acme))
    page = reverse("admin:exceptions_integrationexception_payload", args=[words.pk, record.pk])
    assert client.get(page, HTTP_HOST=host(acme)).status_code == 200
    saved = client.post(page, {"payload": json.dumps({**payload, "hours": "8"}), "reason": "eight = 8"},
                        HTTP_HOST=host(acme))
    assert saved.status_code == 302
    client.post(reverse("admin:exceptions_integrationexception_replay", args=[words.pk]), HTTP_HOST=host(acme))
    with schema_context("acme"):
        words.refresh_from_db()
        assert words.status == Status.RESOLVED
        assert entry("bad-3").hours == Decimal("8")


def time_export_rules(real_code: str) -> list[dict]:
    """The CSV time export's default translation as mapping rules, plus the value map for the legacy code."""
    return [
        {"target": "external_id", "source": "external_id"},
        {"target": "person", "ref": {"by": "code", "source": "person"}},
        {"target": "project", "ref": {"by": "code", "source": "project"}, "value_map": {"NOPE-999": real_code}},
        *({"target": name, "source": name} for name in ("date", "hours", "billable", "approval_status", "approved_at",
                                                         "notes")),
    ]


# --- Issue 6: the partner site and both portals in the partner's brand, with the demo's figures --------------
BRANDS = {"northwind": ("Northwind Connect", "#0B5563"), "contoso": ("Contoso Sync", "#5B2A86")}


def figure(page: str, name: str) -> str:
    match = re.search(f'data-figure="{name}">([^<]*)<', page)
    assert match, name
    return match.group(1).strip()


def assert_branded(page, partner: str) -> None:
    name, colour = BRANDS[partner]
    assert page.status_code == 200 and name in page.text and colour in page.text and "Weft" not in page.text


def test_the_partner_site_shows_every_customers_health_in_the_partners_brand(committed, client):
    log_in(client, "northwind.admin", "northwind.localhost", "/login/")
    overview = client.get("/", HTTP_HOST="northwind.localhost")
    assert_branded(overview, "northwind")
    assert 'data-customer="acme"' in overview.text and 'data-customer="globex"' in overview.text
    assert 'data-customer="initech"' not in overview.text  # Contoso's customer
    health = CustomerHealth.objects.filter(customer__partner__slug="northwind")
    assert int(figure(overview.text, "open-exceptions")) == sum(h.open_exceptions for h in health) >= 2
    assert "EUR" in figure(overview.text, "money-at-risk")  # the days over the limit, priced
    drill_in = client.get("/customers/acme/", HTTP_HOST="northwind.localhost")
    assert_branded(drill_in, "northwind")
    assert 'data-flow="time-to-journal"' in drill_in.text and float(figure(drill_in.text, "unposted-hours")[:-2]) >= 0


@pytest.mark.parametrize("slug,partner", [("acme", "northwind"), ("globex", "northwind"), ("initech", "contoso")])
def test_each_customer_portal_shows_the_demo_figures_in_its_partners_brand(committed, client, slug, partner):
    hostname = host(customer(slug))
    log_in(client, f"{slug}.finance", hostname, "/login/")
    home = client.get("/", HTTP_HOST=hostname)
    assert_branded(home, partner)
    assert 'data-flow="time-in"' in home.text and 'data-flow="time-to-journal"' in home.text
    exceptions = client.get("/exceptions/", HTTP_HOST=hostname)
    assert_branded(exceptions, partner)
    assert 'data-exception="' in exceptions.text
    assert "NOPE-999" in exceptions.text or slug == "acme"  # acme's was fixed and replayed above
    assert figure(home.text, "unposted-hours").endswith(" h")
    for path in ("/reports/", "/reports/unposted-time/", "/reports/run-health/", "/reports/utilization/",
                 "/review/", "/plan/"):
        assert_branded(client.get(path, HTTP_HOST=hostname), partner)
    utilization = client.get("/reports/utilization/", HTTP_HOST=hostname).text
    assert "Advisory" in utilization or "ann." in utilization  # the demo's people and practices


def test_the_demo_has_blocked_invoices_a_go_live_date_and_planned_hours(committed):
    """Blocked invoices, ROI and assignment mismatches show figures, not empty pages."""
    from apps.reporting import selectors
    from apps.reporting.filters import ReportFilters

    with schema_context("globex"):  # untouched by the walk above: its bad rows are still open
        blocked = selectors.blocked_invoices(filters=ReportFilters())
        assert blocked.summary["invoices"] >= 1 and all(r["status"] == "sent" for r in blocked.rows)
        roi = {row["metric"]: row["value"] for row in selectors.roi(filters=ReportFilters()).rows}
        assert roi["Invoices before go-live"] >= 5 and roi["Invoices after go-live"] >= 1
        assert roi["Invoice cycle shortened by (mean)"] > 10  # days from approval to invoice, before vs after
        mismatches = selectors.assignment_mismatches(filters=ReportFilters())
        assert any(row["planned_hours"] > 0 for row in mismatches.rows)


@pytest.mark.parametrize("path", ["/", "/exceptions/", "/reports/unposted-time/", "/admin/", "/review/"])
def test_a_customer_user_gets_nothing_of_the_other_firm(committed, client, path):
    log_in(client, "acme.finance", host(customer("acme")), "/login/")
    for other in (host(customer("globex")), host(customer("initech"))):
        assert client.get(path, HTTP_HOST=other).status_code == 302  # acme's session is not used on other hosts
        elsewhere = Client()
        elsewhere.force_login(User.objects.get(username="acme.finance"))  # a session of that host's own
        page = elsewhere.get(path, HTTP_HOST=other)
        if path == "/admin/":  # the admin asks for a login that may use it
            assert page.status_code == 302 and page.url.startswith("/admin/login/"), other
            continue
        assert page.status_code == 404, (other, path)  # as for a page that does not exist
        assert "data-figure" not in page.text and "data-exception" not in page.text and "data-flow" not in page.text


@pytest.mark.parametrize("path", ["/", "/customers/acme/", "/plans/", "/usage/", "/onboard/"])
def test_a_customer_user_gets_no_partner_only_page(committed, client, path):
    log_in(client, "acme.admin", host(customer("acme")), "/login/")
    assert client.get(path, HTTP_HOST="northwind.localhost").status_code == 302  # acme's session stays on acme
    elsewhere = Client()
    elsewhere.force_login(User.objects.get(username="acme.admin"))  # a session of the partner's host
    assert elsewhere.get(path, HTTP_HOST="northwind.localhost").status_code == 404
