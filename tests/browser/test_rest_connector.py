"""In a real browser: a partner engineer connects a vendor Weft has never seen, without code. They import its OpenAPI
document, pick the list operation, set the API key, try the first page, map the records in the field picker and
pull them into the hub; then a manifest with a wrong record selector says what to fix."""

from __future__ import annotations

import json
import re

import pytest
from django_tenants.utils import schema_context

from tests.browser.conftest import browser_unavailable, login, screenshot
from tests.connectors.rest.live_fake import API_KEY, acme_resourcing, openapi_document

UNAVAILABLE = browser_unavailable()
pytestmark = [pytest.mark.browser, pytest.mark.django_db,
              pytest.mark.skipif(UNAVAILABLE is not None, reason=f"Browser tests did not run: {UNAVAILABLE}.")]


def test_an_engineer_imports_tries_maps_and_pulls_a_new_vendor(harbour, browser_page, tmp_path, settings):
    from apps.canonical.models import Person

    # The fake vendor listens on loopback: the operator's allow-list admits it (partner staff may not open
    # private networks themselves; tests/connectors/test_connection_safety.py).
    settings.WEFT_OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    page = browser_page
    acme_host = harbour.host(harbour.acme)
    with acme_resourcing() as vendor:
        document = tmp_path / "acme-resourcing.openapi.json"
        document.write_text(json.dumps(openapi_document(vendor.base_url)))
        login(page, harbour.url(acme_host, "/login/"), "harbour.admin")

        page.goto(harbour.url(acme_host, "/connections/"))
        page.click("#import-openapi")
        page.set_input_files("#document", str(document))
        page.click("#read-document")
        page.check("input[data-key='GET /consultants']")
        page.click("#build-manifest")
        assert "pagination guessed as page_number" in page.inner_text(".messages")

        page.fill("#credential-api_key", API_KEY)
        page.select_option("#object", "consultants")
        page.click("#try-it")
        assert "25 records on the first page" in page.inner_text("#try-summary")
        assert "name=Consultant 1" in page.inner_text("#try-canonical")
        assert page.input_value("#map-name") == "displayName"  # suggested from the field names
        page.select_option("#map-code", "email")
        page.click("#try-again")
        assert "code=c1@acme-resourcing.example" in page.inner_text("#try-canonical")
        screenshot(page, "rest-workbench-try")

        page.click("#save-and-pull")
        message = page.inner_text(".messages")
        assert re.search(r"Pulled Acme Resourcing consultants into the hub: run \d+ succeeded \(25 created\)",
                         message), message
        with schema_context("acme"):
            people = Person.objects.filter(email__endswith="@acme-resourcing.example")
            assert people.count() == 25 and people.filter(code="c7@acme-resourcing.example").exists()

        # A mistake: the record selector names a list the answer does not have.
        text = page.input_value("#manifest-yaml").replace("records: consultants", "records: people")
        page.fill("#manifest-yaml", text)
        page.click("#save-manifest")
        page.select_option("#object", "consultants")
        page.click("#try-it")
        failure = page.inner_text("#try-failure")
        assert "objects.consultants.read.records = 'people' found nothing" in failure
        assert "the answer has a list at consultants" in failure
        screenshot(page, "rest-workbench-wrong-selector")
