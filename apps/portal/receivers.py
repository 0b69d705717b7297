"""What the portal does when other apps say something happened."""

from __future__ import annotations

from django.db import connection

from apps.reporting.models import ReviewPage
from apps.tenants.tasks import tenant_task_enqueue


def on_figures_refreshed(**_) -> None:
    """After a run's refresh (``apps.reporting.signals.figures_refreshed``): have last month's review ready for a
    customer that reads it (one has been stored); others get nothing prepared."""
    if ReviewPage.objects.exists():
        tenant_task_enqueue(connection.schema_name, "apps.portal.tasks.review_prepare")
