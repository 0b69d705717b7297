"""The hub in the tenant admin: browse canonical records and the cross-reference; set systems of record."""

from django.contrib import admin

from apps.canonical.models import (
    Assignment,
    Customer,
    Expense,
    ExternalRef,
    Invoice,
    Ownership,
    Person,
    Project,
    RateCard,
    RevenueSchedule,
    TimeEntry,
)
from apps.tenants.admin_sites import TenantModelAdmin, tenant_admin_site


class HubRecordAdmin(TenantModelAdmin):
    """Canonical records arrive through flows; the admin shows them but does not edit them."""

    change_action = "ledger.delete"
    readonly_fields = ["content_hash", "source_connection", "created_at", "updated_at", "deleted_at"]
    list_per_page = 50

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Customer, site=tenant_admin_site)
class CustomerAdmin(HubRecordAdmin):
    list_display = ["code", "name", "currency", "is_active", "source_connection", "updated_at"]
    search_fields = ["code", "name"]


@admin.register(Project, site=tenant_admin_site)
class ProjectAdmin(HubRecordAdmin):
    list_display = ["code", "name", "customer", "status", "billing_type", "budget_amount", "currency"]
    list_filter = ["status", "billing_type"]
    list_select_related = ["customer"]
    search_fields = ["code", "name", "customer__name"]


@admin.register(Person, site=tenant_admin_site)
class PersonAdmin(HubRecordAdmin):
    list_display = ["code", "name", "email", "practice", "capacity_hours_per_week", "is_active"]
    search_fields = ["code", "name", "email"]


@admin.register(TimeEntry, site=tenant_admin_site)
class TimeEntryAdmin(HubRecordAdmin):
    list_display = ["date", "person", "project", "hours", "billable", "approval_status", "deleted_at"]
    list_filter = ["approval_status", "billable", "date"]
    list_select_related = ["person", "project"]
    search_fields = ["person__name", "project__code", "notes"]
    date_hierarchy = "date"


@admin.register(Expense, site=tenant_admin_site)
class ExpenseAdmin(HubRecordAdmin):
    list_display = ["date", "person", "project", "category", "amount", "currency", "approval_status"]
    list_filter = ["approval_status", "category"]
    list_select_related = ["person", "project"]


@admin.register(Invoice, site=tenant_admin_site)
class InvoiceAdmin(HubRecordAdmin):
    list_display = ["number", "customer", "project", "status", "amount_total", "currency", "issue_date"]
    list_filter = ["status", "kind"]
    list_select_related = ["customer", "project"]
    search_fields = ["number", "customer__name"]


for model in (Assignment, RevenueSchedule, RateCard):
    tenant_admin_site.register(model, HubRecordAdmin)


@admin.register(ExternalRef, site=tenant_admin_site)
class ExternalRefAdmin(HubRecordAdmin):
    list_display = ["object_type", "canonical_id", "connection", "external_id", "last_synced_at"]
    list_filter = ["object_type", "connection"]
    search_fields = ["external_id"]
    readonly_fields = []


@admin.register(Ownership, site=tenant_admin_site)
class OwnershipAdmin(TenantModelAdmin):
    list_display = ["object_type", "field_group", "connection"]
