"""Tend settings. Every deployment-specific value comes from the environment.

See `.env.example` for the full list. The defaults give a working local install
with no servers: SQLite under `var/` and django-q2's ORM broker.
"""

import re
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# A local `.env` is a convenience for development; real deployments set the
# environment itself. Values already in the environment win.
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)

_DEV_SECRET_KEY = "django-insecure-tend-development-only-key-do-not-use-in-production"
# Keys shipped in this repository's examples: never a production secret.
_EXAMPLE_SECRET_KEYS = {_DEV_SECRET_KEY, "change-me-to-50-random-characters"}
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = _DEV_SECRET_KEY
elif not DEBUG and (
    SECRET_KEY in _EXAMPLE_SECRET_KEYS
    or SECRET_KEY.startswith("django-insecure-")
    or len(SECRET_KEY) < 50
    or len(set(SECRET_KEY)) < 5
):
    raise ImproperlyConfigured(
        "SECRET_KEY is an example or too weak for production (use 50+ random characters: "
        'python -c "import secrets; print(secrets.token_urlsafe(50))").'
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "config.apps.TendAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "axes",
    "csp",
    "mozilla_django_oidc",
    "agents_core",
    "csm",
    "sales",
    # Benchmarks and their raw-driver floors (manage.py benchmark_*); nothing imports it.
    "bench",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "config.middleware.BrowserTimeZoneMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its lockout page.
    "axes.middleware.AxesMiddleware",
]

if not DEBUG:
    # Static files straight from the app server (after collectstatic), compressed and
    # cached forever by their hashed names. In development runserver serves them.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "config.urls"

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
            "builtins": ["csm.templatetags.tend"],
        },
    },
    {
        # Plain text (email subjects and bodies, chat messages, talk tracks,
        # Markdown): nothing is HTML-escaped, so "Ben & Jerry's" stays itself.
        # Render with render_to_string(name, context, using="text").
        "NAME": "text",
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": False,
        "OPTIONS": {"autoescape": False, "builtins": ["csm.templatetags.tend"]},
    },
]

WSGI_APPLICATION = "config.wsgi.application"

# --- Database -------------------------------------------------------------
# SQLite by default (no server needed); PostgreSQL via DATABASE_URL.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'tend.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(exist_ok=True)
    # The web app and the q-cluster write at the same time: WAL lets readers
    # carry on during a write, IMMEDIATE takes the write lock up front (so a
    # transaction never fails half-way on upgrade), and the timeout makes a
    # writer wait for the lock instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": env.int("SQLITE_BUSY_TIMEOUT", default=20),
        }
    )
# A connection kept for a minute, not opened (with SQLite's pragmas) for every request.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# Schedules (07:00 scan, 08:00 contract check) run in this zone.
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # In production (`collectstatic` first): hashed names, gzipped, served by whitenoise.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

LOGIN_URL = "admin:login"

