"""The exceptions operations console in the tenant admin, policies, notifications; partner defaults in the
public admin. Actions call services; who may do what is ``apps.tenants.access.ACTIONS`` (``exception.*``)."""

from __future__ import annotations

import json
from datetime import timedelta

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from apps.common.errors import ApplicationError
from apps.exceptions import fixing, selectors, services, webhooks
from apps.exceptions.defaults.models import PartnerEscalationPolicy
from apps.exceptions.models import (
    EscalationPolicy,
    ExceptionComment,
    ExceptionRecord,
    IntegrationException,
    Notification,
    WebhookAttempt,
    WebhookDelivery,
    WebhookSubscription,
)
from apps.tenants import access
from apps.tenants.admin_sites import (
    TenantModelAdmin,
    WeftModelAdmin,
    access_action,
    public_admin_site,
    tenant_admin_site,
)
from apps.tenants.operations import operation_url

SEVERITY_COLOURS = {10: "#6b7280", 20: "#2563eb", 30: "#d97706", 40: "#dc2626"}
# The detail page's buttons; each is the access action ``exception.<name>``.
BUTTONS = ("comment", "acknowledge", "assign", "resolve", "ignore", "reopen", "edit_payload", "replay")


def _may(request, name: str) -> bool:
    return access.can(request.user, f"exception.{name}", customer=request.tenant)


class OwnerFilter(admin.SimpleListFilter):
    title, parameter_name = "owner", "owner"

    def lookups(self, request, model_admin):
        return [("me", "Mine"), ("none", "Unassigned")]

    def queryset(self, request, queryset):
        if self.value() == "me":
            return queryset.filter(owner=request.user)
        if self.value() == "none":
            return queryset.filter(owner__isnull=True)
        return queryset


class AgeFilter(admin.SimpleListFilter):
    title, parameter_name = "open for", "age"
    HOURS = {"1h": 1, "1d": 24, "7d": 24 * 7}

    def lookups(self, request, model_admin):
        return [("1h", "more than an hour"), ("1d", "more than a day"), ("7d", "more than a week")]

    def queryset(self, request, queryset):
        hours = self.HOURS.get(self.value() or "")
        return queryset.filter(opened_at__lte=timezone.now() - timedelta(hours=hours)) if hours else queryset


class AmountFilter(admin.SimpleListFilter):
    title, parameter_name = "money at risk", "amount"

    def lookups(self, request, model_admin):
        return [("100", "≥ 100"), ("1000", "≥ 1,000"), ("10000", "≥ 10,000")]

    def queryset(self, request, queryset):
        return queryset.filter(amount_at_risk__gte=int(self.value())) if self.value() else queryset


