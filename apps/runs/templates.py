"""Accelerators: built-in templates shipped as YAML, partner templates in the database, one-action install."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from django import forms
from django.db.models import Q, QuerySet

from apps.common.history import save_attributed
from apps.runs.configuration import ConfigurationError, InstallReport, configuration_install
from apps.tenants import access
from apps.tenants.models import Customer, FlowTemplate
from apps.tenants.plans import template_allowed

BUILTIN_DIR = Path(__file__).resolve().parent / "accelerators"


def templates_for_customer(customer: Customer) -> QuerySet[FlowTemplate]:
    """Weft's built-in templates and the customer's partner's own."""
    return FlowTemplate.objects.filter(Q(partner__isnull=True) | Q(partner_id=customer.partner_id))


def templates_sync_builtin() -> int:
    """Load the YAML accelerators shipped with Weft into the template table (new versions replace old)."""
    count = 0
    for path in sorted(BUILTIN_DIR.glob("*.yaml")):
        definition = yaml.safe_load(path.read_text())
        template = FlowTemplate.objects.filter(partner__isnull=True, slug=definition["slug"]).first()
        if template and template.version >= definition["version"] and template.definition == definition:
            continue
        template = template or FlowTemplate(slug=definition["slug"])
        template.name, template.version = definition["name"], definition["version"]
        template.description = definition.get("description", "")
        template.is_premium = definition.get("premium", False)
        template.definition = definition
        save_attributed(template, acting_user=None, reason=f"Built-in template v{definition['version']}")
        count += 1
    return count


def template_install(*, template: FlowTemplate, variables: dict, customer: Customer, acting_user) -> InstallReport:
    """Install ``template`` into ``customer`` (whose schema must be the current one)."""
    access.check(acting_user, "template.install", customer=customer)
    if not templates_for_customer(customer).filter(pk=template.pk).exists():
        raise ConfigurationError("That template is not available to this customer.")
    template_allowed(customer=customer, template=template)  # premium templates need a plan that includes them
    return configuration_install(definition=template.definition, variables=variables, acting_user=acting_user,
                                 source=f"{template.slug}@{template.version}")


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
