"""The shipped manifests on the wire: each reads (and, where the vendor's document has writes, creates and searches)
against Prism serving that vendor's published OpenAPI document. Prism refuses any request the document does not
allow (a missing required body field, a missing api_token, a wrong parameter) with a 4xx, which fails the test."""

from __future__ import annotations

import pytest

from apps.connectors.kinds.rest.kind import RestKind
from apps.connectors.manifests import manifest_templates
from tests.connectors.rest.support import live_rest_kind
from tests.vendor_mocks.prism import prism_running

pytestmark = pytest.mark.prism


@pytest.fixture(scope="module")
def prism_hubspot():
    # HubSpot's examples break their own schemas (FIELD-NOTES): answers are generated from the schemas instead.
    with prism_running("hubspot_companies", dynamic=True) as companies, \
            prism_running("hubspot_deals", dynamic=True) as deals, \
            prism_running("hubspot_owners", dynamic=True) as owners:
        yield {"companies": companies, "deals": deals, "owners": owners}


@pytest.fixture(scope="module")
def prism_pipedrive():
    with prism_running("pipedrive") as url:
        yield url


@pytest.fixture(scope="module")
def prism_finch():
    with prism_running("finch") as url:
        yield url


@pytest.fixture(scope="module")
def prism_quickbooks():
    with prism_running("quickbooks", dynamic=True) as url:
        yield url


def first_page(kind: RestKind, object_name: str):
    return next(iter(kind.read(object_name)))


@pytest.mark.parametrize("object_name", ["companies", "deals", "owners"])
def test_hubspot_reads_match_the_document(prism_hubspot, object_name):
    kind = live_rest_kind(manifest_templates()["hubspot-crm"], base_url=prism_hubspot[object_name],
                          credentials={"access_token": "pat-na1-test"})
    page = first_page(kind, object_name)
    assert page.errors == [] or all("id" in e.message for e in page.errors)


def test_hubspot_company_create_searches_for_the_reference_first(prism_hubspot):
    kind = live_rest_kind(manifest_templates()["hubspot-crm"], base_url=prism_hubspot["companies"],
                          credentials={"access_token": "pat-na1-test"})
    kind.find("companies", reference="weft-acme-customer-1")  # the search body is valid for the document
    result = kind.write("companies", {"name": "Acme Ltd", "domain": "acme.example"}, reference="weft-acme-customer-1",
                        external_id=None)
    assert result.external_id  # Prism's generated id, read from the answer


def test_hubspot_deal_write_back_and_fetch_match_the_document(prism_hubspot):
    """What crm-intake sends back to a deal (its project code and link, with Weft's reference) is a PATCH the deals
    document allows, and the deal a webhook names is fetched with the properties the intake mapping reads."""
    kind = live_rest_kind(manifest_templates()["hubspot-crm"], base_url=prism_hubspot["deals"],
                          credentials={"access_token": "pat-na1-test"})
    result = kind.write("deals", {"weft_project_code": "DEAL-512",
                                  "weft_project_url": "https://erp.example.com/#tryton/model/project.work/7"},
                        reference="weft-acme-project-1", external_id="512")
    assert not result.created  # an update Prism accepted (its answer's id is generated, not ours)
    assert kind.fetch("deals", "512")["id"]


def test_pipedrive_reads_and_writes_match_the_document(prism_pipedrive):
    kind = live_rest_kind(manifest_templates()["pipedrive"], base_url=prism_pipedrive,
                          credentials={"api_token": "pd-token"}, settings={"reference_field": "abc123_weft_ref"})
    for object_name in ("organizations", "deals", "users"):
        page = first_page(kind, object_name)
        assert page.records, object_name
    assert kind.to_canonical("organizations", first_page(kind, "organizations").records[0]).fields["name"]
    kind.find("organizations", reference="weft-acme-customer-1")
    result = kind.write("organizations", {"name": "Acme Ltd"}, reference="weft-acme-customer-1")
    assert result.external_id
    # crm-intake-pipedrive: won deals (status=won), and the project code and link PUT into two custom fields.
    assert first_page(kind, "won_deals").records
    written = kind.write("won_deals", {"a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2": "PD-1"},
                         reference="weft-acme-project-1", external_id="1")
    assert not written.created


def test_pipedrive_without_the_token_is_refused_by_the_document(prism_pipedrive):
    manifest = manifest_templates()["pipedrive"]
    kind = live_rest_kind(manifest, base_url=prism_pipedrive, credentials={"api_token": ""},
                          settings={"reference_field": "x"})
    with pytest.raises(Exception, match="api_token"):
        first_page(kind, "organizations")


@pytest.mark.parametrize("object_name", ["directory", "individuals", "employment", "payments", "pay_statements"])
def test_finch_reads_match_the_document(prism_finch, object_name):
    kind = live_rest_kind(manifest_templates()["finch"], base_url=prism_finch,
                          credentials={"access_token": "finch-token"})
    pages = list(kind.read(object_name))
    assert pages and sum(len(p.records) for p in pages) >= 1


@pytest.mark.parametrize("object_name", ["customers", "invoices", "time_activities"])
def test_quickbooks_reads_match_the_document(prism_quickbooks, object_name):
    kind = live_rest_kind(manifest_templates()["quickbooks-online"], base_url=prism_quickbooks,
                          credentials={"access_token": "qbo-token", "expires_at": "9999999999"},
                          settings={"realm_id": "9130350000000000"})
    page = first_page(kind, object_name)
    assert page.errors == []
