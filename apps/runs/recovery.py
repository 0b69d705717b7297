"""Nothing stuck: stored events and unfinished runs that no task will reach are queued again.

Most recovery needs no sweep: tasks are queued in the same transaction as their work (apps.tenants.tasks), a
dead worker's task is handed out again after ``WEFT_Q_RETRY`` seconds (apps.runs.queue), and the event lock
and run lease let that task take over at once. This sweep, every minute, catches what still falls through: a
task dropped after ``WEFT_Q_MAX_ATTEMPTS`` failed attempts (the database was away while it ran), a queue
emptied by hand, work stored by an older release. It reads the broker once, and queues again only work
with no task waiting or running for it.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone
from django_tenants.utils import schema_context

from apps.runs.lease import stale_after
from apps.runs.models import InboundEvent, Run, RunStatus
from apps.tenants.selectors import active_firm_schemas
from apps.tenants.tasks import tenant_task_enqueue, tenant_tasks_pending

logger = logging.getLogger(__name__)
EVENT_TASK, RUN_TASK = "apps.runs.tasks.inbound_event_process", "apps.runs.tasks.run_execute"
INTAKE_TASK = "apps.runs.tasks.inbound_event_received"  # what the webhook intake queued before: the event by its key
STREAM_TASK = "apps.runs.tasks.inbound_stream_process"  # what it queues now: a stream's events (connection, type)
# Work younger than this is left alone: its task may be committing at this moment.
GRACE = timedelta(seconds=10)


def work_recover() -> Counter:
    """Queue again, in every active customer, the events and runs that no task will reach; counts what it queued."""
    pending = tenant_tasks_pending()
    queued: Counter = Counter()
    for schema in active_firm_schemas():
        with schema_context(schema):
            queued += _tenant_recover(schema, pending)
    if queued:
        logger.warning("queued again work no task held: %s", dict(queued))
    return queued


def _tenant_recover(schema: str, pending: set) -> Counter:
    now = timezone.now()
    events = InboundEvent.objects.filter(status=InboundEvent.Status.RECEIVED, received_at__lt=now - GRACE)
    runs = Run.objects.filter(Q(status=RunStatus.QUEUED, updated_at__lt=now - GRACE)
                              | Q(status=RunStatus.RUNNING, updated_at__lt=now - stale_after()))
    queued = Counter()
    keys = events.values_list("pk", "connection_id", "event_id", "event_type")
    held = {pk for pk, connection, key, event_type in keys
            if (schema, INTAKE_TASK, (connection, key)) in pending
            or (schema, STREAM_TASK, (connection, event_type)) in pending}
    for kind, task, ids in (("events", EVENT_TASK, events.values_list("pk", flat=True)),
                            ("runs", RUN_TASK, runs.values_list("pk", flat=True))):
        for pk in ids:
            if (schema, task, pk) not in pending and not (kind == "events" and pk in held):
                tenant_task_enqueue(schema, task, pk, after_commit=False)
                queued[kind] += 1
    return queued
