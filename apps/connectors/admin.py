from django.contrib import admin, messages

from apps.connectors import services
from apps.connectors.forms import ConnectionAdminForm
from apps.connectors.models import Connection
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
