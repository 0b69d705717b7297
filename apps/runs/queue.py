"""The task queue's order: oldest ready task first.

django-q2's ORM broker takes "the first" ready row without an ORDER BY, which PostgreSQL answers in the
table's physical order; once the busy queue table has been vacuumed, a task queued a moment ago can sit
in a slot freed before older ones and be handed out first. The engine's fairness rests on the opposite:
a slice re-queued behind another tenant's waiting task must run after it. This broker orders by id.
"""

from __future__ import annotations

from django_q.brokers.orm import ORM


class OrderedOrmBroker(ORM):
    """django-q2's ORM broker, dequeuing in the order tasks were queued (re-deliveries keep their place)."""

    @staticmethod
    def get_connection(list_key: str | None = None):
        return ORM.get_connection(list_key).order_by("id")
