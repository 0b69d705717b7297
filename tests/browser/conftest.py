"""Real-browser tests: Playwright drives Debian's Chromium against a live Weft on 127.0.0.1.

A live server thread cannot see a test's transaction, so the data these tests use is committed: a
partner of their own ("Harbour Sync", host ``harbour.localhost``) with two customers on
``acme.harbour.localhost`` and ``globex.harbour.localhost``, people in every relevant role, plans, and
the hand-computed reporting data set in acme's schema. Everything is removed again afterwards (schemas
dropped, rows deleted), so the session cast the other tests use is untouched. Chromium resolves
``*.localhost`` to the loopback address by itself. Screenshots go to ``artifacts/browser/``.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.test import override_settings
from django.test.testcases import LiveServerThread, _StaticFilesHandler
from django_tenants.utils import schema_context

CHROMIUM = os.environ.get("WEFT_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"
PASSWORD = "browser-pw-1"
USERNAMES = ["harbour.admin", "acme.finance", "acme.viewer", "acme.admin", "globex.admin", "harbour.engineer",
             "it@initech.example",
             *(f"install-{n}.admin" for n in range(12))]  # first admins of test_accelerator_installs' customers
# As FIELD-NOTES.md says: Debian's Chromium under Playwright, without `playwright install`.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


def browser_unavailable() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: pip install -r requirements-dev.txt"
    return None


@dataclass
class Harbour:
    """The committed cast of the browser tests and the live server's address."""

    port: int
    partner: object
    acme: object
    globex: object

    def url(self, host: str, path: str = "/") -> str:
        return f"http://{host}:{self.port}{path}"

    @property
    def partner_host(self) -> str:
        return "harbour.localhost"

    def host(self, customer) -> str:
        return customer.domains.get(is_primary=True).domain


@pytest.fixture(scope="module")
def harbour(django_db_setup, django_db_blocker):
    """Committed for one test module at a time, and removed after it, so other tests never see it."""
    reason = browser_unavailable()
    if reason:
        pytest.skip(f"Browser tests did not run: {reason}.")
    from django.db import connections

    media = tempfile.mkdtemp(prefix="weft-browser-media-")
    database = connections.settings["default"]
    kept_age, database["CONN_MAX_AGE"] = database.get("CONN_MAX_AGE", 0), 0  # server threads close after each request
    with django_db_blocker.unblock(), override_settings(MEDIA_ROOT=media):
        made = _build()
        server = LiveServerThread("127.0.0.1", _StaticFilesHandler, connections_override={}, port=0)
        server.daemon = True
        server.start()
        server.is_ready.wait()
        try:
            if server.error:
                raise server.error
            yield Harbour(port=server.port, **made)
        finally:
            server.terminate()
            database["CONN_MAX_AGE"] = kept_age
            _remove(**made)
            shutil.rmtree(media, ignore_errors=True)


def _build() -> dict:
    from apps.reporting.health import customer_health_refresh
    from apps.tenants import plans, services
    from apps.tenants.choices import Feature, Role
    from apps.tenants.models import Partner
    from apps.tenants.usage import usage_record
    from tests.reporting.dataset import build

    partner = Partner(name="Harbour Integrations", slug="harbour", display_name="Harbour Sync",
                      primary_colour="#7A1F5C", accent_colour="#F2C14E", support_email="help@harbour.example",
                      email_sender_name="Harbour Sync", domain_suffix="harbour.localhost")
    partner.logo = ContentFile(_logo(), name="harbour.png")
    services.save_attributed(partner, acting_user=None)
    customers = {}
    for slug, name in (("acme", "Acme Consulting"), ("globex", "Globex Advisory")):
        customers[slug] = services.customer_onboard(partner=partner, slug=slug, name=name, acting_user=None,
                                                    admin_email=f"{slug}@example.com", admin_password=PASSWORD,
                                                    admin_username=f"{slug}.admin").customer
    essentials = plans.plan_create(partner=partner, name="Essentials", slug="essentials", monthly_price=Decimal("490"),
                                   currency="EUR", included_records=100, acting_user=None)
    plans.plan_create(partner=partner, name="Complete", slug="complete", monthly_price=Decimal("1490"), currency="EUR",
                      features=list(Feature.values), acting_user=None)
    plans.customer_plan_set(customer=customers["acme"], plan=essentials, acting_user=None)
    for username, role, scope in (("harbour.admin", Role.PARTNER_ADMIN, {"partner": partner}),
                                  ("acme.finance", Role.FINANCE_APPROVER, {"customer": customers["acme"]}),
                                  ("acme.viewer", Role.VIEWER, {"customer": customers["acme"]})):
        user = services.user_create(username=username, email=f"{username}@example.com", password=PASSWORD,
                                    acting_user=None)
        services.membership_grant(user=user, role=role, acting_user=None, **scope)
    usage_record(schema_name="acme", runs=12, records_synced=180, api_calls=40)  # Essentials includes 100 records
    with schema_context("acme"):
        build()  # the hand-computed reporting data set (tests/reporting/dataset.py)
        customer_health_refresh()
    with schema_context("globex"):
        customer_health_refresh()
    return {"partner": partner, **customers}


