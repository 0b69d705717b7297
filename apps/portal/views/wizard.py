"""The setup wizard on the partner site: customer → domain → accelerator and its variables → connections (typed
forms, tested in place) → first run (its progress live) → done.

The first two steps only collect (kept in the session) until the domain step onboards the customer; from then on
the wizard's state is the customer's own (``apps.portal.selectors.customer_setup_state``), so a half-finished
setup is continued from the drill-in ("Continue setup") at the first step not done. Every change goes through the
services with the acting engineer; partner admins and integration engineers may, analysts get 403 and customer
roles 404 (``partner_staff_view``).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST, require_safe
from django_tenants.utils import schema_context

from apps.accelerators import services as accelerators
from apps.accelerators.selectors import template_chosen
from apps.common.errors import ApplicationError
from apps.connectors.errors import ConnectionInvalid
from apps.connectors.models import Connection
from apps.connectors.services import connection_files_root, connection_test, connection_update
from apps.portal import forms
from apps.portal.selectors import customer_checklist, customer_setup_state
from apps.portal.views.shared import error_message, partner_customer, partner_staff_view, portal_url
from apps.runs import engine
from apps.runs.models import Flow, FlowDirection, Run, Trigger
from apps.runs.selectors import run_progress
from apps.tenants import access
from apps.tenants.models import Customer, Partner

SESSION_NEW = "weft_setup_new_customer"
STEPS = [("customer", "Customer"), ("domain", "Domain"), ("template", "Accelerator"), ("connections", "Connections"),
         ("run", "First run"), ("done", "Done")]
SETUP_ACTION = "template.install"  # partner admins and integration engineers: those who configure


def _steps(current: str, customer: Customer | None = None) -> list[dict]:
    """The step bar: each step done, current or to do, linked once the customer exists."""
    order = [key for key, _ in STEPS]
    reached = order.index(customer_setup_state(customer).next_step) if customer else order.index(current)
    return [{"key": key, "label": label, "current": key == current,
             "done": n < reached and key != current,
             "url": reverse("partner-setup-step", args=[customer.slug, key]) if customer and n >= 2 else ""}
            for n, (key, label) in enumerate(STEPS)]


def _setup_customer(request, partner: Partner, slug: str) -> Customer:
    return partner_customer(request, partner, slug, SETUP_ACTION)


# --- before the customer exists ---------------------------------------------------------------------------------
@partner_staff_view("customer.onboard")
def new_customer(request, partner: Partner):
    form = forms.WizardCustomerForm(request.POST or None, initial=request.session.get(SESSION_NEW))
    if request.method == "POST" and form.is_valid():
        request.session[SESSION_NEW] = form.cleaned_data
        return redirect("partner-setup-domain")
    return render(request, "partner/setup/customer.html", {"form": form, "steps": _steps("customer")})


@partner_staff_view("customer.onboard")
def new_domain(request, partner: Partner):
    """The domain (suggested from the short name) and, for partner admins, the plan; submitting onboards."""
    wanted = request.session.get(SESSION_NEW)
    if not wanted:
        return redirect("partner-setup-new")
    may_plan = access.can(request.user, "plan.manage", partner=partner)
    form = forms.WizardDomainForm(request.POST or None, partner=partner, may_choose_plan=may_plan,
                                  initial={"domain": partner.customer_domain(wanted["slug"])})
    if request.method == "POST" and form.is_valid():
        try:
            outcome = accelerators.customer_onboard_from_template(
                partner=partner, acting_user=request.user, template=None, variables={},
                plan=form.cleaned_data.get("plan"), domain=form.cleaned_data["domain"], **wanted)
        except ApplicationError as error:
            form.add_error(None, error_message(error))
        else:
            request.session.pop(SESSION_NEW, None)
            for line in outcome.messages:
                messages.success(request, line)
            for line in filter(None, [outcome.password_note(), *outcome.warnings]):  # the password, shown once
                messages.warning(request, line)
            return redirect("partner-setup-step", slug=outcome.customer.slug, step="template")
    return render(request, "partner/setup/domain.html", {"form": form, "wanted": wanted, "steps": _steps("domain")})


# --- the customer's own steps -----------------------------------------------------------------------------------
@require_safe
@partner_staff_view()
def resume(request, partner: Partner, slug: str):
    """Continue a customer's setup at its first step not done."""
    customer = _setup_customer(request, partner, slug)
    return redirect("partner-setup-step", slug=slug, step=customer_setup_state(customer).next_step)


@partner_staff_view()
def step(request, partner: Partner, slug: str, step: str):
    views = {"template": _template_step, "connections": _connections_step, "run": _run_step, "done": _done_step}
    if step not in views:
        raise Http404("No such step.")
    return views[step](request, _setup_customer(request, partner, slug))


def _template_step(request, customer: Customer):
    template = template_chosen(customer, request.POST.get("template") or request.GET.get("template"))
    form = forms.TemplateVariablesForm(request.POST or None, customer=customer, template=template)
    if request.method == "POST" and template is not None and form.is_valid():
        try:
            report = accelerators.customer_template_install(customer=customer, template=template,
                                                            variables=form.variables(), acting_user=request.user)
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"{template.name} installed: {len(report.created)} created"
                                      f"{f', {len(report.updated)} updated' if report.updated else ''}.")
            return redirect("partner-setup-step", slug=customer.slug, step="connections")
    with schema_context(customer.schema_name):
        flows = list(Flow.objects.select_related("connection").order_by("name"))
    context = {"customer": customer, "form": form, "template": template, "flows": flows,
               "steps": _steps("template", customer)}
    fragment = request.headers.get("HX-Target") == "template-form"  # the accelerator chosen: its settings only
    page = "partner/setup/_template_form.html" if fragment else "partner/setup/template.html"
    return render(request, page, context)


