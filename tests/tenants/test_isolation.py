"""A row written in one customer's schema is invisible from every other: ORM, admin, tasks, cache."""

import pytest
from django.core.cache import cache
from django_tenants.utils import schema_context

from apps.connectors.models import Connection
from apps.tenants.choices import Role
from apps.tenants.tasks import every_tenant_run, tenant_task_enqueue, tenant_task_run
from tests.conftest import host, member


def test_orm_rows_stay_in_their_schema(cast):
    with schema_context(cast.alpha.schema_name):
        Connection.objects.create(name="Alpha Harvest", kind="harvest")
    with schema_context(cast.beta.schema_name):
        assert not Connection.objects.filter(name="Alpha Harvest").exists()
        Connection.objects.create(name="Beta Xero", kind="xero")
    with schema_context(cast.alpha.schema_name):
        assert list(Connection.objects.values_list("name", flat=True)) == ["Alpha Harvest"]


def test_tenant_admin_lists_only_its_own_schema(cast, client):
    with schema_context(cast.alpha.schema_name):
        Connection.objects.create(name="Alpha Harvest", kind="harvest")
    with schema_context(cast.beta.schema_name):
        beta_row = Connection.objects.create(name="Beta Xero", kind="xero")
    engineer = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner)
    client.force_login(engineer)

    page = client.get("/admin/connectors/connection/", HTTP_HOST=host(cast.alpha))

    assert page.status_code == 200
    assert "Alpha Harvest" in page.text and "Beta Xero" not in page.text
    # beta's row id means nothing on alpha's domain
    other = client.get(f"/admin/connectors/connection/{beta_row.pk + 1000}/change/", HTTP_HOST=host(cast.alpha))
    assert other.status_code == 302 and "Beta Xero" not in other.text


def test_task_runs_only_in_the_schema_it_names(cast):
    with schema_context(cast.beta.schema_name):
        Connection.objects.create(name="Beta Xero", kind="xero")

    assert tenant_task_run(cast.alpha.schema_name, "tests.tenants.tasks_probe.connection_names") == []
    tenant_task_run(cast.alpha.schema_name, "tests.tenants.tasks_probe.record_schema", "probe")

    with schema_context(cast.alpha.schema_name):
        assert list(Connection.objects.values_list("name", flat=True)) == ["probe:alpha"]
    with schema_context(cast.beta.schema_name):
        assert list(Connection.objects.values_list("name", flat=True)) == ["Beta Xero"]


def test_enqueued_task_carries_its_schema_through_the_queue(cast, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        tenant_task_enqueue(cast.gamma.schema_name, "tests.tenants.tasks_probe.record_schema", "queued")
    with schema_context(cast.gamma.schema_name):
        assert Connection.objects.filter(name="queued:gamma").exists()
    with schema_context(cast.alpha.schema_name):
        assert not Connection.objects.filter(name__startswith="queued").exists()


def test_every_tenant_run_reaches_each_active_customer_once(cast):
    count = every_tenant_run("tests.tenants.tasks_probe.record_schema", "fanout")
    assert count == 3
    for customer in (cast.alpha, cast.beta, cast.gamma):
        with schema_context(customer.schema_name):
            assert list(Connection.objects.values_list("name", flat=True)) == [f"fanout:{customer.schema_name}"]


@pytest.mark.parametrize("schema", ["public", "weft_template", "no_such_schema"])
def test_tasks_refuse_schemas_that_are_not_active_customers(cast, schema):
    with pytest.raises(LookupError, match="No active customer"):
        tenant_task_run(schema, "tests.tenants.tasks_probe.record_schema", "x")


def test_tasks_refuse_code_outside_the_project(cast):
    with pytest.raises(ValueError, match="Refusing to run"):
        tenant_task_run(cast.alpha.schema_name, "os.system", "true")


def test_failed_task_in_sync_mode_raises_to_the_caller(cast, django_capture_on_commit_callbacks):
    # In tests (sync mode) a failing task surfaces at once; the cluster tests cover recorded failures.
    with pytest.raises(RuntimeError, match="probe failure boom"), django_capture_on_commit_callbacks(execute=True):
        tenant_task_enqueue(cast.alpha.schema_name, "tests.tenants.tasks_probe.always_fails", "boom")


def test_cache_keys_are_scoped_to_the_schema(cast):
    with schema_context(cast.alpha.schema_name):
        cache.set("open-exceptions", 7)
    with schema_context(cast.beta.schema_name):
        assert cache.get("open-exceptions") is None
    with schema_context(cast.alpha.schema_name):
        assert cache.get("open-exceptions") == 7
