"""The partner site: every customer's health at a glance, drill-in, onboarding, plans and usage.

Served on the partner's own host in the public schema. The overview reads the public summary tables
only; a customer's page switches into that one customer's schema for its live figures.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST, require_safe
from django_tenants.utils import schema_context

from apps.accelerators import services
from apps.accelerators.selectors import installations_for_customer, template_chosen, templates_for_customer
from apps.bi import services as bi_services
from apps.bi.models import ReportingAccess
from apps.common.errors import ApplicationError
from apps.portal import dashboards, forms
from apps.portal.reports import chart_config
from apps.portal.selectors import customer_checklist, customer_setup_state, partner_overview
from apps.portal.templatetags import portal as portal_tags
from apps.portal.views.shared import error_message, partner_customer, partner_staff_view, portal_url
from apps.reporting.health import customer_health_refresh
from apps.tenants import access, operations, plans, signin, usage
from apps.tenants.branding import brand_for_partner
from apps.tenants.choices import SlaStatus
from apps.tenants.domains import customer_domain_add
from apps.tenants.models import Customer, Partner, Plan

OVERVIEW_ROWS = 200  # a page of customers, worst first; the totals always cover every customer
CHART_CUSTOMERS = 20
SLA_ORDER = {SlaStatus.BREACHED: 0, SlaStatus.AT_RISK: 1, SlaStatus.UNKNOWN: 2, SlaStatus.OK: 3}


@require_safe
def partner_home(request):
    """The partner overview; on the platform host there is no partner site, so go to the platform admin."""
    if getattr(request, "partner", None) is None:
        return redirect("public_admin:index")
    return _overview(request)


@partner_staff_view()
def _overview(request, partner: Partner):
    rows = _sorted_rows(partner_overview(partner))
    query = request.GET.get("q", "").strip().lower()
    shown = [r for r in rows if query in r["name"].lower() or query in r["slug"]] if query else rows
    page, pages = _page(request.GET.get("page"), len(shown))
    first = (page - 1) * OVERVIEW_ROWS
    port, now = request.get_port(), timezone.now()
    context = {"rows": [_row_cells(row, now, port) for row in shown[first:first + OVERVIEW_ROWS]],
               "matching": len(shown), "query": query, "page": page, "pages": pages, "first_row": first + 1,
               "last_row": min(first + OVERVIEW_ROWS, len(shown)),
               "totals": _totals(rows), "chart": _overview_chart(rows[:CHART_CUSTOMERS], partner),
               "can_administer": access.can(request.user, "customer.onboard", partner=partner)}
    template = "partner/_overview_rows.html" if request.headers.get("HX-Request") else "partner/home.html"
    return render(request, template, context)


def _page(asked: str | None, rows: int) -> tuple[int, int]:
    """The page shown and how many there are: pages, not one list of every customer, keep the page's size and
    rendering time the same at any number of customers (a page number out of range shows the nearest page)."""
    pages = max(-(-rows // OVERVIEW_ROWS), 1)
    page = int(asked) if asked and asked.isdigit() else 1
    return min(max(page, 1), pages), pages


def _sorted_rows(rows: list[dict]) -> list[dict]:
    def key(row):
        status = row["sla_status"] or SlaStatus.UNKNOWN
        return SLA_ORDER.get(status, 2), -(row["money_at_risk"] or 0), row["name"]

    return sorted(rows, key=key)


def _row_cells(row: dict, now, port: str) -> dict:
    """One overview row as display text, formatted here rather than by template filters: with hundreds of
    customers the page is mostly these rows, and Python formats them several times faster."""
    measured = row["computed_at"] is not None
    status = row["sla_status"] or SlaStatus.UNKNOWN
    flows = [(f.get("last_status") or "none", f"{f.get('name')}: {f.get('last_status') or 'never ran'}, "
              f"last good {portal_tags.ago(f.get('last_success_at'), now)}") for f in row["flows"] or []]
    return {
        "slug": row["slug"], "name": row["name"], "active": row["is_active"], "sla": status,
        "sla_label": SlaStatus(status).label, "sla_reason": row["sla_reason"] or "",
        "open_exceptions": row["open_exceptions"] or 0,
        "money": _amounts(row["money_at_risk_amounts"]) or "—",
        "hours": f"{row['unposted_hours']:,.1f}" if measured else "—",
        "value": _amounts(row["unposted_values"]),
        "last_sync": portal_tags.ago(row["last_good_sync_at"], now) if measured else "not measured yet",
        "last_sync_at": portal_tags.iso_datetime(row["last_good_sync_at"]), "flows": flows,
        "plan": row["plan_name"] or "—",
        "usage": [f"{row[meter] or 0:,}" for meter in ("records_synced", "runs", "api_calls")],
        "domain": row["domain"], "portal": f"//{row['domain']}{'' if port in ('80', '443') else f':{port}'}/",
    }


def _amounts(by_currency: dict | None) -> str:
    """``{"EUR": "1750.00", "USD": "300.00"}`` (stored largest first) as ``EUR 1,750.00 · USD 300.00``."""
    return " · ".join(f"{currency} {Decimal(amount):,.2f}".strip() for currency, amount in (by_currency or {}).items())


def _totals(rows: list[dict]) -> dict:
    money: dict[str, Decimal] = {}
    for row in rows:
        for currency, amount in (row["money_at_risk_amounts"] or {}).items():
            money[currency] = money.get(currency, Decimal(0)) + Decimal(amount)
    money = dict(sorted(money.items(), key=lambda kv: (-kv[1], kv[0])))
    return {
        "customers": len(rows), "breached": sum(r["sla_status"] == SlaStatus.BREACHED for r in rows),
        "at_risk": sum(r["sla_status"] == SlaStatus.AT_RISK for r in rows),
        "open_exceptions": sum(r["open_exceptions"] or 0 for r in rows), "money_at_risk": money,
        "unposted_hours": sum(r["unposted_hours"] or 0 for r in rows),
    }


def _overview_chart(rows: list[dict], partner: Partner) -> dict | None:
    measured = [r for r in rows if r["computed_at"]]
    if not measured:
        return None
    brand = brand_for_partner(partner)
    datasets = [
        {"label": "Unposted hours", "data": [float(r["unposted_hours"]) for r in measured],
         "backgroundColor": brand.primary_colour},
        {"label": "Open exceptions", "data": [r["open_exceptions"] for r in measured],
         "backgroundColor": brand.accent_colour, "yAxisID": "y1"},
    ]
    config = chart_config("bar", [r["name"] for r in measured], datasets, y_title="Unposted hours")
    config["options"]["scales"]["y1"] = {"position": "right", "beginAtZero": True, "grid": {"drawOnChartArea": False},
                                         "title": {"display": True, "text": "Open exceptions"}}
    return config


@require_safe
@partner_staff_view()
def customer_detail(request, partner: Partner, slug: str):
    """Drill-in: the summary row, live figures from the customer's schema, plan, usage, domains, templates."""
    customer = partner_customer(request, partner, slug)
    brand = brand_for_partner(partner)
    with schema_context(customer.schema_name):
        dashboard = dashboards.customer_dashboard(customer=customer, brand=brand)
    history = usage.usage_history(customer)
    domains = list(customer.domains.order_by("-is_primary", "domain"))
    portal = portal_url(request, domains)
    context = {
        "customer": customer, "health": getattr(customer, "health", None), "dashboard": dashboard,
        "domains": domains, "usage_history": history, "portal_url": portal,
        "report_base": f"{portal}reports/" if portal else "",
        "usage_chart": _usage_chart(history, brand),
        "can_administer": access.can(request.user, "customer.plan", customer=customer),
        "can_configure": access.can(request.user, "template.install", customer=customer),
        "can_operate": access.can(request.user, "health.refresh", customer=customer),
        "can_enter_admin": access.can(request.user, "console.enter", customer=customer),
        "checklist": customer_checklist(customer), "customer_base": portal, "setup": customer_setup_state(customer),
        "plan_form": forms.CustomerPlanForm(customer=customer), "domain_form": forms.DomainForm(),
        "template_form": forms.TemplateForm(customer=customer),
        "bi_access": ReportingAccess.objects.filter(customer=customer).first(),
        "can_grant_bi": access.can(request.user, "bi.grant", customer=customer),
        "installations": installations_for_customer(customer),
        "review_month": dashboards.previous_month(timezone.localdate()),
    }
    return render(request, "partner/customer.html", context)


