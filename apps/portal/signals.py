"""Plumbing on the engine's ``run_finished`` signal: meter the run and queue a health refresh.

Neither may break a run, so failures are logged, not raised.
"""

from __future__ import annotations

import logging

from django.db import connection, transaction
from django.dispatch import receiver

from apps.runs.signals import run_finished
from apps.tenants.health import health_mark_stale
from apps.tenants.models import Customer
from apps.tenants.tasks import tenant_task_enqueue
from apps.tenants.usage import usage_record

logger = logging.getLogger(__name__)
SYNCED_OUTCOMES = ("created", "updated", "deleted")  # records a run actually wrote (metered)


@receiver(run_finished, dispatch_uid="portal.run_finished")
def on_run_finished(sender, run, **kwargs) -> None:
    schema_name = connection.schema_name
    try:
        with transaction.atomic():  # a savepoint: a failure here must not spoil the engine's transaction
            records = sum(int(run.counts.get(outcome, 0)) for outcome in SYNCED_OUTCOMES)
            usage_record(schema_name=schema_name, runs=1, records_synced=records)
            customer_id = Customer.objects.filter(schema_name=schema_name).values_list("pk", flat=True).first()
            if customer_id is not None and health_mark_stale(customer_id=customer_id):
                tenant_task_enqueue(schema_name, "apps.portal.tasks.customer_health_refresh")
    except Exception:  # metering and the summary are secondary: the run itself has finished
        logger.exception("usage/health bookkeeping failed for run %s in %s", run.pk, schema_name)