# Login throttling (django-axes): after TEND_LOGIN_FAILURE_LIMIT wrong passwords
# for one username, or from one address, further logins are refused for
# TEND_LOGIN_COOLOFF_MINUTES (0: until an admin unlocks under Axes > Access
# attempts, or with `manage.py axes_reset_username NAME`). Every attempt is
# listed in the admin.
# Single sign-on (OpenID Connect, config/sso.py; docs/access.md). On when an issuer
# and a client id are set. TEND_PASSWORD_LOGIN=false then leaves SSO the only way in.
OIDC_ISSUER = env.str("OIDC_ISSUER", default="")
OIDC_PROVIDER_NAME = env.str("OIDC_PROVIDER_NAME", default="your company account")
OIDC_RP_CLIENT_ID = env.str("OIDC_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env.str("OIDC_CLIENT_SECRET", default="")
OIDC_RP_SIGN_ALGO = env.str("OIDC_SIGN_ALGO", default="RS256")
OIDC_RP_SCOPES = env.str("OIDC_SCOPES", default="openid email profile")
OIDC_USE_PKCE = True
OIDC_ROLES_CLAIM = env.str("OIDC_ROLES_CLAIM", default="groups")
OIDC_ADMIN_GROUPS = env.list("OIDC_ADMIN_GROUPS", default=[])
OIDC_MANAGER_GROUPS = env.list("OIDC_MANAGER_GROUPS", default=[])
OIDC_CSM_GROUPS = env.list("OIDC_CSM_GROUPS", default=[])
OIDC_DEFAULT_ROLE = env.str("OIDC_DEFAULT_ROLE", default="")
OIDC_ALLOWED_DOMAINS = env.list("OIDC_ALLOWED_DOMAINS", default=[])
OIDC_AUTHENTICATE_CLASS = "config.sso.AuthenticationRequestView"
LOGIN_REDIRECT_URL = "/admin/"
LOGIN_REDIRECT_URL_FAILURE = "/admin/login/?sso=refused"
LOGOUT_REDIRECT_URL = "/admin/login/"
TEND_PASSWORD_LOGIN = env.bool("TEND_PASSWORD_LOGIN", default=True)
if OIDC_DEFAULT_ROLE not in ("", "csm", "manager", "admin"):
    raise ImproperlyConfigured("OIDC_DEFAULT_ROLE must be empty, csm, manager or admin.")
if not TEND_PASSWORD_LOGIN and not (OIDC_ISSUER and OIDC_RP_CLIENT_ID):
    raise ImproperlyConfigured(
        "TEND_PASSWORD_LOGIN=false needs single sign-on (OIDC_ISSUER, OIDC_CLIENT_ID)."
    )

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    *(["config.sso.Backend"] if OIDC_ISSUER and OIDC_RP_CLIENT_ID else []),
    *(["django.contrib.auth.backends.ModelBackend"] if TEND_PASSWORD_LOGIN else []),
]
AXES_FAILURE_LIMIT = env.int("TEND_LOGIN_FAILURE_LIMIT", default=5)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
_cooloff_minutes = env.int("TEND_LOGIN_COOLOFF_MINUTES", default=30)
AXES_COOLOFF_TIME = timedelta(minutes=_cooloff_minutes) if _cooloff_minutes else None
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "agents_core.client_ip.client_ip"
# How many reverse proxies (nginx, a load balancer) stand in front of Tend and
# append to X-Forwarded-For. 0: the address is the connection's own.
TEND_TRUSTED_PROXIES = env.int("TEND_TRUSTED_PROXIES", default=0)

# --- Security (production values come on with DEBUG off) -------------------
# Believe X-Forwarded-Proto only from a proxy we were told about (TEND_TRUSTED_PROXIES,
# below): without one in front, any client could claim https.
if TEND_TRUSTED_PROXIES > 0:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Content-Security-Policy (django-csp): scripts only from Tend itself (the admin's
# and the API docs' files; no inline script anywhere), no plugins, no framing.
# Inline style attributes stay allowed: the admin and Tend's pages use them.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
# Permissions-Policy (django-permissions-policy): Tend uses none of these browser features.
PERMISSIONS_POLICY = {
    feature: []
    for feature in (
        "accelerometer", "camera", "display-capture", "geolocation", "gyroscope", "magnetometer",
        "microphone", "payment", "usb", "serial", "hid", "bluetooth",
    )
}  # fmt: skip
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Load balancers probe over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)

