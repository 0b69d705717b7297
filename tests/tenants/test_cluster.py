"""Background work on a real django-q2 cluster process: tenant scoping, bounded retries, schedules."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.conf import Conf
from django_q.models import OrmQ, Schedule, Task
from django_tenants.utils import schema_context

from apps.connectors.models import Connection
from apps.tenants.models import Customer
from apps.tenants.tasks import tenant_task_enqueue
from tests.cluster import Cluster, wait_for

pytestmark = pytest.mark.cluster
RETRY_SECONDS = 3


@pytest.fixture(scope="module")
def cluster(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        running = Cluster(WEFT_Q_TIMEOUT="2", WEFT_Q_RETRY=str(RETRY_SECONDS), WEFT_Q_MAX_ATTEMPTS="3")
        yield running
        running.stop()


@pytest.fixture
def live(django_db_blocker, cluster, monkeypatch):
    """Committed writes the cluster can see; every probe row and queue entry is removed afterwards."""
    monkeypatch.setattr(Conf, "SYNC", False)  # this process queues; the cluster process runs
    with django_db_blocker.unblock():
        yield {c.slug: c for c in Customer.objects.filter(slug__in=["alpha", "beta", "gamma"])}
        for schema in ("alpha", "beta", "gamma"):
            with schema_context(schema):
                Connection.objects.filter(kind="probe").delete()
        Task.objects.all().delete()
        OrmQ.objects.all().delete()
        Schedule.objects.all().delete()


def _probe_names(schema: str) -> list[str]:
    with schema_context(schema):
        return sorted(Connection.objects.filter(kind="probe").values_list("name", flat=True))


def test_each_task_runs_in_the_schema_it_was_queued_for(live, cluster):
    queued_at = timezone.now()
    tenant_task_enqueue("alpha", "tests.tenants.tasks_probe.record_schema", "cluster", after_commit=False)
    tenant_task_enqueue("beta", "tests.tenants.tasks_probe.record_schema", "cluster", after_commit=False)

    wait_for(lambda: _probe_names("alpha") and _probe_names("beta"), timeout=30, cluster=cluster)

    assert _probe_names("alpha") == ["cluster:alpha"]
    assert _probe_names("beta") == ["cluster:beta"]
    assert _probe_names("gamma") == []
    # the monitor process records results a moment after the work is done
    def succeeded_groups():
        return set(Task.objects.filter(success=True, started__gte=queued_at).values_list("group", flat=True))

    wait_for(lambda: succeeded_groups() == {"alpha", "beta"}, timeout=10, cluster=cluster)


def test_a_failing_task_is_retried_a_bounded_number_of_times(live, cluster):
    tenant_task_enqueue("alpha", "tests.tenants.tasks_probe.always_fails", "bounded", after_commit=False)

    task = wait_for(
        lambda: Task.objects.filter(group="alpha", success=False, attempt_count__gte=3).first(),
        timeout=RETRY_SECONDS * 6 + 10, cluster=cluster,
    )
    assert "probe failure bounded" in task.result
    wait_for(lambda: not OrmQ.objects.exists(), timeout=10, cluster=cluster)  # acknowledged: no fourth try
    task.refresh_from_db()
    assert task.attempt_count == 3


def test_one_schedule_runs_a_task_for_every_tenant(live, cluster):
    Schedule.objects.create(
        name="probe fan-out", func="apps.tenants.tasks.every_tenant_run",
        args="'tests.tenants.tasks_probe.record_schema','scheduled'", schedule_type=Schedule.ONCE,
        next_run=timezone.now() - timedelta(seconds=1),
    )
    # The cluster's scheduler looks for due schedules every 30 s.
    wait_for(lambda: all(_probe_names(s) for s in ("alpha", "beta", "gamma")), timeout=75, cluster=cluster)
    for schema in ("alpha", "beta", "gamma"):
        assert _probe_names(schema) == [f"scheduled:{schema}"]
