"""How deep the task queue is and how long its oldest task has waited, for either broker."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from apps.ops.health import broker


def depth_and_oldest_age() -> tuple[int, float]:
    if settings.Q_CLUSTER.get("orm"):
        return _orm()
    return _redis()


def _orm() -> tuple[int, float]:
    from django.db.models import Count, Min
    from django_q.models import OrmQ

    now = timezone.now()
    found = OrmQ.objects.filter(lock__lte=now).aggregate(depth=Count("id"), oldest=Min("lock"))
    return found["depth"], (now - found["oldest"]).total_seconds() if found["oldest"] else 0.0


def _redis() -> tuple[int, float]:
    from django_q.signing import SignedPackage

    queue = broker()
    depth = queue.queue_size()
    head = queue.connection.lindex(queue.list_key, 0)
    if not head:
        return depth, 0.0
    started = SignedPackage.loads(head).get("started")
    return depth, (timezone.now() - started).total_seconds() if started else 0.0
