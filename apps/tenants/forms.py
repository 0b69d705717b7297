from django import forms
from django.contrib.auth.forms import AuthenticationForm

from apps.tenants import access
from apps.tenants.choices import Capability
from apps.tenants.models import Customer, Partner
from apps.tenants.signin import count_refused_sign_in


class OnboardingForm(forms.Form):
    partner = forms.ModelChoiceField(queryset=Partner.objects.none())
    slug = forms.CharField(max_length=48, help_text="Lower-case letters, digits and hyphens; names the schema.")
    name = forms.CharField(max_length=120)
    domain = forms.CharField(max_length=253, required=False, help_text="Defaults to <slug>.<partner domain suffix>.")
    admin_email = forms.EmailField(label="First customer admin's email")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["partner"].queryset = access.partners_administered_by(user, "customer.onboard")


class SiteAuthenticationForm(AuthenticationForm):
    """Login for the portal and partner site: a person without access here gets the invalid-login answer."""

    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        tenant = getattr(self.request, "tenant", None)
        if tenant is not None and tenant.kind == "firm":
            allowed = access.user_can(user, tenant, Capability.VIEW)
        else:
            partner = getattr(self.request, "partner", None)
            allowed = user.is_superuser or (partner is not None and bool(access.capabilities_on_partner(user, partner)))
        if not allowed:
            count_refused_sign_in(self.request, user.get_username())
            raise forms.ValidationError(
                self.error_messages["invalid_login"], code="invalid_login",
                params={"username": self.username_field.verbose_name},
            )


class ApiKeyForm(forms.Form):
    """A new API key: for a partner (all its customers and the partner API) or for one customer."""

    name = forms.CharField(max_length=100, help_text="What the key is for, such as \"Billing sync\".")
    partner = forms.ModelChoiceField(queryset=Partner.objects.none(), required=False,
                                     help_text="A partner key: every customer of the partner, and the partner API.")
    customer = forms.ModelChoiceField(queryset=Customer.objects.none(), required=False,
                                      help_text="A customer key: this customer only.")
    scopes = forms.MultipleChoiceField(choices=[(s, s) for s in access.key_scopes(partner_key=True)],
                                       widget=forms.CheckboxSelectMultiple,
                                       help_text="Write includes read. customers:* is for partner keys only.")
    expires_at = forms.DateTimeField(required=False, help_text="YYYY-MM-DD HH:MM (UTC). Empty: never expires.")
    rate_limit_per_minute = forms.IntegerField(min_value=1, max_value=100_000, initial=600)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["partner"].queryset = access.partners_administered_by(user, "apikey.manage")
        self.fields["customer"].queryset = access.customers_for_user(user).filter(
            partner__in=access.partners_administered_by(user, "apikey.manage"))

    def clean(self):
        data = super().clean()
        if bool(data.get("partner")) == bool(data.get("customer")):
            raise forms.ValidationError("Choose a partner or a customer, not both.")
        return data
