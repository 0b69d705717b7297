"""Pages shared by both sites, and the two access decorators every other portal view goes through.

``partner_staff_view`` serves the partner site (public schema, the partner's own host);
``portal_view`` serves a customer's portal (its schema, its own domain). Both answer 404 to people
without access, exactly as for pages that do not exist.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404

from apps.tenants import access
from apps.tenants.choices import Capability
from apps.tenants.forms import SiteAuthenticationForm


class LoginView(auth_views.LoginView):
    template_name = "login.html"
    authentication_form = SiteAuthenticationForm
    redirect_authenticated_user = True


def partner_staff_view(capability: str = Capability.VIEW):
    """A partner-site view: the host must be a partner's and the user its staff with ``capability``.

    The view is called as ``view(request, partner, ...)``. With too little capability for an action
    (an analyst posting a plan change) the answer is 403; without any access, 404.
    """

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            partner = getattr(request, "partner", None)
            granted = access.capabilities_on_partner(request.user, partner)
            if partner is None or not granted:
                raise Http404("No such page.")
            if capability not in granted:
                raise PermissionDenied("Your role does not allow this.")
            return view(request, partner, *args, **kwargs)

        return wrapped

    return decorator


def portal_view(capability: str = Capability.VIEW):
    """A customer-portal view: the user must be allowed ``capability`` on this domain's customer.

    People who may not see the customer at all get 404; those who may see it but not do this, 403.
    """

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            customer = request.tenant
            if not access.user_can(request.user, customer, Capability.VIEW):
                raise Http404("No such page.")
            if not access.user_can(request.user, customer, capability):
                raise PermissionDenied("Your role does not allow this.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


