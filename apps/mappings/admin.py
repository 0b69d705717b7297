"""Mappings and rules in the tenant admin: drafts are edited, published versions are read-only, and a
preview runs a version over pasted sample payloads."""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from apps.canonical.fields import field_plans
from apps.common.errors import ApplicationError
from apps.mappings import mapping_editor, rule_editor, selectors, services
from apps.mappings.models import Mapping, MappingVersion, RuleKind, RuleSet, ValidationRule, VersionStatus
from apps.mappings.rules import rules_check
from apps.mappings.samples import field_paths, mapping_preview_context, mapping_recent_sample, mapping_recent_samples
from apps.tenants import access
from apps.tenants.admin_sites import TenantModelAdmin, access_action, tenant_admin_site


class AccessInline(admin.TabularInline):
    """A read-only inline shown to everyone who may enter the console (Django's model permissions would hide it
    from partner staff and customer roles, who hold none); changes go through the page's own editor."""

    extra = 0
    max_num = 0
    can_delete = False

    def has_view_permission(self, request, obj=None) -> bool:
        return access.can(request.user, "console.enter", customer=getattr(request, "tenant", None))

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class VersionInline(AccessInline):
    """Every version of the mapping, newest first, with its preview and the publish (or roll back) button."""

    model = MappingVersion
    fields = readonly_fields = ["number", "status", "published_at", "published_by", "notes", "rules_link", "preview",
                                "act"]
    ordering = ["-number"]
    show_change_link = True

    def get_fields(self, request, obj=None):
        may_publish = access.can(request.user, "configuration.change", customer=getattr(request, "tenant", None))
        return self.fields if may_publish else [f for f in self.fields if f != "act"]

    @admin.display(description="Rules")
    def rules_link(self, obj) -> str:
        return format_html('<a href="{}" data-edit="{}">{}</a>',
                           reverse("tenant_admin:mappings_mappingversion_editor", args=[obj.pk]), obj.number,
                           "Edit rules" if obj.is_editable else "Rules")

    @admin.display(description="Preview")
    def preview(self, obj) -> str:
        return format_html('<a href="{}">Preview on recent records</a>',
                           reverse("tenant_admin:mappings_mappingversion_preview", args=[obj.pk]))

    @admin.display(description="")
    def act(self, obj) -> str:
        if obj.status == VersionStatus.PUBLISHED:
            return "live"
        label = "Publish" if obj.status == VersionStatus.DRAFT else f"Roll back to v{obj.number}"
        # The inline sits inside the mapping's form: the button posts that form (and its CSRF token) elsewhere.
        return format_html('<button type="submit" formaction="{}" formmethod="post" data-version="{}" '
                           'class="button">{}</button>',
                           reverse("tenant_admin:mappings_mappingversion_publish", args=[obj.pk]), obj.number, label)


