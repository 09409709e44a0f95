"""One settings file, read from the environment.

With nothing set, the project runs on embedded defaults: SQLite and a file-system Celery broker
under var/, console email, development conveniences (DEBUG=1 adds Django's debug pages).
Production sets DATABASE_URL, CELERY_BROKER_URL, SECRET_KEY, ALLOWED_HOSTS and DEBUG=0;
.env.example lists every variable with its default.
"""

from decimal import Decimal
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Where the embedded default keeps its database, broker queue and private files.
VAR_DIR = Path(env("FBS_VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = env.bool("DEBUG", default=True)

SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "django-insecure-embedded-default-only-for-local-development"  # noqa: S105

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    "django_filters",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "import_export",
    "django_celery_beat",
    "axes",
    "affiliates",
    "payments",
    "inventory",
    "orders",
    "claims",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: it turns a lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "sophio_fbs.urls"
WSGI_APPLICATION = "sophio_fbs.wsgi.application"

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
                "affiliates.context_processors.current_affiliate",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # Web, worker and beat share one SQLite file in the embedded default: WAL lets readers run
    # beside the writer, IMMEDIATE transactions take the write lock up front instead of failing
    # on upgrade, and the timeout waits for the lock instead of raising "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache (throttling and login lockouts must be shared by every web process) -------------------
# The embedded default is a file cache, so that web and worker processes on one machine see the
# same throttle counters and import progress.
CACHES = {"default": env.cache("CACHE_URL", default=f"filecache://{VAR_DIR / 'cache'}")}

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "affiliates.User"
AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses a locked-out login before the password is even checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Argon2id first (affiliates/hashers.py says why); the others only check older hashes, which are
# re-hashed with Argon2id at the next log-in.
PASSWORD_HASHERS = [
    "affiliates.hashers.OwaspArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# Five wrong passwords for one user from one address lock that pair out for 15 minutes.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("AXES_COOLOFF_HOURS", default=0.25)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)

# --- I18N -----------------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="America/Chicago")
USE_I18N = True
USE_TZ = True

# --- Static and private files ----------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
if DEBUG:
    # whitenoise looks for this folder at start-up; in production collectstatic makes it.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Uploaded files (feeds, receipts) are private: no MEDIA_URL serves them. They are stored under
# names we generate and reach a person only through views that check who is asking.
PRIVATE_FILES_ROOT = Path(env("FBS_PRIVATE_FILES_ROOT", default=str(VAR_DIR / "private")))
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": PRIVATE_FILES_ROOT, "base_url": None},
    },
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        ),
    },
}
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700

# --- Email ----------------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="FBS Control Panel <fbs@localhost>")
FBS_SUPPORT_EMAIL = env("FBS_SUPPORT_EMAIL", default="support@localhost")

# --- Security (on by default whenever DEBUG is off) ------------------------------------------
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    # Only behind a proxy that sets this header itself; otherwise a client could spoof https.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Forms ----------------------------------------------------------------------------------
CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "affiliates.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["affiliates.permissions.IsAffiliateUser"],
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("FBS_API_THROTTLE_ANON", default="60/minute"),
        "user": env("FBS_API_THROTTLE_USER", default="1200/minute"),
    },
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "sophio_fbs.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "FBS Control Panel API",
    "DESCRIPTION": (
        "The affiliate API of the FBS drop-ship service. Authenticate with an API key from the "
        "Settings page: `Authorization: Bearer <key>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Exports (django-import-export) ----------------------------------------------------------
# Exports in admin need "<app>.export_<model>" (Finance has claims.export_claim).
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "export"

# --- Celery ---------------------------------------------------------------------------------
# The embedded default broker is kombu's file-system transport: no server to install.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "control_folder": str(VAR_DIR / "broker-control"),
        "store_processed": False,
    }
    for _folder in (_queue_dir, VAR_DIR / "broker-control"):
        _folder.mkdir(parents=True, exist_ok=True)
