"""Pages: the partner site (public schema) and the customer portal (a customer's schema)."""

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import Http404, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.connectors.models import Connection
from apps.tenants import access, selectors
from apps.tenants.choices import Capability
from apps.tenants.forms import SiteAuthenticationForm


class LoginView(auth_views.LoginView):
    template_name = "login.html"
    authentication_form = SiteAuthenticationForm
    redirect_authenticated_user = True


@require_GET
def healthz(request):
    """Liveness for load balancers: the process answers and the database is reachable."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "schema": connection.schema_name})


@login_required
def partner_home(request):
    """The partner site's front page: every customer of the partner this host belongs to."""
    partner = request.partner
    customers = access.customers_for_user(request.user)
    if partner is not None:
        customers = customers.filter(partner=partner)
    elif not request.user.is_superuser:
        raise Http404("No partner site here.")
    rows = [{"customer": c, "domain": selectors.primary_domain(c)} for c in customers.prefetch_related("domains")]
    return render(request, "partner/home.html", {"rows": rows, "partner": partner})


@login_required
def customer_home(request):
    """The customer portal's front page, on the customer's own domain."""
    if not access.user_can(request.user, request.tenant, Capability.VIEW):
        raise Http404("Nothing here.")
    connections = Connection.objects.all()
    return render(request, "portal/home.html", {"connections": connections})
