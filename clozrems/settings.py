"""Django settings for clozrems.

One module, driven by environment variables, with defaults that work on a laptop: SQLite,
Celery running tasks eagerly when no broker is configured, console e-mail. A deployment sets
``CLOZREMS_PRODUCTION=1`` plus ``SECRET_KEY``, ``DATABASE_URL``, ``REDIS_URL`` and
``ALLOWED_HOSTS``.
"""

import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from clozrems.broker import SOCKET_SECONDS, transport_options

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


PRODUCTION = env_bool("CLOZREMS_PRODUCTION", default=False)

# Only ever good for a laptop; production refuses to start with it (see below).
INSECURE_DEV_SECRET_KEY = "django-insecure-clozrems-dev-only-do-not-use-in-production"  # noqa: S105 - refused in production  # nosec B105
SECRET_KEY = os.environ.get("SECRET_KEY") or INSECURE_DEV_SECRET_KEY

DEBUG = env_bool("DEBUG", default=not PRODUCTION)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
# A page's htmx form sent after the sign-in ended says so (web/views.py), not a bare 403.
CSRF_FAILURE_VIEW = "web.views.csrf_failure"

# --- applications -----------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # API tokens stored as digests (django-rest-knox; the model is patients.ApiToken).
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_htmx",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "csp",
    "patients",
    "monitoring",
    "feeds",
    "pharmacy",
    "notifications",
    "audit",
    "clinical",
    "oversight",
    "web",
]

MIDDLEWARE = [
    "audit.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "clozrems.middleware.DatabaseUnavailableMiddleware",
    # After a write, this browser's reads stay on the primary a while (clozrems.db_router).
    "clozrems.db_router.ReplicaPinMiddleware",
    # The pages' own 404 and 403, even with DEBUG on (the API keeps its JSON errors).
    "web.middleware.FriendlyErrorPagesMiddleware",
    # Last: it answers a locked-out login.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "clozrems.urls"
WSGI_APPLICATION = "clozrems.wsgi.application"
ASGI_APPLICATION = "clozrems.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

# --- database ---------------------------------------------------------------

DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
    ),
}
# A writer waits this long for a row another transaction holds (a patient being changed),
# and a statement runs at most this long; then the request is a 503 that says so
# (clozrems/middleware.py). 0 turns a limit off (bench/ and long maintenance commands).
DATABASE_LOCK_TIMEOUT_MS = int(os.environ.get("DATABASE_LOCK_TIMEOUT_MS", "5000"))
DATABASE_STATEMENT_TIMEOUT_MS = int(os.environ.get("DATABASE_STATEMENT_TIMEOUT_MS", "30000"))
# SQLite (the laptop default): write-ahead logging so readers never block the writer, and
# writers that queue for the lock (BEGIN IMMEDIATE, waiting up to the busy timeout) rather than
# failing at once when two transactions that read first both try to write.
CLOZREMS_SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    "transaction_mode": "IMMEDIATE",
    "timeout": int(os.environ.get("SQLITE_BUSY_TIMEOUT_S", "20")),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = 60
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    options = DATABASES["default"].setdefault("OPTIONS", {})
    # A database that does not answer fails a request in seconds (503), not minutes.
    options["connect_timeout"] = int(os.environ.get("DATABASE_CONNECT_TIMEOUT", "3"))
    options["options"] = " ".join(
        [
            options.get("options", ""),
            f"-c lock_timeout={DATABASE_LOCK_TIMEOUT_MS}",
            f"-c statement_timeout={DATABASE_STATEMENT_TIMEOUT_MS}",
        ]
    ).strip()
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(CLOZREMS_SQLITE_OPTIONS)

# A read replica (docs/scaling.md): reports and the oversight pages read from it when it is
# configured (clozrems/db_router.py); decisions and every write always use "default", so a
# decision never reads a lagging copy. In tests the replica mirrors the test database.
if os.environ.get("DATABASE_REPLICA_URL"):
    DATABASES["replica"] = dj_database_url.parse(os.environ["DATABASE_REPLICA_URL"])
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["clozrems.db_router.ReplicaRouter"]
# How long a browser that has just written reads the primary instead (its own writes), longer
# than the replica's usual delay.
CLOZREMS_REPLICA_PIN_SECONDS = int(os.environ.get("CLOZREMS_REPLICA_PIN_SECONDS", "15"))

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- auth -------------------------------------------------------------------

