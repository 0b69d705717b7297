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


def counters(customer, month=None) -> tuple[int, int, int]:
    """(runs, records synced, API calls); zeros when nothing was metered. Tests compare before and after,
    since tests that run a real cluster commit usage of their own."""
    row = UsageMonth.objects.filter(customer=customer, month=month or month_start()).first()
    return (row.runs, row.records_synced, row.api_calls) if row else (0, 0, 0)


def added(before, after) -> tuple[int, ...]:
    return tuple(b - a for a, b in zip(before, after, strict=True))


def finished_run(counts: dict) -> Run:
    return Run(status=RunStatus.PARTIAL, counts=counts)


def test_a_finished_run_is_metered_for_its_own_customer_only(cast, django_capture_on_commit_callbacks):
    before = {c.slug: counters(c) for c in (cast.alpha, cast.beta, cast.gamma)}
    with schema_context("alpha"), django_capture_on_commit_callbacks():
        run_finished.send(sender=Run, run=finished_run({"created": 7, "updated": 2, "unchanged": 40, "failed": 3}))
        run_finished.send(sender=Run, run=finished_run({"deleted": 1}))
    assert added(before["alpha"], counters(cast.alpha)) == (2, 10, 0)  # unchanged and failed are not synced
    assert counters(cast.beta) == before["beta"] and counters(cast.gamma) == before["gamma"]


def test_counters_add_up_and_keep_months_apart(cast):
    january, february = date(2016, 1, 1), date(2016, 2, 1)  # months no other test meters
    usage_record(schema_name="alpha", runs=1, records_synced=5, day=date(2016, 1, 31))
    usage_record(schema_name="alpha", runs=1, records_synced=5, day=date(2016, 1, 2))
    usage_record(schema_name="alpha", api_calls=3, day=date(2016, 2, 1))
    assert counters(cast.alpha, january) == (2, 10, 0) and counters(cast.alpha, february) == (0, 0, 3)


def test_api_calls_on_the_customers_domain_are_counted(cast, client, alice):
    before = counters(cast.alpha)
    client.force_login(alice)
    assert client.get("/api/v1/flows/", HTTP_HOST=host(cast.alpha)).status_code == 200
    assert client.get("/api/v1/runs/", HTTP_HOST=host(cast.alpha)).status_code == 200
    client.logout()
    assert client.get("/api/v1/flows/", HTTP_HOST=host(cast.alpha)).status_code in (401, 403)  # refused: not counted
    client.get("/", HTTP_HOST=host(cast.alpha))  # a page, not the API
    assert added(before, counters(cast.alpha)) == (0, 0, 2)


def test_usage_export_shows_included_volumes_and_overage(cast):
    plan = make_plan(cast.xpartner, "basic", included_records=100, included_runs=None, included_api_calls=10)
    customer_plan_set(customer=cast.alpha, plan=plan, acting_user=None)
    month = date(2016, 3, 1)  # a month no other test meters
    usage_record(schema_name="alpha", runs=3, records_synced=130, api_calls=4, day=month)
    UsageMonth.objects.filter(customer=cast.alpha, month=month).update(plan=plan)
    rows = list(csv.DictReader(io.StringIO(usage_csv(cast.xpartner, month))))
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
    rows = list(csv.reader(io.StringIO(usage_csv(cast.xpartner, date(2016, 3, 1)))))
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


def test_only_runs_that_did_work_are_billed(cast, django_capture_on_commit_callbacks):
    """A run is billed when it wrote or tried to write a record: idle polls (nothing read, or nothing changed),
    paused runs and runs that only skipped are not, so a 5-minute schedule does not bill ~8,900 runs a month."""
    before = counters(cast.alpha)
    idle = [Run(status=RunStatus.SUCCEEDED, counts={}), Run(status=RunStatus.SUCCEEDED, counts={"unchanged": 40}),
            Run(status=RunStatus.SUCCEEDED, counts={"skipped": 3}), Run(status=RunStatus.PAUSED, counts={})]
    working = [Run(status=RunStatus.SUCCEEDED, counts={"created": 2}), Run(status=RunStatus.PARTIAL,
                                                                          counts={"unchanged": 5, "failed": 1})]
    with schema_context("alpha"), django_capture_on_commit_callbacks():
        for run in idle + working:
            run_finished.send(sender=Run, run=run)
    assert added(before, counters(cast.alpha)) == (2, 2, 0)
    assert [run.is_billable() for run in idle + working] == [False] * 4 + [True] * 2


def test_the_plan_page_says_what_is_billed(cast, alpha_site, viewer):
    alpha_site.client.force_login(viewer)
    page = alpha_site.get("/plan/").text
    assert "is billed when it wrote or tried to write at least one record" in page
    assert "records created, updated or deleted in a target or the hub" in page