# --- django-q2 -------------------------------------------------------------
# Delivery is at-least-once, so every task claims its work atomically (see
# agents_core.dispatch). `retry` must exceed `timeout`, or a slow task is
# handed out a second time while it still runs.
Q_TIMEOUT = env.int("Q_TIMEOUT", default=3600)
REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER = {
    "name": env.str("Q_CLUSTER_NAME", default="tend"),
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": Q_TIMEOUT,
    "retry": Q_TIMEOUT + 600,
    "max_attempts": 3,
    "ack_failures": True,
    "catch_up": False,
    "save_limit": 1000,
    "label": "Task queue",
    "sync": env.bool("Q_SYNC", default=False),
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    # The ORM broker polls the database; once a second is plenty here.
    Q_CLUSTER["poll"] = 1

# API tokens (django-rest-knox): stored as digests, shown once, expiring after
# TEND_API_TOKEN_DAYS (0: never); "tend_" marks them for secret scanners.
TEND_API_TOKEN_DAYS = env.int("TEND_API_TOKEN_DAYS", default=90)
KNOX_TOKEN_MODEL = "agents_core.ApiToken"
# knox's own token model is swapped out for ApiToken; its migrations would still
# create its unused table (and a foreign key to users that blocks PostgreSQL's
# TRUNCATE in the test suite's flushes). Without migrations, no table is made.
MIGRATION_MODULES = {"knox": None}
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=TEND_API_TOKEN_DAYS) if TEND_API_TOKEN_DAYS else None,
    "AUTH_HEADER_PREFIX": "Token",
    "TOKEN_PREFIX": "tend_",
}

# --- Django REST framework ---------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "agents_core.api.tokens.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "agents_core.api.common.exception_handler",
    "DEFAULT_PARSER_CLASSES": ["agents_core.api.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "agents_core.api.schema.TendAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "agents_core.api.common.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "agents_core.api.common.KnownQueryParameters",
        "django_filters.rest_framework.DjangoFilterBackend",
        "agents_core.api.common.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env.str("API_THROTTLE_RATE", default="1200/minute")},
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tend API",
    "DESCRIPTION": "Accounts, scoring inputs, health scores and agent runs of a Tend install.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Served from this install's static files: no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "ENUM_NAME_OVERRIDES": {"RagEnum": "csm.models.RAG"},
}
# Largest request body read (a 10,000-row bulk signals upsert is about 3 MB).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_BODY_BYTES", default=5 * 1024 * 1024)
# The largest file the admin's CSV import takes (Django caps request bodies, not uploaded files).
# The book's currency (ISO 4217): every amount on a page, in a message or a QBR is in it.
TEND_CURRENCY = env.str("TEND_CURRENCY", default="USD").strip().upper()
if not re.fullmatch(r"[A-Z]{3}", TEND_CURRENCY):
    raise ImproperlyConfigured(
        f"TEND_CURRENCY must be an ISO 4217 code such as USD or EUR, not {TEND_CURRENCY!r}."
    )
TEND_MAX_UPLOAD_BYTES = env.int("TEND_MAX_UPLOAD_BYTES", default=20 * 1024 * 1024)
# Escalation to the owner's manager: a task late by this many business days for its priority,
# an alert not acknowledged (or snoozed) within TEND_ESCALATE_ALERTS_AFTER business days.
TEND_ESCALATE_AFTER = env.str("TEND_ESCALATE_AFTER", default="urgent=1,high=2,normal=3,low=5")
TEND_ESCALATE_ALERTS_AFTER = env.int("TEND_ESCALATE_ALERTS_AFTER", default=2)
try:
    from csm.playbooks.rules import parse_after  # pure: no Django

    parse_after(TEND_ESCALATE_AFTER, {"urgent": 1, "high": 2, "normal": 3, "low": 5})
except ValueError as exc:
    raise ImproperlyConfigured(f"TEND_ESCALATE_AFTER: {exc}") from None

