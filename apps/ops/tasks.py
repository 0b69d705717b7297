"""Tasks of the ops app (queued by django-q2 schedules made in `weft_schedules`)."""

import os

from django.utils import timezone

from apps.common.logging import HOSTNAME
from apps.ops.models import ClusterHeartbeat


def heartbeat() -> None:
    """Record that a cluster on this host is alive and running tasks (operational row: update_or_create)."""
    ClusterHeartbeat.objects.update_or_create(host=HOSTNAME, defaults={"beat_at": timezone.now(), "pid": os.getpid()})
