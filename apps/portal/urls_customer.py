"""The customer portal, on the customer's own domain (its schema)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from apps.portal.views import connections, customer, keys, runs
from apps.portal.views import shared as views

urlpatterns = [
    path("", customer.home, name="home"),
    path("sync-status/", customer.sync_status, name="portal-sync-status"),
    path("reports/", customer.report_index, name="portal-reports"),
    path("reports/<slug:slug>/", customer.report_detail, name="portal-report"),
    path("reports/<slug:slug>.csv", customer.report_csv, name="portal-report-csv"),
    path("exceptions/", customer.exception_list, name="portal-exceptions"),
    path("exceptions/<int:pk>/", customer.exception_detail, name="portal-exception"),
    path("exceptions/<int:pk>/comment/", customer.exception_comment, name="portal-exception-comment"),
    path("exceptions/<int:pk>/acknowledge/", customer.exception_acknowledge, name="portal-exception-acknowledge"),
    path("review/", customer.review, name="portal-review-latest"),
    path("review/<str:month>/", customer.review, name="portal-review"),
    path("plan/", customer.plan, name="portal-plan"),
    path("runs/", runs.run_list, name="portal-runs"),
    path("runs/<int:pk>/", runs.run_detail, name="portal-run"),
    path("runs/<int:pk>/progress/", runs.run_progress_part, name="portal-run-progress"),
    path("runs/<int:pk>/replay-failed/", runs.run_replay_failed, name="portal-run-replay-failed"),
    path("flows/<slug:slug>/run/", runs.flow_run_now, name="portal-flow-run"),
    path("connections/", connections.connections_index, name="portal-connections"),
    path("connections/<slug:slug>/connect/", connections.connection_connect, name="portal-connection-connect"),
    path("oauth/callback/", connections.oauth_callback, name="portal-oauth-callback"),
    path("connectors/import/", connections.openapi_import, name="portal-rest-import"),
    path("connectors/templates/install/", connections.rest_template_install, name="portal-rest-template"),
    path("connectors/<slug:slug>/operations/", connections.rest_operations, name="portal-rest-operations"),
    path("connectors/<slug:slug>/", connections.rest_workbench, name="portal-rest-workbench"),
    path("api-keys/", keys.portal_keys, name="portal-keys"),
    path("api-keys/<str:prefix>/revoke/", keys.portal_key_revoke, name="portal-key-revoke"),
    path("signin/handoff/", views.signin_handoff, name="signin-handoff"),
    path("operations/<int:pk>/", views.operation_page, {"on_customer": True}, name="operation"),
    path("operations/<int:pk>/progress/", views.operation_progress_part, {"on_customer": True},
         name="operation-progress"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