AUTH_USER_MODEL = "patients.User"

# django-axes first: it refuses a locked-out username before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Lockout after repeated failures, per username and address (django-axes); a success resets.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("AXES_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_LOCKOUT_TEMPLATE = "web/locked_out.html"
# The client's address as the throttles see it: X-Forwarded-For is believed only from the
# proxies named here (addresses or CIDR networks; none by default). See clozrems/addresses.py.
CLOZREMS_TRUSTED_PROXIES = env_list("CLOZREMS_TRUSTED_PROXIES", "")
for _proxy in CLOZREMS_TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"CLOZREMS_TRUSTED_PROXIES: {_proxy!r} is not an address or a CIDR network."
        ) from None
AXES_CLIENT_IP_CALLABLE = "clozrems.addresses.client_address"
# A TOTP second factor (django-otp) is required of administrators when this is on: the admin
# site, the web pages and the API token endpoint then ask for it. On by default in production.
CLOZREMS_ADMIN_OTP = env_bool("CLOZREMS_ADMIN_OTP", default=PRODUCTION)
OTP_TOTP_ISSUER = "clozrems"
# API tokens expire (and are revoked at POST /api/v1/auth/token/revoke/, and by a password
# change). Only their digests are stored (django-rest-knox, with the project's own model).
CLOZREMS_TOKEN_TTL = timedelta(hours=int(os.environ.get("CLOZREMS_TOKEN_TTL_HOURS", "12")))
KNOX_TOKEN_MODEL = "patients.ApiToken"  # noqa: S105  # nosec B105 - a model's name, not a secret
REST_KNOX = {"TOKEN_TTL": CLOZREMS_TOKEN_TTL, "AUTH_HEADER_PREFIX": "Token"}
# Browser sessions end after 30 idle minutes (each request extends them) or with the browser.
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_IDLE_SECONDS", "1800"))
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- i18n / time ------------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "America/New_York")
USE_I18N = True
USE_TZ = True

# --- static files -----------------------------------------------------------

STATIC_URL = "static/"
# The web pages (web/): Django sessions, each role landing on its own page.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
if PRODUCTION:
    # Static files (the admin's) straight from gunicorn: hashed, compressed copies made by
    # collectstatic (the Docker image does it at build). Development uses runserver's.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }

# --- e-mail -----------------------------------------------------------------

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "clozrems@localhost")
# For EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend:
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "20"))

# --- REST framework / OpenAPI -----------------------------------------------

# The rate limits below, on (the default) or off: off only for benchmark runs and the outside
# scenarios, which send thousands of requests from one address (SECURITY.md).
CLOZREMS_RATE_LIMITS = env_bool("CLOZREMS_RATE_LIMITS", True)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "patients.auth.ExpiringTokenAuthentication",
        "patients.auth.VerifiedSessionAuthentication",
    ],
    # Per user, per anonymous client, and per address whoever calls; stricter on the token
    # endpoint (scope "auth"). Rates from the environment; counts per web process (see caches).
    "DEFAULT_THROTTLE_CLASSES": [
        "clozrems.throttles.ClientUserRateThrottle",
        "clozrems.throttles.ClientAnonRateThrottle",
        "clozrems.throttles.AddressRateThrottle",
    ],
    # JSON nested deeper than CLOZREMS_JSON_MAX_DEPTH is a 400 (clozrems/parsers.py).
    "DEFAULT_PARSER_CLASSES": [
        "clozrems.parsers.DepthLimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_RATES": {  # all off with CLOZREMS_RATE_LIMITS=off (below)
        "user": os.environ.get("THROTTLE_USER", "1200/min"),
        "anon": os.environ.get("THROTTLE_ANON", "120/min"),
        "address": os.environ.get("THROTTLE_ADDRESS", "3000/min"),
        "auth": os.environ.get("THROTTLE_AUTH", "20/min"),
    },
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "clozrems.api.exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "clozrems API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema is public documentation (docs/api.md: served at /api/schema/ for the clients that
    # drive the contract); it holds no data. Everything it describes needs a login.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # Swagger UI's files from the installed drf-spectacular-sidecar: /api/docs/ needs no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ResultSourceEnum": "monitoring.models.ResultSource",
        "ResultStatusEnum": "monitoring.models.ResultStatus",
        "NotificationChannelEnum": "notifications.models.Channel",
        "FeedMessageOutcomeEnum": "feeds.models.FeedMessageOutcome",
        "AuditOutcomeEnum": "audit.models.Outcome",
        "SmokingStatusEnum": "clinical.models.SmokingStatus",
        "CounterObservationKindEnum": "clinical.models.CounterObservationKind",
        "SmokingChangeEnum": "clinical.models.SmokingChange",
        "MedicationEventKindEnum": "clinical.models.MedicationEventKind",
    },
}