@require_POST
@partner_staff_view()
def customer_open(request, partner: Partner, slug: str, target: str):
    """Straight into the customer's portal or admin on its own host: one sign-in (a short, single-use token)."""
    if target not in signin.HANDOFF_TARGETS:
        raise Http404("No such place.")
    customer = partner_customer(request, partner, slug, signin.HANDOFF_TARGETS[target][1])
    domain = customer.domains.filter(is_primary=True).first()
    if domain is None:
        raise Http404("The customer has no domain yet.")
    port = request.get_port()
    host = f"{domain.domain}{'' if port in ('80', '443') else f':{port}'}"
    path = request.POST.get("next", "")[:500]
    path = path if signin.handoff_path_allowed(target, path) else None
    token = signin.handoff_token_create(user=request.user, host=host, target=target, path=path)
    return redirect(f"{request.scheme}://{host}/signin/handoff/?{urlencode({'t': token})}")


def _usage_chart(history, brand) -> dict | None:
    if not history:
        return None
    months = list(reversed(history))
    dataset = {"label": "Records synced", "data": [m.records_synced for m in months],
               "backgroundColor": brand.primary_colour}
    return chart_config("bar", [f"{m.month:%Y-%m}" for m in months], [dataset])


@require_POST
@partner_staff_view()
def customer_plan(request, partner: Partner, slug: str):
    customer = partner_customer(request, partner, slug, "customer.plan")
    form = forms.CustomerPlanForm(request.POST, customer=customer)
    if form.is_valid():
        _apply(request, lambda: plans.customer_plan_set(customer=customer, plan=form.cleaned_data["plan"],
                                                        acting_user=request.user),
               f"{customer.name} is now on {form.cleaned_data['plan'] or 'no plan'}.")
    else:
        messages.error(request, "Choose one of your active plans.")
    return redirect("partner-customer", slug=slug)


