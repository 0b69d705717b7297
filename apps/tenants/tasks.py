"""Tenant-aware background work on django-q2.

The queue lives in the public schema and workers start there, so every task names its schema:
``tenant_task_enqueue`` wraps the call in ``tenant_task_run``, which runs it inside
``schema_context``. ``every_tenant_run`` fans one scheduled call out to all active customers.
"""

from __future__ import annotations

import logging
import multiprocessing

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string
from django_q.brokers import Broker, get_broker
from django_q.conf import Conf
from django_q.signing import SignedPackage
from django_q.tasks import async_task
from django_tenants.utils import schema_context

from apps.common.logging import log_context
from apps.tenants import selectors, services
from apps.tenants.models import Customer

logger = logging.getLogger(__name__)
TENANT_TASK = "apps.tenants.tasks.tenant_task_run"
# Set when the cluster was asked to stop (SIGTERM, Ctrl-C; see the qcluster command). Made before the cluster forks
# its processes, so every worker sees it: long work ends at its next safe point and queues itself again.
_STOP_REQUESTED = multiprocessing.get_context("fork").Event()


def cluster_stop_request() -> None:
    _STOP_REQUESTED.set()


def cluster_stopping() -> bool:
    """Whether this cluster is stopping: work in slices should save its place and hand the rest back now."""
    return _STOP_REQUESTED.is_set()


def tenant_task_enqueue(schema_name: str, func_path: str, *args, after_commit: bool = True, **kwargs) -> None:
    """Queue ``func_path(*args, **kwargs)`` to run inside ``schema_name``, visible to workers once the current
    transaction commits.

    On the ORM broker the task row is written inside the caller's transaction: the work and its task commit (or
    roll back) together, so a process that dies right after the commit cannot leave work without a task. On
    Redis, and in sync mode (tests), it is queued after the commit."""
    _check_func_path(func_path)

    def enqueue() -> None:
        options = {"task_name": f"{schema_name}:{func_path.rsplit('.', 1)[-1]}", "group": schema_name}
        async_task(TENANT_TASK, schema_name, func_path, *args, q_options=options, **kwargs)

    if after_commit and not _queue_in_database():
        transaction.on_commit(enqueue)
    else:
        enqueue()


class _PackageOnly(Broker):
    """A broker that keeps the signed package instead of queueing it (see ``tenant_task_package``)."""

    package = ""

    @staticmethod
    def get_connection(list_key: str | None = None):
        return None

    def enqueue(self, task):
        self.package = task


def tenant_task_package(schema_name: str, func_path: str, *args) -> tuple[str, str] | None:
    """(queue key, signed package) of the task ``tenant_task_enqueue`` would queue on the ORM broker, for a caller
    that writes the queue row in its own statement (so the work and its task commit together); None when the
    queue is not the ORM broker's table or tasks run inline, and the caller should use ``tenant_task_enqueue``."""
    _check_func_path(func_path)
    if not _queue_in_database():
        return None
    capture = _PackageOnly(list_key=Conf.CLUSTER_NAME)
    options = {"task_name": f"{schema_name}:{func_path.rsplit('.', 1)[-1]}", "group": schema_name, "broker": capture}
    async_task(TENANT_TASK, schema_name, func_path, *args, q_options=options)
    return capture.list_key, capture.package


def _queue_in_database() -> bool:
    return bool(settings.Q_CLUSTER.get("orm")) and not Conf.SYNC


def tenant_task_run(schema_name: str, func_path: str, *args, **kwargs):
    """Worker side: run the task in its tenant's schema, and only there."""
    _check_func_path(func_path)
    if not Customer.objects.firms().filter(schema_name=schema_name, is_active=True).exists():
        raise LookupError(f"No active customer has schema {schema_name!r}; task {func_path} not run.")
    func = import_string(func_path)
    with schema_context(schema_name), log_context(tenant=schema_name):
        return func(*args, **kwargs)


def every_tenant_run(func_path: str, *args, **kwargs) -> int:
    """Scheduled entry point: queue ``func_path`` once per active customer; returns how many."""
    _check_func_path(func_path)
    schemas = list(selectors.active_firm_schemas())
    for schema_name in schemas:
        tenant_task_enqueue(schema_name, func_path, *args, after_commit=False, **kwargs)
    logger.info("queued %s for %d tenants", func_path, len(schemas))
    return len(schemas)


def tenant_tasks_pending() -> set[tuple[str, str, object]]:
    """(schema, task path, first argument) of every tenant task still queued or running, read from the broker,
    and (schema, task path, (all its arguments)) for tasks of several: what a sweep for lost work must not queue a
    second time."""
    found = set()
    for payload in get_broker().pending_payloads():
        try:
            task = SignedPackage.loads(payload)
        except Exception:  # a package this cluster cannot read is not one of ours
            continue
        args = task.get("args") or ()
        if task.get("func") == TENANT_TASK and len(args) >= 2:
            found.add((args[0], args[1], args[2] if len(args) > 2 else None))
            if len(args) > 3:  # a task keyed by several arguments (the webhook intake's: connection, event id)
                found.add((args[0], args[1], tuple(args[2:])))
    return found


def _check_func_path(func_path: str) -> None:
    # Task names travel through the database; only our own code may be named.
    if not func_path.startswith(tuple(settings.WEFT_TASK_MODULE_PREFIXES)):
        raise ValueError(f"Refusing to run {func_path!r}: tasks must live under {settings.WEFT_TASK_MODULE_PREFIXES}.")


def spare_schemas_fill() -> int:
    """Scheduled: keep WEFT_SPARE_SCHEMAS spare schemas ready for onboarding."""
    return services.spare_schemas_fill()
