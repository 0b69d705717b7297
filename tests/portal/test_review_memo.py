"""A closed month's review is remembered (issue 18) and is always what a live computation gives: the remembered
tables equal the live ones, and a late entry in that month, or an exception triaged since, makes the next read
compute afresh."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.canonical.models import Project, TimeEntry
from apps.connectors.models import Connection
from apps.exceptions.models import IntegrationException
from apps.portal import dashboards, reports
from apps.portal.tasks import review_prepare
from apps.reporting import tasks as reporting_tasks
from apps.reporting.models import ReviewPage
from apps.reporting.services import reporting_refresh
from apps.runs.models import Flow, Run, RunItem
from apps.tenants.branding import brand_for_partner
from apps.tenants.choices import Role
from tests.conftest import host, member
from tests.factories import MembershipFactory
from tests.portal.conftest import Site
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


# --- late changes on a customer whose stored figures exist (every customer after its first run) ---------------
MAY = date(2025, 5, 1)


@pytest.fixture
def stored(data):
    """The stored figures refreshed, as after any run (what a large customer's review reads), and the inbound
    flow whose runs change the hub."""
    harvest = Connection.objects.get(slug="harvest")
    data.inbound = Flow.objects.create(name="Time from Harvest", slug="time-in", direction="inbound",
                                       object_type="time_entry", connection=harvest, object_name="time_entries")
    reporting_refresh()
    return data


def run_changed(data, record, object_type: str = "time_entry") -> None:
    """What an inbound run leaves besides the hub write: its ledger item (one for every record a run touches)."""
    run = Run.objects.create(flow=data.inbound, connection=data.inbound.connection, object_type=object_type,
                             object_name=data.inbound.object_name, status="succeeded")
    RunItem.objects.create(run=run, object_type=object_type, canonical_id=record.pk, external_id=str(record.pk),
                           outcome="updated")


def month_review(cast, month: date, today: date = LATER) -> dict:
    return tables(dashboards.monthly_review(customer=cast.alpha, brand=brand_for_partner(cast.xpartner),
                                            month=month, today=today))


def test_a_backdated_entry_moves_from_one_remembered_month_to_the_other(cast, stored, computed):
    """E5 (Bob, 3 h on 17 June) is backdated to 27 May by the time system: both closed months were remembered,
    both change, and each equals a live computation at once after the run and again after its refresh."""
    may, june = month_review(cast, MAY), month_review(cast, JUNE)
    e5 = stored.entries["E5"]
    e5.date, e5.content_hash = date(2025, 5, 27), "hash-E5-backdated"
    e5.save(update_fields=["date", "content_hash", "updated_at"])
    run_changed(stored, e5)
    computed.clear()
    after_run = month_review(cast, JUNE)
    assert computed  # the run's ledger item alone makes the next read compute again
    assert after_run == month_review(cast, JUNE, today=JUNE)
    reporting_refresh()  # queued by the run's end
    computed.clear()
    may_after, june_after = month_review(cast, MAY), month_review(cast, JUNE)
    assert computed  # recomputed, not served from the memo
    assert may_after == month_review(cast, MAY, today=MAY) and june_after == month_review(cast, JUNE, today=JUNE)
    assert june_after["utilization"][1]["billable_hours"] == june["utilization"][1]["billable_hours"] - 3
    assert may_after["utilization"][1]["billable_hours"] == may["utilization"][1]["billable_hours"] + 3


def test_a_rate_change_reaches_the_remembered_month(cast, stored, computed):
    """ACME-2's default rate goes from 150 to 180 in the ERP: June's margin (remembered) is computed again with it."""
    june = month_review(cast, JUNE)
    project = Project.objects.get(code="ACME-2")
    project.default_bill_rate = Decimal("180")
    project.save(update_fields=["default_bill_rate", "updated_at"])
    run_changed(stored, project, "project")
    reporting_refresh()  # the rates changed: a full refresh
    computed.clear()
    after = month_review(cast, JUNE)
    assert computed and after == month_review(cast, JUNE, today=JUNE)
    # Bob's 3 billable hours on ACME-2 (E5; E4's 5 h too) are now worth 30 more each
    assert after["project-margin"][1] != june["project-margin"][1]
    value = {r["project"]: r["billable_value"] for r in after["project-margin"][0]}
    before = {r["project"]: r["billable_value"] for r in june["project-margin"][0]}
    assert value["ACME-2"] - before["ACME-2"] == Decimal("30") * 8


def beta_with_nine_more_hours_in_june() -> None:
    """beta: the same data as alpha plus 9 approved hours on 25 June, its stored figures refreshed (call in beta)."""
    e1 = build().entries["E1"]
    TimeEntry.objects.create(person=e1.person, project=e1.project, date=date(2025, 6, 25), hours=Decimal("9"),
                             billable=True, approval_status="approved", content_hash="beta-only",
                             source_connection=e1.source_connection)
    reporting_refresh()


def test_tenants_never_share_remembered_figures(cast, stored, computed):
    """beta's June differs from alpha's (9 h more): each tenant is served its own figures, from its own memo, and a
    key written in beta's schema is not there in alpha's (so even equal fingerprints could not cross)."""
    alpha_june = month_review(cast, JUNE)
    with schema_context(cast.beta.schema_name):
        beta_with_nine_more_hours_in_june()
        computed.clear()
        beta_june = tables(dashboards.monthly_review(customer=cast.beta, brand=brand_for_partner(cast.xpartner),
                                                     month=JUNE, today=LATER))
        assert computed  # not alpha's memo
        assert beta_june == tables(dashboards.monthly_review(
            customer=cast.beta, brand=brand_for_partner(cast.xpartner), month=JUNE, today=JUNE))
        cache.set("review-probe", "beta's")
    assert beta_june["utilization"][1]["billable_hours"] == alpha_june["utilization"][1]["billable_hours"] + 9
    assert cache.get("review-probe") is None
    computed.clear()
    assert month_review(cast, JUNE) == alpha_june and computed == []  # alpha's memo is still alpha's


def test_each_tenant_is_served_its_own_remembered_review_page(cast, stored):
    """One person at both customers reads June at alpha, then at beta: beta's page (rendered sections remembered
    per tenant) is what beta's figures give when nothing is remembered, and alpha's stays alpha's."""
    def article(site) -> str:
        text = site.get("/review/2025-06/").text
        return text[text.index('<article class="review">'):text.index("</article>")]

    person = member(Role.FINANCE_APPROVER, customer=cast.alpha, username="finance-at-both")
    MembershipFactory(user=person, role=Role.FINANCE_APPROVER, customer=cast.beta)
    with schema_context(cast.beta.schema_name):
        beta_with_nine_more_hours_in_june()
    alpha_site, beta_site = (Site(Client(), host(customer)) for customer in (cast.alpha, cast.beta))
    for site in (alpha_site, beta_site):  # a session is used only on the host it signed in on
        site.client.force_login(person)
    alpha_page = article(alpha_site)
    beta_page = article(beta_site)
    assert article(alpha_site) == alpha_page and article(beta_site) == beta_page  # remembered
    cache.clear()
    for customer in (cast.alpha, cast.beta):
        with schema_context(customer.schema_name):
            assert ReviewPage.objects.get().month == JUNE  # each schema stores its own
            ReviewPage.objects.all().delete()
    assert article(beta_site) == beta_page and article(alpha_site) == alpha_page  # what each computes afresh
    assert beta_page != alpha_page


