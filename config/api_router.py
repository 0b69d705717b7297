"""The one API router: every app registers its viewsets here, under /api/v1/ on customer domains."""

from django.urls import include, path, reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from drf_spectacular.views import SpectacularAPIView
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.views import APIView

from apps.common.api import example_answer
from apps.connectors.api.views import ConnectionViewSet
from apps.runs.api.flows import FlowViewSet, RunItemViewSet, RunViewSet
from apps.tenants import access

# No ".json" suffix routes: nothing uses them, and they passed a `format` argument that the viewsets'
# own actions (create, test, run) do not take, so every POST to one was a 500.
router = DefaultRouter()
router.include_format_suffixes = False
router.include_root_view = False  # ApiRoot below lists every group, not only the router's
router.register("connections", ConnectionViewSet, basename="connection")
router.register("flows", FlowViewSet, basename="flow")
router.register("runs", RunViewSet, basename="run")
router.register("run-items", RunItemViewSet, basename="run-item")



class SchemaApi(SpectacularAPIView):
    """The OpenAPI 3.1 document of this API, generated from the code. It describes the API, not any
    customer's data, so it is served to anyone (like the docs page that reads it)."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    urlconf = "config.urls_tenant"
    api_version = "1"  # one version: a ?version= in the query changes nothing

    def _get_schema_response(self, request):
        """Generated once per process (it comes from the code alone, and takes a second to make)."""
        if "document" not in _generated:
            _generated["document"] = super()._get_schema_response(request).data
        return Response(_generated["document"], headers={"Content-Disposition": 'inline; filename="weft-api.yaml"'})


_generated: dict = {}


# Every group of the API: the name, and its address (a URL name, or a template for addresses that take a name).
GROUPS = {
    "connections": "api:connection-list", "flows": "api:flow-list", "runs": "api:run-list",
    "run-items": "api:run-item-list", "replay": "api:replay", "exceptions": "api:exception-list",
    "mappings": "api:mappings", "rule-sets": "api:rule-sets", "escalation-policies": "api:escalation-policies",
    "webhook-subscriptions": "api:webhook-subscriptions",
    "templates": "api:templates", "reports": "api:report-list",
    "records": "/api/v1/records/{object}/", "hub": "/api/v1/hub/{object}/",
    "hooks": "/api/v1/hooks/{connection}/", "schema": "api:schema",
    "docs": "/api/docs/",
}
# Every URL name above is its group's own path (api:replay is /api/v1/replay/), so the example needs no reverse().
ROOT_EXAMPLE = {name: "https://acme.northwind.example" + (where if where.startswith("/") else f"/api/v1/{name}/")
                for name, where in GROUPS.items()}


class ApiRoot(APIView):
    """``GET /api/v1/``: every group of the API with its address (addresses in braces take a name)."""

    api_area = access.ANY_AREA  # links only: any key that reaches the customer may read them

    @extend_schema(responses=inline_serializer("ApiRoot", {name: serializers.CharField() for name in GROUPS}),
                   examples=[example_answer("Every group on a customer's host", ROOT_EXAMPLE)])
    def get(self, request) -> Response:
        site = request.build_absolute_uri("/").rstrip("/")  # templates keep their braces (no percent-encoding)
        return Response({name: site + (where if where.startswith("/") else reverse(where))
                         for name, where in GROUPS.items()})


app_name = "api"
urlpatterns = [
    path("", ApiRoot.as_view(), name="api-root"),
    path("schema/", SchemaApi.as_view(), name="schema"),
    path("", include("apps.runs.api.urls")),  # commands that are not router resources (inbound webhooks)
    path("", include("apps.mappings.api.urls")),  # mapping list and previews
    path("", include("apps.accelerators.api.urls")),  # templates: list, install
    path("", include("apps.reporting.api.urls")),  # figures as JSON and CSV under reports/
    path("", include("apps.exceptions.api.urls")),  # exceptions: list, detail, triage commands, replay
    path("", include("apps.canonical.api.urls")),  # hub records, read-only, paged by cursor
    path("", include(router.urls)),
]
