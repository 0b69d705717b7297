"""Two admin sites: the platform/partner admin (public schema) and each customer's tenant admin.

Access is decided by memberships (``apps.tenants.access``), not by Django's per-model permission
rows, so the same rules hold in the admin, the portal and the API.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.utils import unquote
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpResponseNotAllowed
from simple_history.admin import SimpleHistoryAdmin

from apps.tenants import access
from apps.tenants.branding import brand_for_partner
from apps.tenants.signin import count_refused_sign_in


class _MembershipLoginForm(AdminAuthenticationForm):
    """Admin login that asks the site, not ``is_staff``, whether this person may enter."""

    def confirm_login_allowed(self, user) -> None:
        if not user.is_active or not self.admin_site.has_permission_for(self.request, user):
            count_refused_sign_in(self.request, user.get_username())
            raise forms.ValidationError(self.error_messages["invalid_login"], code="invalid_login",
                                        params={"username": self.username_field.verbose_name})


class ScopedHistoryAdmin(SimpleHistoryAdmin):
    """django-simple-history's views, limited to objects the user may see, and read-only.

    Upstream, the history list and the history form read the whole history table and check only the
    model's view permission, and the form saves a POST (a "revert") without asking for change
    permission (FIELD-NOTES: django-simple-history #361, #529, #1017). Here both views first load the
    object through ``get_queryset`` (the admin's scope), so "missing" and "not yours" are the same
    404; the form never saves: restoring an old value goes through the change form, which checks
    change permission and, where a service owns the write, its rules (docs/security.md says why).
    """

    def history_view(self, request, object_id, extra_context=None):
        self._visible_or_404(request, object_id)
        if not self._tracked():  # no HistoricalRecords on this model: Django's own (admin log) history
            return admin.ModelAdmin.history_view(self, request, object_id, extra_context)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        self._visible_or_404(request, object_id)
        if not self._tracked():
            raise Http404("No such version.")
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        return super().history_form_view(request, object_id, version_id, extra_context)

    def revert_disabled(self, request, obj=None) -> bool:
        return True

    def _tracked(self) -> bool:
        return hasattr(self.model._meta, "simple_history_manager_attribute")

    def _visible_or_404(self, request, object_id) -> None:
        obj = self.get_object(request, unquote(object_id))
        if obj is None or not self.has_view_permission(request, obj):
            raise Http404("No such object.")


def access_action(name: str):
    """Mark an admin action with the access action it needs (``apps.tenants.access.ACTIONS``)."""
    access.ACTIONS[name]  # an unknown name fails when the admin module loads

    def mark(func):
        func.access_action = name
        return func

    return mark


class WeftModelAdmin(ScopedHistoryAdmin):
    """Base of every Weft model admin: history scoped and read-only, and each action (marked with
    ``access_action`` or Django's ``allowed_permissions``) offered to, and run for, only those allowed.
    Django itself refuses a POSTed action that ``get_actions`` does not list."""

    def changelist_view(self, request, extra_context=None):
        # Lists get the whole width (readable at 1366 px); the navigation sidebar stays on the other pages.
        return super().changelist_view(request, {"is_nav_sidebar_enabled": False, **(extra_context or {})})

    def get_actions(self, request):
        actions = super().get_actions(request)
        return {name: entry for name, entry in actions.items() if self._may_run(request, entry[0])}

    def _may_run(self, request, func) -> bool:
        needed = getattr(func, "access_action", None)
        return needed is None or access.can(request.user, needed, customer=getattr(request, "tenant", None))


def _admin_problem(admin_class) -> str | None:
    """Why ``admin_class`` may not be registered on a Weft site (None: it may)."""
    if admin_class is None or not issubclass(admin_class, WeftModelAdmin | SuperuserOnlyAdmin):
        return "derive from WeftModelAdmin (or SuperuserOnlyAdmin): scoped, read-only history and checked actions"
    if issubclass(admin_class, SuperuserOnlyAdmin):
        return None
    for action in admin_class.actions or []:
        func = action if callable(action) else getattr(admin_class, action)
        if not (getattr(func, "access_action", None) or getattr(func, "allowed_permissions", None)):
            return f"action {getattr(func, '__name__', action)} must say who may run it (@access_action)"
    return None


class WeftAdminSite(admin.AdminSite):
    site_url = "/"
    enable_nav_sidebar = True

    def register(self, model_or_iterable, admin_class=None, **options):
        problem = _admin_problem(admin_class)
        if problem:
            raise ImproperlyConfigured(f"{getattr(admin_class, '__name__', 'ModelAdmin')}: {problem}.")
        return super().register(model_or_iterable, admin_class, **options)

    def has_permission(self, request) -> bool:
        return self.has_permission_for(request, request.user)

    def has_permission_for(self, request, user) -> bool:
        raise NotImplementedError

    @property
    def login_form(self):
        site = self

        class LoginForm(_MembershipLoginForm):
            admin_site = site

        return LoginForm

    def each_context(self, request):
        context = super().each_context(request)
        brand = context.get("brand")
        if brand is None:
            brand = brand_for_partner(getattr(request, "partner", None))
        context.update(site_header=brand.display_name, site_title=brand.display_name, brand=brand)
        return context


class PublicAdminSite(WeftAdminSite):
    """Platform operators and partner staff: partners, customers, domains, people, memberships.

    Platform operators (superusers) enter on every public host; partner staff only on their own partner's
    host, never on the platform's (``WEFT_PUBLIC_HOSTS``) nor on another partner's.
    """

    index_title = "Partners and customers"

    def has_permission_for(self, request, user) -> bool:
        if user.is_active and user.is_superuser:
            return True
        partner = getattr(request, "partner", None)
        return partner is not None and bool(access.capabilities_on_partner(user, partner))


class TenantAdminSite(WeftAdminSite):
    """One customer's configuration and operations, on that customer's domain."""

    index_title = "Integration configuration and operations"

    def has_permission_for(self, request, user) -> bool:
        return access.can(user, "console.enter", customer=getattr(request, "tenant", None))


public_admin_site = PublicAdminSite(name="public_admin")
tenant_admin_site = TenantAdminSite(name="tenant_admin")


class TenantModelAdmin(WeftModelAdmin):
    """Admin for a model in a customer's schema (the schema is the scope): reading needs
    ``console.enter``, adding, changing and deleting need ``change_action`` (``apps.tenants.access``)."""

    change_action = "configuration.change"

    def _can(self, request, action: str) -> bool:
        return access.can(request.user, action, customer=getattr(request, "tenant", None))

    def has_module_permission(self, request) -> bool:
        return self._can(request, "console.enter")

    def has_view_permission(self, request, obj=None) -> bool:
        return self._can(request, "console.enter")

    def has_add_permission(self, request) -> bool:
        return self._can(request, self.change_action)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._can(request, self.change_action)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._can(request, self.change_action)


class SuperuserOnlyAdmin:
    """Mixin for platform-wide tables (the task queue) that partner staff must not see: to them the
    rows do not exist (an empty queryset), so every URL answers as for a missing row."""

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset if access.can(request.user, "platform.manage") else queryset.none()

    def has_module_permission(self, request) -> bool:
        return access.can(request.user, "platform.manage")

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request, *args) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)