# --- Celery -----------------------------------------------------------------

REDIS_URL = os.environ.get("REDIS_URL", "")
# The broker: Redis by default; `CELERY_BROKER_URL` names another (RabbitMQ:
# amqp://user:password@host:5672//, quorum queues recommended, docs/scaling.md).
BROKER_URL = os.environ.get("CELERY_BROKER_URL") or REDIS_URL
CELERY_TIMEZONE = TIME_ZONE
if BROKER_URL:
    CELERY_BROKER_URL = BROKER_URL
else:
    # No broker on a laptop or in a plain test run: run tasks inline, errors surfacing.
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
    CELERY_TASK_EAGER_PROPAGATES = True

# --- clozrems ---------------------------------------------------------------

CLOZREMS_DEFAULT_PROTOCOL = os.environ.get("CLOZREMS_DEFAULT_PROTOCOL") or "us-label-2015"
# A pharmacist opens a patient's record only after finding it by last name and date of birth
# (or id and date of birth), or from its own pharmacy's dispenses. The dispensing decision and
# the dispense, which name no one and are audited, take the id alone, as the API contract's
# clients do; a deployment may require the same of them (0 here).
CLOZREMS_PHARMACIST_DECISION_BY_ID = env_bool("CLOZREMS_PHARMACIST_DECISION_BY_ID", default=True)
# The deepest nesting a JSON request body may have (clozrems/parsers.py).
CLOZREMS_JSON_MAX_DEPTH = int(os.environ.get("CLOZREMS_JSON_MAX_DEPTH", "64"))

# --- logging ----------------------------------------------------------------

LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO").upper()

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "simple": {"format": "{asctime} {levelname} {name}: {message}", "style": "{"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "simple"},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        # Lockouts are logged as warnings; each login's bookkeeping is not.
        "axes": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}

# --- content security policy (django-csp) ------------------------------------
# Scripts, styles and images only from this site (htmx is served from static files); no
# framing, forms post only here. The Swagger UI at /api/docs/ is served from this site too (its
# start-up script a file of its own, clozrems/urls.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

# --- caches -------------------------------------------------------------------
# The default per-process memory cache holds the throttle counts: with Redis down the API keeps
# answering (a shared Redis cache would fail every request), at the price of limits counted per
# web process. Lockouts (django-axes) are kept in the database, shared by all.

# --- production hardening ---------------------------------------------------

# Django's own bar for a key (check --deploy, security.W009): 50 characters or more, 5 or more
# of them different; never the development key.
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_UNIQUE_CHARACTERS = 5

