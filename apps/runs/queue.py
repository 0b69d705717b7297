"""The task queue: the ORM broker in the order tasks were queued (the default), or Redis for several hosts.

Oldest ready task first. A task handed to a worker is leased for ``retry`` seconds; while it runs, a thread of
the worker renews the lease (``task_lease_hold``), so a task is handed out again only when its worker stopped
renewing (killed, or its host lost): ``retry`` can be short (seconds) without long tasks being delivered twice.

django-q2's ORM broker takes "the first" ready row without an ORDER BY, which PostgreSQL answers in the
table's physical order; once the busy queue table has been vacuumed, a task queued a moment ago can sit
in a slot freed before older ones and be handed out first. The engine's fairness rests on the opposite:
a slice re-queued behind another tenant's waiting task must run after it. This broker orders by id.
"""

from __future__ import annotations

import logging
import threading
from time import sleep

from django.db import connections
from django.utils import timezone
from django_q.brokers import Broker, get_broker
from django_q.brokers.orm import ORM
from django_q.conf import Conf

logger = logging.getLogger(__name__)
# PostgreSQL channel a new task is announced on (the webhook intake's statement and ``enqueue`` notify it), so an
# idle cluster takes the task at once instead of at its next poll.
WAKE_CHANNEL = "weft_queue"


class OrderedOrmBroker(ORM):
    """django-q2's ORM broker, dequeuing in the order tasks were queued (re-deliveries keep their place), and
    woken by ``NOTIFY weft_queue`` when idle: ``poll`` becomes the longest wait, not the usual one."""

    _listener = None  # a connection of its own, LISTENing; made on the first idle dequeue (in the pusher)

    @staticmethod
    def get_connection(list_key: str | None = None):
        return ORM.get_connection(list_key).order_by("id")

    def enqueue(self, task):
        task_id = super().enqueue(task)
        with connections[Conf.ORM].cursor() as cursor:  # delivered when the enqueueing transaction commits
            cursor.execute("SELECT pg_notify(%s, '')", [WAKE_CHANNEL])
        return task_id

    def dequeue(self):
        queue = self.get_connection()
        ready = list(queue.filter(key=self.list_key, lock__lt=timezone.now())[:Conf.BULK])
        if not ready:  # an empty queue: wait for an announcement (at most `poll`) rather than sleep through one
            self._wait_for_wake(Conf.POLL)
            return None
        # Lock each task until it is due again; a task another cluster locked first is left to it.
        return [(task.pk, task.payload) for task in ready
                if queue.filter(id=task.id, lock=task.lock).update(lock=self.timeout(task))]

    def _wait_for_wake(self, timeout: float) -> None:
        try:
            if self._listener is None or self._listener.closed:
                self._listener = self._listen()
            for _ in self._listener.notifies(timeout=timeout, stop_after=1):
                pass
            while self._listener.pgconn.notifies():  # a burst of announcements needs one look at the queue
                pass
        except Exception:  # noqa: BLE001 - the database went away: poll as the plain broker does until it is back
            logger.warning("task queue: cannot listen for new tasks; polling", exc_info=True)
            self._listener = None
            sleep(timeout)

    @staticmethod
    def _listen():
        import psycopg

        params = connections[Conf.ORM].get_connection_params()
        listener = psycopg.connect(**{k: v for k, v in params.items() if k in {"host", "port", "user", "password",
                                                                                "dbname", "sslmode"}}, autocommit=True)
        listener.execute(f"LISTEN {WAKE_CHANNEL}")
        return listener

    def renew(self, ack_id) -> bool:
        """Extend the lease of a task this worker is running (``lock`` is when it may be handed out again)."""
        return bool(self.get_connection().filter(pk=ack_id).update(lock=self.timeout(None)))

    def pending_payloads(self) -> list[str]:
        """Every task not yet acknowledged: waiting, or handed to a worker."""
        return list(self.get_connection().filter(key=self.list_key).values_list("payload", flat=True))


