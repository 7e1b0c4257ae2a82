"""Settings shared by every environment; everything that varies comes from the environment."""

import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("CS_VAR_DIR", BASE_DIR / "var"))

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
DEBUG = False
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "axes",
    "cs_platform",
    "customers",
    "usage",
    "segments",
    "health",
    "playbooks",
    "workspace",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Numbers, money, percentages and dates in the browser's language (Accept-Language),
    # among LANGUAGES; the product's own words stay English.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "cs_platform.middleware.LoginRequiredMiddleware",
    # Last: turns an attempt made while locked out into the lockout answer.
    "axes.middleware.AxesMiddleware",
]
# The web bench's SQL / Python split of each request (bench/web.py sets it).
if os.environ.get("CS_SERVER_TIMING") == "1":
    MIDDLEWARE.insert(0, "cs_platform.server_timing.ServerTimingMiddleware")

# axes' backend first: it refuses a locked-out account or address before any password is
# hashed (it needs the request: every caller of authenticate() passes it).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "cs_platform.urls"

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
                "cs_platform.context_processors.roles",
            ],
        },
    },
]

WSGI_APPLICATION = "cs_platform.wsgi.application"

# With no DATABASE_URL the embedded default is a SQLite file under var/.
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Busy timeout: web, worker and beat share one SQLite file in the embedded default.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
# The locales whose number and date formats pages follow (LocaleMiddleware picks one from
# the browser's Accept-Language; anything else gets LANGUAGE_CODE's).
LANGUAGES = [
    ("en", "English"),
    ("en-gb", "English (UK)"),
    ("de", "Deutsch"),
    ("fr", "Français"),
    ("es", "Español"),
    ("it", "Italiano"),
    ("nl", "Nederlands"),
    ("pt-br", "Português (Brasil)"),
]
TIME_ZONE = os.environ.get("CS_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Uploaded files (CRM import uploads and their rejected rows); read by the workers too.
MEDIA_ROOT = Path(os.environ.get("CS_MEDIA_ROOT", VAR_DIR / "media"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "cs-platform@localhost")

# --- Cache ------------------------------------------------------------------------------
# Shared by every process (web workers, Celery workers): the analytics figures the
# scheduled job computes, the debounce of the changed-accounts sweep. Redis with
# CACHE_URL (e.g. redis://host:6379/1); otherwise files under var/ (no server needed).
CACHE_URL = os.environ.get("CACHE_URL", "")
if CACHE_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# Sessions are read from the cache (written through to the database, which stays the
# record): a page costs one query fewer, and a session survives a cache flush.
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# --- Celery -----------------------------------------------------------------------------
# With no CELERY_BROKER_URL the embedded default is kombu's filesystem transport: no server.
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "celery" / "queue"
    # kombu does not create its folders; a fresh clone has none (var/ is git-ignored).
    _queue_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "store_processed": False,
        # Exchange bindings; kombu's default is "control" in the working directory.
        "control_folder": str(VAR_DIR / "celery" / "control"),
    }
else:
    # Redis emulates acks with a visibility timeout: a message a dead worker held comes
    # back after it. Nothing depends on it any more (the outbox re-sends a dead worker's
    # work when its lease runs out, and no task waits in the broker with a countdown), so
    # it is short, and a redelivery of a finished or running task does nothing.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "300")),
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 1,
        # A broker that does not answer must not hang a web request or the relay.
        "socket_connect_timeout": 3,
    }
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = False
# Two queues, so that a backlog of bulk work never delays what a user waits for.
# "interactive": re-evaluation of changed accounts (segments, health), publishes, the
# "now" buttons, the outbox relay; "bulk": recomputes of everything, playbook fan-out and
# execution, imports, analytics, scheduled rebuilds. A worker started without -Q takes
# both (the embedded default); production runs each queue's own workers.
CELERY_TASK_QUEUES = {"interactive": {}, "bulk": {}}
CELERY_TASK_DEFAULT_QUEUE = "bulk"
# Exact names first, then the patterns in order. A "now" button sends a bulk task to
# "interactive" through the outbox's queue argument (e.g. the renewal rebuild).
CELERY_TASK_ROUTES = (
    [
        ("cs_platform.outbox_relay", {"queue": "interactive"}),
        ("segments.evaluate_changed", {"queue": "interactive"}),
        ("segments.recompute", {"queue": "interactive"}),
        ("*.recompute_all", {"queue": "bulk"}),
        # The ranges and the end of a recompute of every segment (any number of workers).
        ("segments.recompute_range", {"queue": "bulk"}),
        ("segments.recompute_run_finish", {"queue": "bulk"}),
        ("health.*", {"queue": "interactive"}),
    ],
)

# --- Outbox (cs_platform.outbox) ------------------------------------------------------------
# A running task's lease: a worker that dies is noticed this long after its last heartbeat.
OUTBOX_LEASE_SECONDS = int(os.environ.get("OUTBOX_LEASE_SECONDS", "60"))
# A sent message not started within this (doubling with each send) is sent again.
OUTBOX_REDISPATCH_SECONDS = int(os.environ.get("OUTBOX_REDISPATCH_SECONDS", "60"))
# At most this many sent-but-not-started messages per queue in the broker; the rest wait
# in the outbox (a 100k-member playbook fan-out is not poured into Redis at once), and a
# worker finishing one sends the next. Keep it at least the number of bulk worker
# processes, and small enough that a message does not wait in Redis longer than
# OUTBOX_REDISPATCH_SECONDS (it would be sent twice; harmless, the second does nothing).
OUTBOX_QUEUE_WINDOWS = {"bulk": int(os.environ.get("OUTBOX_BULK_WINDOW", "8"))}
OUTBOX_KEEP_DONE_HOURS = 24
OUTBOX_KEEP_FAILED_DAYS = 14