# --- Tend ------------------------------------------------------------------
# Accounts scored per batch in the daily scan: one read, one bulk upsert and
# one bulk update per batch, whatever the batch holds.
TEND_SCAN_BATCH_SIZE = env.int("TEND_SCAN_BATCH_SIZE", default=1000)
# An account changed in the admin, the API or an import is scored again within
# seconds (csm.scoring.on_change), at most this many per run (the rest follow).
TEND_RESCORE_ON_CHANGE = env.bool("TEND_RESCORE_ON_CHANGE", default=True)
TEND_RESCORE_MAX_ACCOUNTS = env.int("TEND_RESCORE_MAX_ACCOUNTS", default=10_000)
# The usage stream (csm.usage): what the tracking endpoint accepts is stored as events and rolled
# up off the request, soon after it arrives (a `rollup_usage` run queued on ingest), at most this
# many events stored and account-days rolled up per run (a follow-up run takes the rest); events
# are kept this many days.
TEND_USAGE_ROLLUP_ON_INGEST = env.bool("TEND_USAGE_ROLLUP_ON_INGEST", default=True)
TEND_USAGE_STORE_MAX_EVENTS = env.int("TEND_USAGE_STORE_MAX_EVENTS", default=200_000)
TEND_USAGE_ROLLUP_MAX_ACCOUNTS = env.int("TEND_USAGE_ROLLUP_MAX_ACCOUNTS", default=2_000)
TEND_USAGE_ROLLUP_MAX_DELAY = env.int("TEND_USAGE_ROLLUP_MAX_DELAY", default=300)
TEND_EVENT_RETENTION_DAYS = env.int("TEND_EVENT_RETENTION_DAYS", default=400)
# Previews and backtests (csm.trust.evaluations) are kept this many days, then pruned each night.
TEND_EVALUATION_RETENTION_DAYS = env.int("TEND_EVALUATION_RETENTION_DAYS", default=90)
if TEND_EVALUATION_RETENTION_DAYS < 1:
    raise ImproperlyConfigured("TEND_EVALUATION_RETENTION_DAYS must be at least 1.")
