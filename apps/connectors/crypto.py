"""Credentials at rest: Fernet tokens under the keys in settings (MultiFernet, so keys can rotate)."""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from apps.connectors.errors import CredentialsError


def _fernet() -> MultiFernet:
    keys = settings.WEFT_CREDENTIAL_KEYS
    if not keys:
        raise CredentialsError("No credential keys are configured (WEFT_CREDENTIAL_KEYS).")
    return MultiFernet([Fernet(key) for key in keys])


def seal(credentials: dict) -> str:
    return _fernet().encrypt(json.dumps(credentials, sort_keys=True).encode()).decode()


def unseal(token: str) -> dict:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken:
        raise CredentialsError(
            "Stored credentials cannot be decrypted with the configured keys; re-enter them or restore the old key."
        ) from None


def reseal(token: str) -> str:
    """The same secret under the current primary key (key rotation)."""
    try:
        return _fernet().rotate(token.encode()).decode()
    except InvalidToken:
        raise CredentialsError("Stored credentials cannot be decrypted with the configured keys.") from None
