"""The partner API's router: under /api/v1/ on a partner's own host (public schema), beside the partner site.

The customer API (config.api_router) lives on customers' domains; this one answers for the partner and its
customers as a whole (apps/portal/api). Each has its own OpenAPI document and docs page.
"""

from django.urls import include, path, reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from apps.portal.api import examples
from apps.portal.api.views import PartnerApi

DESCRIPTION = ("Weft's partner API on a partner's own host: customers and their health, onboarding, plans, usage "
               "and templates across customers. Authenticate with a partner key (`customers:read` at least): "
               "`Authorization: Bearer weft_...`. Guide: docs/api.md (\"The partner API\").")


class PartnerSchemaApi(SpectacularAPIView):
    """The partner API's OpenAPI 3.1 document, generated from the code; it shows no partner's data."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    urlconf = "config.urls_public"
    api_version = "1"
    custom_settings = {"TITLE": "Weft partner API", "DESCRIPTION": DESCRIPTION}

    def _get_schema_response(self, request):
        """Generated once per process (it comes from the code alone)."""
        if "document" not in _generated:
            _generated["document"] = super()._get_schema_response(request).data
        return Response(_generated["document"],
                        headers={"Content-Disposition": 'inline; filename="weft-partner-api.yaml"'})


_generated: dict = {}

GROUPS = {"customers": "partner_api:customer-list", "plans": "partner_api:plan-list", "usage": "partner_api:usage",
          "usage-csv": "partner_api:usage-csv", "templates": "partner_api:template-list",
          "schema": "partner_api:schema", "docs": "/api/docs/"}


class PartnerApiRoot(PartnerApi):
    """``GET /api/v1/`` on a partner's host: every group of the partner API with its address."""

    @extend_schema(operation_id="root", responses=inline_serializer(
        "PartnerApiRoot", {name: serializers.CharField() for name in GROUPS}), examples=[examples.ROOT])
    def get(self, request) -> Response:
        return Response({name: request.build_absolute_uri(where if where.startswith("/") else reverse(where))
                         for name, where in GROUPS.items()})


app_name = "partner_api"
urlpatterns = [
    path("", PartnerApiRoot.as_view(), name="api-root"),
    path("schema/", PartnerSchemaApi.as_view(), name="schema"),
    path("", include("apps.portal.api.urls")),
]

docs_view = SpectacularSwaggerView.as_view(url_name="partner_api:schema", authentication_classes=(),
                                           permission_classes=(AllowAny,))
