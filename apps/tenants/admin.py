"""Public admin: partners, customers, domains, people and memberships, scoped to the user's partner."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django_q import admin as q_admin
from django_q import models as q_models

from apps.common.errors import ApplicationError
from apps.tenants import access, apikeys, services
from apps.tenants.admin_sites import (  # noqa: F401  (re-exported for the URL confs)
    ScopedHistoryAdmin,
    SuperuserOnlyAdmin,
    WeftModelAdmin,
    access_action,
    public_admin_site,
    tenant_admin_site,
)
from apps.tenants.choices import CustomerKind
from apps.tenants.forms import ApiKeyForm, OnboardingForm
from apps.tenants.models import ApiKey, Customer, Domain, Membership, Partner, User


class PartnerScopedAdmin(WeftModelAdmin):
    """Partner staff see their own partner's rows only; who may change them is ``change_action``."""

    partner_path = "partner"
    change_action = "partner.change"

    def partner_of(self, obj) -> Partner | None:
        raise NotImplementedError

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.partner_path}__in": access.partners_for_user(request.user)})

    def has_module_permission(self, request) -> bool:
        return access.can(request.user, "partner.view")

    def has_view_permission(self, request, obj=None) -> bool:
        return access.can(request.user, "partner.view", partner=self.partner_of(obj) if obj else None)

    def has_change_permission(self, request, obj=None) -> bool:
        return access.can(request.user, self.change_action, partner=self.partner_of(obj) if obj else None)

    def has_add_permission(self, request) -> bool:
        return access.can(request.user, "platform.manage")

    def has_delete_permission(self, request, obj=None) -> bool:
        return access.can(request.user, "platform.manage")


def _customers_for(user, action: str):
    """Customer firms of the partners where ``user`` may do ``action``: the choices in forms that link to one."""
    return access.customers_for_user(user).filter(partner__in=access.partners_administered_by(user, action))