# --- REST framework -----------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        # DRF's token and Basic auth, counted and refused by the login protection.
        "cs_platform.api.authentication.TokenAuthentication",
        # For scripts and the API fuzz run (-a user:pass); integrations should prefer tokens.
        "cs_platform.api.authentication.BasicAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "cs_platform.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "cs_platform.api.pagination.BoundedPageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": os.environ.get("API_THROTTLE_ANON", "60/min"),
        "user": os.environ.get("API_THROTTLE_USER", "6000/min"),
    },
    "EXCEPTION_HANDLER": "cs_platform.api.exceptions.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CS Platform API",
    "DESCRIPTION": "Accounts, contracts, segments, renewals, tasks and playbooks.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs pages load Swagger UI / Redoc from drf-spectacular-sidecar's static files,
    # so they work with no internet access.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Two choice sets share a field name: a renewal's outcome and a playbook step's.
    "ENUM_NAME_OVERRIDES": {
        "RenewalOutcomeEnum": "playbooks.renewal_models.RenewalOutcome",
        "StepOutcomeEnum": "playbooks.models.StepOutcome",
    },
}

# --- Product settings -----------------------------------------------------------------------
# Injectable "today" (ISO date) for demos and tests; unset means the configured zone's date.
CS_TODAY = os.environ.get("CS_TODAY") or None
SEGMENT_RECOMPUTE_EVERY_MINUTES = int(os.environ.get("SEGMENT_RECOMPUTE_EVERY_MINUTES", "15"))
# Seconds the changed-accounts sweep waits after the first change (0: at once; a burst of
# changes coalesces into the one queued sweep whatever the delay).
SEGMENT_EVAL_DEBOUNCE_SECONDS = float(os.environ.get("SEGMENT_EVAL_DEBOUNCE_SECONDS", "0"))
# Accounts per range of the recompute of every segment (segments.engine.recompute_all).
SEGMENT_RECOMPUTE_RANGE_ACCOUNTS = int(os.environ.get("SEGMENT_RECOMPUTE_RANGE_ACCOUNTS", "25000"))
# Seconds after a change to contracts or accounts before the (delta) renewal queue build runs:
# a burst of changes (an import) coalesces into one build.
RENEWAL_REBUILD_DEBOUNCE_SECONDS = int(os.environ.get("RENEWAL_REBUILD_DEBOUNCE_SECONDS", "5"))
# Largest CSV the admin's import accepts (bytes); a bigger one goes through the
# import_csv command or is split.
ACCOUNT_IMPORT_MAX_BYTES = int(os.environ.get("ACCOUNT_IMPORT_MAX_BYTES", str(50 * 2**20)))
# Largest CRM export an import job accepts (bytes).
CRM_IMPORT_MAX_BYTES = int(os.environ.get("CRM_IMPORT_MAX_BYTES", str(100 * 2**20)))

# --- Login protection (django-axes; see cs_platform/login_protection.py) ---------------------
# Failed sign-ins are counted per username and per client address; LOGIN_FAILURE_LIMIT of
# them lock that account or address for LOGIN_LOCKOUT_MINUTES after the last one.
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "10"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = "cs_platform.login_protection.lockout_parameters"
AXES_CLIENT_IP_CALLABLE = "cs_platform.login_protection.client_ip"
AXES_LOCKOUT_CALLABLE = "cs_platform.login_protection.lockout_response"
# A success does not wipe the address's failures (else one's own good login would reset
# the count of guesses made at other accounts from the same address).
AXES_RESET_ON_SUCCESS = False
# Reverse proxies in front of the app that append to X-Forwarded-For (0: none, the client
# address is REMOTE_ADDR).
LOGIN_TRUSTED_PROXIES = int(os.environ.get("LOGIN_TRUSTED_PROXIES", "0"))

# --- Webhooks (playbook steps) ---------------------------------------------------------------
# Loopback, private, link-local, multicast and reserved addresses are refused (see
# playbooks/webhooks.py) unless allowed here: host names exactly as written in webhook URLs,
# and networks (CIDR) an internal receiver's address may be in. Comma-separated.
WEBHOOK_ALLOWED_HOSTS = [
    h.strip().lower() for h in os.environ.get("WEBHOOK_ALLOWED_HOSTS", "").split(",") if h.strip()
]
WEBHOOK_ALLOWED_NETWORKS = [
    str(ipaddress.ip_network(n.strip(), strict=False))
    for n in os.environ.get("WEBHOOK_ALLOWED_NETWORKS", "").split(",")
    if n.strip()
]
# CA bundle for receivers whose certificate a private CA signed (default: the system's).
WEBHOOK_CA_FILE = os.environ.get("WEBHOOK_CA_FILE", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
