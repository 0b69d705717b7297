"""Pages shared by both sites, and the two access decorators every other portal view goes through.

``partner_staff_view`` serves the partner site (public schema, the partner's own host);
``portal_view`` serves a customer's portal (its schema, its own domain). Both answer 404 to people
without access, exactly as for pages that do not exist. Pages that only show something are
``require_safe``: a POST to them is answered 405, not the page.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from apps.common.errors import ApplicationError
from apps.tenants import access, operations, signin
from apps.tenants.forms import SiteAuthenticationForm
from apps.tenants.models import Customer, Partner


class LoginView(auth_views.LoginView):
    template_name = "login.html"
    authentication_form = SiteAuthenticationForm
    redirect_authenticated_user = True


def partner_staff_view(action: str = "partner.view"):
    """A partner-site view: the host must be a partner's and the user its staff, allowed ``action``.

    The view is called as ``view(request, partner, ...)``. With too little for an action (an analyst
    posting a plan change) the answer is 403; without any access, 404. ``action`` is a partner action;
    views about one customer ask for their customer action when they load it (``partner_customer``).
    """

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            partner = getattr(request, "partner", None)
            if partner is None or not access.can(request.user, "partner.view", partner=partner):
                raise Http404("No such page.")
            if not access.can(request.user, action, partner=partner):
                raise PermissionDenied("Your role does not allow this.")
            return view(request, partner, *args, **kwargs)

        return wrapped

    return decorator


def portal_view(action: str = "customer.view"):
    """A customer-portal view: the user must be allowed ``action`` on this domain's customer.

    People who may not see the customer at all get 404; those who may see it but not do this, 403.
    """

    def decorator(view):
        @login_required
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            customer = request.tenant
            if not access.can(request.user, "customer.view", customer=customer):
                raise Http404("No such page.")
            if not access.can(request.user, action, customer=customer):
                raise PermissionDenied("Your role does not allow this.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


@never_cache
def signin_handoff(request):
    """A customer host: sign in with the partner site's hand-over token, then on to the portal or the admin."""
    try:
        path = signin.handoff_redeem(request, request.GET.get("t", "")[:4000])
    except signin.HandoffRefused as refusal:
        message = f"{refusal} Sign in on this site instead (/login/)."
        return render(request, "403.html", {"exception": message}, status=403)
    return redirect(path)


@require_safe
@login_required
def operation_page(request, pk: int, on_customer: bool = False):
    """A long operation's progress as a page (the partner site, or a customer host for its own operations)."""
    operation = operations.operation_for_user(user=request.user, operation_id=pk,
                                              customer=request.tenant if on_customer else None)
    return render(request, "operations/page.html", {"operation": operation})


@require_safe
@never_cache
@login_required
def operation_progress_part(request, pk: int, on_customer: bool = False):
    """The progress block alone: pages that include it poll this (htmx) until the operation has finished."""
    operation = operations.operation_for_user(user=request.user, operation_id=pk,
                                              customer=request.tenant if on_customer else None)
    return render(request, "operations/_progress.html", {"operation": operation})


def partner_customer(request, partner: Partner, slug: str, action: str = "customer.view") -> Customer:
    """This partner's customer ``slug``: 404 alike for missing and not yours, 403 if the user may see it
    but not do ``action`` on it."""
    customer = access.customer_for_user(request.user, slug)
    if customer.partner_id != partner.pk:
        raise Http404("No such customer.")
    access.check(request.user, action, customer=customer)
    return customer


def portal_url(request, domains) -> str:
    """The customer's portal on its primary domain, on this site's scheme and port (empty: no domain)."""
    if not domains:
        return ""
    port = request.get_port()
    return f"//{domains[0].domain}{'' if port in ('80', '443') else f':{port}'}/"


def error_message(error: Exception) -> str:
    """What a refused service call says, whether an ApplicationError or a ValidationError."""
    return error.message if isinstance(error, ApplicationError) else " ".join(error.messages)
