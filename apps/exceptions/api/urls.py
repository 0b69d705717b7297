"""Exceptions API routes (included from config/api_router.py)."""

from django.urls import path

from apps.exceptions.api import policies, views, webhooks

urlpatterns = [
    path("exceptions/", views.ExceptionListApi.as_view(), name="exception-list"),
    path("exceptions/bulk/", views.ExceptionBulkApi.as_view(), name="exception-bulk"),
    path("exceptions/<int:pk>/", views.ExceptionDetailApi.as_view(), name="exception-detail"),
    path("exceptions/<int:pk>/comment/", views.ExceptionCommentApi.as_view(), name="exception-comment"),
    path("exceptions/<int:pk>/acknowledge/", views.ExceptionAcknowledgeApi.as_view(), name="exception-acknowledge"),
    path("exceptions/<int:pk>/assign/", views.ExceptionAssignApi.as_view(), name="exception-assign"),
    path("exceptions/<int:pk>/resolve/", views.ExceptionResolveApi.as_view(), name="exception-resolve"),
    path("exceptions/<int:pk>/ignore/", views.ExceptionIgnoreApi.as_view(), name="exception-ignore"),
    path("exceptions/<int:pk>/reopen/", views.ExceptionReopenApi.as_view(), name="exception-reopen"),
    path("exceptions/<int:pk>/payload/", views.ExceptionPayloadApi.as_view(), name="exception-payload"),
    path("exceptions/<int:pk>/replay-preview/", views.ExceptionReplayPreviewApi.as_view(),
         name="exception-replay-preview"),
    path("exceptions/<int:pk>/replay/", views.ExceptionReplayApi.as_view(), name="exception-replay"),
    path("escalation-policies/", policies.EscalationPolicyListApi.as_view(), name="escalation-policies"),
    path("escalation-policies/<int:pk>/", policies.EscalationPolicyDetailApi.as_view(),
         name="escalation-policy-detail"),
    path("webhook-subscriptions/", webhooks.SubscriptionListApi.as_view(), name="webhook-subscriptions"),
    path("webhook-subscriptions/<int:pk>/", webhooks.SubscriptionDetailApi.as_view(),
         name="webhook-subscription-detail"),
    path("webhook-subscriptions/<int:pk>/deliveries/", webhooks.DeliveryListApi.as_view(),
         name="webhook-subscription-deliveries"),
]
