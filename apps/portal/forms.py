"""Forms of the partner site and the customer portal; they validate input, services apply the rules."""

from __future__ import annotations

import json

from django import forms

from apps.accelerators.selectors import templates_for_customer
from apps.tenants.choices import Feature
from apps.tenants.models import Customer, Partner, Plan
from apps.tenants.plans import plans_for_partner


class PlanForm(forms.ModelForm):
    features = forms.MultipleChoiceField(choices=Feature.choices, required=False,
                                         widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = Plan
        fields = ["name", "slug", "monthly_price", "currency", "included_records", "included_runs",
                  "included_api_calls", "features", "is_active"]

    def __init__(self, *args, partner: Partner, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.partner = partner
        if self.instance.pk:
            self.fields["slug"].disabled = True  # exports and links name the plan by slug


class CustomerPlanForm(forms.Form):
    plan = forms.ModelChoiceField(queryset=Plan.objects.none(), required=False, empty_label="No plan (nothing gated)")

    def __init__(self, *args, customer: Customer, **kwargs):
        super().__init__(*args, **kwargs)
        current = Plan.objects.filter(pk=customer.plan_id)
        self.fields["plan"].queryset = plans_for_partner(customer.partner, active_only=True) | current
        self.fields["plan"].initial = customer.plan_id


class DomainForm(forms.Form):
    domain = forms.CharField(max_length=253, help_text="A host name you point at this service, e.g. "
                                                        "integrations.acme.example.")
    make_primary = forms.BooleanField(required=False, label="Make it the primary domain")


class OnboardForm(forms.Form):
    name = forms.CharField(max_length=120)
    slug = forms.CharField(max_length=48, help_text="Lower-case letters, digits and hyphens; names the schema.")
    domain = forms.CharField(max_length=253, required=False, help_text="Blank: <slug>.<your domain suffix>.")
    admin_email = forms.EmailField(label="First customer admin's email")
    plan = forms.ModelChoiceField(queryset=Plan.objects.none(), required=False, empty_label="No plan")
    template = forms.ModelChoiceField(queryset=None, required=False, empty_label="No template yet")
    variables = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False,
                                help_text='The template\'s variables as a JSON object, e.g. {"open_from": '
                                          '"2026-01-01"}; blank uses its defaults.')

    def __init__(self, *args, partner: Partner, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].queryset = plans_for_partner(partner, active_only=True)
        self.fields["template"].queryset = templates_for_customer(Customer(partner=partner))
        self.fields["template"].label_from_instance = template_label

    def clean_variables(self) -> dict:
        return parse_variables(self.cleaned_data.get("variables"))


class TemplateForm(forms.Form):
    template = forms.ModelChoiceField(queryset=None)
    variables = OnboardForm.base_fields["variables"]

    def __init__(self, *args, customer: Customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["template"].queryset = templates_for_customer(customer)
        self.fields["template"].label_from_instance = template_label

    def clean_variables(self) -> dict:
        return parse_variables(self.cleaned_data.get("variables"))


class CommentForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=5000, label="Comment")


def template_label(template) -> str:
    return f"{template.name} v{template.version}{' (premium)' if template.is_premium else ''}"


def parse_variables(raw: str | None) -> dict:
    raw = (raw or "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as error:
        raise forms.ValidationError(f"Not JSON: {error}")
    if not isinstance(value, dict):
        raise forms.ValidationError("Give a JSON object.")
    return value