@require_POST
@partner_staff_view()
def customer_domain(request, partner: Partner, slug: str):
    customer = partner_customer(request, partner, slug, "customer.domain")
    form = forms.DomainForm(request.POST)
    if form.is_valid():
        _apply(request, lambda: customer_domain_add(customer=customer, acting_user=request.user, **form.cleaned_data),
               f"{customer.name} is also served on {form.cleaned_data['domain']}.")
    else:
        messages.error(request, "Enter a host name.")
    return redirect("partner-customer", slug=slug)


@require_POST
@partner_staff_view()
def customer_template_upgrade(request, partner: Partner, slug: str, template_id: int):
    customer = partner_customer(request, partner, slug, "template.install")
    template = get_object_or_404(templates_for_customer(customer), pk=template_id)
    _apply(request, lambda: services.customer_template_upgrade(customer=customer, template=template,
                                                               acting_user=request.user),
           f"{customer.name} now runs {template.name} v{template.version}.")
    return redirect("partner-customer", slug=slug)


@require_POST
@partner_staff_view()
@never_cache
def customer_bi(request, partner: Partner, slug: str):
    """Grant (the credentials page, shown once), revoke, or switch nightly snapshots of the customer's BI access."""
    customer = partner_customer(request, partner, slug, "bi.grant")
    action = request.POST.get("action")
    if action == "grant":
        credentials = bi_services.bi_access_grant(customer=customer, acting_user=request.user)
        return render(request, "partner/bi_credentials.html", {"customer": customer, "credentials": credentials})
    if action == "revoke":
        _apply(request, lambda: bi_services.bi_access_revoke(customer=customer, acting_user=request.user),
               f"BI access for {customer.name} revoked.")
    elif action in ("snapshots-on", "snapshots-off") and ReportingAccess.objects.filter(customer=customer).exists():
        on = action == "snapshots-on"
        _apply(request, lambda: bi_services.bi_snapshot_settings_set(customer=customer, enabled=on,
                                                                     acting_user=request.user),
               f"Nightly snapshot {'on' if on else 'off'} for {customer.name}.")
    else:
        messages.error(request, "Choose grant, revoke or a snapshot setting.")
    return redirect("partner-customer", slug=slug)


