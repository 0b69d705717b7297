"""Runs in the customer portal: the latest runs, one run live (counts, pace, ETA, where it is) with its items
found by outcome or business key, and "Run now" on a flow, which leads to the new run's page."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe

from apps.common.errors import ApplicationError
from apps.portal.views.shared import portal_view
from apps.runs import engine, replay
from apps.runs.models import Flow, ItemOutcome, Run, RunItem, Trigger
from apps.runs.selectors import run_items_matching, run_progress, runs_recent
from apps.tenants import access
from apps.tenants.operations import operation_url

ITEMS_PER_PAGE = 50
MAX_TERM = 200  # a business key, a date or a phrase: longer is not a search anyone types


@require_safe
@portal_view()
def run_list(request):
    return render(request, "portal/runs.html", {"runs": runs_recent(), "may_start": _may_start(request),
                                                "flows": Flow.objects.filter(is_enabled=True).order_by("name")})


def _run(pk: int) -> Run:
    return get_object_or_404(Run.objects.select_related("flow", "connection"), pk=pk)


@require_safe
@portal_view()
def run_detail(request, pk: int):
    run = _run(pk)
    outcome = request.GET.get("outcome", "")
    if outcome and outcome not in ItemOutcome.values:
        raise Http404("No such outcome.")
    term = request.GET.get("q", "")[:MAX_TERM]
    items = RunItem.objects.filter(run=run).order_by("pk")
    items = run_items_matching(items.filter(outcome=outcome) if outcome else items, term)
    page = Paginator(items, ITEMS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "portal/run.html", {
        "run": run, "progress": run_progress(run), "page": page, "items": [_shown(i) for i in page.object_list],
        "outcome": outcome, "q": term, "outcomes": ItemOutcome.choices,
        "may_replay": access.can(request.user, "run.replay", customer=request.tenant),
    })


@require_safe
@portal_view()
def run_progress_part(request, pk: int):
    """The progress block alone: the run page polls it (htmx) until the run finishes."""
    return render(request, "portal/_run_progress.html", {"run": (run := _run(pk)), "progress": run_progress(run)})


def _shown(item: RunItem) -> RunItem:
    """The item with its payloads and the target's answer as indented JSON, for the expandable row."""
    for name in ("payload_before", "payload_after", "target_response"):
        value = getattr(item, name)
        setattr(item, f"{name}_text", "" if value is None else json.dumps(value, indent=2, default=str))
    return item


def _may_start(request) -> bool:
    return access.can(request.user, "run.start", customer=request.tenant)


@require_POST
@portal_view("run.start")
def flow_run_now(request, slug: str):
    """Queue a run of the flow and go to its live page."""
    flow = get_object_or_404(Flow, slug=slug)
    try:
        run = engine.flow_run_request(flow=flow, trigger=Trigger.MANUAL, acting_user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("portal-runs")
    return redirect("portal-run", pk=run.pk)


@require_POST
@portal_view("run.replay")
def run_replay_failed(request, pk: int):
    """Replay every failed item of the run in the background, and watch it on the operation's page."""
    run = _run(pk)
    try:
        operation = replay.replay_bulk_start(items=RunItem.objects.filter(run=run, outcome=ItemOutcome.FAILED),
                                             acting_user=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("portal-run", pk=run.pk)
    return redirect(operation_url(operation))
