"""API keys over HTTP: ``Authorization: Bearer <key>`` and each key's rate limit."""

from __future__ import annotations

import math

from django.conf import settings
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, BasicAuthentication, get_authorization_header
from rest_framework.throttling import BaseThrottle

from apps.tenants import apikeys
from apps.tenants.models import ApiKey

REALM = 'Bearer realm="weft"'


class ApiKeyAuthentication(BaseAuthentication):
    """A Bearer key authenticates as the key's principal (``apps.tenants.apikeys``); the access module
    limits it to the key's reach and scopes. First in the list, so a request without credentials, or with
    bad ones of any kind, is answered 401 with ``WWW-Authenticate: Bearer``."""

    def authenticate(self, request):
        words = get_authorization_header(request).split()
        if not words or words[0].lower() != b"bearer":
            return None
        if len(words) != 2:
            raise exceptions.AuthenticationFailed("Send one key: Authorization: Bearer <key>.")
        try:
            token = words[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API key.")
        key = apikeys.apikey_for_token(token)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API key.")
        key.usage = apikeys.apikey_record_call(key)  # every call counts, refused ones too
        return key.principal, key

    def authenticate_header(self, request) -> str:
        return REALM


class ApiKeyRateLimit(BaseThrottle):
    """429 with ``Retry-After`` once a key has made its ``rate_limit_per_minute`` calls in the current minute."""

    def allow_request(self, request, view) -> bool:
        key = request.auth if isinstance(request.auth, ApiKey) else None
        usage = getattr(key, "usage", None)
        if usage is None:
            return True
        self.retry_after = max(1, math.ceil((usage.window_ends - timezone.now()).total_seconds()))
        return usage.calls <= key.rate_limit_per_minute

    def wait(self) -> float:
        return self.retry_after


class LockoutAwareBasicAuthentication(BasicAuthentication):
    """Basic auth (a person's password) that answers a locked-out username 429 with ``Retry-After``, as the sign-in
    pages do, rather than 401: a client told "wrong password" retries and stays locked out. django-axes marks the
    lock-out on the request it was handed, which here is DRF's, so its middleware never sees it."""

    def authenticate_credentials(self, userid, password, request=None):
        try:
            return super().authenticate_credentials(userid, password, request)
        except exceptions.AuthenticationFailed:
            if getattr(request, "axes_locked_out", False):
                raise exceptions.Throttled(wait=settings.AXES_COOLOFF_TIME.total_seconds(),
                                           detail=settings.AXES_COOLOFF_MESSAGE) from None
            raise


class ApiKeySchema(OpenApiAuthenticationExtension):
    """How the OpenAPI document describes API keys: HTTP Bearer."""

    target_class = ApiKeyAuthentication
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "weft_<prefix>_<secret>",
                "description": "An API key made in the partner admin (API keys); see docs/api.md."}


class LockoutAwareBasicSchema(OpenApiAuthenticationExtension):
    target_class = LockoutAwareBasicAuthentication  # drf-spectacular's own Basic scheme matches the exact class only
    name = "basicAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "basic"}