@require_POST
@partner_staff_view()
def customer_template(request, partner: Partner, slug: str):
    customer = partner_customer(request, partner, slug, "template.install")
    template = template_chosen(customer, request.POST.get("template"))
    form = forms.TemplateForm(request.POST, customer=customer, template=template)
    if form.is_valid():  # installs in the background; its page shows the progress and what was made
        try:
            operation = services.customer_template_install_start(
                customer=customer, template=form.cleaned_data["template"], variables=form.variables(),
                acting_user=request.user, result_url=reverse("partner-customer", args=[slug]))
        except (ApplicationError, ValidationError) as error:
            messages.error(request, error_message(error))
        else:
            return _after_install(request, operation, customer, form.cleaned_data["template"])
    else:
        messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
    return redirect("partner-customer", slug=slug)


@require_safe
@partner_staff_view()
def customer_template_variables(request, partner: Partner, slug: str):
    """The typed fields of the template chosen in "Install a template" (an htmx fragment)."""
    customer = partner_customer(request, partner, slug, "template.install")
    template = template_chosen(customer, request.GET.get("template"))
    form = forms.TemplateForm(customer=customer, template=template)
    return render(request, "partner/_template_variables.html", {"template": template, "form": form})


@require_POST
@partner_staff_view()
def customer_refresh(request, partner: Partner, slug: str):
    """Recompute the customer's summary now (the engine and a schedule do it on their own)."""
    customer = partner_customer(request, partner, slug, "health.refresh")
    with schema_context(customer.schema_name):
        customer_health_refresh()
    messages.success(request, f"Health of {customer.name} recomputed.")
    return redirect("partner-customer", slug=slug)


def _after_install(request, operation, customer, template):
    """To the install's progress page; straight back to the customer when it already ended (inline task queues)."""
    operation.refresh_from_db()
    if not operation.finished:
        return redirect(operations.operation_url(operation))
    if operation.state == "failed":
        messages.error(request, operation.step)
    else:
        messages.success(request, f"{template.name} installed into {customer.name}.")
        for problem in operation.error_messages:
            messages.warning(request, problem)
    return redirect("partner-customer", slug=customer.slug)


def _apply(request, action, success: str) -> bool:
    try:
        action()
    except (ApplicationError, ValidationError) as error:
        messages.error(request, error_message(error))
        return False
    messages.success(request, success)
    return True


@require_safe
@partner_staff_view()
def customer_review(request, partner: Partner, slug: str, month: str):
    """The customer's printable monthly review, for the partner's review meeting."""
    customer = partner_customer(request, partner, slug)
    first = dashboards.parse_month(month, default=timezone.localdate())
    if first is None:
        raise Http404("No such month.")
    brand = brand_for_partner(partner)
    with schema_context(customer.schema_name):
        review = dashboards.monthly_review(customer=customer, brand=brand, month=first)
    return render(request, "portal/review.html", {**review, "customer": customer, "partner_view": True})


