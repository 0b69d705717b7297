"""The partner API on a partner's host, as an integrator meets it with a partner key: the partner's customers and
their health, onboarding (idempotent), plans, usage for invoicing, templates installed and upgraded across
customers. A key never reaches another partner's customers, and each write needs its scope."""

from __future__ import annotations

import copy
import csv
import io
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.accelerators.models import FlowTemplate, TemplateInstallation
from apps.accelerators.services import customer_template_install, templates_sync_builtin
from apps.connectors.services import connection_create
from apps.runs.models import Flow
from apps.tenants import access, apikeys, usage
from apps.tenants.choices import Role, SlaStatus
from apps.tenants.models import Customer, CustomerHealth, IdempotentRequest, Membership
from tests.conftest import member
from tests.portal.conftest import make_plan

ALL = access.key_scopes(partner_key=True)


@pytest.fixture
def xadmin(cast):
    return member(Role.PARTNER_ADMIN, partner=cast.xpartner, username="xadmin")


def key(admin, scopes=ALL, **owner) -> str:
    return apikeys.apikey_create(name="Partner sync", scopes=scopes, acting_user=admin, **owner).token


@pytest.fixture
def xkey(cast, xadmin) -> str:
    return key(xadmin, partner=cast.xpartner)


@pytest.fixture
def ykey(cast) -> str:
    return key(member(Role.PARTNER_ADMIN, partner=cast.ypartner, username="yadmin"), partner=cast.ypartner)


def call(method: str, path: str, partner, token: str | None, data=None, **headers):
    if token is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    client = Client(raise_request_exception=False)
    kwargs = {"content_type": "application/json"} if method == "post" else {}
    return getattr(client, method)(f"/api/v1/{path}", data, HTTP_HOST=partner.domain_suffix, **kwargs, **headers)


def test_the_partner_api_has_its_own_document_with_examples_and_a_root(cast, xkey):
    document = Client().get("/api/v1/schema/", HTTP_HOST=cast.xpartner.domain_suffix,
                            HTTP_ACCEPT="application/json").json()
    assert document["info"]["title"] == "Weft partner API"
    paths = set(document["paths"])
    assert {"/api/v1/customers/", "/api/v1/customers/{slug}/", "/api/v1/customers/{slug}/plan/", "/api/v1/plans/",
            "/api/v1/usage/", "/api/v1/usage/csv/", "/api/v1/templates/", "/api/v1/templates/{template}/upgrade/",
            "/api/v1/customers/{slug}/templates/{template}/install/"} <= paths
    assert "/api/v1/runs/" not in paths  # the customer API is on customers' domains
    onboard = document["paths"]["/api/v1/customers/"]["post"]
    assert onboard["requestBody"]["content"]["application/json"]["examples"]
    assert any(p["name"] == "Idempotency-Key" for p in onboard["parameters"])
    root = call("get", "", cast.xpartner, xkey).json()
    assert root["customers"] == "http://x.test/api/v1/customers/" and root["docs"] == "http://x.test/api/docs/"
    assert Client().get("/api/docs/", HTTP_HOST=cast.xpartner.domain_suffix).status_code == 200


def test_customers_list_with_their_health_and_never_another_partners(cast, xkey):
    CustomerHealth.objects.create(customer=cast.beta, computed_at=timezone.now(), open_exceptions=7,
                                  sla_status=SlaStatus.BREACHED, sla_reason="Time in: no good run for 30 h.",
                                  money_at_risk_amounts={"EUR": "4200.00"}, unposted_hours=Decimal("12.5"))
    CustomerHealth.objects.create(customer=cast.gamma, computed_at=timezone.now(), open_exceptions=99)
    page = call("get", "customers/", cast.xpartner, xkey).json()
    assert [c["slug"] for c in page["results"]] == ["alpha", "beta"] and page["count"] == 2
    beta = page["results"][1]
    assert beta["health"]["sla_status"] == "breached" and beta["health"]["money_at_risk"] == {"EUR": "4200.00"}
    assert beta["health"]["unposted_hours"] == "12.50" and page["results"][0]["health"]["unposted_hours"] is None
    breached = call("get", "customers/", cast.xpartner, xkey, {"sla_status": "breached", "page_size": 1}).json()
    assert [c["slug"] for c in breached["results"]] == ["beta"]
    assert call("get", "customers/", cast.xpartner, xkey, {"page_size": 501}).status_code == 400
    assert call("get", "customers/", cast.xpartner, xkey, {"cursor": "", "page_size": 1}).json()["count"] == 2


