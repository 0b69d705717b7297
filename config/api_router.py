"""The one API router: every app registers its viewsets here, under /api/v1/ on customer domains."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny
from rest_framework.routers import DefaultRouter

from apps.connectors.api.views import ConnectionViewSet
from apps.runs.api.flows import FlowViewSet, RunItemViewSet, RunViewSet

# No ".json" suffix routes: nothing uses them, and they passed a `format` argument that the viewsets'
# own actions (create, test, run) do not take, so every POST to one was a 500.
router = DefaultRouter()
router.include_format_suffixes = False
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


app_name = "api"
urlpatterns = [
    path("schema/", SchemaApi.as_view(), name="schema"),
    path("", include("apps.runs.api.urls")),  # commands that are not router resources (inbound webhooks)
    path("", include("apps.mappings.api.urls")),  # mapping list and previews
    path("", include("apps.accelerators.api.urls")),  # templates: list, install
    path("", include("apps.reporting.api.urls")),  # figures as JSON and CSV under reports/
    path("", include("apps.exceptions.api.urls")),  # exceptions: list, detail, triage commands, replay
    path("", include(router.urls)),
]
