"""Tenant-aware background work on django-q2.

The queue lives in the public schema and workers start there, so every task names its schema:
``tenant_task_enqueue`` wraps the call in ``tenant_task_run``, which runs it inside
``schema_context``. ``every_tenant_run`` fans one scheduled call out to all active customers.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string
from django_q.brokers import Broker
from django_q.conf import Conf
from django_q.tasks import async_task
from django_tenants.utils import schema_context

from apps.common.logging import log_context
from apps.tenants import selectors
from apps.tenants.models import Customer

logger = logging.getLogger(__name__)


def tenant_task_enqueue(schema_name: str, func_path: str, *args, after_commit: bool = True, **kwargs) -> None:
    """Queue ``func_path(*args, **kwargs)`` to run inside ``schema_name``, after the current commit."""
    _check_func_path(func_path)

    def enqueue() -> None:
        options = {"task_name": f"{schema_name}:{func_path.rsplit('.', 1)[-1]}", "group": schema_name}
        async_task("apps.tenants.tasks.tenant_task_run", schema_name, func_path, *args, q_options=options, **kwargs)

    if after_commit:
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
    if Conf.SYNC or "orm" not in settings.Q_CLUSTER:
        return None
    capture = _PackageOnly(list_key=Conf.CLUSTER_NAME)
    options = {"task_name": f"{schema_name}:{func_path.rsplit('.', 1)[-1]}", "group": schema_name, "broker": capture}
    async_task("apps.tenants.tasks.tenant_task_run", schema_name, func_path, *args, q_options=options)
    return capture.list_key, capture.package


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


def _check_func_path(func_path: str) -> None:
    # Task names travel through the database; only our own code may be named.
    if not func_path.startswith(tuple(settings.WEFT_TASK_MODULE_PREFIXES)):
        raise ValueError(f"Refusing to run {func_path!r}: tasks must live under {settings.WEFT_TASK_MODULE_PREFIXES}.")