def test_customer_detail_and_cross_partner_isolation(cast, xkey, ykey):
    detail = call("get", "customers/alpha/", cast.xpartner, xkey)
    assert detail.status_code == 200 and detail.json()["domains"] == ["alpha.x.test"]
    assert call("get", "customers/gamma/", cast.xpartner, xkey).status_code == 404  # ypartner's
    assert call("get", "customers/alpha/", cast.ypartner, ykey).status_code == 404  # on its own host
    assert call("get", "customers/gamma/", cast.ypartner, ykey).status_code == 200
    for path in ("customers/", "customers/alpha/", "plans/", "usage/", "usage/csv/", "templates/"):
        assert call("get", path, cast.xpartner, ykey).status_code == 403, path  # another partner's host
    for path, body in (("customers/alpha/plan/", {"plan": None}), ("templates/approved-time-to-erp/upgrade/", {}),
                       ("customers/alpha/templates/approved-time-to-erp/install/", {})):
        assert call("post", path, cast.xpartner, ykey, body).status_code == 403, path
        if "alpha" in path:  # another partner's customer is as good as missing
            assert call("post", path.replace("alpha", "gamma"), cast.xpartner, xkey, body).status_code == 404, path


def test_customer_keys_people_of_customers_and_strangers_are_kept_out(cast, xadmin, xkey):
    customer_key = key(xadmin, access.key_scopes(partner_key=False), customer=cast.alpha)
    assert call("get", "customers/", cast.xpartner, customer_key).status_code == 403
    unknown = call("get", "customers/", cast.xpartner, None)
    assert unknown.status_code == 401 and unknown.headers["WWW-Authenticate"].startswith("Bearer")
    assert unknown.headers["Content-Type"] == "application/problem+json"
    assert call("get", "customers/", cast.xpartner, xkey[:-3] + "abc").status_code == 401
    assert Client().get("/api/v1/customers/", HTTP_HOST="localhost").status_code in (401, 404)  # no partner


def test_a_partner_admins_session_reads_the_partner_api_too(cast, xadmin, client):
    client.force_login(xadmin)
    assert client.get("/api/v1/customers/alpha/", HTTP_HOST=cast.xpartner.domain_suffix).status_code == 200


def test_onboarding_through_the_api_is_idempotent_and_names_the_key(cast, xkey):
    plan = make_plan(cast.xpartner, "growth")
    body = {"name": "Hotel Group", "slug": "hotel", "admin_email": "it@hotel.example", "plan": "growth"}
    first = call("post", "customers/", cast.xpartner, xkey, body, HTTP_IDEMPOTENCY_KEY="onboard-hotel")
    assert first.status_code == 201, first.content
    answer = first.json()
    assert answer["created"] and answer["customer"]["plan"] == "growth"
    assert answer["customer"]["domain"] == "hotel.x.test"
    assert answer["admin"]["username"] == "it@hotel.example" and answer["admin"]["initial_password"]
    hotel = Customer.objects.get(slug="hotel")
    assert hotel.plan == plan and hotel.history.earliest().history_user.api_key.name == "Partner sync"
    assert Membership.objects.filter(customer=hotel, user__username="it@hotel.example",
                                     role=Role.CUSTOMER_ADMIN).exists()
    again = call("post", "customers/", cast.xpartner, xkey, body, HTTP_IDEMPOTENCY_KEY="onboard-hotel")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["customer"]["slug"] == "hotel" and again.json()["admin"]["initial_password"] is None
    password = answer["admin"]["initial_password"]
    assert not any(password.encode() in bytes(row.body) for row in IdempotentRequest.objects.all())  # stored nowhere
    same = call("post", "customers/", cast.xpartner, xkey, body)  # without the header: onboarding is idempotent too
    assert same.status_code == 200 and not same.json()["created"] and Customer.objects.filter(slug="hotel").count() == 1


