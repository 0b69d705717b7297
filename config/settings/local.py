"""Settings for ``make run`` on a developer's machine: the embedded database and demo domains."""

from config.env import derived_credential_key

from .base import *  # noqa: F403
from .base import SECRET_KEY, WEFT_EMAIL_BACKEND, WEFT_Q_SYNC

# DEBUG stays as base reads it (WEFT_DEBUG, off by default): the demo and the benchmarks run as production does,
# without the per-query bookkeeping and debug pages that would skew their numbers. WEFT_DEBUG=1 turns it on.
SECRET_KEY = SECRET_KEY or "weft-local-development-key-not-for-production"
# Mail lands in .weft/outbox as files, so escalations can be read without an SMTP server.
EMAIL_BACKEND = WEFT_EMAIL_BACKEND or "django.core.mail.backends.filebased.EmailBackend"
Q_CLUSTER["sync"] = bool(WEFT_Q_SYNC)  # noqa: F405
WHITENOISE_USE_FINDERS = True  # serve straight from static/ without collectstatic
WHITENOISE_AUTOREFRESH = True
# Without configured keys, local and test credentials are sealed with a key derived from SECRET_KEY.
WEFT_CREDENTIAL_KEYS = WEFT_CREDENTIAL_KEYS or [derived_credential_key(SECRET_KEY)]  # noqa: F405
