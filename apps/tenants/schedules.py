"""The platform's periodic tasks, registered by the app that owns each task and written by ``manage.py weft_schedules``.

Each app registers its own schedules in its ``AppConfig.ready`` (exceptions its ticks, reporting its refreshes),
so no app names another app's task; ``weft_schedules`` creates or updates a django-q2 ``Schedule`` row for each.
A task registered with ``every_tenant_schedule_register`` runs once per active customer, in its schema
(``apps.tenants.tasks.every_tenant_run``). A customer's own schedules (its flows', its webhook retries') are
removed when the customer is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models.signals import post_delete
from django.dispatch import receiver
from django_q.models import Schedule

from apps.tenants.models import Customer


@dataclass(frozen=True)
class PlatformSchedule:
    """One django-q2 schedule: a unique name, the function, how often, and its arguments (as django-q2 keeps them)."""

    name: str
    func: str
    schedule_type: str
    minutes: int | None = None
    args: str = ""


PLATFORM_SCHEDULES: dict[str, PlatformSchedule] = {}


def schedule_register(*, name: str, func: str, schedule_type: str, minutes: int | None = None, args: str = "") -> None:
    """Register a platform schedule (re-registering the same one is harmless; a different one under its name is not)."""
    schedule = PlatformSchedule(name=name, func=func, schedule_type=schedule_type, minutes=minutes, args=args)
    if PLATFORM_SCHEDULES.get(name, schedule) != schedule:
        raise ValueError(f"A different schedule named {name!r} is registered already.")
    PLATFORM_SCHEDULES[name] = schedule


def every_tenant_schedule_register(*, name: str, task: str, schedule_type: str, minutes: int | None = None) -> None:
    """Register ``task`` (a dotted path in the registering app) to run once per active customer on this schedule."""
    schedule_register(name=name, func="apps.tenants.tasks.every_tenant_run", schedule_type=schedule_type,
                      minutes=minutes, args=repr(task))


def platform_schedules() -> list[PlatformSchedule]:
    return list(PLATFORM_SCHEDULES.values())


def tenants_schedules_register() -> None:
    schedule_register(name="platform:spare-schemas", func="apps.tenants.tasks.spare_schemas_fill",
                      schedule_type=Schedule.MINUTES, minutes=5)
    schedule_register(name="platform:idempotency-purge", func="apps.tenants.idempotency.idempotent_requests_purge",
                      schedule_type=Schedule.DAILY)
    schedule_register(name="platform:clear-sessions", func="django.core.management.call_command",
                      schedule_type=Schedule.DAILY, args=repr("clearsessions"))


@receiver(post_delete, sender=Customer, dispatch_uid="weft-customer-schedules-removed")
def customer_schedules_remove(sender, instance: Customer, **kwargs) -> None:
    """A deleted customer's own schedules (its flows', its webhook retries') go with it: left behind, each would
    fail on every tick ("no active customer") and hold a worker for nothing. A deactivated customer keeps them."""
    Schedule.objects.filter(func="apps.tenants.tasks.tenant_task_run",
                            args__startswith=repr(instance.schema_name) + ",").delete()
