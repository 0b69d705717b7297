"""Committed data for tests that run a real django-q2 cluster process, and its removal afterwards.

A cluster process cannot see a test's transaction, so these tests commit. ``committed(schemas)`` notes the
highest primary key of every table in those tenants' schemas (and of the public tables the engine's
listeners write), and afterwards deletes every row added since, restores the customers' health rows and usage
counters and empties the task queue, so the tests that follow find the session cast as it was.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.apps import apps
from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import Max, ProtectedError, RestrictedError
from django_q.models import OrmQ, Schedule, Task
from django_tenants.utils import schema_context

from apps.accelerators.models import FlowTemplate, TemplateInstallation
from apps.ops.models import ClusterHeartbeat
from apps.tenants.models import CustomerHealth, IdempotentRequest, Operation, UsageMonth

# Installations before the templates they name (removal runs in this order).
PUBLIC_MODELS = (TemplateInstallation, FlowTemplate, ClusterHeartbeat, Operation, IdempotentRequest)


def _tenant_models() -> list[type[models.Model]]:
    labels = {app.rsplit(".", 1)[-1] for app in settings.TENANT_APPS if app.startswith("apps.")}
    found = []
    for label in labels:
        for model in apps.get_app_config(label).get_models():
            if isinstance(model._meta.pk, models.AutoField | models.BigAutoField):
                found.append(model)
    return found


def _marks(models_: list[type[models.Model]]) -> dict[type[models.Model], int]:
    return {model: model.objects.aggregate(top=Max("pk"))["top"] or 0 for model in models_}


def _remove_added(marks: dict[type[models.Model], int]) -> None:
    """Delete rows above each mark, in whatever order the foreign keys allow (a few passes)."""
    pending = dict(marks)
    for _ in range(len(pending) + 1):
        for model, mark in list(pending.items()):
            try:
                with transaction.atomic():
                    model.objects.filter(pk__gt=mark).delete()
            except (ProtectedError, RestrictedError, IntegrityError):
                continue
            del pending[model]
        if not pending:
            return
    raise AssertionError(f"could not remove committed test rows from {sorted(m.__name__ for m in pending)}")


@contextlib.contextmanager
def committed(schemas: list[str]) -> Iterator[None]:
    tenant_models = _tenant_models()
    marks = {}
    for schema in schemas:
        with schema_context(schema):
            marks[schema] = _marks(tenant_models)
    public_marks = _marks(list(PUBLIC_MODELS))
    health = {row["customer_id"]: row for row in CustomerHealth.objects.filter(
        customer__schema_name__in=schemas).values()}
    usage = {row["id"]: row for row in UsageMonth.objects.filter(customer__schema_name__in=schemas).values()}
    try:
        yield
    finally:
        for schema in schemas:
            with schema_context(schema):
                _remove_added(marks[schema])
        _remove_added(public_marks)
        CustomerHealth.objects.filter(customer__schema_name__in=schemas).exclude(customer_id__in=health).delete()
        for customer_id, row in health.items():
            CustomerHealth.objects.filter(customer_id=customer_id).update(**row)
        # Usage counters are added to in place (one row per customer and month): put them back as they were.
        UsageMonth.objects.filter(customer__schema_name__in=schemas).exclude(id__in=usage).delete()
        for usage_id, row in usage.items():
            UsageMonth.objects.filter(id=usage_id).update(**row)
        Task.objects.all().delete()
        OrmQ.objects.all().delete()
        Schedule.objects.all().delete()
