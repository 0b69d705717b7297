"""The tenant admin's "Install an accelerator" form."""

from __future__ import annotations

import json

from django import forms

from apps.accelerators.models import FlowTemplate
from apps.accelerators.selectors import templates_for_customer
from apps.tenants.models import Customer


class TemplateInstallForm(forms.Form):
    template = forms.ModelChoiceField(queryset=FlowTemplate.objects.none())
    variables = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "cols": 80}), required=False,
        help_text='JSON object of variables, e.g. {"erp_connection": "tryton"}; blank uses the defaults.',
    )

    def __init__(self, *args, tenant: Customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = templates_for_customer(tenant)
        lines = []
        for template in self.fields["template"].queryset:
            names = ", ".join(f"{k} (default {v.get('default')!r})" if isinstance(v, dict) else k
                              for k, v in (template.definition.get("variables") or {}).items())
            lines.append(f"{template.name}: {names or 'no variables'}")
        self.fields["variables"].help_text += "\n" + "\n".join(lines)

    def clean_variables(self) -> dict:
        raw = (self.cleaned_data.get("variables") or "").strip()
        if not raw:
            return {}
        try:
            value = json.loads(raw)
        except ValueError as error:
            raise forms.ValidationError(f"Not JSON: {error}") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("Give a JSON object.")
        return value