@partner_staff_view("customer.onboard")
def onboard(request, partner: Partner):
    template = template_chosen(Customer(partner=partner), request.POST.get("template"))
    form = forms.OnboardForm(request.POST or None, partner=partner, template=template)
    if request.method == "POST" and form.is_valid():
        try:
            outcome = services.customer_onboard_from_template(
                partner=partner, acting_user=request.user, variables=form.variables(),
                **{field.name: form.cleaned_data[field.name] for field in form.customer_fields()})
        except (ApplicationError, ValidationError) as error:
            form.add_error(None, error_message(error))
        else:
            for line in outcome.messages:
                messages.success(request, line)
            for line in filter(None, [outcome.password_note(), *outcome.warnings]):
                messages.warning(request, line)
            return redirect("partner-customer", slug=outcome.customer.slug)
    return render(request, "partner/onboard.html", {"form": form, "template": template})


@require_safe
@partner_staff_view("customer.onboard")
def onboard_template_variables(request, partner: Partner):
    """The typed fields of the template chosen while onboarding (an htmx fragment)."""
    template = template_chosen(Customer(partner=partner), request.GET.get("template"))
    form = forms.OnboardForm(partner=partner, template=template)
    return render(request, "partner/_template_variables.html", {"template": template, "form": form})


@require_safe
@partner_staff_view()
def plan_list(request, partner: Partner):
    plan_rows = plans.plans_for_partner(partner).prefetch_related("customers")
    can_administer = access.can(request.user, "plan.manage", partner=partner)
    form = forms.PlanForm(partner=partner) if can_administer else None
    return render(request, "partner/plans.html", {"plans": plan_rows, "form": form, "can_administer": can_administer})


@partner_staff_view("plan.manage")
def plan_edit(request, partner: Partner, slug: str | None = None):
    plan = get_object_or_404(Plan, partner=partner, slug=slug) if slug else None
    form = forms.PlanForm(request.POST or None, instance=plan, partner=partner)
    if request.method == "POST" and form.is_valid():
        data = {k: v for k, v in form.cleaned_data.items() if k != "slug"}
        try:
            if plan is None:
                plan = plans.plan_create(partner=partner, slug=form.cleaned_data["slug"], acting_user=request.user,
                                         **{k: v for k, v in data.items() if k != "is_active"})
            else:
                plans.plan_update(plan=plan, changes=data, acting_user=request.user)
        except (ApplicationError, ValidationError) as error:
            form.add_error(None, error_message(error))
        else:
            messages.success(request, f"Plan {plan.name} saved.")
            return redirect("partner-plans")
    return render(request, "partner/plan_edit.html", {"form": form, "plan": plan})


@require_safe
@partner_staff_view()
def usage_month(request, partner: Partner):
    """Every customer's usage in a month against its plan; ``?month=YYYY-MM``, this month by default."""
    month = dashboards.parse_month(request.GET.get("month"), default=timezone.localdate())
    if month is None:
        raise Http404("No such month.")
    lines = usage.usage_lines(partner, month)
    chart = chart_config("bar", [line.customer.name for line in lines], [
        {"label": "Records synced", "data": [line.used("records_synced") for line in lines],
         "backgroundColor": brand_for_partner(partner).primary_colour}]) if lines else None
    return render(request, "partner/usage.html", {
        "month": month, "lines": lines, "chart": chart, "meters": usage.METERS,
        "previous": dashboards.previous_month(month), "next": _next_month(month),
    })


def _next_month(month):
    following = dashboards.month_bounds(month)[1] + timedelta(days=1)
    return following if following <= timezone.localdate() else None


@require_safe
@partner_staff_view()
def usage_csv(request, partner: Partner, month: str):
    first = dashboards.parse_month(month, default=timezone.localdate())
    if first is None:
        raise Http404("No such month.")
    response = HttpResponse(usage.usage_csv(partner, first), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{partner.slug}-usage-{first:%Y-%m}.csv"'
    return response