# Take an account's seats in use from the users active in the product over 30 days.
TEND_SEATS_FROM_USAGE = env.bool("TEND_SEATS_FROM_USAGE", default=False)
# Fan-out (agents_core.fanout): how many tasks work one scan or QBR run at once,
# on any number of machines. One on SQLite (one writer at a time); on a server
# database the cluster's worker count: set it to the workers of all machines.
TEND_PARALLELISM = env.int(
    "TEND_PARALLELISM",
    default=1 if DATABASES["default"]["ENGINE"].endswith("sqlite3") else Q_CLUSTER["workers"],
)
# PostgreSQL: a worker doing a run's batches alone commits each batch's writes on a second
# connection while it reads and scores the next (agents_core/write_behind.py). Off: one, in turn.
TEND_WRITE_BEHIND = env.bool("TEND_WRITE_BEHIND", default=True)
# A batch claimed this many seconds ago and not finished belongs to a dead worker: taken again.
TEND_BATCH_TIMEOUT = env.int("TEND_BATCH_TIMEOUT", default=300)
# A database that is locked or unreachable is waited for, with backoff, this long before a batch gives up.
TEND_DB_RETRY_SECONDS = env.int("TEND_DB_RETRY_SECONDS", default=60)
# A run still queued after this many seconds lost its task (a broker restart):
# the 5-minute recovery sweep sends it again (a run claimed twice runs once).
TEND_REQUEUE_AFTER = env.int("TEND_REQUEUE_AFTER", default=600)
# Churn alerts: no second alert for an account within the cooldown; at most
# the cap go out per scan (highest ARR first), the rest are recorded, held back.
TEND_ALERT_COOLDOWN_DAYS = env.int("TEND_ALERT_COOLDOWN_DAYS", default=7)
TEND_ALERT_CAP_PER_RUN = env.int("TEND_ALERT_CAP_PER_RUN", default=5)
# A champion the product has not seen for this many days has left (csm.contacts.rules); with
# TEND_CONTACTS_FROM_USAGE, identified product users no contact has become contacts (role user).
TEND_CHAMPION_INACTIVE_DAYS = env.int("TEND_CHAMPION_INACTIVE_DAYS", default=30)
TEND_CONTACTS_FROM_USAGE = env.bool("TEND_CONTACTS_FROM_USAGE", default=False)
# A detractor survey answer (NPS 0-6, CSAT 1-2) raises a churn alert (csm.surveys.followup).
TEND_DETRACTOR_ALERTS = env.bool("TEND_DETRACTOR_ALERTS", default=True)
# Survey webhooks: Delighted signs with the account's API key, Typeform with the webhook's secret.
DELIGHTED_API_KEY = env.str("DELIGHTED_API_KEY", default="")
TYPEFORM_WEBHOOK_SECRET = env.str("TYPEFORM_WEBHOOK_SECRET", default="")
# Google Chat: the incoming webhook of the team's space (alerts off there if empty).
CHAT_WEBHOOK_URL = env.str("CHAT_WEBHOOK_URL", default="")
# Slack (off while SLACK_BOT_TOKEN is empty): the app's bot token (scopes chat:write, im:write,
# users:read, users:read.email, im:history, channels:history), the signing secret its interactive
# buttons are checked with, and where alerts go: the owner's DM, or with SLACK_ALERT_CHANNEL a team
# channel (headlines only).
SLACK_BOT_TOKEN = env.str("SLACK_BOT_TOKEN", default="")
SLACK_SIGNING_SECRET = env.str("SLACK_SIGNING_SECRET", default="")
SLACK_ALERT_CHANNEL = env.str("SLACK_ALERT_CHANNEL", default="")
SLACK_API_URL = env.str("SLACK_API_URL", default="https://slack.com/api/")
# Where an interaction's response_url may point (nothing else is posted to).
SLACK_HOOKS_URL = env.str("SLACK_HOOKS_URL", default="https://hooks.slack.com/")
# The text property of a Notion account page that receives its latest alert.
NOTION_ALERT_PROPERTY = env.str("NOTION_ALERT_PROPERTY", default="Tend alert")
# Where people reach this install (links in alerts), e.g. https://tend.example.com
TEND_BASE_URL = env.str("TEND_BASE_URL", default="http://127.0.0.1:8000")
# Event bus: also POST each event as JSON to this URL (optional).
EVENT_WEBHOOK_URL = env.str("EVENT_WEBHOOK_URL", default="")
# Rows one bulk signals request may carry.
TEND_BULK_MAX_ROWS = env.int("TEND_BULK_MAX_ROWS", default=10_000)
# An API list PostgreSQL expects to hold this many rows or more is not counted: its count is the
# planner's estimate, labelled `count_is_estimate` (0: always count).
TEND_ESTIMATED_COUNT_FROM = env.int("TEND_ESTIMATED_COUNT_FROM", default=100_000)
if 0 < TEND_ESTIMATED_COUNT_FROM < 1_000:  # under a few pages, an estimate could hide a page break
    raise ImproperlyConfigured("TEND_ESTIMATED_COUNT_FROM must be 0 (always count) or at least 1000.")
# A shorter list (10,000 rows or more) is counted, unless the count takes longer than this: then
# it is stopped and the estimate shown, labelled the same way (0: no limit).
TEND_COUNT_BUDGET_MS = env.int("TEND_COUNT_BUDGET_MS", default=50)
if TEND_COUNT_BUDGET_MS < 0:
    raise ImproperlyConfigured("TEND_COUNT_BUDGET_MS must be 0 (no limit) or a number of milliseconds.")
