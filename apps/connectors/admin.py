from django.contrib import admin, messages
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from apps.connectors import services
from apps.connectors.crypto import SENSITIVE_NAMES
from apps.connectors.forms import ConnectionAdminForm
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

    @method_decorator(sensitive_post_parameters("new_credentials"))
    @method_decorator(sensitive_variables(*SENSITIVE_NAMES))
    def changeform_view(self, *args, **kwargs):
        # Secrets typed into the form stay off error pages (the debug page, error e-mails).
        return super().changeform_view(*args, **kwargs)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"acting_user": request.user})  # the form checks who saves

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
