"""Routes of the runs app that are commands, not router resources: the inbound webhook endpoint."""

from django.urls import path

from apps.runs.api.views import InboundWebhookApi

urlpatterns = [
    # Any text after hooks/ answers 401 alike, so the URL shape reveals nothing about which slugs exist.
    path("hooks/<str:connection_slug>/", InboundWebhookApi.as_view(), name="inbound-webhook"),
]
