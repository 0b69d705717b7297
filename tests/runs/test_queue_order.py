"""The task queue hands out the oldest ready task first, whatever the queue table's physical order."""

from datetime import timedelta

from django.db.models import Max
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.brokers.orm import ORM
from django_q.models import OrmQ

from apps.runs.queue import OrderedOrmBroker


def test_the_oldest_ready_task_is_dequeued_first_even_if_it_sits_later_in_the_table(db):
    broker = get_broker()
    assert isinstance(broker, OrderedOrmBroker)
    older = (OrmQ.objects.aggregate(top=Max("id"))["top"] or 0) + 1
    ready = timezone.now() - timedelta(seconds=1)
    # After a vacuum, a task queued later can take a slot freed earlier in the table: made here directly.
    OrmQ.objects.create(id=older + 1, key=broker.list_key, payload="queued later", lock=ready)
    OrmQ.objects.create(id=older, key=broker.list_key, payload="queued first", lock=ready)
    stock = ORM.get_connection().filter(key=broker.list_key, lock__lt=timezone.now())[0:1]
    assert [task.payload for task in stock] == ["queued later"]  # what django-q2's own broker would take

    assert broker.dequeue() == [(older, "queued first")]
    assert broker.dequeue() == [(older + 1, "queued later")]
