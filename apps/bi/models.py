"""Which customers have a reporting schema for BI tools, and where their Parquet snapshots go (public schema)."""

from __future__ import annotations

from django.db import models

from apps.common.history import History
from apps.tenants.models import Customer, User


class ReportingAccess(models.Model):
    """A customer's BI access: its reporting schema and the database role that may read only that schema.

    The password is never stored: it is set on the role when access is granted and shown once."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="reporting_access")
    schema_name = models.CharField(max_length=63, unique=True)
    role_name = models.CharField(max_length=63, unique=True)
    granted_at = models.DateTimeField()
    granted_by = models.ForeignKey(User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    snapshot_enabled = models.BooleanField(default=False, help_text="Write a Parquet snapshot every night.")
    snapshot_folder = models.CharField(max_length=500, blank=True,
                                       help_text="Blank: <data dir>/bi/<customer>/ on the worker's disk.")
    last_snapshot_at = models.DateTimeField(null=True, blank=True)
    history = History()

    class Meta:
        verbose_name_plural = "reporting access"

    def __str__(self) -> str:
        return f"{self.customer.slug}: {self.schema_name} read by {self.role_name}"
