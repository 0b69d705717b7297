"""The customer portal: the partner's brand only, live figures from reporting, exceptions by role, gating."""

from decimal import Decimal as D

import pytest
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.exceptions.models import IntegrationException
from apps.reporting.filters import ReportFilters
from apps.reporting.selectors import blocked_invoices, unposted_time
from apps.tenants.plans import customer_plan_set
from tests.reporting.dataset import build

PAGES = ["/", "/reports/", "/reports/unposted-time/", "/reports/posting-latency/",
         "/reports/run-health/", "/reports/utilization/?by=practice", "/reports/project-margin/", "/reports/roi/",
         "/reports/blocked-invoices/", "/reports/assignment-mismatches/", "/reports/exceptions/",
         "/reports/reconciliation/", "/exceptions/", "/review/", "/review/2025-06/", "/plan/"]


@pytest.fixture
def data(in_alpha):
    """The hand-computed data set of the reporting tests (tests/reporting/dataset.py), in alpha's schema."""
    return build()


def exception(fingerprint: str) -> IntegrationException:
    with schema_context("alpha"):
        return IntegrationException.objects.get(fingerprint=fingerprint)


def test_every_portal_page_is_in_the_partners_brand_and_never_weft(cast, alpha_site, finance, data):
    alpha_site.client.force_login(finance)
    for path in PAGES:
        page = alpha_site.get(path)
        assert page.status_code == 200, path
        text = page.content.decode()
        assert cast.xpartner.display_name in text and cast.xpartner.primary_colour in text, path
        assert "Weft" not in text and "weft.invalid" not in text, path
    assert f'data-flow="{data.flow.slug}"' in alpha_site.get("/sync-status/").text  # the htmx refresh of the flows


def test_the_home_page_shows_what_the_selectors_compute(cast, alpha_site, finance, data):
    today = timezone.localdate()
    unposted = unposted_time(filters=ReportFilters(as_of=today)).summary
    blocked = blocked_invoices(filters=ReportFilters(as_of=today)).summary
    alpha_site.client.force_login(finance)
    page = alpha_site.get("/").text
    assert f'data-figure="unposted-hours">{unposted["hours"]:,.1f} h<' in page
    assert f'data-figure="blocked-invoices">{blocked["invoices"]}<' in page
    assert f'data-flow="{data.flow.slug}"' in page and 'canvas data-chart="unposted-chart"' in page


def test_a_figure_worked_out_by_hand_and_its_csv(cast, alpha_site, finance, data):
    alpha_site.client.force_login(finance)
    page = alpha_site.get("/reports/unposted-time/", as_of="2025-06-30").text
    for cell in (">720.00<", ">1,000.00<", ">750.00<", ">200.00<"):  # tests/reporting: 6 h × 120, 10 h × 100, ...
        assert cell in page
    export = alpha_site.get("/reports/unposted-time.csv", as_of="2025-06-30")
    assert export["Content-Type"].startswith("text/csv") and "attachment" in export["Content-Disposition"]
    lines = b"".join(export.streaming_content).decode().splitlines()
    assert lines[0].startswith("Project,Project name,Customer,Age since approval") and len(lines) == 5


def test_a_filter_that_does_not_parse_is_explained(cast, alpha_site, finance):
    alpha_site.client.force_login(finance)
    page = alpha_site.get("/reports/posting-latency/", start="yesterday")
    assert page.status_code == 400 and "start must be a date as YYYY-MM-DD" in page.text
    assert alpha_site.get("/reports/no-such-figure/").status_code == 404


def test_reconciliation_follows_the_plan(cast, alpha_site, finance, basic, premium, data):
    alpha_site.client.force_login(finance)
    customer_plan_set(customer=cast.alpha, plan=basic, acting_user=None)
    refused = alpha_site.get("/reports/reconciliation/")
    assert refused.status_code == 403 and "not part of the Basic plan" in refused.text
    assert alpha_site.get("/reports/reconciliation.csv").status_code == 403
    assert "not in your plan" in alpha_site.get("/reports/").text
    assert 'id="review-reconciliation"' not in alpha_site.get("/review/2025-06/").text
    customer_plan_set(customer=cast.alpha, plan=premium, acting_user=None)
    assert alpha_site.get("/reports/reconciliation/").status_code == 200
    assert 'id="review-reconciliation"' in alpha_site.get("/review/2025-06/").text


