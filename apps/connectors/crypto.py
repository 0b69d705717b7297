"""Credentials at rest: Fernet tokens under the keys in settings (MultiFernet, so keys can rotate)."""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from apps.connectors.errors import CredentialsError

# Names of local variables that hold secrets in code that handles credentials. Views and services that do
# mark them with ``sensitive_variables(*SENSITIVE_NAMES)``: Django's error pages (the debug page, error
# e-mails) then show them masked in that frame and every frame it calls.
# The decorator's own frame holds the arguments as ``func_args``/``func_kwargs``: they are listed too.
SENSITIVE_NAMES = ("credentials", "merged", "secret", "password", "passphrase", "private_key", "headers", "token",
                   "data", "value", "plaintext", "raw", "target", "context", "new_credentials", "cleaned_data",
                   "func_args", "func_kwargs", "args", "kwargs", "client_secret", "code_verifier", "tokens",
                   "answer", "access_token", "refresh_token", "body", "pending", "kept")


def _fernet() -> MultiFernet:
    keys = settings.WEFT_CREDENTIAL_KEYS
    if not keys:
        raise CredentialsError("No credential keys are configured (WEFT_CREDENTIAL_KEYS).")
    return MultiFernet([Fernet(key) for key in keys])


@sensitive_variables(*SENSITIVE_NAMES)
def seal(credentials: dict) -> str:
    return _fernet().encrypt(json.dumps(credentials, sort_keys=True).encode()).decode()


@sensitive_variables(*SENSITIVE_NAMES)
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
