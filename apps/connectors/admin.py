from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.urls import path
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from apps.connectors import services
from apps.connectors.crypto import SENSITIVE_NAMES
from apps.connectors.forms import SECRET, SETTING, ConnectionAdminForm
from apps.connectors.forms import kind_class_or_none as get_kind_or_none
from apps.connectors.kinds import kind_choices
from apps.connectors.models import Connection, ConnectorManifest, ManifestVersion, OAuthGrant
from apps.tenants.admin_sites import TenantModelAdmin, access_action, tenant_admin_site


@admin.register(Connection, site=tenant_admin_site)
class ConnectionAdmin(TenantModelAdmin):
    form = ConnectionAdminForm
    list_display = ["name", "kind", "is_enabled", "health_status", "last_checked_at", "has_credentials"]
    list_filter = ["kind", "is_enabled", "health_status"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["health_status", "last_checked_at", "last_check_message", "credentials_updated_at",
                       "created_at", "updated_at"]
    actions = ["test_connections"]

    @method_decorator(sensitive_post_parameters())  # every field: the kind's secrets have their own names
    @method_decorator(sensitive_variables(*SENSITIVE_NAMES))
    def changeform_view(self, *args, **kwargs):
        # Secrets typed into the form stay off error pages (the debug page, error e-mails).
        return super().changeform_view(*args, **kwargs)

    change_form_template = "admin/connectors/connection/change_form.html"
    MODEL_FIELDS = ["name", "slug", "kind", "description", "is_enabled", "settings", "allow_private_network",
                    "new_credentials"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["fields"] = [f for f in self.MODEL_FIELDS if f not in self.get_readonly_fields(request, obj)]
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"acting_user": request.user})  # the form checks who saves

    def get_fieldsets(self, request, obj=None):
        """The kind's own settings and secrets as typed fields (from its ``FieldSpec``s), raw JSON last."""
        kind = get_kind_or_none(request.POST.get("kind") or (obj.kind if obj else None) or request.GET.get("kind"))
        settings = [SETTING + spec.name for spec in kind.settings_fields] if kind else []
        secrets = [SECRET + spec.name for spec in kind.credential_fields] if kind else []
        readonly = [f for f in self.readonly_fields if obj is not None]
        if not self.has_change_permission(request, obj):  # a read-only page shows model fields only, never secrets
            return [(None, {"fields": ["name", "slug", "kind", "description", "is_enabled", "settings"]}),
                    ("Health", {"fields": readonly})]
        return [
            (None, {"fields": ["name", "slug", "kind", "description", "is_enabled"]}),
            (f"{kind.label} settings" if kind else "Settings", {"fields": settings} if settings else {
                "fields": [], "description": "Choose the kind and save: its settings appear here."}),
            ("Credentials", {"fields": secrets or ["new_credentials"]}),
            ("Health", {"fields": readonly}),
            ("Advanced", {"fields": ["settings", "allow_private_network"], "classes": ["collapse"]}),
        ]

    def add_view(self, request, form_url="", extra_context=None):
        return super().add_view(request, form_url, {"kinds": kind_choices(), **(extra_context or {})})

    def get_urls(self):
        test = self.admin_site.admin_view(self.test_view)
        return [path("<int:pk>/test/", test, name="connectors_connection_test"), *super().get_urls()]

    def test_view(self, request, pk: int):
        """POST from the connection's page: test it now and show the result there."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self._can(request, "connection.test"):
            raise PermissionDenied("Your role may not test connections.")
        connection = get_object_or_404(self.get_queryset(request), pk=pk)
        result = services.connection_test(connection=connection, acting_user=request.user)
        self.message_user(request, f"Test: {result.message}", messages.SUCCESS if result.ok else messages.ERROR)
        return redirect("tenant_admin:connectors_connection_change", pk)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not (request.user.is_active and request.user.is_superuser):
            fields.append("allow_private_network")  # only platform operators open private networks
        return fields

    @admin.display(boolean=True, description="Credentials set")
    def has_credentials(self, obj) -> bool:
        return obj.has_credentials

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        credentials = form.cleaned_data.get("new_credentials")
        if credentials:
            services.connection_set_credentials(connection=obj, credentials=credentials, acting_user=request.user)

    @admin.action(description="Test the selected connections now")
    @access_action("connection.test")
    def test_connections(self, request, queryset):
        for connection in queryset:
            result = services.connection_test(connection=connection, acting_user=request.user)
            self.message_user(request, f"{connection}: {result.message}", messages.SUCCESS if result.ok else
                              messages.ERROR)


@admin.register(ConnectorManifest, site=tenant_admin_site)
class ConnectorManifestAdmin(TenantModelAdmin):
    """REST manifests; edit and try them in the workbench on the customer's host (/connectors/<slug>/)."""

    list_display = ["name", "slug", "updated_at"]
    search_fields = ["name", "slug"]
    readonly_fields = ["created_at", "updated_at"]


@admin.register(ManifestVersion, site=tenant_admin_site)
class ManifestVersionAdmin(TenantModelAdmin):
    list_display = ["manifest", "number", "status", "published_at"]
    list_filter = ["status"]
    list_select_related = ["manifest"]
    readonly_fields = ["manifest", "number", "status", "document", "published_at", "created_at", "updated_at"]

    def has_add_permission(self, request) -> bool:
        return False  # versions are made by the workbench and the services, which check them first


@admin.register(OAuthGrant, site=tenant_admin_site)
class OAuthGrantAdmin(TenantModelAdmin):
    list_display = ["connection", "status", "connected_by", "expires_at", "refreshed_at"]
    list_filter = ["status"]
    list_select_related = ["connection"]
    readonly_fields = ["connection", "status", "connected_at", "connected_by", "expires_at", "refreshed_at", "message"]

    def has_add_permission(self, request) -> bool:
        return False  # made by Connect