def test_finance_approvers_comment_and_acknowledge(cast, alpha_site, finance, data):
    x1 = exception("X1")
    alpha_site.client.force_login(finance)
    assert 'name="body"' in alpha_site.get(f"/exceptions/{x1.pk}/").text
    partial = alpha_site.post(f"/exceptions/{x1.pk}/comment/", {"body": "Client confirmed the rate."},
                              HTTP_HX_REQUEST="true")
    assert partial.text.lstrip().startswith('<div id="comments">') and "Client confirmed the rate." in partial.text
    assert alpha_site.post(f"/exceptions/{x1.pk}/acknowledge/").status_code == 302
    x1 = exception("X1")
    assert x1.status == "acknowledged" and x1.history.latest().history_user == finance


def test_viewers_see_exceptions_but_may_not_act(cast, alpha_site, viewer, data):
    x1 = exception("X1")
    alpha_site.client.force_login(viewer)
    page = alpha_site.get("/exceptions/").text
    assert f'data-exception="{x1.pk}"' in page and 'data-exception="' in page
    detail = alpha_site.get(f"/exceptions/{x1.pk}/").text
    assert 'name="body"' not in detail and 'id="acknowledge"' not in detail
    assert alpha_site.post(f"/exceptions/{x1.pk}/comment/", {"body": "hi"}).status_code == 403
    assert alpha_site.post(f"/exceptions/{x1.pk}/acknowledge/").status_code == 403
    assert exception("X1").status == "open" and not exception("X1").comments.exists()


def test_resolved_exceptions_are_listed_apart(cast, alpha_site, viewer, data):
    alpha_site.client.force_login(viewer)
    x4 = exception("X4")  # resolved in the data set
    assert f'data-exception="{x4.pk}"' not in alpha_site.get("/exceptions/").text
    assert f'data-exception="{x4.pk}"' in alpha_site.get("/exceptions/", status="resolved").text
    assert alpha_site.get("/exceptions/999999/").status_code == 404


@pytest.mark.parametrize("path", ["/", "/reports/unposted-time/", "/exceptions/", "/review/", "/plan/"])
def test_a_customer_user_gets_404_on_another_customers_portal(cast, beta_site, finance, path):
    beta_site.client.force_login(finance)  # alpha's finance approver, on beta's domain
    page = beta_site.get(path)
    assert page.status_code == 404 and "Weft" not in page.text


def test_other_partners_staff_get_404_and_own_partner_staff_get_in(cast, alpha_site, charlie, analyst):
    alpha_site.client.force_login(charlie)
    assert alpha_site.get("/").status_code == 404
    alpha_site.client.force_login(analyst)
    assert alpha_site.get("/").status_code == 200


def test_anonymous_visitors_are_sent_to_the_login_page(cast, alpha_site):
    response = alpha_site.get("/reports/")
    assert response.status_code == 302 and response.url.startswith("/login/")


def test_the_monthly_review_is_printable(cast, alpha_site, finance, data):
    alpha_site.client.force_login(finance)
    page = alpha_site.get("/review/2025-06/").text
    assert "Monthly operational review" in page and "June 2025" in page and "data-print" in page
    for section in ("run-health", "posting-latency", "unposted-time", "blocked-invoices", "exceptions",
                    "utilization", "project-margin", "roi"):
        assert f'id="review-{section}"' in page
    assert alpha_site.get("/review/not-a-month/").status_code == 404


def test_read_only_pages_answer_only_get_and_head(cast, alpha_site, finance, data):
    """A POST (signed in; the test client passes CSRF) to a page that only shows something is refused, not served."""
    alpha_site.client.force_login(finance)
    for path in ("/review/2025-06/", "/review/", "/reports/unposted-time/", "/exceptions/", "/runs/"):
        assert alpha_site.post(path, {"month": "2025-05"}).status_code == 405, path
        assert alpha_site.client.head(path, HTTP_HOST=alpha_site.host).status_code == 200, path
        assert alpha_site.get(path).status_code == 200, path


def test_the_plan_page_shows_plan_and_usage(cast, alpha_site, viewer, basic):
    customer_plan_set(customer=cast.alpha, plan=basic, acting_user=None)
    alpha_site.client.force_login(viewer)
    page = alpha_site.get("/plan/").text
    assert "Basic" in page and "EUR 490.00 a month" in page and "1,000" in page


def test_the_admin_carries_the_partners_brand_and_support_contact(cast, alpha_site, alice):
    alpha_site.client.force_login(alice)  # a customer admin may use the tenant admin
    page = alpha_site.get("/admin/")
    assert page.status_code == 200
    assert cast.xpartner.display_name in page.text and cast.xpartner.support_email in page.text
    assert cast.xpartner.primary_colour in page.text and "Weft" not in page.text


