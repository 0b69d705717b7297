"""Routes of the reports API (included under /api/v1/reports/)."""

from django.urls import path

from apps.reporting.api.views import ReportApi, ReportListApi

urlpatterns = [
    path("reports/", ReportListApi.as_view(), name="report-list"),
    path("reports/<slug:name>/", ReportApi.as_view(), name="report"),
    path("reports/<slug:name>/csv/", ReportApi.as_view(as_csv=True), name="report-csv"),
]
