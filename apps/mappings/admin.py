"""Mappings and rules in the tenant admin: drafts are edited, published versions are read-only, and a
preview runs a version over pasted sample payloads."""

import json

from django import forms
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path

from apps.common.errors import ApplicationError
from apps.mappings import services
from apps.mappings.models import Mapping, MappingVersion, RuleSet, ValidationRule
from apps.mappings.samples import mapping_recent_sample
from apps.tenants.admin_sites import TenantModelAdmin, tenant_admin_site
from apps.tenants.choices import Capability


class VersionInline(admin.TabularInline):
    model = MappingVersion
    fields = ["number", "status", "published_at", "published_by", "notes"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Mapping, site=tenant_admin_site)
class MappingAdmin(TenantModelAdmin):
    list_display = ["name", "direction", "object_type", "connector_kind", "published"]
    list_filter = ["direction", "object_type", "connector_kind"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [VersionInline]
    actions = ["new_draft"]

    @admin.display(description="Published")
    def published(self, obj) -> str:
        version = obj.published_version()
        return f"v{version.number}" if version else "—"

    @admin.action(description="Start a new draft from the published version")
    def new_draft(self, request, queryset):
        for mapping in queryset:
            published = mapping.published_version()
            version = services.mapping_version_create(mapping=mapping, rules=published.rules if published else [],
                                                      acting_user=request.user)
            self.message_user(request, f"{mapping}: draft v{version.number} created.")


class SamplesForm(forms.Form):
    samples = forms.CharField(widget=forms.Textarea(attrs={"rows": 12, "cols": 100}),
                              help_text="A JSON object or a list of objects, e.g. a record from a recent run item.")

    def clean_samples(self):
        try:
            value = json.loads(self.cleaned_data["samples"])
        except ValueError as error:
            raise forms.ValidationError(f"Not JSON: {error}") from None
        value = value if isinstance(value, list) else [value]
        if not all(isinstance(v, dict) for v in value):
            raise forms.ValidationError("Each sample must be a JSON object.")
        return value


@admin.register(MappingVersion, site=tenant_admin_site)
class MappingVersionAdmin(TenantModelAdmin):
    list_display = ["mapping", "number", "status", "published_at", "published_by"]
    list_filter = ["status", "mapping"]
    list_select_related = ["mapping", "published_by"]
    fields = ["mapping", "number", "status", "rules", "notes", "published_at", "published_by"]
    actions = ["publish"]

    def get_readonly_fields(self, request, obj=None):
        locked = ["mapping", "number", "status", "published_at", "published_by"]
        return locked + (["rules"] if obj is not None and not obj.is_editable else [])

    def has_add_permission(self, request) -> bool:
        return False  # drafts start from a mapping ("Start a new draft")

    def save_model(self, request, obj, form, change):
        services.mapping_version_update(version=obj, rules=obj.rules, notes=obj.notes, acting_user=request.user)

    @admin.action(description="Publish (or roll back to) the selected version")
    def publish(self, request, queryset):
        for version in queryset.select_related("mapping"):
            try:
                services.mapping_version_publish(version=version, acting_user=request.user)
            except ApplicationError as error:
                self.message_user(request, f"{version}: {error.message}", messages.ERROR)
            else:
                self.message_user(request, f"{version.mapping}: v{version.number} is now published.")

    def get_urls(self):
        preview = self.admin_site.admin_view(self.preview_view)
        return [path("<int:pk>/preview/", preview, name="mappings_mappingversion_preview"), *super().get_urls()]

    def preview_view(self, request, pk: int):
        if not self._can(request, Capability.VIEW):
            return redirect("admin:index")
        version = get_object_or_404(MappingVersion.objects.select_related("mapping"), pk=pk)
        form = SamplesForm(request.POST or None, initial={"samples": _recent_sample(version)})
        results = None
        if request.method == "POST" and form.is_valid():
            results = services.mapping_preview(version=version, samples=form.cleaned_data["samples"])
        context = {**self.admin_site.each_context(request), "form": form, "version": version, "opts": self.model._meta,
                   "results": json.dumps(results, indent=2, default=str) if results is not None else None,
                   "title": f"Preview {version}"}
        return TemplateResponse(request, "admin/mappings/preview.html", context)


def _recent_sample(version: MappingVersion) -> str:
    item = mapping_recent_sample(version.mapping)
    return json.dumps(item, indent=2) if item else ""


class RuleInline(admin.TabularInline):
    model = ValidationRule
    fields = ["position", "kind", "params", "message", "is_active"]
    extra = 0


@admin.register(RuleSet, site=tenant_admin_site)
class RuleSetAdmin(TenantModelAdmin):
    list_display = ["name", "object_type"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [RuleInline]


