"""Customer schemas name people of the public schema without foreign-key constraints into it (issue 20): each
constraint hung two triggers on the shared ``tenants_user``, which every login's ``UPDATE`` walked (31 ms at 200
customers). A person's deletion clears what customers hold of them first (``services.user_delete``)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import connection
from django_tenants.utils import schema_context

from apps.exceptions.choices import Kind, Source
from apps.exceptions.models import ExceptionComment
from apps.exceptions.services import RecordAtRisk, exception_assign, exception_comment, exception_raise
from apps.mappings.models import Mapping, MappingVersion
from apps.mappings.services import mapping_version_create, mapping_version_publish
from apps.tenants import services
from apps.tenants.choices import Role
from apps.tenants.models import User
from tests.conftest import _onboard, host, member
from tests.factories import UserFactory


def _user_table_triggers() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'public.tenants_user'::regclass")
        return cursor.fetchone()[0]


def _constraints_into_users_from(schema: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT conrelid::regclass::text FROM pg_constraint "
                       "WHERE confrelid = 'public.tenants_user'::regclass AND connamespace = to_regnamespace(%s)",
                       [schema])
        return [row[0] for row in cursor.fetchall()]


def test_customers_hang_no_triggers_on_the_user_table(cast):
    with_three = _user_table_triggers()

    copied = _onboard(cast.xpartner, "delta")  # a copy of the template
    services.spare_schemas_fill(count=1)
    renamed = _onboard(cast.xpartner, "epsilon")  # a spare renamed

    assert _user_table_triggers() == with_three
    for schema in [settings.TENANT_BASE_SCHEMA, cast.alpha.schema_name, copied.schema_name, renamed.schema_name]:
        assert _tables(schema), schema  # the schema is there
        assert _constraints_into_users_from(schema) == [], schema
    assert _constraints_into_users_from("public")  # the public schema's own keep theirs


def _tables(schema: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_class WHERE relnamespace = to_regnamespace(%s)", [schema])
        return cursor.fetchone()[0]


def _work_in_alpha(cast, eng) -> tuple:
    """An exception ``eng`` owns and commented on, and a mapping version ``eng`` published, in alpha."""
    with schema_context(cast.alpha.schema_name):
        exception = exception_raise(kind=Kind.RECONCILIATION, source=Source.RECONCILIATION, scope="recon:ACME-042",
                                    message="ACME-042: totals differ",
                                    records=[RecordAtRisk(key="ACME-042", context={"project": "ACME-042"},
                                                          amount=Decimal("1500"), currency="EUR")])
        exception_assign(exception=exception, owner=eng, acting_user=eng, customer=cast.alpha)
        exception_comment(exception=exception, body="Totals checked with the ERP", acting_user=eng)
        mapping = Mapping.objects.create(name="Harvest time", slug="harvest-time", direction="inbound",
                                         object_type="time_entry", connector_kind="csv")
        version = mapping_version_create(mapping=mapping, rules=[{"target": "external_id", "source": "id"}],
                                         acting_user=eng)
        mapping_version_publish(version=version, acting_user=eng)
    return exception, mapping, version


def _pages(cast, client, exception, mapping, version) -> dict:
    """The pages that show who did the work, as another engineer of the partner sees them."""
    client.force_login(member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner, username="eng2"))
    alpha = host(cast.alpha)
    return {
        "exception": client.get(f"/admin/exceptions/integrationexception/{exception.pk}/change/", HTTP_HOST=alpha),
        "editor": client.get(f"/admin/mappings/mappingversion/{version.pk}/rules/", HTTP_HOST=alpha),
        "history": client.get(f"/admin/mappings/mapping/{mapping.pk}/history/", HTTP_HOST=alpha),
        "exception history": client.get(f"/admin/exceptions/integrationexception/{exception.pk}/history/",
                                        HTTP_HOST=alpha),
        "api": client.get(f"/api/v1/exceptions/{exception.pk}/", HTTP_HOST=alpha),
    }


def test_a_person_who_worked_in_a_customer_is_deleted_and_the_pages_still_show_the_work(cast, client):
    eng = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner, username="eng")
    exception, mapping, version = _work_in_alpha(cast, eng)
    operator = UserFactory(username="op", is_superuser=True, is_staff=True)

    client.force_login(operator)
    deleted = client.post(f"/admin/tenants/user/{eng.pk}/delete/", {"post": "yes"}, HTTP_HOST="localhost")

    assert deleted.status_code == 302 and not User.objects.filter(pk=eng.pk).exists()
    with schema_context(cast.alpha.schema_name):
        assert ExceptionComment.objects.get(exception=exception).author_id is None
        assert MappingVersion.objects.get(pk=version.pk).published_by_id is None
        assert not mapping.history.filter(history_user_id=eng.pk).exists()
    pages = _pages(cast, client, exception, mapping, version)
    assert {name: page.status_code for name, page in pages.items()} == dict.fromkeys(pages, 200)
    assert "ACME-042: totals differ" in pages["exception"].text
    assert [(c["author"], c["body"]) for c in pages["api"].json()["comments"]] == [
        ("system", "Totals checked with the ERP")]


def test_a_person_deleted_around_the_service_leaves_ids_the_pages_survive(cast, client):
    eng = member(Role.INTEGRATION_ENGINEER, partner=cast.xpartner, username="eng")
    exception, mapping, version = _work_in_alpha(cast, eng)

    User.objects.filter(pk=eng.pk).delete()  # the public schema's deletion alone (it used to fail outright)

    with schema_context(cast.alpha.schema_name):
        assert ExceptionComment.objects.get(exception=exception).author_id == eng.pk  # dangling
    pages = _pages(cast, client, exception, mapping, version)
    assert {name: page.status_code for name, page in pages.items()} == dict.fromkeys(pages, 200)
    assert [(c["author"], c["body"]) for c in pages["api"].json()["comments"]] == [
        ("system", "Totals checked with the ERP")]
