"""Routes that are commands, not router resources: inbound webhooks, replay, template installs, previews."""

from django.urls import path

from apps.mappings.api.views import MappingListApi, MappingPreviewApi
from apps.runs.api.flows import ReplayApi, ReplayPreviewApi, TemplateInstallApi, TemplateListApi
from apps.runs.api.views import InboundWebhookApi, VendorWebhookApi

urlpatterns = [
    # Any text after hooks/ answers 401 alike, so the URL shape reveals nothing about which slugs exist.
    path("hooks/vendor/<str:connection_slug>/", VendorWebhookApi.as_view(), name="vendor-webhook"),
    path("hooks/<str:connection_slug>/", InboundWebhookApi.as_view(), name="inbound-webhook"),
    path("replay/preview/", ReplayPreviewApi.as_view(), name="replay-preview"),
    path("replay/", ReplayApi.as_view(), name="replay"),
    path("templates/", TemplateListApi.as_view(), name="templates"),
    path("templates/<slug:slug>/install/", TemplateInstallApi.as_view(), name="template-install"),
    path("mappings/", MappingListApi.as_view(), name="mappings"),
    path("mappings/<slug:slug>/versions/<int:number>/preview/", MappingPreviewApi.as_view(), name="mapping-preview"),
]
