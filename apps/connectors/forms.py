import json

from django import forms

from apps.connectors.errors import ConnectionInvalid
from apps.connectors.kinds import kind_choices
from apps.connectors.models import Connection
from apps.connectors.services import connection_save_check


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

    acting_user = None  # set by the admin (``ConnectionAdmin.get_form``) to the person saving

    def clean(self) -> dict:
        """The services' save-time checks (private addresses, NUL characters, webhook rules), as form errors."""
        data = super().clean()
        kind, settings = data.get("kind") or self.instance.kind, data.get("settings")
        if kind and settings is not None and not self.errors:
            allow = data.get("allow_private_network", self.instance.allow_private_network)
            try:
                connection_save_check(
                    connection=self.instance if self.instance.pk else None, kind=kind, settings=settings,
                    credentials=data.get("new_credentials"), allow_private_network=allow,
                    acting_user=self.acting_user,
                )
            except ConnectionInvalid as error:
                field = error.field if error.field in self.fields else None
                if error.field in ("signing_secret", "credentials"):
                    field = "new_credentials"
                self.add_error(field, error.message)
        return data