def review_article(site, path: str = "/review/") -> str:
    text = site.get(path).text
    return text[text.index('<article class="review">'):text.index("</article>")]


def test_the_refresh_after_a_run_prepares_last_month_so_its_first_read_is_a_look_up(
        cast, alpha_site, finance, stored, computed, monkeypatch, django_capture_on_commit_callbacks):
    """A customer that reads its review: the refresh each run queues also renders last month's review again (in the
    worker), so the first read after the run computes nothing, in a web process with nothing cached, and it shows
    the run's change to the closed month: what a live computation renders."""
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: date(2025, 7, 15))  # June is last month
    alpha_site.client.force_login(finance)
    before = review_article(alpha_site)
    e5 = stored.entries["E5"]  # 3 h on 17 June, backdated to 27 May by the time system
    e5.date, e5.content_hash = date(2025, 5, 27), "hash-E5-backdated"
    e5.save(update_fields=["date", "content_hash", "updated_at"])
    run_changed(stored, e5)
    with django_capture_on_commit_callbacks(execute=True):
        reporting_tasks.reporting_refresh(timezone.now().isoformat())  # queued by the run's end (sync in tests)
    assert ReviewPage.objects.get().month == JUNE
    cache.clear()  # another web process
    computed.clear()
    review_prepare()  # again, with nothing moved since: the stored render stands, no figure is computed
    assert computed == []
    after = review_article(alpha_site)
    assert computed == [] and after != before  # served as stored, with the late change
    ReviewPage.objects.all().delete()
    cache.clear()
    assert review_article(alpha_site) == after and computed  # what a live computation renders


def test_a_customer_that_never_read_a_review_has_none_prepared(cast, stored, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        reporting_tasks.reporting_refresh(timezone.now().isoformat())
    assert not ReviewPage.objects.exists()


def test_a_stored_review_older_than_the_memo_lifetime_is_rendered_afresh(cast, alpha_site, finance, data, computed):
    alpha_site.client.force_login(finance)
    first = review_article(alpha_site, "/review/2025-06/")
    ReviewPage.objects.update(rendered_at=timezone.now() - timedelta(seconds=dashboards.REVIEW_MEMO_SECONDS + 60))
    cache.clear()
    computed.clear()
    assert review_article(alpha_site, "/review/2025-06/") == first and computed
    assert ReviewPage.objects.get().rendered_at > timezone.now() - timedelta(minutes=5)
