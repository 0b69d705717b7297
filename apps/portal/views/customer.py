"""The customer portal on the customer's own domain: sync status, dashboards, exceptions, monthly review."""

from __future__ import annotations

import dataclasses

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST, require_safe

from apps.common.errors import ApplicationError
from apps.exceptions import selectors as exception_selectors
from apps.exceptions import services as exception_services
from apps.exceptions.choices import ACTIVE_STATUSES
from apps.exceptions.selectors import ExceptionFilter
from apps.portal import dashboards, forms, reports
from apps.portal.views.shared import portal_view
from apps.reporting.exports import csv_response
from apps.reporting.filters import FILTER_PARAMS
from apps.runs.selectors import event_backlog, flows_with_status
from apps.tenants import access
from apps.tenants.branding import brand_for_partner
from apps.tenants.plans import plan_allows, plan_denied_message
from apps.tenants.usage import usage_history

PAGE_SIZE = 50
# A report page lists its rows a page at a time: a large firm's mismatch table has tens of thousands (megabytes
# of HTML, seconds to render). The chart still sums every row, and the CSV export has them all.
REPORT_ROWS_PER_PAGE = 200


def _brand(request):
    return brand_for_partner(request.partner)


@require_safe
@portal_view()
def home(request):
    dashboard = dashboards.customer_dashboard(customer=request.tenant, brand=_brand(request))
    return render(request, "portal/home.html", {"dashboard": dashboard, "flows": dashboard["flows"],
                                                "backlog": event_backlog()})


@require_safe
@portal_view()
def sync_status(request):
    """The flow table alone, for the home page to refresh itself (htmx)."""
    return render(request, "portal/_flows.html", {"flows": flows_with_status(), "backlog": event_backlog()})


@require_safe
@portal_view()
def report_index(request):
    pages = [(r, plan_allows(request.tenant, r.feature) if r.feature else True) for r in reports.REPORTS.values()]
    return render(request, "portal/reports.html", {"pages": pages})


def _report(request, slug: str) -> reports.Report:
    report = reports.REPORTS.get(slug)
    if report is None:
        raise Http404("No such report.")
    if report.feature and not plan_allows(request.tenant, report.feature):
        raise PermissionDenied(plan_denied_message(request.tenant, report.feature))
    return report


@require_safe
@portal_view()
def report_detail(request, slug: str):
    report = _report(request, slug)
    try:
        table = reports.report_table(report, request.GET)
    except ApplicationError as error:  # a filter that does not parse: say so, with the form to fix it
        return _report_error(request, report, error)
    chart = report.chart(table, _brand(request)) if report.chart else None
    page = Paginator(table.rows, REPORT_ROWS_PER_PAGE).get_page(request.GET.get("page"))
    paged = dataclasses.replace(table, rows=page.object_list)
    return render(request, "portal/report.html", {"report": report, "table": paged, "page": page, "chart": chart,
                                                  **_form(request, report, table.summary)})


def _report_error(request, report, error: ApplicationError):
    context = {"report": report, "error": error.message, **_form(request, report)}
    return render(request, "portal/report.html", context, status=400)


def _form(request, report, summary: dict | None = None) -> dict:
    # An option left out shows the value the figure used (``time`` follows the customer's reporting setting).
    used = {name: str(value) for name, value in (summary or {}).items() if isinstance(value, str)}
    return {"params": {name: request.GET.get(name, "") for name in FILTER_PARAMS},
            "options": [(name, choices, request.GET.get(name) or used.get(name, ""))
                        for name, choices in reports.report_options(report)],
            "query": request.GET.urlencode(), "query_without_page": _without(request.GET, "page")}


def _without(query, name: str) -> str:
    query = query.copy()
    query.pop(name, None)
    return query.urlencode()


@require_safe
@portal_view()
def report_csv(request, slug: str):
    report = _report(request, slug)
    try:
        table = reports.report_table(report, request.GET)
    except ApplicationError as error:
        return _report_error(request, report, error)
    return csv_response(table, f"{request.tenant.slug}-{report.slug}-{timezone.localdate():%Y-%m-%d}.csv")


