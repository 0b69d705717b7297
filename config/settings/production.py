"""Production settings: any PostgreSQL via DATABASE_URL, HTTPS behind a reverse proxy."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import SECRET_KEY, WEFT_CREDENTIAL_KEYS

if not SECRET_KEY or len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("Set WEFT_SECRET_KEY to a random string of at least 50 characters.")

if not WEFT_CREDENTIAL_KEYS:
    raise ImproperlyConfigured(
        "Set WEFT_CREDENTIAL_KEYS (comma-separated Fernet keys) to encrypt connection credentials."
    )

DEBUG = False
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = True
SECURE_HSTS_SECONDS = 31536000
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "config.storage.StaticFilesStorage"},
}