# Tests give each run its own queue, so no stale task from another run reaches their worker.
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A task is acknowledged after it ran, so a worker killed mid-task leaves it to be redelivered;
# every task is written to be safe to run twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes every database connection before and after every task unless
# this is set: each task then paid for a new PostgreSQL connection (a backend started, its
# caches warmed), more CPU than a fulfillment itself. Set, the fixup closes a thread's
# connection only once in this many tasks; sophio_fbs/celery.py gives tasks the lifecycle
# Django gives requests (CONN_MAX_AGE, and a health check after a broken connection).
CELERY_DB_REUSE_MAX = 1000
CELERY_TIMEZONE = TIME_ZONE
# Not an app of its own: the email task lives with the project (sophio_fbs/mail.py).
CELERY_IMPORTS = ["sophio_fbs.mail"]
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    # The end of the cancel window, held by the database (DESIGN.md, order lifecycle).
    "orders-release-sweep": {
        "task": "orders.tasks.order_release_sweep_task",
        "schedule": env.float("FBS_RELEASE_SWEEP_SECONDS", default=5.0),
    },
    "orders-special-orders": {
        "task": "orders.tasks.special_orders_restock_task",
        "schedule": 300.0,
    },
    "orders-shipments": {"task": "orders.tasks.shipments_poll_task", "schedule": 60.0},
    # Support's daily list of claims overdue or due within 5 days (the 30-day promise).
    "claims-review-digest": {
        "task": "claims.tasks.claims_review_digest_task",
        "schedule": crontab(hour=7, minute=0),
    },
    # Stock of a warehouse whose feed went stale stops counting (DESIGN.md, inventory pipeline).
    "inventory-stale-warehouses": {
        "task": "inventory.tasks.warehouse_stock_sweep_task",
        "schedule": env.float("FBS_STALE_SWEEP_SECONDS", default=60.0),
    },
}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# --- Business numbers (DESIGN.md, "Configuration") ------------------------------------------
# 30 minutes: the published cancel window.
FBS_CANCEL_WINDOW_SECONDS = env.int("FBS_CANCEL_WINDOW_SECONDS", default=1800)
FBS_RELEASE_SWEEP_SECONDS = env.float("FBS_RELEASE_SWEEP_SECONDS", default=5.0)
# Items with fewer than 2 available are hidden from every affiliate (support article).
FBS_MIN_VISIBLE_QTY = env.int("FBS_MIN_VISIBLE_QTY", default=2)
# Up to $100 of second-sourcing is covered without approval (support article).
FBS_CLAIM_AUTO_APPROVE_LIMIT = Decimal(env("FBS_CLAIM_AUTO_APPROVE_LIMIT", default="100.00"))
# Claims are decided within 30 days (support article).
FBS_CLAIM_REVIEW_DAYS = env.int("FBS_CLAIM_REVIEW_DAYS", default=30)
# 98% fill rate in 2016: about 2% of lines miss at the first warehouse.
FBS_SANDBOX_MISS_RATE = env.float("FBS_SANDBOX_MISS_RATE", default=0.02)
FBS_SANDBOX_LATENCY_SECONDS = env.float("FBS_SANDBOX_LATENCY_SECONDS", default=0.0)
# Share of sandbox warehouse calls that fail like a timeout (fault tests raise it).
FBS_SANDBOX_ERROR_RATE = env.float("FBS_SANDBOX_ERROR_RATE", default=0.0)
# How long after accepting a line the sandbox warehouse reports its tracking number.
FBS_SANDBOX_TRACKING_SECONDS = env.float("FBS_SANDBOX_TRACKING_SECONDS", default=120.0)
FBS_WAREHOUSE_CONNECTOR = env(
    "FBS_WAREHOUSE_CONNECTOR", default="orders.connectors.sandbox.SandboxConnector"
)
# A warehouse that does not answer is asked this many times in all, waiting longer each time.
FBS_CONNECTOR_TRIES = env.int("FBS_CONNECTOR_TRIES", default=3)
FBS_CONNECTOR_BACKOFF_SECONDS = env.float("FBS_CONNECTOR_BACKOFF_SECONDS", default=0.5)
# A fulfillment handed out this many times without finishing is flagged to Support.
FBS_MAX_FULFILLMENT_RUNS = env.int("FBS_MAX_FULFILLMENT_RUNS", default=5)
FBS_PROCESSING_TIMEOUT_SECONDS = env.int("FBS_PROCESSING_TIMEOUT_SECONDS", default=300)
# Orders one fulfillment task takes: the release sweep hands due orders out this many at a time,
# decided together in one transaction (BENCHMARKS.md, orders); a quiet sweep hands out whatever
# is due, however few.
FBS_FULFILLMENT_BATCH_SIZE = env.int("FBS_FULFILLMENT_BATCH_SIZE", default=50)
# What affiliates pay over the lowest warehouse cost: 1.20 is cost plus 20%.
FBS_PRICE_MARKUP = Decimal(env("FBS_PRICE_MARKUP", default="1.20"))
# A price is cost x markup in 8 integer digits, and feed costs go up to 9,999,999.99
# (inventory.feed_import.fields.COST_MAX): a markup of 10 or more could not be stored.
if not Decimal(1) <= FBS_PRICE_MARKUP < Decimal(10):
    raise ImproperlyConfigured("FBS_PRICE_MARKUP must be at least 1 and below 10 (1.20 = +20%).")