if PRODUCTION:
    if SECRET_KEY == INSECURE_DEV_SECRET_KEY or SECRET_KEY.startswith("django-insecure-"):
        raise ImproperlyConfigured(
            "CLOZREMS_PRODUCTION=1 needs a real SECRET_KEY in the environment."
        )
    if (
        len(SECRET_KEY) < SECRET_KEY_MIN_LENGTH
        or len(set(SECRET_KEY)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS
    ):
        raise ImproperlyConfigured(
            f"SECRET_KEY must be at least {SECRET_KEY_MIN_LENGTH} random characters "
            f"(with at least {SECRET_KEY_MIN_UNIQUE_CHARACTERS} different ones); generate one "
            "with: python -c 'import secrets; print(secrets.token_urlsafe(64))'"
        )
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
    X_FRAME_OPTIONS = "DENY"
    if env_bool("SECURE_PROXY_SSL_HEADER", default=False):
        # Only behind a proxy that sets X-Forwarded-Proto itself and strips it from clients.
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- the scheduler ---------------------------------------------------------------------
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# A task's message is acknowledged only when it finishes: a worker killed mid-task leaves it
# to be delivered again (every task is safe to run twice).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Bounded publishing and broker sockets (a broker away or hung never holds a request).
CELERY_BROKER_TRANSPORT_OPTIONS = transport_options(BROKER_URL)
CELERY_BROKER_CONNECTION_TIMEOUT = SOCKET_SECONDS
# The queue every task goes to (one per deployment sharing a Redis; the live tests use their own).
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CLOZREMS_TASK_QUEUE", "celery")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


# Overdue draws: a reminder on the first overdue day and every N days after; the clinic's
# administrators are told once a draw is this many days overdue.
CLOZREMS_OVERDUE_REPEAT_DAYS = env_int("CLOZREMS_OVERDUE_REPEAT_DAYS", 2)
CLOZREMS_OVERDUE_ESCALATE_AFTER_DAYS = env_int("CLOZREMS_OVERDUE_ESCALATE_AFTER_DAYS", 3)
# Day 23 of a 30-day interruption: a week's warning before re-enrollment becomes necessary.
CLOZREMS_LAPSE_WARNING_DAYS = env_int("CLOZREMS_LAPSE_WARNING_DAYS", 7)
CLOZREMS_EXPIRY_WARNING_DAYS = env_int("CLOZREMS_EXPIRY_WARNING_DAYS", 14)
# Patients per scan chunk (one task each).
CLOZREMS_SCAN_CHUNK = env_int("CLOZREMS_SCAN_CHUNK", 5000)
CLOZREMS_NOTIFICATION_MAX_ATTEMPTS = env_int("CLOZREMS_NOTIFICATION_MAX_ATTEMPTS", 6)
# Retry backoff: this many seconds after the first failure, doubling, at most an hour.
CLOZREMS_NOTIFICATION_BACKOFF_SECONDS = env_int("CLOZREMS_NOTIFICATION_BACKOFF_SECONDS", 30)
# A send claimed longer ago than this belongs to a worker that died: another may take it.
CLOZREMS_NOTIFICATION_LEASE_SECONDS = env_int("CLOZREMS_NOTIFICATION_LEASE_SECONDS", 600)
# The right-hand side of every e-mail's Message-ID (stable per notification).
CLOZREMS_MESSAGE_ID_DOMAIN = os.environ.get("CLOZREMS_MESSAGE_ID_DOMAIN") or (
    DEFAULT_FROM_EMAIL.rpartition("@")[2] or "clozrems.localhost"
)
# The daily digest of non-urgent reminders: put together after this local time (HH:MM), each
# recipient's own setting overriding it, listing at most CLOZREMS_DIGEST_LIMIT reminders.
CLOZREMS_DIGEST_AT = os.environ.get("CLOZREMS_DIGEST_AT", "07:30")
CLOZREMS_DIGEST_LIMIT = env_int("CLOZREMS_DIGEST_LIMIT", 25)
# Work queued by a write and not done this long after (its message lost with the broker) is
# done by the catch-up task (notifications/outbox.py).
CLOZREMS_QUEUE_CATCH_UP_SECONDS = env_int("CLOZREMS_QUEUE_CATCH_UP_SECONDS", 60)
# A monitoring-plan check overdue longer than this is summarised once, not reminded weekly.
CLOZREMS_PLAN_BACKLOG_DAYS = env_int("CLOZREMS_PLAN_BACKLOG_DAYS", 30)

# --- lab feeds (feeds/) --------------------------------------------------------------------
# The largest body each HTTP feed takes (bytes): a larger one is answered 413 and logged as a
# refused message with its size (its first 64 KiB kept).
CLOZREMS_FEED_MAX_BYTES = {
    "hl7": env_int("CLOZREMS_FEED_MAX_BYTES_HL7", 5_000_000),
    "csv": env_int("CLOZREMS_FEED_MAX_BYTES_CSV", 5_000_000),
    "fhir": env_int("CLOZREMS_FEED_MAX_BYTES_FHIR", 2_000_000),
}
# A batch of more HL7 messages (or CSV rows) than this is taken asynchronously: 202 and a
# batch resource (/api/v1/feeds/batches/{id}/) whose acknowledgements a worker fills in.
CLOZREMS_FEED_SYNC_MAX_ITEMS = env_int("CLOZREMS_FEED_SYNC_MAX_ITEMS", 200)
# FHIR: the deepest JSON nesting read (objects and arrays), and the most entries in a Bundle.
CLOZREMS_FHIR_MAX_DEPTH = env_int("CLOZREMS_FHIR_MAX_DEPTH", 40)
CLOZREMS_FHIR_MAX_ENTRIES = env_int("CLOZREMS_FHIR_MAX_ENTRIES", 1000)
# The MLLP listener (manage.py mllp_listen; feeds/mllp.py). TLS needs all three
# files: the listener's certificate and key, and the CA that issues the labs' client
# certificates. Senders must come from an allowed address or network.
CLOZREMS_MLLP_HOST = os.environ.get("CLOZREMS_MLLP_HOST", "127.0.0.1")
CLOZREMS_MLLP_PORT = env_int("CLOZREMS_MLLP_PORT", 2575)
CLOZREMS_MLLP_TLS_CERT = os.environ.get("CLOZREMS_MLLP_TLS_CERT", "")
CLOZREMS_MLLP_TLS_KEY = os.environ.get("CLOZREMS_MLLP_TLS_KEY", "")
CLOZREMS_MLLP_TLS_CA = os.environ.get("CLOZREMS_MLLP_TLS_CA", "")
CLOZREMS_MLLP_ALLOWED_SENDERS = env_list("CLOZREMS_MLLP_ALLOWED_SENDERS", "127.0.0.1/32,::1/128")
CLOZREMS_MLLP_IDLE_TIMEOUT_SECONDS = env_int("CLOZREMS_MLLP_IDLE_TIMEOUT_SECONDS", 60)
CLOZREMS_MLLP_MAX_FRAME_BYTES = env_int("CLOZREMS_MLLP_MAX_FRAME_BYTES", 1_000_000)
CLOZREMS_MLLP_MAX_CONNECTIONS = env_int("CLOZREMS_MLLP_MAX_CONNECTIONS", 32)

# --- the audit trail's key and checkpoints (docs/audit.md) -----------------------------------
# The HMAC key that seals the audit chain and signs its checkpoints. It lives in the
# environment, never in the database: whoever can write the database without it cannot forge a
# seal. Generate one with `python3 -c "import secrets; print(secrets.token_urlsafe(48))"`.
INSECURE_DEV_AUDIT_KEY = "clozrems-insecure-dev-audit-key-do-not-use-in-production"  # noqa: S105 - refused in production  # nosec B105
CLOZREMS_AUDIT_KEY = os.environ.get("CLOZREMS_AUDIT_KEY") or INSECURE_DEV_AUDIT_KEY
# Keys that sealed older entries, comma-separated: kept after a rotation so they still verify.
CLOZREMS_AUDIT_OLD_KEYS = env_list("CLOZREMS_AUDIT_OLD_KEYS", "")
# A second, append-only copy of every signed checkpoint outside the database (a path the
# sealing worker can append to and audit_verify can read); empty: the checkpoint table only.
CLOZREMS_AUDIT_CHECKPOINT_FILE = os.environ.get("CLOZREMS_AUDIT_CHECKPOINT_FILE", "")
# Entries sealed per transaction by the sealer.
CLOZREMS_AUDIT_SEAL_BATCH = env_int("CLOZREMS_AUDIT_SEAL_BATCH", 5000)
AUDIT_KEY_MIN_LENGTH = 32
# PostgreSQL: the application's own role (audit/roles.py); when set, every migrate (run as the
# owner role) grants it again what it may do. Empty: no grants are managed.
CLOZREMS_DB_APP_ROLE = os.environ.get("CLOZREMS_DB_APP_ROLE", "")

if PRODUCTION and (
    CLOZREMS_AUDIT_KEY == INSECURE_DEV_AUDIT_KEY
    or "insecure" in CLOZREMS_AUDIT_KEY
    or len(CLOZREMS_AUDIT_KEY) < AUDIT_KEY_MIN_LENGTH
):
    raise ImproperlyConfigured(
        "CLOZREMS_PRODUCTION=1 needs a real CLOZREMS_AUDIT_KEY in the environment "
        f"(at least {AUDIT_KEY_MIN_LENGTH} characters; see docs/audit.md)."
    )
