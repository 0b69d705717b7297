"""``__any``: a list of values as one array parameter (``= ANY(%s)``), answering as ``__in`` does."""

import datetime

import pytest

import apps.common.lookups  # noqa: F401
from apps.canonical.models import ExternalRef, Person
from apps.connectors.services import connection_create


def test_any_matches_what_in_matches_for_ids_text_and_dates(in_alpha):
    connection = connection_create(name="ERP", kind="csv", acting_user=None)
    people = [Person.objects.create(code=f"p{n}", name=f"P {n}", source_connection=connection) for n in range(3)]
    for person in people:
        ExternalRef.objects.create(connection=connection, object_type="person", canonical_id=person.pk,
                                   external_id=f"x{person.pk}")
    wanted = [people[0].pk, people[2].pk]

    assert sorted(Person.objects.filter(pk__any=wanted).values_list("pk", flat=True)) == wanted
    assert Person.objects.filter(pk__any=[]).count() == 0
    assert Person.objects.filter(source_connection__any=[connection.pk]).count() == 3
    assert Person.objects.filter(source_connection_id__any=[connection.pk + 1]).count() == 0
    assert set(ExternalRef.objects.filter(external_id__any=[f"x{wanted[1]}", "nope"])
               .values_list("canonical_id", flat=True)) == {wanted[1]}
    today = datetime.date.today()
    assert Person.objects.filter(created_at__date__any=[today, str(today)]).count() == 3


def test_any_refuses_a_queryset(in_alpha):
    with pytest.raises(TypeError, match="__in for a queryset"):
        Person.objects.filter(pk__any=Person.objects.values("pk"))
