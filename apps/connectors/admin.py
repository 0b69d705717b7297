from django.contrib import admin

from apps.connectors.models import Connection
from apps.tenants.admin_sites import TenantModelAdmin, tenant_admin_site


@admin.register(Connection, site=tenant_admin_site)
class ConnectionAdmin(TenantModelAdmin):
    list_display = ["name", "kind", "is_enabled", "updated_at"]
    list_filter = ["kind", "is_enabled"]
    search_fields = ["name"]
    readonly_fields = ["created_at", "updated_at"]
