"""API keys on the partner site (partner admins: the partner's keys and its customers') and in a customer's
portal (its admins: that customer's keys). The secret is shown once, on the page that made it; lists show the
prefix, scopes, expiry and last use. Rules (who may, which scopes) are ``apps.tenants.apikeys``'."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from apps.common.errors import ApplicationError
from apps.portal import forms
from apps.portal.views.shared import partner_staff_view, portal_view
from apps.tenants import access, apikeys
from apps.tenants.models import Customer, Partner

PARTNER_OWNER = "*partner*"  # the owner choice for a partner key (no customer slug can look like it)


def _issue(request, form, **owner) -> apikeys.IssuedKey | None:
    """Make the key the valid ``form`` describes; a refusal becomes the form's error."""
    data = form.cleaned_data
    days = data["expires_in_days"]
    try:
        return apikeys.apikey_create(name=data["name"], scopes=data["scopes"], acting_user=request.user,
                                     expires_at=timezone.now() + timedelta(days=days) if days else None,
                                     rate_limit_per_minute=data["rate_limit_per_minute"], **owner)
    except (ApplicationError, ValidationError) as error:
        form.add_error(None, error.message if isinstance(error, ApplicationError) else " ".join(error.messages))
        return None


@partner_staff_view("apikey.manage")
@never_cache
def partner_keys(request, partner: Partner):
    """The partner's keys and its customers' keys; a new one (its secret shown on this answer only)."""
    customers = {c.slug: c for c in Customer.objects.firms().filter(partner=partner).order_by("name")}
    owners = [(PARTNER_OWNER, f"{partner.name} (partner key)"), *((slug, c.name) for slug, c in customers.items())]
    form = forms.ApiKeyCreateForm(request.POST or None, owners=owners, scopes=access.key_scopes(partner_key=True))
    issued = None
    if request.method == "POST" and form.is_valid():
        choice = form.cleaned_data["owner"]
        owner = {"partner": partner} if choice == PARTNER_OWNER else {"customer": customers[choice]}
        issued = _issue(request, form, **owner)
    return render(request, "partner/api_keys.html", {
        "form": form, "issued": issued, "keys": apikeys.keys_for_partner(partner), "revoke": "partner-key-revoke",
        "api_base": f"{request.scheme}://{request.get_host()}/api/v1/"})


@require_POST
@partner_staff_view("apikey.manage")
def partner_key_revoke(request, partner: Partner, prefix: str):
    key = get_object_or_404(apikeys.keys_for_partner(partner).select_related("principal"), prefix=prefix)
    apikeys.apikey_revoke(key=key, acting_user=request.user)
    messages.success(request, f"Key {key.name} ({key.prefix}) revoked: its next call answers 401.")
    return redirect("partner-keys")


@portal_view("apikey.customer")
@never_cache
def portal_keys(request):
    """This customer's keys, made and revoked by its admins; scopes no wider than the admin's own role."""
    customer = request.tenant
    scopes = access.grantable_scopes(request.user, partner_key=False, customer=customer)
    form = forms.ApiKeyCreateForm(request.POST or None, owners=[(customer.slug, customer.name)], scopes=scopes)
    issued = _issue(request, form, customer=customer) if request.method == "POST" and form.is_valid() else None
    return render(request, "partner/api_keys.html", {
        "form": form, "issued": issued, "keys": apikeys.keys_for_customer(customer), "revoke": "portal-key-revoke",
        "api_base": f"{request.scheme}://{request.get_host()}/api/v1/"})


@require_POST
@portal_view("apikey.customer")
def portal_key_revoke(request, prefix: str):
    key = get_object_or_404(apikeys.keys_for_customer(request.tenant).select_related("principal"), prefix=prefix)
    apikeys.apikey_revoke(key=key, acting_user=request.user)
    messages.success(request, f"Key {key.name} ({key.prefix}) revoked: its next call answers 401.")
    return redirect("portal-keys")
