import json

from django import forms

from apps.connectors.errors import ConnectionInvalid, UnknownKindError
from apps.connectors.kinds import get_kind, kind_choices
from apps.connectors.models import Connection
from apps.connectors.services import connection_save_check

SETTING, SECRET = "setting__", "secret__"  # prefixes of the fields generated from a kind's FieldSpecs


def kind_class_or_none(slug):
    try:
        return get_kind(slug) if slug else None
    except UnknownKindError:
        return None


def _setting_field(spec) -> forms.Field:
    # Never required by the form: a connection saved before its kind declared a setting stays editable, and the
    # kind's own checks (``connection_save_check``, the Test button) say what is missing.
    common = {"label": spec.label + (" *" if spec.required else ""), "required": False, "help_text": spec.help}
    if spec.type == "int":
        return forms.IntegerField(min_value=0, max_value=10**9, **common)
    if spec.type == "url":
        return forms.URLField(assume_scheme="https", **common)
    if spec.type == "json":
        return forms.JSONField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), **common)
    return forms.CharField(max_length=2000, **common)


def _shown(spec, value):
    if value is None:
        return None
    return value if spec.type in ("json", "int") else str(value)


def declared_fields(kind_class, connection: Connection) -> dict[str, forms.Field]:
    """A typed field per setting and a write-only field per secret the kind declares (``FieldSpec``), named
    ``setting__<name>`` / ``secret__<name>``: the admin's connection form and the partner site's setup wizard."""
    stored, fields = connection.settings or {}, {}
    for spec in kind_class.settings_fields:
        field = _setting_field(spec)
        field.initial = _shown(spec, stored.get(spec.name))
        fields[SETTING + spec.name] = field
    for spec in kind_class.credential_fields:
        stored_note = "Stored; leave blank to keep it." if connection.has_credentials else "Not set yet."
        fields[SECRET + spec.name] = forms.CharField(
            label=spec.label, required=False, widget=forms.PasswordInput(render_value=False),
            help_text=" ".join(filter(None, [spec.help, stored_note, "Never shown again."])))
    return fields


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
        self.kind_class = kind_class_or_none(self.data.get("kind") or self.instance.kind or self.initial.get("kind"))
        if self.kind_class is not None:
            self._add_declared_fields(self.kind_class)
        if "settings" in self.fields:
            self.fields["settings"].required = False
            self.fields["settings"].help_text = ("Further settings as JSON (the fields above are merged into it). "
                                                 "Most connections need none.")

    def _add_declared_fields(self, kind_class) -> None:
        self.fields.update(declared_fields(kind_class, self.instance))

    def declared_fields_names(self) -> tuple[list[str], list[str]]:
        """The generated settings and secrets fields, for the admin's fieldsets."""
        return ([n for n in self.fields if n.startswith(SETTING)], [n for n in self.fields if n.startswith(SECRET)])

    def clean_settings(self):
        return self.cleaned_data.get("settings") or {}

    def _merge_declared(self, data: dict) -> None:
        """Typed settings go into ``settings`` (a blank one is removed); typed secrets into the new credentials."""
        if self.kind_class is None or data.get("settings") is None:
            return
        settings = dict(data["settings"]) if isinstance(data["settings"], dict) else data["settings"]
        for spec in self.kind_class.settings_fields:
            name = SETTING + spec.name
            if name in self.data and name in data and isinstance(settings, dict):  # only what the page sent
                if data[name] in (None, ""):
                    settings.pop(spec.name, None)
                else:
                    settings[spec.name] = data[name]
        data["settings"] = settings
        secrets = {spec.name: data.get(SECRET + spec.name) for spec in self.kind_class.credential_fields}
        secrets = {name: value for name, value in secrets.items() if value}
        if secrets:
            data["new_credentials"] = {**(data.get("new_credentials") or {}), **secrets}

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
        self._merge_declared(data)
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
