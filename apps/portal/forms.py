"""Forms of the partner site and the customer portal; they validate input, services apply the rules."""

from __future__ import annotations

from django import forms
from django.urls import reverse
from django.utils.text import slugify

from apps.accelerators.forms import VARIABLE, TemplateVariablesForm
from apps.connectors.forms import SECRET, SETTING, declared_fields, kind_class_or_none
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


class OnboardForm(TemplateVariablesForm):
    """A new customer, its plan, and a template to install with its typed fields (shown once it is chosen:
    ``partner.onboard_template_variables``)."""

    name = forms.CharField(max_length=120)
    slug = forms.CharField(max_length=48, help_text="Lower-case letters, digits and hyphens; names the schema.")
    domain = forms.CharField(max_length=253, required=False, help_text="Blank: <slug>.<your domain suffix>.")
    admin_email = forms.EmailField(label="First customer admin's email")
    plan = forms.ModelChoiceField(queryset=Plan.objects.none(), required=False, empty_label="No plan")
    template = forms.ModelChoiceField(queryset=None, required=False, empty_label="No template yet")
    field_order = ["name", "slug", "domain", "admin_email", "plan", "template"]
    fields_follow_choice = True

    def __init__(self, *args, partner: Partner, template=None, **kwargs):
        super().__init__(*args, customer=Customer(partner=partner), template=template, **kwargs)
        self.fields["plan"].queryset = plans_for_partner(partner, active_only=True)
        self.fields["template"].label = "Template"
        self.fields["template"].widget.attrs.update({
            "hx-get": reverse("partner-onboard-template-variables"), "hx-trigger": "change", "hx-include": "this",
            "hx-target": "#template-variables", "hx-swap": "innerHTML"})

    def customer_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if not name.startswith(VARIABLE)]


class CommentForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=5000, label="Comment")


class ApiKeyCreateForm(forms.Form):
    """A new API key on the partner site (for the partner or one of its customers) or in a customer's portal."""

    name = forms.CharField(max_length=100, help_text='What the key is for, such as "Billing sync".')
    owner = forms.ChoiceField(label="For", help_text="A partner key reaches every customer and the partner API; "
                                                     "a customer key one customer's API.")
    scopes = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, help_text="Write includes read.")
    expires_in_days = forms.IntegerField(required=False, min_value=1, max_value=3650, label="Expires after (days)",
                                         help_text="Empty: never expires.")
    rate_limit_per_minute = forms.IntegerField(min_value=1, max_value=100_000, initial=600)

    def __init__(self, *args, owners: list[tuple[str, str]], scopes: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = owners
        self.fields["scopes"].choices = [(scope, scope) for scope in scopes]
# --- the setup wizard (apps/portal/views/wizard.py) ------------------------------------------------------------
class WizardCustomerForm(forms.Form):
    name = forms.CharField(max_length=120, label="Customer's name", help_text="As the customer calls itself.")
    slug = forms.SlugField(max_length=48, required=False, label="Short name",
                           help_text="Lower-case letters, digits and hyphens; names its space and its domain. "
                                     "Blank: made from the name.")
    admin_email = forms.EmailField(label="First customer admin's e-mail",
                                   help_text="They get the customer's own admin login.")

    def clean(self):
        data = super().clean()
        if data.get("name") and not data.get("slug"):
            data["slug"] = slugify(data["name"])[:48].strip("-")
        return data


class WizardDomainForm(forms.Form):
    domain = forms.CharField(max_length=253, label="Domain", help_text="Where the customer's portal and admin live; "
                             "the suggestion works at once, a custom domain needs DNS pointed here.")
    plan = forms.ModelChoiceField(queryset=Plan.objects.none(), required=False, empty_label="No plan (nothing gated)")

    def __init__(self, *args, partner: Partner, may_choose_plan: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if may_choose_plan:
            self.fields["plan"].queryset = plans_for_partner(partner, active_only=True)
        else:
            del self.fields["plan"]  # plans are the partner admin's to sell


class TemplateForm(TemplateVariablesForm):
    """"Install a template" on a customer's page: the same typed fields as the wizard's, shown once a template is
    chosen (``partner.customer_template_variables`` answers the select's change with them)."""

    fields_follow_choice = True

    def __init__(self, *args, customer: Customer, template=None, **kwargs):
        super().__init__(*args, customer=customer, template=template, **kwargs)
        self.fields["template"].label = "Template"
        self.fields["template"].widget.attrs.update({
            "hx-get": reverse("partner-customer-template-variables", args=[customer.slug]), "hx-trigger": "change",
            "hx-include": "this", "hx-target": "#template-variables", "hx-swap": "innerHTML"})


class ConnectionSetupForm(forms.Form):
    """One connection in the wizard: on or off, and its kind's typed settings and write-only secrets (the same
    fields as the admin's connection form, ``apps.connectors.forms.declared_fields``)."""

    is_enabled = forms.BooleanField(required=False, label="Enabled (runs may use it)")

    def __init__(self, *args, connection, **kwargs):
        super().__init__(*args, prefix=f"c{connection.pk}", **kwargs)
        self.connection, self.kind_class = connection, kind_class_or_none(connection.kind)
        self.fields["is_enabled"].initial = connection.is_enabled
        if self.kind_class is not None:
            self.fields.update(declared_fields(self.kind_class, connection))

    def main_fields(self):
        """Required or already set settings and secrets: shown first; the rest under "More settings"."""
        return [f for f in self if f.name == "is_enabled" or not self._optional(f)]

    def more_fields(self):
        return [f for f in self if f.name != "is_enabled" and self._optional(f)]

    def _optional(self, bound) -> bool:
        """A setting or secret the kind does not require and nobody has set (a local folder needs no SFTP key)."""
        if bound.name.startswith(SETTING):
            specs, name = self.kind_class.settings_fields, bound.name[len(SETTING):]
            if bound.initial not in (None, ""):
                return False
        else:
            specs, name = self.kind_class.credential_fields, bound.name[len(SECRET):]
            if self.connection.has_credentials:
                return False
        return not next(s for s in specs if s.name == name).required

    def changes(self) -> tuple[dict, dict]:
        """``(changes, credentials)`` for ``connection_update``: typed settings merged into the stored ones (a
        blank one removed), secrets only where typed."""
        settings = dict(self.connection.settings or {})
        for name, value in self.cleaned_data.items():
            if name.startswith(SETTING):
                if value in (None, ""):
                    settings.pop(name[len(SETTING):], None)
                else:
                    settings[name[len(SETTING):]] = value
        secrets = {name[len(SECRET):]: value for name, value in self.cleaned_data.items()
                   if name.startswith(SECRET) and value}
        return {"settings": settings, "is_enabled": self.cleaned_data["is_enabled"]}, secrets