def _remove(*, partner, acme, globex) -> None:
    from django.apps import apps
    from django.conf import settings
    from django.db import connection

    from apps.tenants.models import ApiKey, Membership, Plan, User

    users = list(User.objects.filter(username__in=USERNAMES).values_list("pk", flat=True))
    keys = ApiKey.objects.filter(partner=partner) | ApiKey.objects.filter(customer__partner=partner)
    users += list(keys.values_list("principal_id", flat=True))  # keys made in a test: their principals go too
    keys.delete()
    for customer in (acme, globex):
        customer.delete(force_drop=True)  # drops the schema; domains, memberships, usage and health cascade
    Membership.objects.filter(user_id__in=users).delete()
    Plan.objects.filter(partner=partner).delete()
    partner.delete()
    # The ORM's cascade would visit the tenant apps' history tables too (absent from the public schema):
    # detach the public rows that name these people, then delete them directly.
    shared = {config.label for config in apps.get_app_configs() if config.name in settings.SHARED_APPS}
    relations = [f for f in User._meta.get_fields(include_hidden=True) if f.auto_created and not f.concrete]
    for relation in relations:  # hidden ones too: history rows point at people with related_name="+"
        model, field = relation.related_model, relation.field
        if model._meta.app_label in shared and field.null and field.many_to_one:
            model.objects.filter(**{f"{field.name}__in": users}).update(**{field.name: None})
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {User._meta.db_table} WHERE id = ANY(%s)", [users])


def _logo() -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (96, 96), "#F2C14E")
    ImageDraw.Draw(image).rectangle((12, 12, 84, 84), fill="#7A1F5C")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def chromium(harbour):
    from django.db import connections
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop on this thread, so Django would take every query the tests
    # make here for one from async code. Nothing runs concurrently (the loop only turns while Playwright
    # waits), so allow it for as long as the browser is up.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
            connections.close_all()  # the tests' connection lives in this (greenlet) context: close it here
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def browser_page(chromium):
    """A fresh browser context (no cookies) per test."""
    context = chromium.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def login(page, url: str, username: str, password: str = PASSWORD) -> None:
    page.goto(url)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")


def operation_followed(page, timeout: int = 30_000) -> str:
    """After starting an install from the partner site (it runs in the background): on its progress page, wait until
    it has finished, keep the page's text and follow its result link back to the customer; when the install had
    already ended, the customer's page came straight back. Returns the text that reports the outcome."""
    page.wait_for_load_state("networkidle")
    if not page.locator(".operation-progress").count():
        return page.inner_text("body")
    page.wait_for_selector(".operation-progress[data-state=succeeded], .operation-progress[data-state=failed]",
                           timeout=timeout)
    text = page.inner_text("body")
    result = page.locator("[data-link=result]")
    if result.count():
        result.click()
        page.wait_for_load_state("networkidle")
    return text


@pytest.fixture(scope="module")
def background_worker(harbour, django_db_blocker):
    """A real django-q2 cluster process for this module, and this process queuing instead of running inline, so an
    install started from the partner site runs in the background and its progress page is what the browser sees.
    The task rows of the customers the module made are removed with it."""
    from django_q.conf import Conf
    from django_q.models import OrmQ

    from tests.cluster import Cluster

    with django_db_blocker.unblock():
        worker = Cluster(WEFT_Q_WORKERS="1")
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(Conf, "SYNC", False)  # read per call, by the live server's threads too
            yield worker
    finally:
        worker.stop()
        with django_db_blocker.unblock():
            OrmQ.objects.all().delete()  # nothing should be left; a crashed install must not haunt later modules


def variables_typed(form, template_slug: str, variables: dict) -> None:
    """Once a template is picked in "Install a template" (inside ``form``), wait for the fields it takes to show and
    type ``variables`` into them (each field shows its default until then)."""
    shown = form.locator(f'#template-variables [data-template="{template_slug}"]')
    shown.wait_for()
    named = {label.get_attribute("data-variable") for label in shown.locator("[data-variable]").all()}
    assert set(variables) <= named, f"{template_slug}: the page shows {sorted(named)}"
    for name, value in variables.items():
        field = shown.locator(f'[data-variable="{name}"] input')
        if isinstance(value, bool):
            field.set_checked(value)
        else:
            field.fill(str(value))


def template_install_followed(page, harbour: Harbour, customer, template, variables: dict,
                              timeout: int = 60_000) -> str:
    """On the partner site, as whoever is signed in: open ``customer``'s page, pick ``template`` in "Install a
    template", type ``variables`` into the fields it then shows (one per variable, filled with its default), install,
    and follow the install's progress page until it has finished (it must run in the background: see
    ``background_worker``). Returns the progress block's text; the page stays there."""
    from apps.accelerators.forms import template_label

    page.goto(harbour.url(harbour.partner_host, f"/customers/{customer.slug}/"))
    form = page.locator("#install ~ form")
    form.locator("select[name=template]").select_option(label=template_label(template))
    variables_typed(form, template.slug, variables)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    form.screenshot(path=str(ARTIFACTS / f"install-{template.slug}-form.png"))
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/operations/*/")
    page.wait_for_selector(".operation-progress[data-state=succeeded], .operation-progress[data-state=failed]",
                           timeout=timeout)
    return page.inner_text(".operation-progress")
