from django import forms
from django.contrib.auth.forms import AuthenticationForm

from apps.tenants import access
from apps.tenants.choices import Capability
from apps.tenants.models import Partner
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