def test_onboarding_refusals(cast, xadmin, xkey):
    reader = key(xadmin, ["customers:read"], partner=cast.xpartner)
    body = {"name": "Inn", "slug": "inn", "admin_email": "it@inn.example"}
    assert call("post", "customers/", cast.xpartner, reader, body).status_code == 403
    make_plan(cast.ypartner, "ygold")
    wrong_plan = call("post", "customers/", cast.xpartner, xkey, {**body, "plan": "ygold"})
    assert wrong_plan.status_code == 400 and "plan" in wrong_plan.json()["errors"]
    taken = call("post", "customers/", cast.xpartner, xkey, {**body, "slug": "gamma"})  # ypartner's slug
    assert taken.status_code == 400 and "already in use" in taken.json()["detail"]
    assert not Customer.objects.filter(slug="inn").exists()


def test_plans_list_and_assign(cast, xadmin, xkey):
    basic = make_plan(cast.xpartner, "basic")
    make_plan(cast.ypartner, "ybasic")
    listed = call("get", "plans/", cast.xpartner, xkey).json()
    assert [p["slug"] for p in listed] == ["basic"] and listed[0]["monthly_price"] == "490.00"
    moved = call("post", "customers/alpha/plan/", cast.xpartner, xkey, {"plan": "basic"})
    assert moved.status_code == 200 and moved.json()["plan"] == "basic"
    cast.alpha.refresh_from_db()
    assert cast.alpha.plan == basic and cast.alpha.history.latest().history_user.api_key.name == "Partner sync"
    assert call("post", "customers/alpha/plan/", cast.xpartner, xkey, {"plan": "ybasic"}).status_code == 400
    reader = key(xadmin, ["customers:read"], partner=cast.xpartner)
    assert call("post", "customers/alpha/plan/", cast.xpartner, reader, {"plan": None}).status_code == 403
    assert call("post", "customers/alpha/plan/", cast.xpartner, xkey, {"plan": None}).json()["plan"] is None


def test_usage_per_customer_and_month_as_json_and_csv(cast, xkey):
    basic = make_plan(cast.xpartner, "basic", included_records=1000)
    cast.alpha.plan = basic
    cast.alpha.save()
    day = timezone.localdate().replace(day=1)
    usage.usage_record(schema_name="alpha", records_synced=1500, runs=3, day=day)
    usage.usage_record(schema_name="gamma", records_synced=99, day=day)
    month = f"{day:%Y-%m}"
    answer = call("get", "usage/", cast.xpartner, xkey, {"month": month}).json()
    assert answer["month"] == month and [line["customer"] for line in answer["customers"]] == ["alpha", "beta"]
    alpha = answer["customers"][0]
    assert alpha["records_synced"] == {"used": 1500, "included": 1000, "over": 500} and alpha["plan"] == "basic"
    sheet = call("get", "usage/csv/", cast.xpartner, xkey, {"month": month})
    assert sheet.status_code == 200 and sheet.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(sheet.content.decode())))
    assert [(r["customer_slug"], r["records_synced"], r["records_over"]) for r in rows] == [
        ("alpha", "1500", "500"), ("beta", "0", "0")]
    for bad in ("2026-13", "December", "2026-1"):
        assert call("get", "usage/", cast.xpartner, xkey, {"month": bad}).status_code == 400, bad
        assert call("get", "usage/csv/", cast.xpartner, xkey, {"month": bad}).status_code == 400, bad
    refused = call("get", "usage/csv/", cast.xpartner, xkey, {"month": "2026-13"}, HTTP_ACCEPT="text/csv")
    assert refused.headers["Content-Type"] == "application/problem+json" and "month" in refused.json()["errors"]
    report = Client().get("/api/v1/reports/no-such/csv/", HTTP_HOST="alpha.x.test", HTTP_ACCEPT="text/csv",
                          HTTP_AUTHORIZATION=f"Bearer {xkey}")
    assert report.status_code == 404 and report.json()["status"] == 404  # a problem, not an empty CSV


