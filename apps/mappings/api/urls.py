"""Mappings and rule sets: read, drafts, previews, publish, roll back; a rule set's rules."""

from django.urls import path

from apps.mappings.api import views

urlpatterns = [
    path("mappings/", views.MappingListApi.as_view(), name="mappings"),
    path("mappings/<slug:slug>/", views.MappingDetailApi.as_view(), name="mapping-detail"),
    path("mappings/<slug:slug>/rollback/", views.MappingRollbackApi.as_view(), name="mapping-rollback"),
    path("mappings/<slug:slug>/versions/", views.MappingVersionsApi.as_view(), name="mapping-versions"),
    path("mappings/<slug:slug>/versions/<int:number>/", views.MappingVersionApi.as_view(), name="mapping-version"),
    path("mappings/<slug:slug>/versions/<int:number>/preview/", views.MappingPreviewApi.as_view(),
         name="mapping-preview"),
    path("mappings/<slug:slug>/versions/<int:number>/publish/", views.MappingPublishApi.as_view(),
         name="mapping-publish"),
    path("rule-sets/", views.RuleSetListApi.as_view(), name="rule-sets"),
    path("rule-sets/<slug:slug>/", views.RuleSetDetailApi.as_view(), name="rule-set-detail"),
    path("rule-sets/<slug:slug>/rules/", views.RuleSetRulesApi.as_view(), name="rule-set-rules"),
]
