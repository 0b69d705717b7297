"""Two admin sites: the platform/partner admin (public schema) and each customer's tenant admin.

Access is decided by memberships (``apps.tenants.access``), not by Django's per-model permission
rows, so the same rules hold in the admin, the portal and the API.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from simple_history.admin import SimpleHistoryAdmin

from apps.tenants import access
from apps.tenants.branding import brand_for_partner
from apps.tenants.choices import Capability, Role
from apps.tenants.signin import count_refused_sign_in


class _MembershipLoginForm(AdminAuthenticationForm):
    """Admin login that asks the site, not ``is_staff``, whether this person may enter."""

    def confirm_login_allowed(self, user) -> None:
        if not user.is_active or not self.admin_site.has_permission_for(self.request, user):
            count_refused_sign_in(self.request, user.get_username())
            raise forms.ValidationError(self.error_messages["invalid_login"], code="invalid_login",
                                        params={"username": self.username_field.verbose_name})


class WeftAdminSite(admin.AdminSite):
    site_url = "/"
    enable_nav_sidebar = True

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
        tenant = getattr(request, "tenant", None)
        roles = access.roles_on_customer(user, tenant)
        staff_roles = {Role.PARTNER_ADMIN, Role.INTEGRATION_ENGINEER, Role.ANALYST, Role.CUSTOMER_ADMIN}
        return (user.is_active and user.is_superuser) or bool(roles & staff_roles)


public_admin_site = PublicAdminSite(name="public_admin")
tenant_admin_site = TenantAdminSite(name="tenant_admin")


class TenantModelAdmin(SimpleHistoryAdmin):
    """Admin for a model in a customer's schema: view needs VIEW, changes need ``change_capability``."""

    change_capability = Capability.CONFIGURE

    def _can(self, request, capability: str) -> bool:
        return access.user_can(request.user, getattr(request, "tenant", None), capability)

    def has_module_permission(self, request) -> bool:
        return self._can(request, Capability.VIEW)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._can(request, Capability.VIEW)

    def has_add_permission(self, request) -> bool:
        return self._can(request, self.change_capability)

    def has_change_permission(self, request, obj=None) -> bool:
        return self._can(request, self.change_capability)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._can(request, self.change_capability)


class SuperuserOnlyAdmin:
    """Mixin for platform-wide tables (the task queue) that partner staff must not see."""

    def has_module_permission(self, request) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request, *args) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.has_module_permission(request)
