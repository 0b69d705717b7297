"""A closed month's review is remembered (issue 18) and is always what a live computation gives: the remembered
tables equal the live ones, and a late entry in that month, or an exception triaged since, makes the next read
compute afresh."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.cache import cache

from apps.canonical.models import TimeEntry
from apps.exceptions.models import IntegrationException
from apps.portal import dashboards, reports
from apps.tenants.branding import brand_for_partner
from tests.reporting.dataset import build

JUNE, LATER = date(2025, 6, 1), date(2025, 8, 15)  # June 2025 is closed "today" (mid-August)


@pytest.fixture
def data(in_alpha):
    cache.clear()
    yield build()
    cache.clear()


@pytest.fixture
def computed(monkeypatch):
    """The figures computed (not read from the memo) by each review."""
    slugs = []
    original = reports.report_table

    def counted(report, params):
        slugs.append(report.slug)
        return original(report, params)

    monkeypatch.setattr(reports, "report_table", counted)
    return slugs


def review(cast, today=LATER) -> dict:
    return dashboards.monthly_review(customer=cast.alpha, brand=brand_for_partner(cast.xpartner), month=JUNE,
                                     today=today)


def tables(result: dict) -> dict:
    return {s.report.slug: (s.table.rows, s.table.summary, s.table.notes) for s in result["sections"] if s.table}


def live(cast) -> dict:
    return tables(review(cast, today=JUNE))  # June is not closed on a day in June: computed, never remembered


def test_a_closed_month_is_computed_once_and_remembered_equal_to_live(cast, data, computed):
    first = review(cast)
    assert len(computed) == len(tables(first)) >= 8
    computed.clear()
    again = review(cast)
    assert computed == []  # every table came from the memo
    assert tables(again) == tables(first) == live(cast)
    assert [s.chart for s in again["sections"]] == [s.chart for s in first["sections"]]


def test_a_late_entry_in_the_month_is_in_the_next_review(cast, data, computed):
    before = review(cast)
    e1 = data.entries["E1"]
    TimeEntry.objects.create(person=e1.person, project=e1.project, date=date(2025, 6, 25), hours=Decimal("9"),
                             billable=True, approval_status="approved", content_hash="late",
                             source_connection=e1.source_connection)
    computed.clear()
    after = review(cast)
    assert computed  # not served from the memo
    assert tables(after) == live(cast)
    assert tables(after)["utilization"] != tables(before)["utilization"]  # the 9 hours count in June


def test_an_exception_triaged_since_is_in_the_next_review(cast, data, computed):
    review(cast)
    exception = IntegrationException.objects.order_by("pk").first()
    exception.save()  # any change to an exception (a triage, a resolution) moves its stamp
    computed.clear()
    assert tables(review(cast)) == live(cast) and computed


def test_the_review_page_is_remembered_and_shows_a_late_entry_once_it_lands(cast, alpha_site, finance, data,
                                                                            computed):
    def page() -> str:  # the review itself (the page around it carries a per-request CSRF token)
        text = alpha_site.get("/review/2025-06/").text
        return text[text.index('<article class="review">'):text.index("</article>")]

    alpha_site.client.force_login(finance)
    first = page()
    computed.clear()
    assert page() == first and computed == []  # the rendered sections remembered
    e1 = data.entries["E1"]
    TimeEntry.objects.create(person=e1.person, project=e1.project, date=date(2025, 6, 25), hours=Decimal("9"),
                             billable=True, approval_status="approved", content_hash="late",
                             source_connection=e1.source_connection)
    assert page() != first and computed
