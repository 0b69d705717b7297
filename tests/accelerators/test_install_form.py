"""The install form: a typed field per variable a template declares, and what it installs with — only the values
that differ from the template's defaults (so an upgrade's new default reaches customers who kept the old one), and
the defaults alone when the fields were never shown."""

import pytest

from apps.accelerators.forms import TemplateInstallForm, TemplateVariablesForm
from apps.accelerators.models import FlowTemplate
from apps.accelerators.services import templates_sync_builtin


@pytest.fixture
def template(db):
    templates_sync_builtin()
    return FlowTemplate.objects.get(partner__isnull=True, slug="approved-time-to-erp")


def _typed(form_class, customer, template, **values):
    data = {"template": template.pk, "variables_for": template.pk, "var__time_connection": "harvest",
            "var__time_object": "time_entries", "var__erp_connection": "tryton", "var__open_from": "2026-01-01",
            "var__max_hours_per_day": "12", "var__people_object": "users", "var__read_people": "on", **values}
    return form_class({k: v for k, v in data.items() if v is not None}, customer=customer, template=template)


def test_each_variable_is_a_field_of_its_defaults_type(cast, template):
    form = TemplateInstallForm(customer=cast.alpha, template=template)
    types = {name: type(field).__name__ for name, field in form.fields.items()}
    assert types["var__max_hours_per_day"] == "IntegerField" and types["var__open_from"] == "DateField"
    assert types["var__read_people"] == "BooleanField" and types["var__time_connection"] == "CharField"
    assert form.fields["var__max_hours_per_day"].initial == 12


def test_it_installs_with_what_differs_from_the_defaults(cast, template):
    form = _typed(TemplateInstallForm, cast.alpha, template, var__open_from="2026-04-01", var__read_people=None)
    assert form.is_valid(), form.errors
    assert form.variables() == {"open_from": "2026-04-01", "read_people": False}  # unticked is "off" when shown
    unchanged = _typed(TemplateInstallForm, cast.alpha, template)
    assert unchanged.is_valid() and unchanged.variables() == {}


def test_a_wrong_type_is_refused_on_its_field(cast, template):
    form = _typed(TemplateVariablesForm, cast.alpha, template, var__max_hours_per_day="twelve")
    assert not form.is_valid() and "var__max_hours_per_day" in form.errors


def test_fields_never_shown_install_the_defaults(cast, template):
    # A post naming the template alone (its fields were never on the page): the unticked box is not read as "off".
    form = TemplateInstallForm({"template": template.pk}, customer=cast.alpha, template=template)
    assert form.is_valid(), form.errors
    assert form.variables() == {}
