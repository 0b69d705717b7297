"""API permission: the caller's capabilities on the tenant the request's host selected."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from apps.tenants import access
from apps.tenants.plans import plan_allows, plan_denied_message, route_feature


class CanViewTenant(BasePermission):
    """Asks ``apps.tenants.access`` about the customer whose domain the request came to.

    Reads need the view's ``read_action`` (``customer.view``); writes need its ``write_action``, and a view
    that names none refuses writes, so a new endpoint is shut until it says who may write. ``api_area`` says
    which API key scope its reads need (``access.KEY_AREAS``); a view without one is shut to keys.
    """

    def has_permission(self, request, view) -> bool:
        if request.method in SAFE_METHODS or not hasattr(view, request.method.lower()):
            action = getattr(view, "read_action", "customer.view")  # (a method the view lacks: 405 to readers)
        else:
            action = getattr(view, "write_action", None)
        return action is not None and access.can(request.user, action, customer=getattr(request, "tenant", None),
                                                 area=getattr(view, "api_area", None))


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
