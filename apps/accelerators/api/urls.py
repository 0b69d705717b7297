"""Template commands: list what this customer may install, install one."""

from django.urls import path

from apps.accelerators.api.views import TemplateInstallApi, TemplateListApi

urlpatterns = [
    path("templates/", TemplateListApi.as_view(), name="templates"),
    path("templates/<slug:slug>/install/", TemplateInstallApi.as_view(), name="template-install"),
]