@require_safe
@portal_view()
def exception_list(request):
    show = request.GET.get("status", "active")
    status = ",".join(ACTIVE_STATUSES) if show == "active" else (None if show == "all" else show)
    exceptions = exception_selectors.exceptions_list(filters=ExceptionFilter(status=status))[:PAGE_SIZE]
    return render(request, "portal/exceptions.html", {"exceptions": exceptions, "show": show})


def _exception(pk: int):
    exception = exception_selectors.exception_detail(pk=pk)
    if exception is None:
        raise Http404("No such exception.")
    return exception


@require_safe
@portal_view()
def exception_detail(request, pk: int):
    exception = _exception(pk)
    return render(request, "portal/exception.html", {
        "exception": exception, "comment_form": forms.CommentForm(), **_may(request),
        "records": exception.records.filter(is_open=True).order_by("-last_seen")[:20],
        "fixes": _fixes(request, exception),
    })


def _fixes(request, exception) -> list[tuple[str, str, str]]:
    """Where an engineer fixes what failed, as ``(id, label, admin path)``: the flow's rules and mapping (the
    editors), then a preview of what a replay sends and the replay itself. Only for those who may."""
    fixes = []
    flow = exception.flow
    if flow is not None and access.can(request.user, "configuration.change", customer=request.tenant):
        if flow.rule_set_id:
            fixes.append(("fix-rules", f"Edit the rules ({flow.rule_set.name})",
                          reverse("tenant_admin:mappings_ruleset_rules", args=[flow.rule_set_id])))
        if flow.mapping_id:
            fixes.append(("fix-mapping", f"Edit the mapping ({flow.mapping.name})",
                          reverse("tenant_admin:mappings_mapping_change", args=[flow.mapping_id])))
    if exception.status in ACTIVE_STATUSES and access.can(request.user, "exception.replay", customer=request.tenant):
        fixes.append(("replay", "Preview and replay",
                      reverse("tenant_admin:exceptions_integrationexception_replay", args=[exception.pk])))
    return fixes


def _may(request) -> dict:
    return {f"may_{action}": access.can(request.user, f"exception.{action}", customer=request.tenant)
            for action in ("comment", "acknowledge")}


@require_POST
@portal_view("exception.comment")
def exception_comment(request, pk: int):
    exception = _exception(pk)
    form = forms.CommentForm(request.POST)
    if form.is_valid():
        try:
            exception_services.exception_comment(exception=exception, body=form.cleaned_data["body"],
                                                 acting_user=request.user)
        except ApplicationError as error:
            form.add_error("body", error.message)
        else:
            form = forms.CommentForm()
    if request.headers.get("HX-Request"):
        exception = _exception(pk)
        return render(request, "portal/_comments.html", {"exception": exception, "comment_form": form, **_may(request)})
    return redirect("portal-exception", pk=pk)


@require_POST
@portal_view("exception.acknowledge")
def exception_acknowledge(request, pk: int):
    """"Approve" for customer users: finance approvers confirm the business knows and is on it."""
    exception = _exception(pk)
    try:
        exception_services.exception_acknowledge(exception=exception, acting_user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, "Acknowledged: escalation for this exception stops.")
    return redirect("portal-exception", pk=pk)


@require_safe
@portal_view()
def review(request, month: str | None = None):
    """The printable monthly operational review (last month by default)."""
    first = dashboards.parse_month(month, default=dashboards.previous_month(timezone.localdate()))
    if first is None:
        raise Http404("No such month.")
    context = dashboards.monthly_review(customer=request.tenant, brand=_brand(request), month=first, lazy=True)
    return render(request, "portal/review.html", {**context, "customer": request.tenant})


@require_safe
@portal_view()
def plan(request):
    """The customer's plan, what it includes, and its usage month by month."""
    customer = request.tenant
    return render(request, "portal/plan.html", {"plan": customer.plan, "history": usage_history(customer)})
