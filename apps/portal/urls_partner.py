"""The partner site, on a partner's host (public schema)."""

from django.contrib.auth import views as auth_views
from django.urls import path

from apps.portal.views import keys, partner, wizard
from apps.portal.views import shared as views

urlpatterns = [
    path("", partner.partner_home, name="home"),
    path("customers/<slug:slug>/", partner.customer_detail, name="partner-customer"),
    path("customers/<slug:slug>/plan/", partner.customer_plan, name="partner-customer-plan"),
    path("customers/<slug:slug>/domains/", partner.customer_domain, name="partner-customer-domain"),
    path("customers/<slug:slug>/templates/", partner.customer_template, name="partner-customer-template"),
    path("customers/<slug:slug>/templates/variables/", partner.customer_template_variables,
         name="partner-customer-template-variables"),
    path("customers/<slug:slug>/bi/", partner.customer_bi, name="partner-customer-bi"),
    path("customers/<slug:slug>/templates/<int:template_id>/upgrade/", partner.customer_template_upgrade,
         name="partner-customer-template-upgrade"),
    path("customers/<slug:slug>/open/<str:target>/", partner.customer_open, name="partner-customer-open"),
    path("customers/<slug:slug>/refresh/", partner.customer_refresh, name="partner-customer-refresh"),
    path("customers/<slug:slug>/review/<str:month>/", partner.customer_review, name="partner-customer-review"),
    path("onboard/", partner.onboard, name="partner-onboard"),
    path("onboard/variables/", partner.onboard_template_variables, name="partner-onboard-template-variables"),
    path("setup/new/", wizard.new_customer, name="partner-setup-new"),
    path("setup/new/domain/", wizard.new_domain, name="partner-setup-domain"),
    path("customers/<slug:slug>/setup/", wizard.resume, name="partner-setup"),
    path("customers/<slug:slug>/setup/connections/<int:pk>/", wizard.connection_save, name="partner-setup-connection"),
    path("customers/<slug:slug>/setup/runs/<int:pk>/progress/", wizard.run_progress_part,
         name="partner-setup-run-progress"),
    path("customers/<slug:slug>/setup/<str:step>/", wizard.step, name="partner-setup-step"),
    path("plans/", partner.plan_list, name="partner-plans"),
    path("plans/new/", partner.plan_edit, name="partner-plan-new"),
    path("plans/<slug:slug>/", partner.plan_edit, name="partner-plan"),
    path("usage/", partner.usage_month, name="partner-usage"),
    path("usage/<str:month>.csv", partner.usage_csv, name="partner-usage-csv"),
    path("keys/", keys.partner_keys, name="partner-keys"),
    path("keys/<str:prefix>/revoke/", keys.partner_key_revoke, name="partner-key-revoke"),
    path("operations/<int:pk>/", views.operation_page, name="operation"),
    path("operations/<int:pk>/progress/", views.operation_progress_part, name="operation-progress"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