class RecordInline(admin.TabularInline):
    model = ExceptionRecord
    fields = ["record_key", "is_open", "occurrences", "hours", "amount", "currency", "context", "last_seen",
              "cleared_by", "edit_link"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ["-is_open", "-last_seen"]

    @admin.display(description="Fix")
    def edit_link(self, obj):
        url = reverse("admin:exceptions_integrationexception_payload", args=[obj.exception_id, obj.pk])
        return format_html('<a href="{}">edit payload</a>', url) if obj.last_item_id else ""


class CommentInline(admin.TabularInline):
    model = ExceptionComment
    fields = ["created_at", "author", "body"]
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False


@admin.register(IntegrationException, site=tenant_admin_site)
class IntegrationExceptionAdmin(TenantModelAdmin):
    """The operations console: worst first, filters that answer "what is mine, what is old, what costs money"."""

    # The columns that answer "how bad, whose, how old" and fit 1366 px; the rest is on each exception's page.
    list_display = ["severity_badge", "kind", "title_short", "status", "owner", "records", "hours_at_risk", "money",
                    "age"]
    list_display_links = ["title_short"]
    list_filter = ["status", "kind", "severity", OwnerFilter, AgeFilter, AmountFilter, "source", "flow"]
    list_select_related = ["owner", "flow"]
    search_fields = ["title", "message", "projects", "customers", "people"]
    ordering = ["-severity", "-last_seen"]
    inlines = [RecordInline, CommentInline]
    actions = ["assign_to_me", "acknowledge", "resolve", "ignore", "replay"]
    change_form_template = "admin/exceptions/integrationexception/change_form.html"
    exclude = ["fingerprint"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in IntegrationException._meta.fields if f.name != "fingerprint"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # the page is read-only: its buttons and the list's actions each check their own capability

    # --- columns ---------------------------------------------------------------------------------
    @admin.display(description="Severity", ordering="severity")
    def severity_badge(self, obj):
        return format_html('<strong style="color:{}">{}</strong>', SEVERITY_COLOURS.get(obj.severity, "#000"),
                           obj.get_severity_display())

    @admin.display(description="Exception", ordering="title")
    def title_short(self, obj) -> str:
        return obj.title[:90]

    @admin.display(description="Open / records", ordering="open_records")
    def records(self, obj) -> str:
        return f"{obj.open_records} / {obj.records_total}"

    @admin.display(description="Money at risk", ordering="amount_at_risk")
    def money(self, obj) -> str:
        return f"{obj.currency} {obj.amount_at_risk:,.2f}" if obj.amount_at_risk else "—"

    @admin.display(description="Open for", ordering="opened_at")
    def age(self, obj) -> str:
        hours = (timezone.now() - obj.opened_at).total_seconds() / 3600
        return f"{hours / 24:.1f} d" if hours >= 48 else f"{hours:.1f} h"

    # --- actions ----------------------------------------------------------------------------------
    def _bulk(self, request, queryset, action: str, **params) -> None:
        if not _may(request, action):
            self.message_user(request, f"Your role may not {action} exceptions.", messages.ERROR)
            return
        result = services.exceptions_bulk(exceptions=queryset, action=action, acting_user=request.user, **params)
        if result.done:
            self.message_user(request, f"{action.capitalize()}: {len(result.done)} exception(s).")
        for pk, message in result.refused.items():
            self.message_user(request, f"Exception {pk}: {message}", messages.WARNING)

    @admin.action(description="Assign the selected exceptions to me")
    @access_action("exception.assign")
    def assign_to_me(self, request, queryset):
        self._bulk(request, queryset, "assign", owner=request.user, customer=request.tenant)

    @admin.action(description="Acknowledge the selected exceptions")
    @access_action("exception.acknowledge")
    def acknowledge(self, request, queryset):
        self._bulk(request, queryset, "acknowledge")

    @admin.action(description="Resolve the selected exceptions")
    @access_action("exception.resolve")
    def resolve(self, request, queryset):
        self._bulk(request, queryset, "resolve", reason=request.POST.get("reason", ""))

    @admin.action(description="Ignore the selected exceptions (asks for a reason)")
    @access_action("exception.ignore")
    def ignore(self, request, queryset):
        reason = request.POST.get("reason", "").strip()
        if request.POST.get("confirm") and reason:
            self._bulk(request, queryset, "ignore", reason=reason)
            return None
        return self._confirm_page(request, queryset, "ignore", "Ignore: say why", needs_reason=True)

    @admin.action(description="Replay the selected exceptions (shows a preview first)")
    @access_action("exception.replay")
    def replay(self, request, queryset):
        if not _may(request, "replay"):
            self.message_user(request, "Your role may not replay.", messages.ERROR)
            return None
        if request.POST.get("confirm"):  # any number: one page shows the progress of all their replays
            operation = fixing.exceptions_replay_bulk(exceptions=queryset, acting_user=request.user)
            return HttpResponseRedirect(operation_url(operation))
        previews = []
        for exception in queryset:
            try:
                previews.append((exception, fixing.exception_replay_preview(exception=exception)))
            except ApplicationError as error:
                previews.append((exception, [{"message": error.message}]))
        return self._confirm_page(request, queryset, "replay", "Replay: what will be sent", previews=[
            (e, json.dumps(p, indent=2, default=str)) for e, p in previews])

    def _replay_one(self, request, exception) -> None:
        try:
            runs = fixing.exception_replay(exception=exception, acting_user=request.user)
        except ApplicationError as error:
            self.message_user(request, f"{exception}: {error.message}", messages.WARNING)
        else:
            self.message_user(request, f"{exception}: replay queued as run(s) {', '.join(str(r.pk) for r in runs)}.")

    def _confirm_page(self, request, queryset, action: str, title: str, *, needs_reason=False, previews=None):
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": title,
                   "exceptions": queryset, "action": action, "needs_reason": needs_reason, "previews": previews,
                   "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME}
        return TemplateResponse(request, "admin/exceptions/integrationexception/confirm.html", context)

    # --- the detail page's buttons -------------------------------------------------------------------
    def get_urls(self):
        act = self.admin_site.admin_view(self.act_view)
        payload = self.admin_site.admin_view(self.payload_view)
        replay = self.admin_site.admin_view(self.replay_view)
        return [path("<int:pk>/act/", act, name="exceptions_integrationexception_act"),
                path("<int:pk>/replay/", replay, name="exceptions_integrationexception_replay"),
                path("<int:pk>/payload/<int:record_id>/", payload, name="exceptions_integrationexception_payload"),
                *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        exception = get_object_or_404(self.get_queryset(request), pk=object_id)
        may = {name: _may(request, name) for name in BUTTONS}
        extra = {"may": may, "history_rows": selectors.exception_history(exception, limit=20),
                 "payload_edits": exception.payload_edits.select_related("edited_by")[:10], **(extra_context or {})}
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def act_view(self, request, pk: int):
        exception = get_object_or_404(self.get_queryset(request), pk=pk)
        action = request.POST.get("action", "")
        back = redirect("admin:exceptions_integrationexception_change", pk)
        if request.method != "POST" or action not in BUTTONS:
            return back
        if not _may(request, action):
            self.message_user(request, f"Your role may not {action} exceptions.", messages.ERROR)
            return back
        try:
            self._act(request, exception, action)
        except ApplicationError as error:
            self.message_user(request, error.message, messages.ERROR)
        return back

    def _act(self, request, exception, action: str) -> None:
        reason, user = request.POST.get("reason", ""), request.user
        if action == "comment":
            services.exception_comment(exception=exception, body=request.POST.get("body", ""), acting_user=user)
        elif action == "assign":
            services.exception_assign(exception=exception, owner=user, acting_user=user, customer=request.tenant)
        elif action == "acknowledge":
            services.exception_acknowledge(exception=exception, acting_user=user)
        elif action == "resolve":
            services.exception_resolve(exception=exception, acting_user=user, reason=reason)
        elif action == "ignore":
            services.exception_ignore(exception=exception, acting_user=user, reason=reason)
        elif action == "reopen":
            services.exception_reopen(exception=exception, acting_user=user, reason=reason)
        elif action == "replay":
            self._replay_one(request, exception)
            return
        self.message_user(request, f"Done: {action}.")

    def replay_view(self, request, pk: int):
        """GET: what a replay would send (nothing is sent); POST: replay."""
        exception = get_object_or_404(self.get_queryset(request), pk=pk)
        if not _may(request, "replay"):
            self.message_user(request, "Your role may not replay.", messages.ERROR)
            return redirect("admin:exceptions_integrationexception_change", pk)
        if request.method == "POST":
            self._replay_one(request, exception)
            return redirect("admin:exceptions_integrationexception_change", pk)
        try:
            preview = fixing.exception_replay_preview(exception=exception)
        except ApplicationError as error:
            preview = [{"message": error.message}]
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "title": "Replay: what will be "
                   "sent", "exceptions": [exception], "action": "replay", "single": exception,
                   "previews": [(exception, json.dumps(preview, indent=2, default=str))]}
        return TemplateResponse(request, "admin/exceptions/integrationexception/confirm.html", context)

    def payload_view(self, request, pk: int, record_id: int):
        exception = get_object_or_404(self.get_queryset(request), pk=pk)
        record = get_object_or_404(ExceptionRecord, pk=record_id, exception=exception)
        back = redirect("admin:exceptions_integrationexception_change", pk)
        if not _may(request, "edit_payload"):
            self.message_user(request, "Your role may not edit payloads.", messages.ERROR)
            return back
        text = json.dumps(record.last_item.payload_before if record.last_item else None, indent=2, default=str)
        errors = []
        if request.method == "POST":
            text = request.POST.get("payload", "")
            try:
                fixing.exception_payload_edit(exception=exception, record_key=record.record_key,
                                              payload=json.loads(text), acting_user=request.user,
                                              reason=request.POST.get("reason", ""))
            except ValueError as error:
                errors = [f"Not JSON: {error}"]
            except ApplicationError as error:
                errors = error.extra.get("errors") or [error.message]
            else:
                self.message_user(request, f"Payload of {record.record_key} saved; replay to send it.")
                return back
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "original": exception,
                   "record": record, "payload": text, "errors": errors, "title": f"Edit payload of {record.record_key}"}
        return TemplateResponse(request, "admin/exceptions/integrationexception/payload.html", context)


@admin.register(EscalationPolicy, site=tenant_admin_site)
class EscalationPolicyAdmin(TenantModelAdmin):
    list_display = ["name", "is_active", "rule_count", "email_recipients", "webhook_url", "quiet_start", "quiet_end",
                    "timezone"]

    @admin.display(description="Rules")
    def rule_count(self, obj) -> int:
        return len(obj.rules or [])


@admin.register(Notification, site=tenant_admin_site)
class NotificationAdmin(TenantModelAdmin):
    list_display = ["created_at", "channel", "recipient", "subject", "status", "attempts", "send_after", "sent_at",
                    "last_error"]
    list_filter = ["status", "channel"]
    readonly_fields = [f.name for f in Notification._meta.fields]
    change_action = "ledger.delete"

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(PartnerEscalationPolicy, site=public_admin_site)
class PartnerEscalationPolicyAdmin(WeftModelAdmin):
    """Partner admins keep their partner's default policy; customers without their own use it."""

    list_display = ["partner", "name", "is_active", "email_recipients", "webhook_url"]
    list_select_related = ["partner"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.filter(
            partner__in=access.partners_administered_by(request.user))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "partner":
            kwargs["queryset"] = access.partners_administered_by(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_module_permission(self, request) -> bool:
        return access.partners_administered_by(request.user).exists()

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)


@admin.register(WebhookSubscription, site=tenant_admin_site)
class WebhookSubscriptionAdmin(TenantModelAdmin):
    """Endpoints subscribed to events. Made over the API (where the secret is shown once); here they are
    paused, re-pointed, or allowed to reach a private address (which the API never allows)."""

    list_display = ["url", "event_types", "is_active", "allow_private_network", "created_at"]
    fields = ["url", "event_types", "description", "is_active", "allow_private_network", "created_by"]
    readonly_fields = ["created_by"]

    def has_add_permission(self, request) -> bool:
        return False  # the secret is shown once, to the API caller who subscribes

    def save_model(self, request, obj, form, change):
        webhooks.subscription_update(subscription=obj, acting_user=request.user,
                                     **{name: form.cleaned_data[name] for name in form.changed_data
                                        if name in webhooks.SUBSCRIPTION_FIELDS})

    def delete_model(self, request, obj):
        webhooks.subscription_delete(subscription=obj, acting_user=request.user)


class AttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = max_num = 0
    can_delete = False
    fields = readonly_fields = ["number", "attempted_at", "status_code", "error", "response_body", "duration_ms"]

    def has_view_permission(self, request, obj=None) -> bool:
        return access.can(request.user, "console.enter", customer=getattr(request, "tenant", None))


@admin.register(WebhookDelivery, site=tenant_admin_site)
class WebhookDeliveryAdmin(TenantModelAdmin):
    """Every event sent to a subscription, with each attempt (read-only: operational rows)."""

    list_display = ["created_at", "event_type", "subscription", "status", "attempts", "next_attempt_at",
                    "delivered_at", "last_error"]
    list_filter = ["status", "event_type"]
    list_select_related = ["subscription"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    inlines = [AttemptInline]
    change_action = "ledger.delete"

    def has_add_permission(self, request) -> bool:
        return False