FBS_PAYMENT_GATEWAY = env("FBS_PAYMENT_GATEWAY", default="payments.gateways.sandbox.SandboxGateway")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}

# --- Content-Security-Policy (django-csp 4.x; issue 11, item 10) ----------------------------------
# One policy, the same in development and production, so that what the tests see is what runs.
# Scripts and styles come only from our own static files: no inline <script>, no on* handlers, no
# style="" attributes in our pages (they are classes in static/css). A template that must keep an
# inline block (the Swagger UI start-up script, rendered per request by drf-spectacular) marks it
# with request.csp_nonce; the nonce is added to the header only on responses that used it.
# - img-src data:: Bootstrap, Django admin and Swagger UI draw their small icons (select arrows,
#   close buttons, check marks) as data: SVGs in their stylesheets.
# - No 'unsafe-eval': htmx runs with allowEval off (templates/base.html), Swagger UI needs none.
# - frame-ancestors 'none' repeats X_FRAME_OPTIONS = "DENY" for browsers that prefer CSP.
# The receipt download sets its own, stricter header (claims/views.py); the middleware keeps it.
from csp.constants import NONCE, NONE, SELF  # noqa: E402

INSTALLED_APPS += ["csp"]  # its system check refuses the old 3.x CSP_* settings
# Right after SecurityMiddleware: every response, static files from whitenoise included, gets it.
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
    "csp.middleware.CSPMiddleware",
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "frame-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
# Swagger UI's "valid" badge is an image from validator.swagger.io, shown for any host but
# localhost: the policy would refuse it, and it would send our schema's URL to a third party.
SPECTACULAR_SETTINGS["SWAGGER_UI_SETTINGS"] = {
    **SPECTACULAR_SETTINGS.get("SWAGGER_UI_SETTINGS", {"deepLinking": True}),
    "validatorUrl": None,
}
# --- end Content-Security-Policy ------------------------------------------------------------------

# --- Exports: spreadsheet safety (issue 11, item 11) ---------------------------------------------
# Formulas are escaped by our own rule in every export (sophio_fbs/spreadsheets.py), not by
# import-export's IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT, which deletes a leading "=" and misses
# the other starts. A control character a worksheet cannot hold (openpyxl refuses \x00-\x08,
# \x0b, \x0c, \x0e-\x1f) becomes U+FFFD in an XLSX export instead of failing the whole export.
IMPORT_EXPORT_ESCAPE_ILLEGAL_CHARS_ON_EXPORT = True
# --- end Exports ----------------------------------------------------------------------------------

