"""API permission: the caller's capabilities on the tenant the request's host selected."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from apps.tenants.access import user_can
from apps.tenants.choices import Capability
from apps.tenants.plans import plan_allows, plan_denied_message, route_feature


class CanViewTenant(BasePermission):
    """Reads need VIEW on the current customer; writes need the view's ``write_capability`` (OPERATE)."""

    def has_permission(self, request, view) -> bool:
        tenant = getattr(request, "tenant", None)
        if request.method in SAFE_METHODS:
            capability = getattr(view, "read_capability", Capability.VIEW)
        else:
            capability = getattr(view, "write_capability", Capability.OPERATE)
        return user_can(request.user, tenant, capability)


class PlanAllows(BasePermission):
    """Refuses (403) when the customer's plan lacks the feature the view needs; a no-op for other views.

    A view declares ``plan_feature = Feature.X``, or defines ``plan_feature_for(request) -> str | None``
    when the feature depends on the URL (one view serving several reports); URLs another app owns can be
    gated with ``apps.tenants.plans.plan_gate_route``. It sits in ``DEFAULT_PERMISSION_CLASSES`` after
    ``CanViewTenant``, so declaring the feature is all a view does.
    """

    def has_permission(self, request, view) -> bool:
        finder = getattr(view, "plan_feature_for", None)
        feature = finder(request) if callable(finder) else getattr(view, "plan_feature", None)
        if feature is None:
            feature = route_feature(getattr(request, "resolver_match", None))
        tenant = getattr(request, "tenant", None)
        if feature is None or plan_allows(tenant, feature):
            return True
        self.message = plan_denied_message(tenant, feature) if tenant is not None else "Not available."
        return False