@pytest.fixture
def journal(db):
    templates_sync_builtin()
    return FlowTemplate.objects.get(partner__isnull=True, slug="approved-time-to-journal")


def _connections(customer):
    with schema_context(customer.schema_name):
        connection_create(name="Time export", slug="time-export", kind="csv", acting_user=None)
        connection_create(name="ERP journal", slug="erp-journal", kind="csv", acting_user=None)


def test_templates_list_and_install_on_a_customer(cast, xadmin, xkey, journal):
    _connections(cast.alpha)
    _connections(cast.gamma)
    customer_template_install(customer=cast.gamma, template=journal, variables={}, acting_user=None)
    listed = {t["slug"]: t for t in call("get", "templates/", cast.xpartner, xkey).json()}
    assert listed["approved-time-to-journal"]["customers"] == 0  # gamma is ypartner's: not counted here
    path = "customers/alpha/templates/approved-time-to-journal/install/"
    installed = call("post", path, cast.xpartner, xkey, {"variables": {"max_hours_per_day": 10}})
    assert installed.status_code == 201, installed.content
    assert installed.json()["version"] == journal.version and installed.json()["created"]
    with schema_context("alpha"):
        assert Flow.objects.filter(slug="time-to-journal").exists()
    listed = {t["slug"]: t for t in call("get", "templates/", cast.xpartner, xkey).json()}
    assert listed["approved-time-to-journal"]["customers"] == 1 and listed["approved-time-to-journal"]["behind"] == 0
    assert call("post", path, cast.xpartner, xkey, {"variables": {"max_hours_per_day": 10}}).status_code == 200
    reader = key(xadmin, ["customers:read", "configuration:read"], partner=cast.xpartner)
    assert call("post", path, cast.xpartner, reader, {}).status_code == 403
    assert call("post", "customers/alpha/templates/no-such/install/", cast.xpartner, xkey, {}).status_code == 404


def test_a_template_upgrades_across_the_partners_customers_with_an_outcome_each(cast, xadmin, xkey, journal):
    for customer in (cast.alpha, cast.beta, cast.gamma):
        _connections(customer)
        customer_template_install(customer=customer, template=journal, variables={"max_hours_per_day": 10},
                                  acting_user=None)
    beta_plan = make_plan(cast.xpartner, "basic")  # no premium templates
    cast.beta.plan = beta_plan
    cast.beta.save()
    definition = copy.deepcopy(journal.definition)
    for flow in definition["flows"]:
        flow["batch_size"] = 250
    journal.definition, journal.version, journal.is_premium = definition, journal.version + 1, True
    journal.save()
    reader = key(xadmin, ["customers:read", "configuration:read"], partner=cast.xpartner)
    assert call("post", "templates/approved-time-to-journal/upgrade/", cast.xpartner, reader).status_code == 403
    answer = call("post", "templates/approved-time-to-journal/upgrade/", cast.xpartner, xkey)
    assert answer.status_code == 200, answer.content
    assert [(r["customer"], r["outcome"]) for r in answer.json()["results"]] == [("alpha", "upgraded"),
                                                                                 ("beta", "failed")]
    assert "premium" in answer.json()["results"][1]["detail"]
    versions = dict(TemplateInstallation.objects.values_list("customer__slug", "version"))
    assert versions == {"alpha": journal.version, "beta": journal.version - 1, "gamma": journal.version - 1}
    assert call("post", "templates/no-such/upgrade/", cast.xpartner, xkey).status_code == 404
