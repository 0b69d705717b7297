"""A customer's schema is a copy of the template with the template's constraint names: a later migration that
drops or alters a constraint by the name its model gives it must find it in every customer, not only in the
template (django-tenants' clone re-creates multi-column UNIQUE constraints under generated names)."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django_tenants.clone import CloneSchema

from apps.tenants import services
from apps.tenants.schema_copy import constraint_names_as_template_sql
from tests.conftest import _onboard


def _unique_constraints(schema: str) -> set[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT c.relname, k.conname FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid "
                       "WHERE k.connamespace = to_regnamespace(%s) AND k.contype = 'u'", [schema])
        return set(cursor.fetchall())


def test_onboarded_customers_keep_the_models_constraint_names(cast):
    template = _unique_constraints(settings.TENANT_BASE_SCHEMA)
    assert ("canonical_externalref", "one_ref_per_record") in template  # a name the model gives

    cloned = _onboard(cast.xpartner, "delta")
    services.spare_schemas_fill(count=1)
    spare = _onboard(cast.xpartner, "epsilon")

    for customer in (cast.alpha, cloned, spare):
        assert _unique_constraints(customer.schema_name) == template, customer.slug


def test_customers_copied_before_get_the_names_back(cast):
    CloneSchema().clone_schema(settings.TENANT_BASE_SCHEMA, "copied_before", "DATA")
    template = _unique_constraints(settings.TENANT_BASE_SCHEMA)
    assert _unique_constraints("copied_before") != template  # what the plain clone does

    connection.set_schema("copied_before", include_public=False)
    with connection.cursor() as cursor:
        cursor.execute(constraint_names_as_template_sql(settings.TENANT_BASE_SCHEMA))  # migration canonical.0006
        cursor.execute(constraint_names_as_template_sql(settings.TENANT_BASE_SCHEMA))  # and again: nothing to do
    connection.set_schema_to_public()

    assert _unique_constraints("copied_before") == template
