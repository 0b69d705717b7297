"""Usage metering: runs and records from the engine's signal, API calls from the middleware, CSV for invoicing."""

import csv
import io
from datetime import date

import pytest
from django_tenants.utils import schema_context

from apps.runs.models import Run, RunStatus
from apps.runs.signals import run_finished
from apps.tenants.models import UsageMonth
from apps.tenants.plans import customer_plan_set
from apps.tenants.usage import month_start, usage_csv, usage_record
from tests.conftest import host
from tests.portal.conftest import make_plan


def usage(customer) -> UsageMonth:
    return UsageMonth.objects.get(customer=customer, month=month_start())


def finished_run(counts: dict) -> Run:
    return Run(status=RunStatus.PARTIAL, counts=counts)


def test_a_finished_run_is_metered_for_its_own_customer_only(cast, django_capture_on_commit_callbacks):
    with schema_context("alpha"), django_capture_on_commit_callbacks():
        run_finished.send(sender=Run, run=finished_run({"created": 7, "updated": 2, "unchanged": 40, "failed": 3}))
        run_finished.send(sender=Run, run=finished_run({"deleted": 1}))
    alpha = usage(cast.alpha)
    assert (alpha.runs, alpha.records_synced, alpha.api_calls) == (2, 10, 0)  # unchanged and failed are not synced
    assert not UsageMonth.objects.filter(customer__in=[cast.beta, cast.gamma]).exists()


def test_counters_add_up_and_keep_months_apart(cast):
    usage_record(schema_name="alpha", runs=1, records_synced=5, day=date(2026, 1, 31))
    usage_record(schema_name="alpha", runs=1, records_synced=5, day=date(2026, 1, 2))
    usage_record(schema_name="alpha", api_calls=3, day=date(2026, 2, 1))
    rows = {u.month: (u.runs, u.records_synced, u.api_calls) for u in UsageMonth.objects.filter(customer=cast.alpha)}
    assert rows == {date(2026, 1, 1): (2, 10, 0), date(2026, 2, 1): (0, 0, 3)}


def test_api_calls_on_the_customers_domain_are_counted(cast, client, alice):
    client.force_login(alice)
    assert client.get("/api/v1/flows/", HTTP_HOST=host(cast.alpha)).status_code == 200
    assert client.get("/api/v1/runs/", HTTP_HOST=host(cast.alpha)).status_code == 200
    client.logout()
    assert client.get("/api/v1/flows/", HTTP_HOST=host(cast.alpha)).status_code in (401, 403)  # refused: not counted
    client.get("/", HTTP_HOST=host(cast.alpha))  # a page, not the API
    assert usage(cast.alpha).api_calls == 2


def test_usage_export_shows_included_volumes_and_overage(cast):
    plan = make_plan(cast.xpartner, "basic", included_records=100, included_runs=None, included_api_calls=10)
    customer_plan_set(customer=cast.alpha, plan=plan, acting_user=None)
    usage_record(schema_name="alpha", runs=3, records_synced=130, api_calls=4)
    rows = list(csv.DictReader(io.StringIO(usage_csv(cast.xpartner, date.today()))))
    assert [r["customer_slug"] for r in rows] == ["alpha", "beta"]  # only this partner's customers
    alpha = rows[0]
    assert (alpha["plan"], alpha["monthly_price"], alpha["currency"]) == ("Basic", "490.00", "EUR")
    assert (alpha["records_synced"], alpha["records_included"], alpha["records_over"]) == ("130", "100", "30")
    assert (alpha["runs"], alpha["runs_included"], alpha["runs_over"]) == ("3", "", "0")  # blank: unlimited
    assert (alpha["api_calls"], alpha["api_calls_over"]) == ("4", "0")
    assert rows[1]["records_synced"] == "0" and rows[1]["plan"] == ""


def test_customer_names_cannot_smuggle_spreadsheet_formulas(cast):
    cast.beta.name = "=HYPERLINK(\"http://evil.example\")"
    cast.beta.save(update_fields=["name"])
    rows = list(csv.reader(io.StringIO(usage_csv(cast.xpartner, date.today()))))
    assert rows[1][1].startswith("'=")


def test_the_month_keeps_the_plan_it_was_billed_on(cast):
    first = make_plan(cast.xpartner, "basic")
    usage_record(schema_name="alpha", runs=1, day=date(2026, 1, 15))
    customer_plan_set(customer=cast.alpha, plan=first, acting_user=None)
    usage_record(schema_name="alpha", runs=1)
    assert UsageMonth.objects.get(customer=cast.alpha, month=date(2026, 1, 1)).plan is None
    assert usage(cast.alpha).plan == first


@pytest.mark.parametrize("who", ["analyst", "partner_admin"])
def test_partner_staff_download_their_usage_csv(cast, partner_site, request, who):
    partner_site.client.force_login(request.getfixturevalue(who))
    response = partner_site.get(f"/usage/{date.today():%Y-%m}.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"] and "alpha" in response.content.decode()


def test_other_partners_and_customer_users_get_no_usage(cast, partner_site, charlie, alice):
    for outsider in (charlie, alice):
        partner_site.client.force_login(outsider)
        assert partner_site.get("/usage/").status_code == 404
        assert partner_site.get("/usage/2026-01.csv").status_code == 404
