"""API permission: the caller's capabilities on the tenant the request's host selected."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from apps.tenants.access import user_can
from apps.tenants.choices import Capability


class CanViewTenant(BasePermission):
    """Reads need VIEW on the current customer; writes need the view's ``write_capability`` (OPERATE)."""

    def has_permission(self, request, view) -> bool:
        tenant = getattr(request, "tenant", None)
        if request.method in SAFE_METHODS:
            capability = getattr(view, "read_capability", Capability.VIEW)
        else:
            capability = getattr(view, "write_capability", Capability.OPERATE)
        return user_can(request.user, tenant, capability)
