"""Routes that are commands, not router resources: inbound webhooks, replay."""

from django.urls import path

from apps.runs.api.flows import ReplayApi, ReplayPreviewApi
from apps.runs.api.views import InboundWebhookApi, VendorWebhookApi

urlpatterns = [
    # Any text after hooks/ answers 401 alike, so the URL shape reveals nothing about which slugs exist.
    path("hooks/vendor/<str:connection_slug>/", VendorWebhookApi.as_view(), name="vendor-webhook"),
    path("hooks/<str:connection_slug>/", InboundWebhookApi.as_view(), name="inbound-webhook"),
    path("replay/preview/", ReplayPreviewApi.as_view(), name="replay-preview"),
    path("replay/", ReplayApi.as_view(), name="replay"),
]
