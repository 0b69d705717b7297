"""Mapping commands: list mappings, preview a version against sample records."""

from django.urls import path

from apps.mappings.api.views import MappingListApi, MappingPreviewApi

urlpatterns = [
    path("mappings/", MappingListApi.as_view(), name="mappings"),
    path("mappings/<slug:slug>/versions/<int:number>/preview/", MappingPreviewApi.as_view(), name="mapping-preview"),
]
