"""Flow schedules as django-q2 Schedule rows, one per scheduled flow per tenant, kept in step with flows."""

from __future__ import annotations

from django.db import connection as db
from django_q.models import Schedule

from apps.runs.models import Flow

PREFIX = "flow"


def schedule_name(schema_name: str, flow: Flow) -> str:
    return f"{PREFIX}:{schema_name}:{flow.slug}"


def flow_schedule_sync(*, flow: Flow) -> Schedule | None:
    """Create, update or remove the django-q2 schedule of ``flow`` (in the current tenant)."""
    name = schedule_name(db.schema_name, flow)
    if not (flow.is_enabled and flow.on_schedule):
        Schedule.objects.filter(name=name).delete()
        return None
    fields = {
        "func": "apps.tenants.tasks.tenant_task_run",
        "args": repr((db.schema_name, "apps.runs.tasks.flow_scheduled_run", flow.pk))[1:-1],
        "schedule_type": Schedule.CRON if flow.schedule_cron else Schedule.MINUTES,
        "cron": flow.schedule_cron or None,
        "minutes": None if flow.schedule_cron else max(flow.schedule_minutes, 1),
        "repeats": -1,
    }
    schedule, _ = Schedule.objects.update_or_create(name=name, defaults=fields)
    return schedule


def schedules_sync_all() -> tuple[int, int]:
    """For the current tenant: sync every flow's schedule and drop schedules of flows that are gone."""
    flows = list(Flow.objects.all())
    kept = {schedule_name(db.schema_name, f) for f in flows if f.is_enabled and f.on_schedule}
    for flow in flows:
        flow_schedule_sync(flow=flow)
    stale = Schedule.objects.filter(name__startswith=f"{PREFIX}:{db.schema_name}:").exclude(name__in=kept)
    removed, _ = stale.delete()
    return len(kept), removed
