"""Leadbrain settings: everything comes from the environment (see .env.example)."""

import ipaddress
import os
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from core.crypto import check_production

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
if (BASE_DIR / ".run" / "env").exists():
    # Written by scripts/services.py when it starts embedded/local services.
    environ.Env.read_env(BASE_DIR / ".run" / "env", overwrite=False)

if (BASE_DIR / ".run" / "dev-keys").exists():
    # Random development keys written by `make dev-keys` (make run and make test use them).
    environ.Env.read_env(BASE_DIR / ".run" / "dev-keys", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env(
    "SECRET_KEY", default="dev-insecure-leadbrain-secret-key-change-me-in-production-0123456789"
)
# Fernet keys of the stored secrets (Vici API passwords), comma-separated, the current
# first (core/crypto.py); unset: derived from SECRET_KEY, which only DEBUG accepts.
FIELD_ENCRYPTION_KEY = env("FIELD_ENCRYPTION_KEY", default="")
# With DEBUG off, a missing, short or published SECRET_KEY, or no FIELD_ENCRYPTION_KEY,
# stops every process here (ImproperlyConfigured).
check_production(debug=DEBUG, secret_key=SECRET_KEY, field_key=FIELD_ENCRYPTION_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django_prometheus",
    "core.admin_apps.LeadbrainAdminConfig",  # django.contrib.admin, the dashboard its first page
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "django_celery_beat",
    "core",
    "leads",
    "dialer",
    "broadcast",
    "routing",
    "calllogs",
    "axes",  # admin login lockout (django-axes)
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.middleware.RequestIdMiddleware",
    "core.middleware.BodySizeLimitMiddleware",
    "core.middleware.RejectNulMiddleware",
    "core.ratelimit.ConcurrencySlotMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {
    "default": env.db_url(
        "DATABASE_URL",
        default="postgres://postgres@127.0.0.1:5432/leadbrain",
        engine="core.pgbackend",
    ),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Short OLTP queries: PostgreSQL's JIT compiles for tens of milliseconds when the planner's
# estimate is large (a claim over millions of rows), costing more than the query itself.
DATABASES["default"].setdefault("OPTIONS", {})
DATABASES["default"]["OPTIONS"]["options"] = (
    DATABASES["default"]["OPTIONS"].get("options", "") + " -c jit=off"
).strip()
DATABASES["default"]["TEST"] = {"NAME": env("TEST_DATABASE_NAME", default="test_leadbrain")}
# A read replica (streaming standby) for the views marked @use_replica (core/db_router.py):
# agent pages and GET list endpoints. Empty: everything reads the primary.
if env("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = env.db_url("DATABASE_REPLICA_URL", engine="core.pgbackend")
    DATABASES["replica"]["CONN_MAX_AGE"] = DATABASES["default"]["CONN_MAX_AGE"]
    DATABASES["replica"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["replica"].setdefault("OPTIONS", {})
    # A replica that does not answer costs at most this long before the primary is used.
    DATABASES["replica"]["OPTIONS"].setdefault("connect_timeout", 2)
    DATABASES["replica"]["OPTIONS"]["options"] = (
        DATABASES["replica"]["OPTIONS"].get("options", "") + " -c jit=off"
    ).strip()
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["core.db_router.ReplicaRouter"]
# Hot lookups PREPAREd once per connection and run with their generic plan (core/prepared.py).
# Off behind a pooler in transaction mode (PgBouncer's pool_mode = transaction): the server
# connection of an EXECUTE may not be the one that saw the PREPARE.
DB_PREPARED_STATEMENTS = env.bool("DB_PREPARED_STATEMENTS", default=True)
# A replica further behind than this is not read (the primary answers instead).
DATABASE_REPLICA_MAX_LAG_SECONDS = env.float("DATABASE_REPLICA_MAX_LAG_SECONDS", default=10.0)
# How long a web process trusts its last check of the replica (reachable, lag).
DATABASE_REPLICA_CHECK_SECONDS = env.float("DATABASE_REPLICA_CHECK_SECONDS", default=5.0)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
# The test suite runs in parallel (pytest-xdist): worker gwN gets Redis database base+N+1 for
# its cache, locks, counters and Celery broker, as pytest-django gives it a database of its
# own. Only in a pytest process: the workers and web servers that tests start get the
# shifted URL passed to them.
if "pytest" in sys.modules and os.environ.get("PYTEST_XDIST_WORKER", "").startswith("gw"):
    _url = urlsplit(REDIS_URL)
    _db = int(_url.path.strip("/") or 0) + int(os.environ["PYTEST_XDIST_WORKER"][2:]) + 1
    REDIS_URL = urlunsplit(_url._replace(path=f"/{_db}"))
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="lb"),
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Everyone signs in at /login/ (agents only there: they are not staff); the admin has its own.
LOGIN_URL = "leads-page:login"
LOGIN_REDIRECT_URL = "leads-page:queue"
LOGOUT_REDIRECT_URL = "leads-page:login"

# Login lockout (django-axes): LOGIN_FAILURE_LIMIT failed logins for one username from one
# address lock that pair out for LOGIN_LOCKOUT_MINUTES (a 429 page); a successful login
# before that resets the count. Attempts live in the database (Axes > Access attempts, where
# an admin can also unlock): shared by every process, kept through a Redis outage. The
# address is the socket's peer (REMOTE_ADDR), never a forwarded header a client can write.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_VERBOSE = False
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/lockout.html"
AXES_CLIENT_IP_CALLABLE = "core.access.client_ip"

# Bodies over this size get a 413 (default 4 MB).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_BODY_BYTES", default=4 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE
DATA_UPLOAD_MAX_NUMBER_FIELDS = 20000
# JSON nested deeper than this (API bodies, webhooks, admin JSON fields) is refused with a 400.
JSON_MAX_DEPTH = env.int("JSON_MAX_DEPTH", default=32)

# Security (see README: check --deploy notes)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "leads.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "core.api.CursorPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "core.parsers.JSONParser",  # DRF's, with a nesting limit
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "UNAUTHENTICATED_USER": None,
    # Per-workspace rate and concurrency of API-key requests (leads/throttling.py).
    "DEFAULT_THROTTLE_CLASSES": ["leads.throttling.WorkspaceThrottle"],
}
# API limits per workspace; a workspace's own fields (admin) override these. 0: no limit.
# Requests per minute (sliding window), for all of a workspace's keys together.
API_RATE_PER_MINUTE = env.int("API_RATE_PER_MINUTE", default=1200)
# Requests in flight at once. Keep it below the web capacity (WEB_CONCURRENCY x WEB_THREADS x
# hosts), so a flooding workspace cannot take every worker from the others.
API_MAX_CONCURRENT = env.int("API_MAX_CONCURRENT", default=4)
# A concurrency slot not released after this long (a crashed or killed request) stops
# counting. At least the longest request (gunicorn's timeout is 60 s).
API_CONCURRENCY_SLOT_SECONDS = env.int("API_CONCURRENCY_SLOT_SECONDS", default=90)
# A key refused for its rate is refused again by the same web process, before Django, for
# this long (never past its Retry-After): a flood of refused requests costs a dict lookup
# each. 0: every request asks Redis. A raised limit applies after it.
API_REFUSAL_MEMO_SECONDS = env.float("API_REFUSAL_MEMO_SECONDS", default=1.0)
# The connection of a request refused that way is not read again for this long (never past
# its Retry-After; core.parking): a client ignoring Retry-After gets one answer per
# connection per this many seconds. 0: off. Set 0 behind a proxy that sends many clients'
# requests over shared upstream connections (give the proxy a per-key limit instead).
API_REFUSAL_PARK_SECONDS = env.float("API_REFUSAL_PARK_SECONDS", default=1.0)
SPECTACULAR_SETTINGS = {
    "TITLE": "Leadbrain API",
    "DESCRIPTION": "Lead intake, routing, dialer, call logs and broadcast.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The lead's status appears in several answers (lead, lead detail, desk): one name.
    "ENUM_NAME_OVERRIDES": {"LeadStatusEnum": "leads.models.Lead.Status"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.openapi.error_responses_hook",  # the error answers of every operation
    ],
}

# --- Celery -------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Every task has a time limit (a stuck query or request frees its worker): the soft one
# raises SoftTimeLimitExceeded in the task, the hard one kills the process (prefork pool).
# Tasks that run long on purpose (dispatcher, routing drain, syncs) set their own.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=90)
LEADBRAIN_QUEUES = ["default", "intake", "routing", "dialer", "calllogs", "broadcast"]

# --- Leads --------------------------------------------------------------------------------
PHONE_DEFAULT_REGION = env("PHONE_DEFAULT_REGION", default="US")
DEDUPE_WINDOW_DAYS = env.int("DEDUPE_WINDOW_DAYS", default=30)
BULK_MAX_ROWS = env.int("BULK_MAX_ROWS", default=1000)
# Concurrent single-lead posts of one web process and workspace share one intake batch of
# at most this many (group commit, leads.intake.lead_ingest_one); 0 or 1: each alone.
INTAKE_GROUP_MAX = env.int("INTAKE_GROUP_MAX", default=100)
# The admin CSV import refuses larger files (it streams them in batches of 1,000 rows).
CSV_IMPORT_MAX_BYTES = env.int("CSV_IMPORT_MAX_BYTES", default=50 * 1024 * 1024)
IDEMPOTENCY_TTL_HOURS = env.int("IDEMPOTENCY_TTL_HOURS", default=24)
# The dashboard's hourly intake counts (leads_intakecount) older than this many days are
# deleted by the nightly maintenance (0: kept forever). The dashboard reads the last 24 hours.
INTAKE_COUNTS_KEEP_DAYS = env.int("INTAKE_COUNTS_KEEP_DAYS", default=35)
ARCHIVE_RETENTION_DAYS = env.int("ARCHIVE_RETENTION_DAYS", default=90)
PARTITION_MONTHS_AHEAD = env.int("PARTITION_MONTHS_AHEAD", default=3)
# Beat's "core: analyze young partitions" (every few seconds) analyzes a partition once it
# holds this many live rows and has no statistics yet, or twice the rows of its last
# analysis (core.partitions.partitions_analyze_young).
PARTITION_ANALYZE_MIN_ROWS = env.int("PARTITION_ANALYZE_MIN_ROWS", default=1000)
# --- Cold storage (leads/cold_storage.py) -------------------------------------------------
# Archived partitions wholly older than this many days are exported to gzip CSV files in
# COLD_STORAGE_DIR (with a manifest each) and dropped from the database; 0: never. Dedupe
# does not see cold leads, so it must be at least the longest dedupe window (DEDUPE_WINDOW_DAYS
# and every workspace's): `manage.py check` and the nightly run refuse a shorter one.
COLD_STORAGE_AFTER_DAYS = env.int("COLD_STORAGE_AFTER_DAYS", default=365)
# Folder of the cold files (relative to the checkout unless absolute). Back it up too.
COLD_STORAGE_DIR = str(BASE_DIR / (env("COLD_STORAGE_DIR", default="") or "var/cold"))

# --- Backups (core/backups.py; make backup / make restore) --------------------------------
# Folder of the nightly backups (one sub-folder per backup; relative to the checkout unless
# absolute); empty: no nightly backup.
BACKUP_DIR = env("BACKUP_DIR", default="var/backups")
BACKUP_DIR = str(BASE_DIR / BACKUP_DIR) if BACKUP_DIR else ""
# Backups kept: the nightly task deletes all but the newest this many.
BACKUP_KEEP = env.int("BACKUP_KEEP", default=7)
# Folder of pg_dump/pg_restore (the server's major version); empty: found on PATH.
PG_BIN_DIR = env("PG_BIN_DIR", default="")

# A lead not routed within this many hours expires (0: never).
LEAD_EXPIRY_HOURS = env.int("LEAD_EXPIRY_HOURS", default=72)

# --- Routing ------------------------------------------------------------------------------
ROUTING_LOCK_TIMEOUT_SECONDS = env.int("ROUTING_LOCK_TIMEOUT_SECONDS", default=300)
ROUTING_BATCH_SIZE = env.int("ROUTING_BATCH_SIZE", default=500)
# Intake wakes routing at most once per window; the woken task routes the whole pending set.
ROUTING_WAKE_SECONDS = env.float("ROUTING_WAKE_SECONDS", default=0.05)
# The woken task keeps routing what arrives every window until nothing has come for this long.
ROUTING_LINGER_SECONDS = env.float("ROUTING_LINGER_SECONDS", default=1.0)
# After a partial batch the task's next pass starts this long after the last one started.
ROUTING_PASS_GAP_SECONDS = env.float("ROUTING_PASS_GAP_SECONDS", default=0.05)
ROUTING_MAX_ATTEMPTS = env.int("ROUTING_MAX_ATTEMPTS", default=5)
# Slug of a holding workspace for leads no rule takes; empty: they stay "unrouted".
ROUTING_FALLBACK_WORKSPACE = env("ROUTING_FALLBACK_WORKSPACE", default="")

# --- Dialer -------------------------------------------------------------------------------
DIALER_BATCH_SIZE = env.int("DIALER_BATCH_SIZE", default=100)
DIALER_MAX_ATTEMPTS = env.int("DIALER_MAX_ATTEMPTS", default=8)
# An item in flight longer than this (a crashed drain) is claimed again.
DIALER_LEASE_SECONDS = env.int("DIALER_LEASE_SECONDS", default=300)
# Lead statuses set here (not by VICIdial) that are mirrored to the Vici lead's status.
DIALER_STATUS_MAP = env.dict(
    "DIALER_STATUS_MAP",
    default={"dnc": "DNC", "suppressed": "DNC", "sale": "SALE", "not_interested": "NI"},
)

# --- Call logs ----------------------------------------------------------------------------
CALLLOGS_SYNC_OVERLAP_MINUTES = env.int("CALLLOGS_SYNC_OVERLAP_MINUTES", default=15)

# --- Broadcast ----------------------------------------------------------------------------
BROADCAST_DEFAULT_WINDOW = env("BROADCAST_DEFAULT_WINDOW", default="09:00-21:00")
# Enrollment writes this many leads per transaction (COPY into a staging table).
BROADCAST_ENROLL_BATCH = env.int("BROADCAST_ENROLL_BATCH", default=10_000)
# The dispatcher: devices claimed per query, concurrent sends per process, how far ahead a
# device is claimed (its send still waits for its turn), and how long one dispatch task runs.
BROADCAST_CLAIM_BATCH = env.int("BROADCAST_CLAIM_BATCH", default=200)
BROADCAST_SEND_CONCURRENCY = env.int("BROADCAST_SEND_CONCURRENCY", default=64)
BROADCAST_LOOKAHEAD_SECONDS = env.float("BROADCAST_LOOKAHEAD_SECONDS", default=1.0)
BROADCAST_DISPATCH_SECONDS = env.float("BROADCAST_DISPATCH_SECONDS", default=55.0)
# A dispatch task with nothing due for this long ends early (beat starts the next).
BROADCAST_IDLE_EXIT_SECONDS = env.float("BROADCAST_IDLE_EXIT_SECONDS", default=10.0)
# A device in flight longer than this (a dead dispatcher) is recovered.
BROADCAST_LEASE_SECONDS = env.int("BROADCAST_LEASE_SECONDS", default=120)
BROADCAST_GATEWAY_TIMEOUT = env.float("BROADCAST_GATEWAY_TIMEOUT", default=10.0)
BROADCAST_MAX_ATTEMPTS = env.int("BROADCAST_MAX_ATTEMPTS", default=5)
BROADCAST_RETRY_BASE_SECONDS = env.float("BROADCAST_RETRY_BASE_SECONDS", default=60.0)
# Consecutive failed sends that pause a device.
BROADCAST_DEVICE_MAX_FAILURES = env.int("BROADCAST_DEVICE_MAX_FAILURES", default=5)
# A device paused for transient failures is probed (the session status) after about this many
# seconds, doubling (with jitter) after each probe the gateway does not answer, up to the max.
BROADCAST_PROBE_BASE_SECONDS = env.float("BROADCAST_PROBE_BASE_SECONDS", default=10.0)
BROADCAST_PROBE_MAX_SECONDS = env.float("BROADCAST_PROBE_MAX_SECONDS", default=600.0)
BROADCAST_OPT_OUT_KEYWORDS = env.list(
    "BROADCAST_OPT_OUT_KEYWORDS",
    default=[
        "STOP",
        "STOPALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        "OPTOUT",
        "OPT OUT",
        "REMOVE",
        "PARAR",
        "BAJA",
    ],
)

# --- /health and /metrics -----------------------------------------------------------------
# The graded /health report and /metrics need this bearer token (header or ?token=) or a
# client address in METRICS_ALLOWED_IPS (CIDRs); anyone else gets {"status": "ok"|"down"}.
METRICS_TOKEN = env("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])
for _cidr in METRICS_ALLOWED_IPS:  # a typo fails at start, not at the first scrape
    try:
        ipaddress.ip_network(_cidr.strip(), strict=False)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_IPS: {_exc}")
# The probes (counts over big tables) run at most once per this many seconds, all processes.
DASHBOARD_CACHE_SECONDS = env.int("DASHBOARD_CACHE_SECONDS", default=5)
PROBE_CACHE_SECONDS = env.int("PROBE_CACHE_SECONDS", default=20)

# --- /health thresholds (green below the first, red above the second) ----------------------
HEALTH_THRESHOLDS = {
    "leads_per_day": (
        env.int("HEALTH_LEADS_DAY_YELLOW", default=10_000),
        env.int("HEALTH_LEADS_DAY_RED", default=25_000),
    ),
    "vici_calls_per_hour": (
        env.int("HEALTH_VICI_CALLS_HOUR_YELLOW", default=500),
        env.int("HEALTH_VICI_CALLS_HOUR_RED", default=1_000),
    ),
    "database_bytes": (
        env.int("HEALTH_DB_BYTES_YELLOW", default=10 * 1024**3),
        env.int("HEALTH_DB_BYTES_RED", default=50 * 1024**3),
    ),
    "queue_depth": (
        env.int("HEALTH_QUEUE_YELLOW", default=1_000),
        env.int("HEALTH_QUEUE_RED", default=5_000),
    ),
    "api_p95_ms": (
        env.int("HEALTH_API_P95_YELLOW", default=200),
        env.int("HEALTH_API_P95_RED", default=500),
    ),
    # SLOs (over SLO_WINDOW_SECONDS; see README "Alerts"). A queue named here has its own
    # threshold instead of queue_depth's.
    "queue_routing_retry": (
        env.int("HEALTH_RETRY_QUEUE_YELLOW", default=100),
        env.int("HEALTH_RETRY_QUEUE_RED", default=1_000),
    ),
    "routing_latency_p95_seconds": (
        env.float("HEALTH_ROUTING_P95_YELLOW", default=2.0),
        env.float("HEALTH_ROUTING_P95_RED", default=5.0),
    ),
    "dialer_error_ratio": (
        env.float("HEALTH_DIALER_ERRORS_YELLOW", default=0.05),
        env.float("HEALTH_DIALER_ERRORS_RED", default=0.20),
    ),
    "dialer_push_lag_p95_seconds": (
        env.float("HEALTH_PUSH_LAG_YELLOW", default=360.0),
        env.float("HEALTH_PUSH_LAG_RED", default=900.0),
    ),
    "calllogs_webhook_apply_lag_seconds": (
        env.float("HEALTH_WEBHOOK_LAG_YELLOW", default=60.0),
        env.float("HEALTH_WEBHOOK_LAG_RED", default=600.0),
    ),
    "broadcast_send_lag_p95_seconds": (
        env.float("HEALTH_SEND_LAG_YELLOW", default=300.0),
        env.float("HEALTH_SEND_LAG_RED", default=1800.0),
    ),
    # Pacing violations must stay 0: any is red.
    "broadcast_pacing_violations": (1, 0),
}
# Graded the other way: yellow below the first, red below the second.
HEALTH_THRESHOLDS_LOW = {
    "routing_success_ratio": (
        env.float("HEALTH_ROUTING_SUCCESS_YELLOW", default=0.95),
        env.float("HEALTH_ROUTING_SUCCESS_RED", default=0.90),
    ),
    "routing_lock_ratio": (
        env.float("HEALTH_ROUTING_LOCK_YELLOW", default=0.95),
        env.float("HEALTH_ROUTING_LOCK_RED", default=0.80),
    ),
}
# The window of the SLO figures (rates, p95s) on /health and /metrics.
SLO_WINDOW_SECONDS = env.int("SLO_WINDOW_SECONDS", default=900)
# Requests slower than this are logged (leadbrain.slow: route, workspace, SQL count).
SLOW_REQUEST_MS = env.int("SLOW_REQUEST_MS", default=500)

# --- Alerts (core/alerts; channels are set in admin) ---------------------------------------
ALERTS_FROM_EMAIL = env("ALERTS_FROM_EMAIL", default="leadbrain-alerts@localhost")
ALERTS_WEBHOOK_TIMEOUT = env.float("ALERTS_WEBHOOK_TIMEOUT", default=10.0)
# Routing failures alert above this share of the claimed leads (with at least MIN_LEADS).
ALERT_ROUTING_FAILURE_RATIO = env.float("ALERT_ROUTING_FAILURE_RATIO", default=0.05)
ALERT_ROUTING_MIN_LEADS = env.int("ALERT_ROUTING_MIN_LEADS", default=10)
# Outbox items still failing after this many attempts alert (dead ones always do).
ALERT_OUTBOX_FAILING_ATTEMPTS = env.int("ALERT_OUTBOX_FAILING_ATTEMPTS", default=3)
# Django's mail backend (SMTP) for e-mail channels.
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}
