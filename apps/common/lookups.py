"""``field__any=[...]``: ``field = ANY(%s)`` with the list as one array parameter.

The engine filters by a slice's ids (500 at a time) in every query of a batch. ``__in`` makes Django prepare and
render one parameter per value and psycopg's client-side binding split the query text around each of them (3.5 s of
a 20k-entry outbound profile); an array is one parameter, and PostgreSQL plans ``= ANY(array)`` as it plans ``IN``.
For lists of values only (a queryset goes with ``__in``). Importing this module registers the lookup.
"""

from __future__ import annotations

from django.db.models import Field, ForeignObject, Lookup


@ForeignObject.register_lookup  # relations keep lookups of their own
@Field.register_lookup
class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self):
        if hasattr(self.rhs, "resolve_expression"):
            raise TypeError(f"{self.lookup_name} takes a list of values; use __in for a queryset or an expression")
        prep = self.lhs.output_field.get_prep_value
        return [prep(value) for value in self.rhs]

    def get_db_prep_lookup(self, value, connection):
        return "%s", [list(value)]

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        array_type = self.lhs.output_field.db_type(connection)  # typed, so an empty list needs no guess
        return f"{lhs} = ANY({rhs}::{array_type}[])", [*lhs_params, *rhs_params]