@admin.register(Partner, site=public_admin_site)
class PartnerAdmin(PartnerScopedAdmin):
    partner_path = "pk"
    list_display = ["name", "display_name", "domain_suffix", "support_email", "customer_count"]
    search_fields = ["name", "display_name", "domain_suffix"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["created_at", "updated_at"]

    def partner_of(self, obj):
        return obj

    def get_queryset(self, request):
        from django.db.models import Count

        return super().get_queryset(request).annotate(_customers=Count("customers", filter=Q(customers__kind="firm")))

    @admin.display(description="Customers", ordering="_customers")
    def customer_count(self, obj) -> int:
        return obj._customers


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0
    fields = ["domain", "is_primary"]


@admin.register(Customer, site=public_admin_site)
class CustomerAdmin(PartnerScopedAdmin):
    list_display = ["name", "slug", "partner", "schema_name", "is_active", "created_at"]
    list_filter = [("partner", admin.RelatedOnlyFieldListFilter), "is_active"]  # only partners in the user's scope
    list_select_related = ["partner"]
    search_fields = ["name", "slug", "domains__domain"]
    readonly_fields = ["slug", "schema_name", "kind", "partner", "created_at", "updated_at"]
    fields = ["name", "slug", "partner", "schema_name", "kind", "is_active", "created_at", "updated_at"]
    inlines = [DomainInline]
    change_list_template = "admin/tenants/customer/change_list.html"

    def partner_of(self, obj):
        return obj.partner

    def get_queryset(self, request):
        return super().get_queryset(request).filter(kind=CustomerKind.FIRM)

    def has_add_permission(self, request) -> bool:
        return False  # customers are made by onboarding (schema, domain and first admin together)

    def get_urls(self):
        onboard = self.admin_site.admin_view(self.onboard_view)
        return [path("onboard/", onboard, name="tenants_customer_onboard"), *super().get_urls()]

    def onboard_view(self, request):
        form = OnboardingForm(request.POST or None, user=request.user)  # partners where the user may onboard
        if not form.fields["partner"].queryset.exists():
            self.message_user(request, "Only partner admins may onboard customers.", messages.ERROR)
            return redirect("public_admin:tenants_customer_changelist")
        if request.method == "POST" and form.is_valid():
            try:
                result = services.customer_onboard(**form.cleaned_data, acting_user=request.user)
            except ApplicationError as error:
                form.add_error(None, error.message)
            else:
                for line in result.messages:
                    self.message_user(request, line, messages.SUCCESS if result.created else messages.INFO)
                if result.admin_password:
                    self.message_user(
                        request, f"Initial password for {result.admin_user.username}: {result.admin_password} "
                        "(shown once; ask them to change it).", messages.WARNING,
                    )
                return redirect("public_admin:tenants_customer_change", result.customer.pk)
        context = {**self.admin_site.each_context(request), "form": form, "opts": self.model._meta,
                   "title": "Onboard a customer"}
        return TemplateResponse(request, "admin/tenants/customer/onboard.html", context)


@admin.register(Domain, site=public_admin_site)
class DomainAdmin(PartnerScopedAdmin):
    partner_path = "tenant__partner"
    list_display = ["domain", "tenant", "is_primary"]
    list_select_related = ["tenant__partner"]
    search_fields = ["domain", "tenant__name"]
    autocomplete_fields = ["tenant"]

    def partner_of(self, obj):
        return obj.tenant.partner

    def get_queryset(self, request):
        return super().get_queryset(request).filter(tenant__kind=CustomerKind.FIRM)

    def has_add_permission(self, request) -> bool:
        return self.has_change_permission(request)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "tenant":
            kwargs["queryset"] = _customers_for(request.user, self.change_action)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class MembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "user"
    extra = 0
    fields = ["role", "partner", "customer"]

    def get_queryset(self, request):
        queryset = super().get_queryset(request).select_related("partner", "customer")
        if request.user.is_superuser:
            return queryset
        partners = access.partners_for_user(request.user)
        return queryset.filter(Q(partner__in=partners) | Q(customer__partner__in=partners))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "partner" and not request.user.is_superuser:
            kwargs["queryset"] = access.partners_administered_by(request.user, "people.manage")
        if db_field.name == "customer":
            kwargs["queryset"] = _customers_for(request.user, "people.manage")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def _users_visible_to(user, queryset):
    """People with a membership at one of the user's partners or at one of their customers."""
    if user.is_superuser:
        return queryset
    partners = access.partners_for_user(user)
    return queryset.filter(Q(memberships__partner__in=partners) | Q(memberships__customer__partner__in=partners)
                           ).distinct()


@admin.register(User, site=public_admin_site)
class UserAdmin(DjangoUserAdmin, WeftModelAdmin):
    list_display = ["username", "email", "first_name", "last_name", "is_active", "is_superuser"]
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return _users_visible_to(request.user, super().get_queryset(request))

    def get_fieldsets(self, request, obj=None):
        """A history version shows no password: history keeps none, and simple-history would fill the
        excluded field from today's row, so the form would show the current hash's algorithm and prefix."""
        fieldsets = super().get_fieldsets(request, obj)
        match = getattr(request, "resolver_match", None)
        if not (match and (match.url_name or "").endswith("_simple_history")):
            return fieldsets
        return [(name, {**options, "fields": [f for f in options["fields"] if f != "password"]})
                for name, options in fieldsets]

    def get_readonly_fields(self, request, obj=None):
        if request.user.is_superuser:
            return super().get_readonly_fields(request, obj)
        return ["is_superuser", "is_staff", "user_permissions", "groups", "last_login", "date_joined"]

    def has_module_permission(self, request) -> bool:
        return access.can(request.user, "partner.view")

    def has_view_permission(self, request, obj=None) -> bool:
        return access.can(request.user, "partner.view")

    def has_change_permission(self, request, obj=None) -> bool:
        if access.can(request.user, "platform.manage"):
            return True
        if obj is not None and obj.is_superuser:
            return False
        return _administers_every_membership(request.user, obj)

    def has_add_permission(self, request) -> bool:
        return _administers_every_membership(request.user, None)

    def has_delete_permission(self, request, obj=None) -> bool:
        return access.can(request.user, "platform.manage")

    def delete_model(self, request, obj) -> None:
        services.user_delete(user=obj, acting_user=request.user)

    def delete_queryset(self, request, queryset) -> None:
        for user in queryset:
            services.user_delete(user=user, acting_user=request.user)


def _administers_every_membership(user, obj) -> bool:
    """A partner admin may edit a person only if every membership of theirs is within the partner."""
    administered = set(access.partners_administered_by(user, "people.manage").values_list("pk", flat=True))
    if not administered:
        return False
    if obj is None:
        return True
    memberships = obj.memberships.select_related("customer")
    return all((m.partner_id or m.customer.partner_id) in administered for m in memberships)


class PartnerOrCustomerScopedAdmin(PartnerScopedAdmin):
    """Rows that belong to a partner or to one of its customers (memberships, API keys): scoped to either."""

    def partner_of(self, obj):
        return obj.partner or obj.customer.partner

    def get_queryset(self, request):
        queryset = ScopedHistoryAdmin.get_queryset(self, request)
        if request.user.is_superuser:
            return queryset
        partners = access.partners_for_user(request.user)
        return queryset.filter(Q(partner__in=partners) | Q(customer__partner__in=partners))


@admin.register(Membership, site=public_admin_site)
class MembershipAdmin(PartnerOrCustomerScopedAdmin):
    list_display = ["user", "role", "partner", "customer", "created_at"]
    list_filter = ["role", ("partner", admin.RelatedOnlyFieldListFilter)]  # only partners in the user's scope
    list_select_related = ["user", "partner", "customer__partner"]
    search_fields = ["user__username", "user__email", "customer__name"]
    autocomplete_fields = ["user", "customer"]
    change_action = "people.manage"

    def has_add_permission(self, request) -> bool:
        return self.has_change_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.has_change_permission(request, obj)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "partner" and not request.user.is_superuser:
            kwargs["queryset"] = access.partners_administered_by(request.user, self.change_action)
        if db_field.name == "customer":
            kwargs["queryset"] = _customers_for(request.user, self.change_action)
        if db_field.name == "user":  # no reaching for another partner's people by their id
            kwargs["queryset"] = _users_visible_to(request.user, User.objects.all())
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


# The task queue is platform-wide: only the platform operator sees it.
for model, model_admin in [
    (q_models.Schedule, q_admin.ScheduleAdmin),
    (q_models.Success, q_admin.TaskAdmin),
    (q_models.Failure, q_admin.FailAdmin),
    (q_models.OrmQ, q_admin.QueueAdmin),
]:
    public_admin_site.register(model, type(model_admin.__name__, (SuperuserOnlyAdmin, model_admin), {}))


@admin.register(ApiKey, site=public_admin_site)
class ApiKeyAdmin(PartnerOrCustomerScopedAdmin):
    """API keys: made here (the secret is shown once), listed with their last use, revoked by an action.
    A key is never edited: revoke it and make another."""

    list_display = ["name", "prefix", "owner", "scope_list", "expires_at", "last_used_at", "revoked_at"]
    list_filter = [("partner", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["partner", "customer__partner"]
    search_fields = ["name", "prefix", "customer__name"]
    fields = ["name", "prefix", "partner", "customer", "scopes", "expires_at", "rate_limit_per_minute",
              "last_used_at", "revoked_at", "created_by", "created_at"]
    readonly_fields = fields
    actions = ["revoke"]
    change_action = "apikey.manage"

    def has_view_permission(self, request, obj=None) -> bool:
        return access.can(request.user, self.change_action, partner=self.partner_of(obj) if obj else None)

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # keys are made and revoked, never edited

    def has_add_permission(self, request) -> bool:
        return access.can(request.user, self.change_action)

    @admin.display(description="Scopes")
    def scope_list(self, obj) -> str:
        return ", ".join(obj.scopes)

    @admin.action(description="Revoke selected API keys")
    @access_action("apikey.manage")
    def revoke(self, request, queryset):
        for key in queryset.select_related("principal", "partner", "customer__partner"):
            apikeys.apikey_revoke(key=key, acting_user=request.user)
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        request.current_app = self.admin_site.name
        form = ApiKeyForm(request.POST or None, user=request.user)
        issued = None
        if request.method == "POST" and form.is_valid():
            try:
                issued = apikeys.apikey_create(**form.cleaned_data, acting_user=request.user)
            except (ApplicationError, ValidationError) as error:
                form.add_error(None, getattr(error, "message", None) or "; ".join(error.messages))
        context = {**self.admin_site.each_context(request), "form": form, "issued": issued,
                   "opts": self.model._meta, "title": "New API key"}
        return TemplateResponse(request, "admin/tenants/apikey/add.html", context)