# --- issue 11: API contract and bad input (items 16-19) ----------------------------------------
# Every error under /api/ is JSON in the error shape, whoever answered (sophio_fbs/api.py).
# Outermost, so that an error of any middleware is in it too (SecurityMiddleware refuses a Host not
# allowed before the others run); it keeps the security and CSP headers those set on the answer.
MIDDLEWARE.insert(0, "sophio_fbs.api.ApiErrorEnvelopeMiddleware")
# A NUL or another control character in a query string, URL or form field is a 400 naming the
# field (sophio_fbs/inputs.py). After CsrfViewMiddleware, which has parsed the pages' forms.
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.csrf.CsrfViewMiddleware") + 1,
    "sophio_fbs.inputs.InvalidInputMiddleware",
)
# The same rule for the request's head, before anything reads it: a header with such a character
# is a 400, a cookie with one is treated as absent (a session key with a NUL was a 500 on every
# page). Right before SessionMiddleware, the first that reads a cookie.
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.sessions.middleware.SessionMiddleware"),
    "sophio_fbs.inputs.RequestHeadMiddleware",
)
# The same rule for every API body, plus bounded JSON (size, depth, finite numbers).
REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] = [
    "sophio_fbs.inputs.JSONParser",
    "sophio_fbs.inputs.FormParser",
    "sophio_fbs.inputs.MultiPartParser",
]
# The stated limit of a request body that is not a file (Django's default, said out loud): over
# it, the API answers 413 and the pages their 413 page.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
# The schema lists the answers every operation can give (sophio_fbs/schema.py).
SPECTACULAR_SETTINGS["DESCRIPTION"] += (
    "\n\nEvery error, whatever its status, is JSON in one shape: "
    '`{"error": {"code": "...", "message": "...", "fields": {"name": ["..."]}}}`; `fields` '
    "names each field that is not valid, a nested one by its path (`lines[0].qty`). A method a "
    "path does not have is answered 405 with `Allow`. Lists are pages: pass `next_cursor` as "
    "`cursor` for the next one (null: it was the last)."
)
SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"] = [
    "drf_spectacular.hooks.postprocess_schema_enums",
    "sophio_fbs.schema.postprocess",
]
# Django's debug pages (a traceback with settings and SQL for any error) only when DEBUG=1 is
# asked for: with DEBUG unset, the embedded default keeps its development conveniences, decided
# above on the value DEBUG had there (the development key, no HTTPS redirect or secure cookies,
# static files from the source folders), but errors get the production 404 and 500 pages.
# DEBUG=0 is production, as before.
EMBEDDED_DEFAULTS = DEBUG
DEBUG = env.bool("DEBUG", default=False)
# whitenoise serves static files from the source folders (not a collectstatic copy) by default
# only under DEBUG; the embedded default needs them whether or not DEBUG=1 is set.
WHITENOISE_USE_FINDERS = WHITENOISE_AUTOREFRESH = EMBEDDED_DEFAULTS
# --- end API contract ---------------------------------------------------------------------------

# --- issue 11: power (items 7-10: throttles, audit log, JSON-only API) ----------------------------
# Which address a request comes from (affiliates/throttling.py): REMOTE_ADDR, unless this many
# proxies of ours stand in front (then the X-Forwarded-For entry they saw). Login lockouts, the API
# throttles and the audit log all use it; a client's own X-Forwarded-For is never trusted.
FBS_TRUSTED_PROXIES = env.int("FBS_TRUSTED_PROXIES", default=0)
AXES_CLIENT_IP_CALLABLE = "affiliates.throttling.client_address"
REST_FRAMEWORK["NUM_PROXIES"] = FBS_TRUSTED_PROXIES