class AckingRedisBroker(Broker):
    """django-q2 on Redis for workers on several hosts, with the ORM broker's guarantee: a task stays until a
    worker acknowledges it, and one not acknowledged within ``retry`` seconds (its host died, or it failed)
    is handed out again.

    django-q2's own Redis broker pops a task and forgets it, so a host killed mid-task loses that task. Here a
    task moves atomically (a Lua script, on Redis's clock so hosts' clocks do not matter) from the queue, a list
    served oldest first, to an in-flight sorted set scored by when it is due again; acknowledging removes it.
    ``max_attempts`` works as with the ORM broker: django-q2 counts attempts in its result table and
    acknowledges a task that has used them all.
    """

    _TAKE = """
    local now = redis.call('TIME')
    local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
    local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', t, 'LIMIT', 0, tonumber(ARGV[2]))
    local taken = {}
    for _, task in ipairs(due) do
        redis.call('ZADD', KEYS[2], t + tonumber(ARGV[1]), task)
        table.insert(taken, task)
    end
    while #taken < tonumber(ARGV[2]) do
        local task = redis.call('LPOP', KEYS[1])
        if not task then break end
        redis.call('ZADD', KEYS[2], t + tonumber(ARGV[1]), task)
        table.insert(taken, task)
    end
    return taken
    """
    _RENEW = """
    if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
    local now = redis.call('TIME')
    return redis.call('ZADD', KEYS[1], 'XX', 'CH', tonumber(now[1]) + tonumber(now[2]) / 1000000 + tonumber(ARGV[2]),
                      ARGV[1]) + 1
    """
    _DUE = """
    local now = redis.call('TIME')
    return redis.call('ZCOUNT', KEYS[1], '-inf', tonumber(now[1]) + tonumber(now[2]) / 1000000)
    """

    def __init__(self, list_key: str | None = None):
        super().__init__(list_key=list_key)
        self.list_key = f"django_q:{self.list_key}:q"
        self.inflight_key = f"{self.list_key}:inflight"
        self._take = self.connection.register_script(self._TAKE)
        self._due = self.connection.register_script(self._DUE)
        self._renew = self.connection.register_script(self._RENEW)

    @staticmethod
    def get_connection(list_key: str | None = None):
        import redis

        return redis.from_url(Conf.REDIS) if isinstance(Conf.REDIS, str) else redis.Redis(**Conf.REDIS)

    def enqueue(self, task):
        return self.connection.rpush(self.list_key, task)

    def dequeue(self):
        taken = self._take(keys=[self.list_key, self.inflight_key], args=[Conf.RETRY, Conf.BULK])
        if taken:
            return [(task, task) for task in taken]  # the payload is its own acknowledgement id
        sleep(Conf.POLL)  # empty queue: spare the CPU, as the ORM broker does
        return None

    def acknowledge(self, task_id):
        return self.connection.zrem(self.inflight_key, task_id)

    def pending_payloads(self) -> list[str]:
        """Every task not yet acknowledged: waiting, or handed to a worker."""
        return [p.decode() if isinstance(p, bytes) else p for p in
                self.connection.lrange(self.list_key, 0, -1) + self.connection.zrange(self.inflight_key, 0, -1)]

    def renew(self, ack_id) -> bool:
        """Extend the lease of a task in flight (its score is when it is due again), unless it was acknowledged."""
        return bool(self._renew(keys=[self.inflight_key], args=[ack_id, Conf.RETRY]))

    def fail(self, task_id):
        return self.acknowledge(task_id)  # a package that cannot be read is dropped, as the ORM broker does

    def delete(self, task_id):
        return self.acknowledge(task_id)

    def queue_size(self) -> int:
        return self.connection.llen(self.list_key) + int(self._due(keys=[self.inflight_key]))

    def lock_size(self) -> int:
        return self.connection.zcard(self.inflight_key) - int(self._due(keys=[self.inflight_key]))

    def delete_queue(self):
        return self.connection.delete(self.list_key, self.inflight_key)

    def purge_queue(self):
        return self.delete_queue()

    def ping(self) -> bool:
        return bool(self.connection.ping())

    def info(self) -> str:
        if not self._info:
            self._info = f"Redis {self.connection.info('server')['redis_version']} (acknowledged)"
        return self._info

    # Cluster statistics in Redis too, so `qmonitor`/`qinfo` on any host see every host's clusters.
    def set_stat(self, key: str, value: str, timeout: int):
        self.connection.set(key, value, timeout)

    def get_stat(self, key: str):
        return self.connection.get(key)

    def get_stats(self, pattern: str):
        keys = list(self.connection.scan_iter(match=pattern, count=500))
        return [value for value in self.connection.mget(keys) if value] if keys else []


# --- the lease of a running task, renewed by the worker running it ---------------------------------------------
_held = threading.local()


def task_lease_hold(sender=None, task: dict | None = None, **kwargs) -> None:
    """``pre_execute`` receiver (in the worker process): renew the task's lease every quarter of ``retry`` until
    the task ends. A worker that dies stops renewing, and its task is handed out again ``retry`` seconds later."""
    ack_id = (task or {}).get("ack_id")
    if ack_id is None or (task or {}).get("sync"):
        return  # run in the caller's process (sync mode): nothing was leased
    stop = threading.Event()
    thread = threading.Thread(target=_renew_until, args=(ack_id, stop), name="weft-task-lease", daemon=True)
    thread.start()
    _held.renewal = (stop, thread)


def task_lease_release(sender=None, **kwargs) -> None:
    """``post_execute_in_worker`` receiver: the task ended; the monitor acknowledges it next."""
    renewal = getattr(_held, "renewal", None)
    if renewal is not None:
        stop, thread = renewal
        stop.set()
        thread.join(timeout=5)
        _held.renewal = None


def _renew_until(ack_id, stop: threading.Event) -> None:
    interval = max(Conf.RETRY / 4, 0.5)
    broker = get_broker()
    while not stop.wait(interval):
        try:
            broker.renew(ack_id)
        except Exception:  # the store is away: the lease may lapse, and the claims make a second delivery harmless
            logger.warning("could not renew the lease of task %s", ack_id, exc_info=True)
        finally:
            connections.close_all()  # this thread's connection only: none is held between renewals
