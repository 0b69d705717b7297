"""Routes of the partner API (included under /api/v1/ on a partner's host by config.api_partner)."""

from django.urls import path

from apps.portal.api import views

urlpatterns = [
    path("customers/", views.CustomerListApi.as_view(), name="customer-list"),
    path("customers/<slug:slug>/", views.CustomerDetailApi.as_view(), name="customer-detail"),
    path("customers/<slug:slug>/plan/", views.CustomerPlanApi.as_view(), name="customer-plan"),
    path("customers/<slug:slug>/templates/<slug:template>/install/", views.TemplateInstallApi.as_view(),
         name="customer-template-install"),
    path("plans/", views.PlanListApi.as_view(), name="plan-list"),
    path("usage/", views.UsageApi.as_view(), name="usage"),
    path("usage/csv/", views.UsageCsvApi.as_view(), name="usage-csv"),
    path("templates/", views.TemplateListApi.as_view(), name="template-list"),
    path("templates/<slug:template>/upgrade/", views.TemplateUpgradeApi.as_view(), name="template-upgrade"),
]