# Notion: the accounts database to sync (off while NOTION_TOKEN is empty), and
# the names of its properties for Tend's fields, merged over the defaults of
# csm.ingest.notion.DEFAULT_PROPERTY_MAP, e.g. {"external_id": "Salesforce ID"}.
NOTION_TOKEN = env.str("NOTION_TOKEN", default="")
NOTION_ACCOUNTS_DATABASE_ID = env.str("NOTION_ACCOUNTS_DATABASE_ID", default="")
NOTION_PROPERTY_MAP = env.json("NOTION_PROPERTY_MAP", default={})
# HubSpot CRM sync (off while HUBSPOT_ACCESS_TOKEN is empty): a private app's access token
# (docs/integrations.md#hubspot for its scopes), the API root, and the pace Tend keeps: requests
# per 10 seconds and searches per second (HubSpot's limits for the app's tier), and the calls left
# of the day's allowance at which a run stops so other integrations keep theirs.
HUBSPOT_ACCESS_TOKEN = env.str("HUBSPOT_ACCESS_TOKEN", default="")
HUBSPOT_BASE_URL = env.str("HUBSPOT_BASE_URL", default="https://api.hubapi.com")
HUBSPOT_REQUESTS_PER_10S = env.int("HUBSPOT_REQUESTS_PER_10S", default=100)
HUBSPOT_SEARCHES_PER_SECOND = env.int("HUBSPOT_SEARCHES_PER_SECOND", default=4)
HUBSPOT_DAILY_RESERVE = env.int("HUBSPOT_DAILY_RESERVE", default=1_000)
# Salesforce CRM sync (off while neither is set): an OAuth access token and the org's instance URL,
# or the JWT bearer flow of a connected app (the integration user's username, the app's consumer
# key, its private key as PEM text or a file; SALESFORCE_DOMAIN "login", or "test" for a sandbox).
# A run stops when less than SALESFORCE_DAILY_RESERVE_PERCENT of the org's daily allowance is left.
SALESFORCE_INSTANCE_URL = env.str("SALESFORCE_INSTANCE_URL", default="")
SALESFORCE_ACCESS_TOKEN = env.str("SALESFORCE_ACCESS_TOKEN", default="")
SALESFORCE_API_VERSION = env.str("SALESFORCE_API_VERSION", default="62.0")
SALESFORCE_USERNAME = env.str("SALESFORCE_USERNAME", default="")
SALESFORCE_CONSUMER_KEY = env.str("SALESFORCE_CONSUMER_KEY", default="")
SALESFORCE_PRIVATE_KEY = env.str("SALESFORCE_PRIVATE_KEY", default="", multiline=True)
SALESFORCE_PRIVATE_KEY_FILE = env.str("SALESFORCE_PRIVATE_KEY_FILE", default="")
SALESFORCE_DOMAIN = env.str("SALESFORCE_DOMAIN", default="login")
SALESFORCE_DAILY_RESERVE_PERCENT = env.float("SALESFORCE_DAILY_RESERVE_PERCENT", default=20.0)
# QBRs are published as pages of this database (off while empty); its title property.
NOTION_QBR_DATABASE_ID = env.str("NOTION_QBR_DATABASE_ID", default="")
NOTION_QBR_TITLE_PROPERTY = env.str("NOTION_QBR_TITLE_PROPERTY", default="Name")
# Gmail drafts (off while neither is set): a service account with domain-wide
# delegation for the gmail.compose scope, as its JSON key or a path to it.
GMAIL_SERVICE_ACCOUNT_JSON = env.str("GMAIL_SERVICE_ACCOUNT_JSON", default="")
GMAIL_SERVICE_ACCOUNT_FILE = env.str("GMAIL_SERVICE_ACCOUNT_FILE", default="")
GMAIL_API_ENDPOINT = env.str("GMAIL_API_ENDPOINT", default="")  # empty: Google's
# Who sees every account (and every run), not only their own.
TEND_VIEW_ALL_PERMISSION = "csm.view_all_accounts"

# Logs go to stderr: plain lines in development, one JSON object per line in
# production (LOG_FORMAT=json|plain) for journald, Loki, CloudWatch and friends.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(process)d",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "filters": {"no_client_tracebacks": {"()": "config.logging_filters.NoTracebackForClientErrors"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["no_client_tracebacks"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # django-axes logs every process start at INFO; its lockouts come at WARNING.
        "axes": {"level": "WARNING"},
    },
}
