"""What the portal home, the partner's drill-in and the monthly review show, computed in the current schema.

Every value here is evaluated (lists, dicts, numbers), so a page may render it after leaving the
customer's schema.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

from apps.portal import reports
from apps.reporting.models import ReviewPage
from apps.reporting.selectors.generation import figures_generation
from apps.reporting.tables import Table
from apps.runs.selectors import flows_with_status
from apps.tenants.branding import Brand
from apps.tenants.choices import Feature
from apps.tenants.models import Customer
from apps.tenants.plans import plan_allows
from apps.tenants.usage import month_start, usage_history

REVIEW_MEMO_SECONDS = 7 * 24 * 3600  # a closed month's review: kept a week unless its data changes sooner


@dataclass
class Section:
    """A figure on a page: the report it comes from, its table and chart, and whether the plan allows it."""

    report: reports.Report
    table: Table | None
    chart: dict | None
    allowed: bool = True


def section(slug: str, params: dict, brand: Brand, customer: Customer, *, table: Table | None = None) -> Section:
    """The figure ``slug`` for query-style ``params`` (dates as ISO strings), unless the plan leaves it out;
    ``table``: the figure computed before for the same parameters."""
    report = reports.REPORTS[slug]
    if report.feature and not plan_allows(customer, report.feature):
        return Section(report, None, None, allowed=False)
    if table is None:
        table = reports.report_table(report, params)
    chart = report.chart(table, brand) if report.chart else None
    return Section(report, table, chart)


def window(start: date | None = None, end: date | None = None, as_of: date | None = None, **options) -> dict:
    dates = {"start": start, "end": end, "as_of": as_of}
    return {**{k: v.isoformat() for k, v in dates.items() if v}, **options}


def customer_dashboard(*, customer: Customer, brand: Brand, today: date | None = None) -> dict:
    """Sync status per flow and the headline figures of the last 90 days (latency) and today (backlogs)."""
    today = today or timezone.localdate()
    now = window(as_of=today)
    return {
        "flows": flows_with_status(),
        "unposted": section("unposted-time", now, brand, customer),
        "blocked": section("blocked-invoices", now, brand, customer),
        "exceptions": section("exceptions", now, brand, customer),
        "latency": section("posting-latency", window(start=today - timedelta(days=89), end=today), brand, customer),
    }


def month_bounds(month: date) -> tuple[date, date]:
    first = month_start(month)
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


def month_weeks(first: date, last: date) -> tuple[date, date]:
    """The ISO weeks that belong to the month: those whose Thursday falls in it (ISO 8601's rule), so every week
    is in exactly one month's review. Monday of the first, Sunday of the last."""
    thursday = first + timedelta(days=(3 - first.weekday()) % 7)
    final = last - timedelta(days=(last.weekday() - 3) % 7)
    return thursday - timedelta(days=3), final + timedelta(days=3)


def monthly_review(*, customer: Customer, brand: Brand, month: date, today: date | None = None,
                   lazy: bool = False) -> dict:
    """The monthly operational review: the month's figures, backlogs at month end, and usage against plan.

    Bounded to the month: figures of the month cover its days (reconciliation its ISO weeks, ``month_weeks``);
    backlogs at month end count work dated in the month or before and exceptions opened by its end.

    A closed month's tables are remembered (the cache, whose keys carry the tenant's schema) under the
    fingerprint of the data they read (``figures_generation``), so a review read again is a look-up and any
    change that could alter it (a late entry, a refresh, an exception) makes the next read compute it afresh.
    A closed month's sections are also stored as rendered (``ReviewPage``, in the tenant's schema) under the same
    fingerprint plus the figures shown and the brand's colours: ``sections_html`` is that copy, read or rendered
    and stored here (None: an open month, rendered by the page from ``sections``).
    ``lazy``: ``sections`` is a callable the template calls only if it has no rendered copy (call the view
    inside the customer's schema then).
    """
    first, last = month_bounds(month)
    in_month = window(start=first, end=last, as_of=last)
    at_end = window(end=last, as_of=last)
    figures = [
        ("run-health", in_month),
        ("posting-latency", {**in_month, "period": "week"}),
        ("unposted-time", at_end),
        ("blocked-invoices", at_end),
        ("exceptions", at_end),
        ("utilization", {**in_month, "by": "practice"}),
        ("project-margin", in_month),
    ]
    if plan_allows(customer, Feature.RECONCILIATION):
        weeks_start, weeks_end = month_weeks(first, last)
        figures.append(("reconciliation", window(start=weeks_start, end=weeks_end, as_of=last)))
    figures.append(("roi", in_month))
    closed = last < month_start(today or timezone.localdate())
    key = f"review-tables:{first.isoformat()}:{figures_generation()}" if closed else None

    def sections() -> list[Section]:
        remembered = cache.get(key) if key else None
        found = [section(slug, params, brand, customer, table=(remembered or {}).get(slug))
                 for slug, params in figures]
        computed = {s.report.slug: s.table for s in found if s.table is not None}
        if key and computed != remembered:
            cache.set(key, computed, REVIEW_MEMO_SECONDS)
        return found

    usage = next((u for u in usage_history(customer, months=24) if u.month == first), None)
    # A section with nothing in the month says so in the month's terms (a report page's "widen the dates" does not
    # apply here) and points to the months beside it: a customer gone live this month has an empty last month.
    empty_note = (f"Nothing for this in {first:%B %Y}: the review counts what happened in the month (and what was "
                  "still open at its end). Other months are linked beside the title; the reports show any dates.")
    page_key = key and f"{key}:{_shown(figures, customer)}:{brand.primary_colour}:{brand.accent_colour}"
    html, found = _stored_sections(first, page_key) if page_key else None, None
    if page_key and html is None:
        found = sections()
        html = _store_sections(first, page_key, render_to_string(
            "portal/_review_sections.html", {"sections": found, "empty_note": empty_note}))
    if found is None:
        found = sections if lazy else sections()
    following = month_start(last + timedelta(days=1))
    return {"month": first, "month_end": last, "sections": found, "usage": usage,
            "plan": customer.plan, "sections_html": html, "previous_month": previous_month(first),
            "next_month": following if following <= month_start(today or timezone.localdate()) else None,
            "empty_note": empty_note}


def _stored_sections(month: date, page_key: str) -> SafeString | None:
    """The month's rendered sections if stored under ``page_key`` within the memo's lifetime (rendered by
    ``_store_sections`` from our own template, so safe as HTML)."""
    fresh = timezone.now() - timedelta(seconds=REVIEW_MEMO_SECONDS)
    html = (ReviewPage.objects.filter(month=month, key=page_key, rendered_at__gte=fresh)
            .values_list("html", flat=True).first())
    return None if html is None else mark_safe(html)  # noqa: S308 -- our template's output, stored verbatim


def _store_sections(month: date, page_key: str, html: str) -> SafeString:
    """Keep the month's rendered sections, one row a month: the last render wins. A slow render under an older
    fingerprint may replace a newer one; the next read then sees a key that is not its own and renders again (a
    cost, never a stale page)."""
    ReviewPage.objects.bulk_create([ReviewPage(month=month, key=page_key, html=html, rendered_at=timezone.now())],
                                   update_conflicts=True, unique_fields=["month"],
                                   update_fields=["key", "html", "rendered_at"])
    return mark_safe(html)  # noqa: S308 -- rendered from our template just now


def _shown(figures: list[tuple[str, dict]], customer: Customer) -> str:
    """Which figures the page shows, and which of them the plan allows: the rendered page varies with both."""
    reports_ = [reports.REPORTS[slug] for slug, _ in figures]
    return ",".join(f"{r.slug}{'' if not r.feature or plan_allows(customer, r.feature) else '-'}" for r in reports_)


def parse_month(value: str | None, *, default: date) -> date | None:
    """``YYYY-MM`` as the month's first day; None when it does not parse."""
    if not value:
        return month_start(default)
    try:
        year, month = (int(part) for part in value.split("-"))
        return date(year, month, 1)
    except ValueError:
        return None


def previous_month(today: date) -> date:
    return month_start(month_start(today) - timedelta(days=1))
