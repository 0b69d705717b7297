"""Pick the schema from the request's host: a customer domain, a partner site, or the platform."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import connection
from django.shortcuts import render
from django.urls import set_urlconf
from django_tenants.middleware.main import TenantMainMiddleware

from apps.tenants import selectors


class TenantHostMiddleware(TenantMainMiddleware):
    """Sets ``request.tenant``, ``request.partner`` and the URL conf, or answers a clear 404.

    Hosts resolve in this order: a customer ``Domain`` (that customer's schema and tenant URLs),
    a partner's ``domain_suffix`` (the partner site in the public schema), one of
    ``WEFT_PUBLIC_HOSTS`` (the platform). Anything else is a 404 page, never a 500.
    """

    def process_request(self, request):
        connection.set_schema_to_public()
        try:
            hostname = self.hostname_from_request(request).lower().rstrip(".")
        except DisallowedHost:
            return _unknown_host(request, hostname="")
        customer = selectors.customer_for_host(hostname)
        if customer is not None:
            request.tenant, request.partner = customer, customer.partner
            customer.domain_url = hostname
            connection.set_tenant(customer)
            return self._route(request, settings.ROOT_URLCONF)
        partner = selectors.partner_for_host(hostname)
        if partner is None and hostname not in settings.WEFT_PUBLIC_HOSTS:
            return _unknown_host(request, hostname=hostname)
        request.tenant, request.partner = selectors.platform_tenant(), partner
        return self._route(request, settings.PUBLIC_SCHEMA_URLCONF)

    @staticmethod
    def _route(request, urlconf: str) -> None:
        request.urlconf = urlconf
        set_urlconf(urlconf)


def _unknown_host(request, *, hostname: str):
    request.partner = None
    return render(request, "unknown_host.html", {"hostname": hostname}, status=404)