def test_a_long_report_is_listed_a_page_at_a_time_and_the_csv_has_every_row(cast, alpha_site, finance, data,
                                                                            monkeypatch):
    monkeypatch.setattr("apps.portal.views.customer.REPORT_ROWS_PER_PAGE", 3)  # the hand-computed figure has 4 rows
    alpha_site.client.force_login(finance)
    first = alpha_site.get("/reports/unposted-time/", as_of="2025-06-30").text
    second = alpha_site.get("/reports/unposted-time/", as_of="2025-06-30", page="2").text
    assert "Rows 1–3 of 4" in first and 'rel="next"' in first and 'rel="prev"' not in first
    assert "Rows 4–4 of 4" in second and 'rel="prev"' in second
    cells = (">720.00<", ">1,000.00<", ">750.00<", ">200.00<")
    assert sum(c in first for c in cells) == 3 and sum(c in second for c in cells) == 1
    assert "page=2" in first and "as_of=2025-06-30" in first  # the filters travel with the pager
    export = alpha_site.get("/reports/unposted-time.csv", as_of="2025-06-30", page="2")
    assert len(b"".join(export.streaming_content).decode().splitlines()) == 5


def test_utilization_and_margin_pages_say_which_time_they_count(cast, alpha_site, finance, data):
    alpha_site.client.force_login(finance)
    for path in ("/reports/utilization/", "/reports/project-margin/"):
        page = alpha_site.get(path).text
        assert "Approved time only (the customer&#x27;s reporting setting" in page, path
        assert '<option value="approved" selected>' in page, path
    page = alpha_site.get("/reports/utilization/?time=all").text
    assert "Approved and submitted time (asked for with time=all" in page
    assert '<option value="all" selected>' in page


def test_the_home_page_shows_queued_events_and_how_long_the_oldest_has_waited(cast, alpha_site, finance, data):
    from datetime import timedelta

    from apps.connectors.services import connection_create
    from apps.runs.models import InboundEvent

    alpha_site.client.force_login(finance)
    assert 'id="event-backlog"' not in alpha_site.get("/").text  # nothing waits: nothing said
    with schema_context("alpha"):
        hooks = connection_create(name="Hooks", slug="hooks", kind="webhook",
                                  credentials={"signing_secret": "whsec-portal-0123456789abcdef01234567"},
                                  acting_user=None)
        for n in range(2):
            InboundEvent.objects.create(connection=hooks, event_id=f"evt-{n}", event_type="record.changed", payload={})
        InboundEvent.objects.filter(event_id="evt-0").update(received_at=timezone.now() - timedelta(minutes=7))
    for path in ("/", "/sync-status/"):  # the page, and its htmx refresh
        page = alpha_site.get(path).text
        assert "2 events queued for processing; the oldest arrived" in page and "7 minutes ago" in page, path


def test_the_monthly_review_shows_only_its_month(cast, data):
    """May's review, made in July: no row carries a day after 31 May (June's time, invoices and weeks stay out)."""
    from datetime import date, datetime

    from apps.portal.dashboards import monthly_review
    from apps.tenants.branding import brand_for_partner

    with schema_context("alpha"):
        review = monthly_review(customer=cast.alpha, brand=brand_for_partner(cast.xpartner), month=date(2025, 5, 1))
    late = []
    for section in review["sections"]:
        for row in section.table.rows if section.table else []:
            for column in section.table.columns:
                value = row.get(column.key)
                day = value.date() if isinstance(value, datetime) else value
                if isinstance(day, date) and day > date(2025, 5, 31) and section.report.slug != "roi":
                    late.append((section.report.slug, column.key, day))
    assert late == [], late
    unposted = next(s for s in review["sections"] if s.report.slug == "unposted-time").table
    assert unposted.summary["hours"] == D("10.00")  # E9 (20 May) only; E2, E4, E10 are June's
    exceptions = next(s for s in review["sections"] if s.report.slug == "exceptions").table
    assert exceptions.summary["exceptions"] == 1  # X3 opened 1 May; X1, X2, X5 opened in June

    # June's review reconciles the ISO weeks whose Thursday is in June: 2 to 29 June, not 26 May to 6 July.
    with schema_context("alpha"):
        june = monthly_review(customer=cast.alpha, brand=brand_for_partner(cast.xpartner), month=date(2025, 6, 1))
    reconciled = next(s for s in june["sections"] if s.report.slug == "reconciliation").table
    assert reconciled.notes[0].startswith("Weeks 2025-06-02 to 2025-06-29")
