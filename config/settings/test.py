"""Settings for the test suite: real PostgreSQL, django-q2 in sync mode unless a test starts a cluster."""

from config.env import derived_credential_key

from .base import *  # noqa: F403
from .base import SECRET_KEY, WEFT_Q_SYNC

SECRET_KEY = SECRET_KEY or "weft-test-key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only; never in production
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# django-q2 reads "sync" once when settings load; tests that need a real cluster start one with
# WEFT_Q_SYNC=0 in its environment.
Q_CLUSTER["sync"] = True if WEFT_Q_SYNC is None else WEFT_Q_SYNC  # noqa: F405
Q_CLUSTER["catch_up"] = False  # noqa: F405
WEFT_TASK_MODULE_PREFIXES = ("apps.", "tests.")  # tests queue probe tasks of their own
WEFT_PUBLIC_HOSTS = ["localhost", "testserver"]
WHITENOISE_USE_FINDERS = True  # serve straight from static/ without collectstatic
WHITENOISE_AUTOREFRESH = True
WEFT_CREDENTIAL_KEYS = WEFT_CREDENTIAL_KEYS or [derived_credential_key(SECRET_KEY)]  # noqa: F405
WEFT_USAGE_TALLY_SECONDS = 0  # every webhook's API call is written at once, so tests read exact counters
# Webhook events are handled as soon as a test runs their task; tests of the gathering window set it themselves.
WEFT_EVENT_GATHER_SECONDS = 0
