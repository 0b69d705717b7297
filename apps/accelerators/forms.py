"""Installing an accelerator: the template, then one typed field per variable it declares. The same fields serve
the tenant admin's "Install an accelerator", the partner site's "Install a template" and its setup wizard."""

from __future__ import annotations

import re
from datetime import date

from django import forms

from apps.accelerators.models import FlowTemplate
from apps.accelerators.selectors import templates_for_customer
from apps.tenants.models import Customer

VARIABLE = "var__"  # the prefix of a variable's field name
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class TemplateVariablesForm(forms.Form):
    """The template, then a field per variable it declares (label and default from the template). ``variables()``
    is what to install with: the values that differ from the defaults, so an upgrade that changes a default
    brings the new one to every customer who kept it."""

    template = forms.ModelChoiceField(queryset=None, label="Accelerator")
    # Set where the fields appear only once a template is chosen (a second step): a post without them (no script
    # ran, or another template was chosen since) must install the defaults, not read every unticked box as "off".
    fields_follow_choice = False

    def __init__(self, *args, customer: Customer, template: FlowTemplate | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = templates_for_customer(customer)
        self.fields["template"].label_from_instance = template_label
        self.fields["template"].initial = template.pk if template else None
        self.defaults = {}
        for name, spec in ((template.definition.get("variables") or {}) if template else {}).items():
            spec = spec if isinstance(spec, dict) else {"default": spec}
            self.fields[VARIABLE + name] = variable_field(spec)
            self.defaults[name] = spec.get("default")

    def variable_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith(VARIABLE)]

    def variables(self) -> dict:
        template = self.cleaned_data.get("template")
        if template is None or self.fields_follow_choice and str(self.data.get("variables_for")) != str(template.pk):
            return {}
        given = {name[len(VARIABLE):]: value.isoformat() if isinstance(value, date) else value
                 for name, value in self.cleaned_data.items() if name.startswith(VARIABLE) and value not in (None, "")}
        return {name: value for name, value in given.items()
                if name not in self.defaults or value != self.defaults[name]}


def variable_field(spec: dict) -> forms.Field:
    """A template variable as a form field of its default's type; without a default it must be given."""
    default = spec.get("default")
    common = {"label": spec.get("label") or "", "initial": default, "required": "default" not in spec,
              "help_text": spec.get("help", "")}
    if isinstance(default, bool):
        return forms.BooleanField(**{**common, "required": False})
    if isinstance(default, int):
        return forms.IntegerField(**common)
    if isinstance(default, float):
        return forms.FloatField(**common)
    if isinstance(default, str) and DATE.fullmatch(default):
        return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common)
    return forms.CharField(max_length=500, **common)


def template_label(template: FlowTemplate) -> str:
    return f"{template.name} v{template.version}{' (premium)' if template.is_premium else ''}"


class TemplateInstallForm(TemplateVariablesForm):
    """The tenant admin's "Install an accelerator": a template is chosen first (a GET), then its fields shown."""

    fields_follow_choice = True