@admin.register(Mapping, site=tenant_admin_site)
class MappingAdmin(TenantModelAdmin):
    list_display = ["name", "direction", "object_type", "connector_kind", "published", "edit_rules"]
    list_filter = ["direction", "object_type", "connector_kind"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [VersionInline]
    actions = ["new_draft"]

    @admin.display(description="Published")
    def published(self, obj) -> str:
        version = next((v for v in obj.versions.all() if v.status == VersionStatus.PUBLISHED), None)
        return f"v{version.number}" if version else "—"

    @admin.display(description="")
    def edit_rules(self, obj) -> str:
        chosen = _version_to_edit(obj)
        if chosen is None:
            return "—"
        return format_html('<a href="{}">{}</a>', reverse("tenant_admin:mappings_mappingversion_editor",
                                                          args=[chosen.pk]),
                           f"Edit draft v{chosen.number}" if chosen.is_editable else "Rules…")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("versions")

    def get_urls(self):
        rules = self.admin_site.admin_view(self.rules_view)
        return [path("<int:pk>/rules/", rules, name="mappings_mapping_rules"), *super().get_urls()]

    def rules_view(self, request, pk: int):
        """The mapping's editor (links from exceptions and flows land here): its open draft, else the live version."""
        mapping = get_object_or_404(self.get_queryset(request), pk=pk)
        chosen = _version_to_edit(mapping)
        if chosen is None:
            return redirect("tenant_admin:mappings_mapping_change", pk)
        return redirect("tenant_admin:mappings_mappingversion_editor", pk=chosen.pk)

    @admin.action(description="Start a new draft from the published version")
    @access_action("configuration.change")
    def new_draft(self, request, queryset):
        for mapping in queryset:
            published = mapping.published_version()
            version = services.mapping_version_create(mapping=mapping, rules=published.rules if published else [],
                                                      acting_user=request.user)
            self.message_user(request, f"{mapping}: draft v{version.number} created.")


def _rule_said(rule: dict) -> str:
    """One rule in words, for the read-only list: where its value comes from, and its options."""
    row = mapping_editor.rows_from_rules([rule])[0]
    said = f"{mapping_editor.HOW_LABELS[row.how].lower()} {row.value}".strip()
    extras = [f"transform {row.transform}"] * bool(row.transform) + [f"default {row.default}"] * bool(row.default)
    return ", ".join([said, *extras, *(["required"] if row.required else [])])


def _version_to_edit(mapping: Mapping) -> MappingVersion | None:
    """The open draft, else the published version (where a draft is started), else the latest."""
    versions = sorted(mapping.versions.all(), key=lambda v: -v.number)  # prefetched by the admin's queryset
    return (next((v for v in versions if v.status == VersionStatus.DRAFT), None)
            or next((v for v in versions if v.status == VersionStatus.PUBLISHED), None)
            or (versions[0] if versions else None))


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
    list_display = ["mapping", "number", "status", "published_at", "published_by", "editor_link"]
    list_filter = ["status", "mapping"]
    list_select_related = ["mapping", "published_by"]
    fields = ["mapping", "number", "status", "rule_list", "notes", "published_at", "published_by"]
    readonly_fields = ["mapping", "number", "status", "rule_list", "published_at", "published_by"]
    actions = ["publish"]

    @admin.display(description="Rules")
    def editor_link(self, obj) -> str:
        return format_html('<a href="{}">{}</a>', reverse("tenant_admin:mappings_mappingversion_editor", args=[obj.pk]),
                           "Edit rules" if obj.is_editable else "Rules")

    @admin.display(description="Rules")
    def rule_list(self, obj) -> str:
        """The rules as a list to read; they are changed in the editor (a row per rule, no JSON)."""
        if obj is None or obj.pk is None:
            return "—"
        items = format_html_join("", "<li><code>{}</code> ← {}</li>",
                                 ((r.get("target", "?"), _rule_said(r)) for r in obj.rules if isinstance(r, dict)))
        return format_html('<ol style="margin: 0">{}</ol><a class="button" href="{}">{}</a>', items,
                           reverse("tenant_admin:mappings_mappingversion_editor", args=[obj.pk]),
                           "Edit the rules" if obj.is_editable else "Open in the editor")

    def has_add_permission(self, request) -> bool:
        return False  # drafts start from a mapping ("Start a new draft")

    def save_model(self, request, obj, form, change):
        services.mapping_version_update(version=obj, rules=obj.rules, notes=obj.notes, acting_user=request.user)

    @admin.action(description="Publish (or roll back to) the selected version")
    @access_action("configuration.change")
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
        publish = self.admin_site.admin_view(self.publish_view)
        editor = self.admin_site.admin_view(self.editor_view)
        draft = self.admin_site.admin_view(self.draft_view)
        return [path("<int:pk>/preview/", preview, name="mappings_mappingversion_preview"),
                path("<int:pk>/publish/", publish, name="mappings_mappingversion_publish"),
                path("<int:pk>/rules/", editor, name="mappings_mappingversion_editor"),
                path("<int:pk>/draft/", draft, name="mappings_mappingversion_draft"), *super().get_urls()]

    def editor_view(self, request, pk: int):
        """The mapping editor: a row per rule with a field picker over recent real records, a preview of the
        rules as edited on those records, save (drafts only), publish and roll back."""
        if not self._can(request, "console.enter"):
            return redirect("admin:index")
        version = get_object_or_404(self.get_queryset(request).select_related("mapping"), pk=pk)
        editable = self._can(request, "configuration.change")
        rows = mapping_editor.rows_from_rules(version.rules)
        if request.method == "POST":
            if not editable:
                raise PermissionDenied("Your role may read mappings but not change them.")
            rows = mapping_editor.rows_from_post(request.POST)
            if request.POST.get("action") == "save":
                saved = self._editor_save(request, version, rows)
                if saved:
                    return redirect("tenant_admin:mappings_mappingversion_editor", pk=pk)
        return self._editor_page(request, version, rows, editable)

    def _editor_save(self, request, version, rows) -> bool:
        try:
            services.mapping_version_update(version=version, rules=mapping_editor.rules_from_rows(rows),
                                            acting_user=request.user, reason=request.POST.get("reason", "")[:100])
        except (ApplicationError, DjangoValidationError) as error:
            self.message_user(request, getattr(error, "message", None) or "; ".join(error.messages), messages.ERROR)
            return False
        self.message_user(request, f"{version.mapping} v{version.number}: draft saved.")
        return True

    def _editor_page(self, request, version, rows, editable: bool):
        mapping = version.mapping
        samples = mapping_recent_samples(mapping, EDITOR_SAMPLES)
        rules = mapping_editor.rules_from_rows(rows)
        paths = field_paths(samples)
        choices = mapping_editor.editor_choices(direction=mapping.direction, object_type=mapping.object_type)
        mapping_editor.rows_mark_unknown(rows, paths=[p for p, _ in paths], targets=[t for t, _ in choices["targets"]])
        context = {**self.admin_site.each_context(request), "version": version, "mapping": mapping, "rows": rows,
                   "editable": editable and version.is_editable, "may_publish": editable, "opts": self.model._meta,
                   "versions": mapping.versions.order_by("-number"), "paths": paths,
                   "problems": rules_check(rules, direction=mapping.direction, object_type=mapping.object_type),
                   "preview": _editor_preview(mapping, rules, samples), "sample_count": EDITOR_SAMPLES,
                   "draft": mapping.versions.filter(status=VersionStatus.DRAFT).exclude(pk=version.pk).first(),
                   **choices,
                   "title": f"Rules of {mapping} v{version.number} ({version.get_status_display().lower()})"}
        return TemplateResponse(request, "admin/mappings/mapping_editor.html", context)

    def draft_view(self, request, pk: int):
        """POST: a new draft starting from this version's rules, opened in the editor."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self._can(request, "configuration.change"):
            raise PermissionDenied("Your role may not change mappings.")
        version = get_object_or_404(self.get_queryset(request).select_related("mapping"), pk=pk)
        draft = services.mapping_version_create(mapping=version.mapping, rules=version.rules,
                                                notes=f"Started from v{version.number}", acting_user=request.user)
        self.message_user(request, f"{version.mapping}: draft v{draft.number} created from v{version.number}.")
        return redirect("tenant_admin:mappings_mappingversion_editor", pk=draft.pk)

    def publish_view(self, request, pk: int):
        """POST: publish a draft, or republish an earlier version (a rollback); back to the mapping's page."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self._can(request, "configuration.change"):
            raise PermissionDenied("Your role may not publish mappings.")
        version = get_object_or_404(self.get_queryset(request).select_related("mapping"), pk=pk)
        try:
            services.mapping_version_publish(version=version, acting_user=request.user)
        except ApplicationError as error:
            self.message_user(request, f"{version}: {error.message}", messages.ERROR)
        else:
            self.message_user(request, f"{version.mapping}: v{version.number} is now published.")
        if request.POST.get("next") == "editor":
            return redirect("tenant_admin:mappings_mappingversion_editor", pk=version.pk)
        return redirect("tenant_admin:mappings_mapping_change", version.mapping_id)

    def preview_view(self, request, pk: int):
        if not self._can(request, "console.enter"):
            return redirect("admin:index")
        version = get_object_or_404(self.get_queryset(request).select_related("mapping"), pk=pk)
        form = SamplesForm(request.POST or None, initial={"samples": _recent_sample(version)})
        results = None
        if request.method == "POST" and form.is_valid():
            results = services.mapping_preview(version=version, samples=form.cleaned_data["samples"])
        context = {**self.admin_site.each_context(request), "form": form, "version": version, "opts": self.model._meta,
                   "results": json.dumps(results, indent=2, default=str) if results is not None else None,
                   "title": f"Preview {version}"}
        return TemplateResponse(request, "admin/mappings/preview.html", context)


EDITOR_SAMPLES = 10  # the last N real records the field picker lists and the preview runs over


def _editor_preview(mapping: Mapping, rules: list[dict], samples: list[dict]) -> dict:
    """Each sample before and after the rules as edited (unsaved), and every rule's errors over the samples."""
    if not samples or rules_check(rules, direction=mapping.direction, object_type=mapping.object_type):
        return {"records": [], "by_rule": {}}
    variables, lookup = mapping_preview_context(mapping)
    results = services.mapping_preview(version=MappingVersion(mapping=mapping, rules=rules), samples=samples,
                                       variables=variables, lookup=lookup)
    if mapping.direction == "inbound":
        _refs_check(mapping.object_type, results)
    by_rule: dict[str, list[str]] = {}
    records = []
    for n, result in enumerate(results, start=1):
        for error in result["errors"]:
            by_rule.setdefault(error["target"], []).append(f"record {n}: {error['message']}")
        records.append({"n": n, "before": json.dumps(result["input"], indent=2, default=str),
                        "after": json.dumps(result["output"], indent=2, default=str) if result["output"] else "",
                        "errors": result["errors"]})
    return {"records": records, "by_rule": by_rule}


def _refs_check(object_type: str, results: list[dict]) -> None:
    """Add an error to each record whose related record (a ref rule's value) the hub does not know."""
    plans = field_plans(object_type)
    wanted = {}
    for result in results:
        for name, ref in ((result.get("output") or {}).get("refs") or {}).items():
            if ref and name in plans:
                by, _, value = ref.partition(":")
                wanted.setdefault(id(result), []).append((name, (plans[name].target_type, by, value)))
    unknown = selectors.refs_unknown({key for pairs in wanted.values() for _, key in pairs})
    for result in results:
        for name, (target_type, by, value) in wanted.get(id(result), []):
            if (target_type, by, value) in unknown:
                result["errors"].append({"target": name, "message": f"{target_type.replace('_', ' ')} {value} is "
                                                                    f"not known in the hub (by {by})."})


def _recent_sample(version: MappingVersion) -> str:
    item = mapping_recent_sample(version.mapping)
    return json.dumps(item, indent=2) if item else ""


class RuleInline(AccessInline):
    model = ValidationRule
    fields = readonly_fields = ["position", "kind", "settings", "message", "is_active"]

    @admin.display(description="Settings")
    def settings(self, obj) -> str:
        return ", ".join(f"{name}: {value}" for name, value in obj.params.items()) or "—"


@admin.register(RuleSet, site=tenant_admin_site)
class RuleSetAdmin(TenantModelAdmin):
    """Rule sets; their rules are edited on one page, a row per rule with its kind's own fields."""

    list_display = ["name", "object_type", "rule_count", "edit_rules"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [RuleInline]
    change_form_template = "admin/mappings/ruleset/change_form.html"

    @admin.display(description="Rules")
    def rule_count(self, obj) -> int:
        return obj.rules.count()

    @admin.display(description="")
    def edit_rules(self, obj) -> str:
        return format_html('<a href="{}">Rules…</a>', reverse("tenant_admin:mappings_ruleset_rules", args=[obj.pk]))

    def get_urls(self):
        rules = self.admin_site.admin_view(self.rules_view)
        return [path("<int:pk>/rules/", rules, name="mappings_ruleset_rules"), *super().get_urls()]

    def rules_view(self, request, pk: int):
        if not self._can(request, "console.enter"):
            return redirect("admin:index")
        rule_set = get_object_or_404(self.get_queryset(request), pk=pk)
        editable = self._can(request, "configuration.change")
        rows = rule_editor.rows_from_rules(rule_set.rules.all())
        if request.method == "POST":
            if not editable:
                raise PermissionDenied("Your role may read rules but not change them.")
            rows = rule_editor.rows_from_post(request.POST)
            if request.POST.get("action") == "add":  # a new row to fill in: shown, saved with the next "Save"
                return self._rules_page(request, rule_set, rows, editable)
            try:
                services.rule_set_rules_save(rule_set=rule_set, rules=rule_editor.rule_inputs(rows),
                                             acting_user=request.user, reason=request.POST.get("reason", ""))
            except (ApplicationError, DjangoValidationError) as error:
                self.message_user(request, getattr(error, "message", None) or "; ".join(error.messages),
                                  messages.ERROR)
            else:
                self.message_user(request, f"{rule_set}: rules saved.")
                return redirect("tenant_admin:mappings_ruleset_rules", pk=pk)
        return self._rules_page(request, rule_set, rows, editable)

    def _rules_page(self, request, rule_set, rows, editable: bool):
        context = {**self.admin_site.each_context(request), "rule_set": rule_set, "rows": rows,
                   "editable": editable, "kinds": RuleKind.choices, "opts": self.model._meta,
                   "title": f"Rules of {rule_set}"}
        return TemplateResponse(request, "admin/mappings/ruleset_rules.html", context)
