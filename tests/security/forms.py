"""Turn an admin form back into the POST body a browser would send: what an attacker replays."""

from __future__ import annotations

from django.forms import FileField, MultiWidget


def form_data(form) -> dict:
    """The form's current values as form-encoded data (checkboxes present only when ticked)."""
    data: dict = {}
    for name, field in form.fields.items():
        if isinstance(field, FileField):
            continue  # an upload left empty keeps what is stored
        value = form[name].value()
        if isinstance(field.widget, MultiWidget):
            parts = value if isinstance(value, list | tuple) else field.widget.decompress(value)
            data.update({f"{name}_{i}": "" if part is None else part for i, part in enumerate(parts)})
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        elif isinstance(value, list | tuple):
            data[name] = [str(v) for v in value]
        elif value is not None:
            data[name] = value
    return data
