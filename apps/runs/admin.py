"""Flows, runs and the ledger in the tenant admin: run a flow now, read every item's trace, and replay failed
items after a preview of what will be sent (``apps.accelerators.admin`` adds "Install an accelerator" to flows)."""

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from apps.common.errors import ApplicationError
from apps.mappings import rule_editor
from apps.mappings.models import RuleKind, RuleSet
from apps.mappings.validation import RuleSpec
from apps.runs import engine, outbound, replay
from apps.runs.models import Flow, InboundEvent, Run, RunItem, Trigger
from apps.runs.schedules import flow_schedule_sync
from apps.runs.selectors import event_backlog, run_items_matching
from apps.tenants.admin_sites import TenantModelAdmin, access_action, tenant_admin_site
from apps.tenants.operations import operation_url

PREVIEW_ITEMS = 50  # a replay of thousands previews its first records; the replay itself takes them all


@admin.register(Flow, site=tenant_admin_site)
class FlowAdmin(TenantModelAdmin):
    list_display = ["name", "direction", "object_type", "connection", "object_name", "on_schedule", "on_webhook",
                    "on_hub_change", "is_enabled", "installed_from"]
    list_filter = ["direction", "object_type", "is_enabled"]
    list_select_related = ["connection"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    actions = ["run_now"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)

        flow_schedule_sync(flow=obj)

    @admin.action(description="Run the selected flows now")
    @access_action("run.start")
    def run_now(self, request, queryset):
        if not self._can(request, "run.start"):
            self.message_user(request, "Your role may not start runs.", messages.ERROR)
            return
        runs = [engine.flow_run_request(flow=flow, trigger=Trigger.MANUAL, acting_user=request.user)
                for flow in queryset]
        if len(runs) == 1:  # one flow: watch its run live
            return HttpResponseRedirect(reverse("portal-run", args=[runs[0].pk]))
        for run in runs:
            self.message_user(request, format_html('{}: run <a href="{}">{}</a> queued.', run.flow,
                                                   reverse("portal-run", args=[run.pk]), run.pk))
        return None

    def get_urls(self):
        preview = self.admin_site.admin_view(self.rules_preview_view)
        return [path("rules-preview/<int:rule_set_pk>/", preview, name="runs_flow_rules_preview"), *super().get_urls()]

    def rules_preview_view(self, request, rule_set_pk: int):
        """POST from the rule set editor: the edited rules on the records that failed lately in the flows using the
        rule set (here, not in the editor's app, because judging records is the engine's). Nothing is saved."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self._can(request, "configuration.change"):
            raise PermissionDenied("Your role may read rules but not change them.")
        rule_set = get_object_or_404(RuleSet, pk=rule_set_pk)
        rows, preview = rule_editor.rows_from_post(request.POST), None
        try:
            specs = [RuleSpec(i.kind, i.params, i.message) for i in rule_editor.rule_inputs(rows) if i.is_active]
        except ApplicationError as error:
            self.message_user(request, error.message, messages.ERROR)
        else:
            preview = outbound.rules_preview(rule_set_id=rule_set.pk, rules=specs)
        context = {**self.admin_site.each_context(request), "rule_set": rule_set, "rows": rows, "editable": True,
                   "kinds": RuleKind.choices, "opts": RuleSet._meta, "title": f"Rules of {rule_set}",
                   "preview": preview}
        return TemplateResponse(request, "admin/mappings/ruleset_rules.html", context)

@admin.register(Run, site=tenant_admin_site)
class RunAdmin(TenantModelAdmin):
    list_display = ["pk", "flow", "trigger", "status", "outcomes", "started_at", "duration"]
    list_filter = ["status", "trigger", "flow"]
    list_select_related = ["flow", "connection"]
    readonly_fields = [f.name for f in Run._meta.fields]
    change_action = "ledger.delete"

    @admin.display(description="Items")
    def outcomes(self, obj) -> str:
        return " · ".join(f"{n} {outcome}" for outcome, n in sorted(obj.counts.items()) if n) or "—"

    @admin.display(description="Took")
    def duration(self, obj) -> str:
        seconds = obj.duration_seconds()
        return "—" if seconds is None else f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"

    def has_add_permission(self, request) -> bool:
        return False

    def changelist_view(self, request, extra_context=None):
        backlog = event_backlog()
        if backlog.waiting:  # how far behind the workers are, where people look at runs
            minutes = int(backlog.age().total_seconds() // 60)
            messages.info(request, f"{backlog.waiting} webhook event(s) queued for processing; the oldest arrived "
                                   f"{minutes} min ago.")
        return super().changelist_view(request, extra_context)


@admin.register(RunItem, site=tenant_admin_site)
class RunItemAdmin(TenantModelAdmin):
    list_display = ["created_at", "run_link", "object_type", "external_id", "outcome", "error_category",
                    "short_error"]
    list_filter = ["outcome", "object_type", "error_category", "run__flow"]
    list_select_related = ["run__flow"]
    search_fields = ["external_id"]  # searched by business key below (project, person, invoice, date, payload)
    search_help_text = "A project code (ACME-104), person, invoice number, date (2026-11-23), id or any text."
    readonly_fields = [f.name for f in RunItem._meta.fields]
    actions = ["replay_items"]
    change_action = "ledger.delete"

    def get_search_results(self, request, queryset, search_term):
        return run_items_matching(queryset, search_term), False

    @admin.display(description="Run", ordering="run")
    def run_link(self, obj) -> str:
        return f"#{obj.run_id} {obj.run.flow.name if obj.run.flow else ''}"

    @admin.display(description="Error")
    def short_error(self, obj) -> str:
        return obj.error_message[:80]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Replay the selected items (shows a preview first)")
    @access_action("run.replay")
    def replay_items(self, request, queryset):
        if not self._can(request, "run.replay"):
            self.message_user(request, "Your role may not replay.", messages.ERROR)
            return None
        if request.POST.get("confirm"):  # any number of items: in the background, with a page showing progress
            operation = replay.replay_bulk_start(items=queryset, acting_user=request.user)
            return HttpResponseRedirect(operation_url(operation))
        items = list(queryset.select_related("run__flow", "run__connection")[:PREVIEW_ITEMS])
        preview = replay.replay_preview(items=items)
        context = {**self.admin_site.each_context(request), "items": items, "opts": self.model._meta,
                   "count": queryset.count(), "shown": len(items),
                   "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
                   "select_across": request.POST.get("select_across", "0"),
                   "preview": json.dumps(preview, indent=2, default=str), "title": "Replay: what will be sent",
                   "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME}
        return TemplateResponse(request, "admin/runs/runitem/replay_preview.html", context)


@admin.register(InboundEvent, site=tenant_admin_site)
class InboundEventAdmin(TenantModelAdmin):
    list_display = ["received_at", "connection", "event_id", "event_type", "status", "deliveries"]
    list_filter = ["status", "event_type", "connection"]
    readonly_fields = [f.name for f in InboundEvent._meta.fields]
    change_action = "ledger.delete"