# Failed log-ins (pages and admin): besides the (username, address) lock above, one address is
# locked after this many wrong passwords for any usernames within the cool-off (someone trying one
# password on many accounts). Higher than AXES_FAILURE_LIMIT: an office shares one address.
FBS_LOGIN_FAILURES_PER_ADDRESS = env.int("FBS_LOGIN_FAILURES_PER_ADDRESS", default=20)
AXES_HANDLER = "affiliates.throttling.LoginAttemptHandler"
# 429 with Retry-After (axes' own response has no Retry-After).
AXES_LOCKOUT_CALLABLE = "affiliates.throttling.lockout_response"

# Failed API keys per client address (affiliates.throttling.ApiKeyFailureThrottle), counted in
# fixed windows of the rate's period; over it, every key from that address gets 429 with
# Retry-After until the window ends. The counter is an atomic cache increment: atomic on Redis
# (CACHE_URL, production) and LocMem; the embedded file cache's incr is a read and a write.
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["api_key_failure"] = env(
    "FBS_API_THROTTLE_BAD_KEY", default="10/minute"
)
# The API answers JSON only in production: the browsable HTML pages are a development aid (their
# forms and "Raw data" box are a second, untested way to post), on only when DEBUG is on.
REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] = [
    "rest_framework.renderers.JSONRenderer",
    *(["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
]

# Audit log (django-auditlog, sophio_fbs/audit.py): who changed what, when, before and after. Only
# these models and fields; never a secret (API key hashes, gateway tokens, password hashes) and not
# the fields that change by themselves (last use, feed times), which would bury the real changes.
INSTALLED_APPS += ["auditlog"]
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
    "sophio_fbs.audit.AuditMiddleware",
)
AUDITLOG_INCLUDE_TRACKING_MODELS = (
    # min stock, name, contact, marketplaces, active
    {"model": "affiliates.affiliate", "exclude_fields": ["created_at", "updated_at"]},
    # what is on file and which is the default; the gateway token stays out
    {"model": "affiliates.paymentmethod", "exclude_fields": ["gateway_token", "created_at"]},
    # created, renamed, revoked; the key's hash stays out
    {"model": "affiliates.apikey", "exclude_fields": ["key_hash", "created_at", "last_used_at"]},
    # who may do what: staff and superuser status, groups, permissions (never the password hash)
    {
        "model": "affiliates.user",
        "include_fields": [
            "username",
            "email",
            "first_name",
            "last_name",
            "is_active",
            "is_staff",
            "is_superuser",
            "affiliate",
        ],
        "m2m_fields": ["groups", "user_permissions"],
    },
    {"model": "auth.group", "include_fields": ["name"], "m2m_fields": ["permissions"]},
    # warehouse settings: location, freshness limit, active
    {
        "model": "inventory.warehouse",
        "exclude_fields": ["last_feed_at", "counts_in_stock", "created_at"],
    },
)
# --- end issue 11: power --------------------------------------------------------------------------

# --- issue 11: feeds (items 1-6) ---------------------------------------------------------------
# A feed replaces its warehouse's whole stock, so a bad one is refused
# (inventory/feed_import/guards.py): more than this share of its rows rejected, or more than this
# share of the warehouse's stocked items taken out of stock in one import (DESIGN.md, "Feeds are
# guarded").
FBS_FEED_MAX_BAD_FRACTION = env.float("FBS_FEED_MAX_BAD_FRACTION", default=0.05)
FBS_FEED_MAX_DROP_FRACTION = env.float("FBS_FEED_MAX_DROP_FRACTION", default=0.5)
for _name in ("FBS_FEED_MAX_BAD_FRACTION", "FBS_FEED_MAX_DROP_FRACTION"):
    if not 0 <= globals()[_name] <= 1:
        raise ImproperlyConfigured(f"{_name} is a share of rows or items: between 0 and 1.")
# --- end issue 11: feeds -------------------------------------------------------------------------