def _connection_rows(customer: Customer, results: dict | None = None, posted=None) -> list[dict]:
    """Each connection of the customer with its typed form, where its files go, and a test just made."""
    results = results or {}
    with schema_context(customer.schema_name):
        connections = list(Connection.objects.order_by("name"))
        rows = []
        for connection in connections:
            form = posted if posted is not None and posted.connection.pk == connection.pk else (
                forms.ConnectionSetupForm(connection=connection))
            rows.append({"connection": connection, "form": form, "result": results.get(connection.pk),
                         "folder": connection_files_root(connection) if connection.kind == "csv" else None,
                         "used_by": list(connection.flows.values_list("name", flat=True))})
    return rows


def _connections_step(request, customer: Customer):
    return render(request, "partner/setup/connections.html", {
        "customer": customer, "rows": _connection_rows(customer), "steps": _steps("connections", customer),
        "state": customer_setup_state(customer)})


@require_POST
@sensitive_post_parameters()  # the kind's secrets have names of their own
@partner_staff_view()
def connection_save(request, partner: Partner, slug: str, pk: int):
    """Save one connection's form and, with "Save and test", test it at once; htmx swaps in its card."""
    customer = _setup_customer(request, partner, slug)
    result = None
    with schema_context(customer.schema_name):
        connection = get_object_or_404(Connection, pk=pk)
        form = forms.ConnectionSetupForm(request.POST, connection=connection)
        if form.is_valid():
            result = _save_and_test(request, form, test=request.POST.get("action") == "test")
    rows = _connection_rows(customer, {pk: result} if result else None, posted=form if form.errors else None)
    if request.headers.get("HX-Target") != f"connection-{pk}":  # a plain form post: back to the page
        return redirect(f"{reverse('partner-setup-step', args=[slug, 'connections'])}#connection-{pk}")
    row = next(r for r in rows if r["connection"].pk == pk)
    return render(request, "partner/setup/_connection.html", {"customer": customer, "row": row})


def _save_and_test(request, form, *, test: bool) -> dict:
    """Save through ``connection_update``; then test if asked. The outcome as ``{"ok", "message"}``."""
    changes, credentials = form.changes()
    try:
        connection = connection_update(connection=form.connection, changes=changes, credentials=credentials or None,
                                       acting_user=request.user)
    except ConnectionInvalid as error:
        field = f"{forms.SETTING}{error.field}" if f"{forms.SETTING}{error.field}" in form.fields else None
        form.add_error(field, error.message)
        return {"ok": False, "message": error.message}
    except ApplicationError as error:
        return {"ok": False, "message": error.message}
    if not test:
        return {"ok": True, "message": "Saved."}
    outcome = connection_test(connection=connection, acting_user=request.user)
    return {"ok": outcome.ok, "message": f"Test {'passed' if outcome.ok else 'failed'}: {outcome.message}"}


def _run_step(request, customer: Customer):
    """The customer's flows with "Run now"; ``?run=<id>`` shows that run's progress, updating itself."""
    if request.method == "POST":
        return _run_start(request, customer)
    run_id = request.GET.get("run", "")
    with schema_context(customer.schema_name):
        flows = list(Flow.objects.select_related("connection").order_by("direction", "name"))
        runs = list(Run.objects.select_related("flow").order_by("-pk")[:10])
        run = Run.objects.select_related("flow").filter(pk=run_id).first() if run_id.isdigit() else None
        progress = run_progress(run) if run else None
    return render(request, "partner/setup/run.html", {
        "customer": customer, "flows": flows, "runs": runs, "run": run, "progress": progress,
        "progress_url": reverse("partner-setup-run-progress", args=[customer.slug, run.pk]) if run else "",
        "inbound": FlowDirection.INBOUND, "steps": _steps("run", customer),
        "portal_url": portal_url(request, list(customer.domains.order_by("-is_primary", "domain")))})


def _run_start(request, customer: Customer):
    with schema_context(customer.schema_name):
        flow = get_object_or_404(Flow, slug=request.POST.get("flow", ""))
        try:
            run = engine.flow_run_request(flow=flow, trigger=Trigger.MANUAL, acting_user=request.user)
        except ApplicationError as error:
            messages.error(request, error.message)
            return redirect("partner-setup-step", slug=customer.slug, step="run")
    return redirect(f"{reverse('partner-setup-step', args=[customer.slug, 'run'])}?run={run.pk}")


@require_safe
@partner_staff_view()
def run_progress_part(request, partner: Partner, slug: str, pk: int):
    """The run's progress block alone: the run step polls it (htmx) until the run finishes."""
    customer = _setup_customer(request, partner, slug)
    with schema_context(customer.schema_name):
        run = get_object_or_404(Run.objects.select_related("flow"), pk=pk)
        progress = run_progress(run)
    return render(request, "portal/_run_progress.html", {
        "run": run, "progress": progress, "progress_url": request.path, "outcome_links": False})


def _done_step(request, customer: Customer):
    domains = list(customer.domains.order_by("-is_primary", "domain"))
    return render(request, "partner/setup/done.html", {
        "customer": customer, "checklist": customer_checklist(customer), "state": customer_setup_state(customer),
        "portal_url": portal_url(request, domains), "steps": _steps("done", customer)})
