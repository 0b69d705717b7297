import json

from django import forms

from apps.connectors.kinds import kind_choices
from apps.connectors.models import Connection


class ConnectionAdminForm(forms.ModelForm):
    """Secrets are entered here and never shown again: the field is always blank when the form opens."""

    kind = forms.ChoiceField(choices=())
    new_credentials = forms.CharField(
        label="Credentials", required=False, widget=forms.PasswordInput(render_value=False),
        help_text='JSON, e.g. {"access_token": "…"}; leave blank to keep what is stored. Never shown again.',
    )

    class Meta:
        model = Connection
        fields = ["name", "slug", "kind", "description", "is_enabled", "settings", "allow_private_network"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = kind_choices()

    def clean_new_credentials(self) -> dict | None:
        raw = self.cleaned_data.get("new_credentials", "").strip()
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            raise forms.ValidationError("Enter the credentials as a JSON object.") from None
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise forms.ValidationError("Credentials must be a JSON object of text values.")
        return value
