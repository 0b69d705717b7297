"""Reports API: the same figures as the selectors, CSV exports that match, and who may read them."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from apps.reporting.exports import csv_lines
from apps.reporting.figures import FIGURES, figure_table
from apps.reporting.tables import table_json
from apps.tenants.choices import Role
from tests.conftest import host, member

PARAMS = {"start": "2025-06-01", "end": "2025-06-30", "as_of": "2025-06-30"}


@pytest.fixture
def viewer(cast):
    return member(Role.VIEWER, customer=cast.alpha)


def get(client, user, customer, path, **params):
    client.force_login(user)
    return client.get(f"/api/v1/reports/{path}", params, HTTP_HOST=host(customer))


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_api_returns_the_selector_figure(cast, client, data, viewer, name):
    response = get(client, viewer, cast.alpha, f"{name}/", **PARAMS)
    assert response.status_code == 200, response.content
    with schema_context("alpha"):
        expected = table_json(figure_table(name, PARAMS))
    body = response.json()
    assert body["name"] == name
    assert {k: body[k] for k in ("columns", "rows", "summary", "notes")} == expected


def test_api_figures_are_exact_decimal_strings(cast, client, data, viewer):
    body = get(client, viewer, cast.alpha, "utilization/", by="practice", **PARAMS).json()
    data_row = next(r for r in body["rows"] if r["practice"] == "Data")
    assert (data_row["capacity_hours"], data_row["billable_hours"], data_row["utilization"]) == (
        "252.00", "24.00", "0.0952")


@pytest.mark.parametrize("path", ["reconciliation/?format=csv&", "reconciliation/csv/?"])
def test_csv_export_matches_the_table(cast, client, data, viewer, path):
    client.force_login(viewer)
    query = "start=2025-06-02&end=2025-06-29"
    response = client.get(f"/api/v1/reports/{path}{query}", HTTP_HOST=host(cast.alpha))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="alpha-reconciliation.csv"' in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()
    with schema_context("alpha"):
        assert text == "".join(csv_lines(figure_table("reconciliation", {"start": "2025-06-02",
                                                                          "end": "2025-06-29"})))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:4] == ["Target flow", "Project", "Project name", "Week of"]
    assert rows[1][:7] == ["Time to Tryton", "ACME-1", "Rollout", "2025-06-02", "14.00", "13.00", "1.00"]
    assert len(rows) == 6  # header + five project-weeks


def test_csv_neutralises_spreadsheet_formulas_in_names(cast, client, data, viewer):
    from apps.canonical.models import Project

    with schema_context("alpha"):
        Project.objects.filter(code="ACME-1").update(name="=HYPERLINK(\"http://x\")")
    client.force_login(viewer)
    text = b"".join(client.get("/api/v1/reports/reconciliation/csv/?start=2025-06-02&end=2025-06-29",
                               HTTP_HOST=host(cast.alpha)).streaming_content).decode()
    assert "'=HYPERLINK" in text and ",-1.00," in text  # negative numbers stay numbers


def test_bad_filters_answer_400_and_unknown_reports_404(cast, client, data, viewer):
    assert get(client, viewer, cast.alpha, "utilization/", start="June").status_code == 400
    assert get(client, viewer, cast.alpha, "utilization/", by="team").json() == {
        "type": "about:blank", "title": "Bad Request", "status": 400, "detail": "by must be one of: person, practice."}
    assert get(client, viewer, cast.alpha, "unposted-time/", flow="nope").status_code == 400
    assert get(client, viewer, cast.alpha, "no-such-report/").status_code == 404


def test_rows_come_a_page_at_a_time_with_links_and_the_summary_covers_all(cast, client, data, viewer):
    everything = get(client, viewer, cast.alpha, "reconciliation/", start="2025-06-02", end="2025-06-29").json()
    assert everything["count"] == 5 and everything["next"] is None and len(everything["rows"]) == 5

    first = get(client, viewer, cast.alpha, "reconciliation/", start="2025-06-02", end="2025-06-29", page_size=2)
    body = first.json()
    assert (body["count"], body["page"], body["previous"]) == (5, 1, None)
    assert body["rows"] == everything["rows"][:2] and body["summary"] == everything["summary"]
    assert "page=2" in body["next"] and "start=2025-06-02" in body["next"] and "page_size=2" in body["next"]
    second = client.get(body["next"], HTTP_HOST=host(cast.alpha)).json()  # following the link
    assert second["rows"] == everything["rows"][2:4] and second["page"] == 2
    last = get(client, viewer, cast.alpha, "reconciliation/", start="2025-06-02", end="2025-06-29", page_size=2,
               page=3).json()
    assert last["rows"] == everything["rows"][4:] and last["next"] is None and "page=2" in last["previous"]

    for bad in ({"page": "0"}, {"page": "two"}, {"page_size": "10001"}, {"page_size": "-1"}):
        response = get(client, viewer, cast.alpha, "reconciliation/", **bad)
        assert response.status_code == 400 and "must be a whole number" in response.json()["detail"]


def test_report_list_names_every_figure(cast, client, viewer):
    body = get(client, viewer, cast.alpha, "").json()
    assert [r["name"] for r in body] == list(FIGURES)
    assert body[0]["url"].endswith("/api/v1/reports/unposted-time/")


def test_viewer_reads_but_other_tenants_and_strangers_do_not(cast, client, data, viewer, charlie):
    assert get(client, viewer, cast.alpha, "unposted-time/").status_code == 200
    partner_analyst = member(Role.ANALYST, partner=cast.xpartner)
    assert get(client, partner_analyst, cast.alpha, "unposted-time/").status_code == 200
    beta_admin = member(Role.CUSTOMER_ADMIN, customer=cast.beta)
    for outsider in (charlie, beta_admin):
        response = get(client, outsider, cast.alpha, "unposted-time/")
        assert response.status_code == 403
        assert "ACME" not in response.content.decode()
    assert get(client, beta_admin, cast.alpha, "unposted-time/csv/").status_code == 403
    client.logout()
    assert client.get("/api/v1/reports/unposted-time/", HTTP_HOST=host(cast.alpha)).status_code == 401


def test_beta_sees_only_its_own_figures(cast, client, data):
    beta_viewer = member(Role.VIEWER, customer=cast.beta)
    body = get(client, beta_viewer, cast.beta, "blocked-invoices/").json()
    assert body["rows"] == [] and body["summary"]["invoices"] == 0


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_report_query_count_does_not_grow_with_data(cast, client, data, viewer, name):
    from tests.reporting.dataset import build_more

    client.force_login(viewer)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(f"/api/v1/reports/{name}/", PARAMS, HTTP_HOST=host(cast.alpha))
            assert response.status_code == 200
        # django-tenants sets the search path before each statement; those are not queries of the report.
        return sum(1 for q in captured.captured_queries if not q["sql"].startswith("SET search_path"))

    queries()  # the first request after sign-in binds the session to its host (one write); count the rest
    before = queries()
    with schema_context("alpha"):
        build_more()
    assert queries() == before
    assert before <= 5 + 8  # the request's own (host, session, user, memberships) + at most 8 for the figure
