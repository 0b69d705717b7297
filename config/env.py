"""Typed readers for environment variables that fail loudly on malformed values.

Only ``config/settings/base.py`` calls these, so every setting that comes from the environment is
listed in one file.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

_MISSING = object()
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str, default):
    value = os.environ.get(name)
    if value is None:
        if default is _MISSING:
            raise ImproperlyConfigured(f"Set the environment variable {name}.")
        return None
    return value


def env_str(name: str, default=_MISSING) -> str | None:
    value = _raw(name, default)
    return default if value is None else value


def env_bool(name: str, default: bool | object = _MISSING) -> bool:
    value = _raw(name, default)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {value!r}.")


def env_int(name: str, default: int | object = _MISSING) -> int:
    value = _raw(name, default)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}.") from None


def env_list(name: str, default: list[str] | object = _MISSING) -> list[str]:
    value = _raw(name, default)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def derived_credential_key(secret_key: str) -> str:
    """A Fernet key derived from SECRET_KEY, for local and test use only."""
    import base64
    import hashlib

    return base64.urlsafe_b64encode(hashlib.sha256(f"weft-credentials:{secret_key}".encode()).digest()).decode()
