"""Settings for bcrm, read from the environment with safe defaults.

DATABASE_URL   default: SQLite file ``bcrm.sqlite3`` in the data folder
BCRM_DATA_DIR  data folder, default ``./var``
SECRET_KEY     default: generated once into ``<data folder>/secret_key``
BCRM_AUDIT_KEY default: generated once into ``<data folder>/audit_key`` (signs the audit checkpoints)
DEBUG          off unless set to 1/true/yes
ALLOWED_HOSTS  comma separated, default ``localhost,127.0.0.1,[::1]``
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# Files bcrm creates (the SQLite database and its WAL, the secret key, imports and their error files,
# e-mails written to the outbox) are the owner's only: umask 077 gives 0600 files and 0700 folders.
# BCRM_UMASK changes it (octal, e.g. 027 to let the group read).
os.umask(int(os.environ.get("BCRM_UMASK", "077"), 8))
DATA_DIR = Path(os.environ.get("BCRM_DATA_DIR", "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)
try:  # a folder from an older version, or made by hand: tighten it too
    if DATA_DIR.stat().st_mode & 0o077 and DATA_DIR.stat().st_uid == os.getuid():
        DATA_DIR.chmod(0o700)
except OSError:
    pass


def load_key(env_name: str, file_name: str) -> str:
    """A secret from the environment, else from a file in the data folder generated once (mode 0600)."""
    from_env = os.environ.get(env_name)
    if from_env:
        return from_env
    key_file = DATA_DIR / file_name
    if not key_file.exists():
        # O_EXCL so two processes starting at once cannot write different keys.
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(50))
    return key_file.read_text().strip()


def load_secret_key() -> str:
    return load_key("SECRET_KEY", "secret_key")


SECRET_KEY = load_secret_key()
# The key that signs the audit trail's checkpoints: kept apart from the database (environment, or a file in the
# data folder; in production keep it off the database host, and keep the checkpoint file too).
BCRM_AUDIT_KEY = load_key("BCRM_AUDIT_KEY", "audit_key")
# Scheduled backups (`bcrm worker`): where, and how many to keep.
BCRM_BACKUP_DIR = Path(os.environ.get("BCRM_BACKUP_DIR", DATA_DIR / "backups"))
BCRM_BACKUP_KEEP = int(os.environ.get("BCRM_BACKUP_KEEP", "7"))
BCRM_BACKUP_EVERY_HOURS = int(os.environ.get("BCRM_BACKUP_EVERY_HOURS", "24"))  # 0: no scheduled backups
# Connected mailboxes (bcrm.intel): minutes between scheduled syncs (0: none); our own e-mail domains.
BCRM_MAIL_SYNC_MINUTES = int(os.environ.get("BCRM_MAIL_SYNC_MINUTES", "30"))
BCRM_INTERNAL_DOMAINS = env_list("BCRM_INTERNAL_DOMAINS", "")
# "Keep this message": the most of one message read (bytes; a larger one is read up to this and marked
# truncated) and the most of its body text stored (characters).
BCRM_MAIL_KEEP_MAX_BYTES = int(os.environ.get("BCRM_MAIL_KEEP_MAX_BYTES", str(10 * 1024 * 1024)))
BCRM_MAIL_KEEP_MAX_TEXT = int(os.environ.get("BCRM_MAIL_KEEP_MAX_TEXT", "200000"))
BCRM_AUDIT_CHECKPOINTS = Path(os.environ.get("BCRM_AUDIT_CHECKPOINTS", DATA_DIR / "audit-checkpoints.jsonl"))
DEBUG = env_bool("DEBUG")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "django_countries",
    "ninja",
    "bcrm.web",
    "bcrm.audit",
    "bcrm.accounts",
    "bcrm.parties",
    "bcrm.financing",
    "bcrm.engagement",
    "bcrm.segmentation",
    "bcrm.dataquality",
    "bcrm.dataio",
    "bcrm.surveys",
    "bcrm.dedupe",
    "bcrm.intel",
    "bcrm.fileanalysis",
    "bcrm.plans",
    "bcrm.closing",
    "bcrm.playbooks",
    "bcrm.book",
    "bcrm.resources",
    "bcrm.progress",
    "bcrm.monitoring",
    "bcrm.demo",
    "bcrm.backup",
    "bcrm.connect",
    "bcrm.privacy",
    "django_tasks",
    "django_tasks_db",
    "axes",
    "csp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "bcrm.accounts.security.SessionTimeoutMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a lockout into the sign-in page with its message
]
# A write that times out on the database's lock answers 503 with Retry-After, not 500 (bcrm.core.dbbusy).
MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.common.CommonMiddleware") + 1,
                  "bcrm.core.dbbusy.DatabaseBusyMiddleware")

ROOT_URLCONF = "bcrm.urls"
WSGI_APPLICATION = "bcrm.wsgi.application"
ASGI_APPLICATION = "bcrm.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'bcrm.sqlite3'}",
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + busy timeout so the web server and a worker can share one file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
            "PRAGMA busy_timeout=20000; PRAGMA foreign_keys=ON; PRAGMA cache_size=-65536;"
        ),
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0 if os.environ.get("PYTEST_CURRENT_TEST") else 60
TEST_DB_NAME = os.environ.get("BCRM_TEST_DB_NAME")
if TEST_DB_NAME:
    DATABASES["default"]["TEST"] = {"NAME": TEST_DB_NAME}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Sign-in protection (README "Security"): django-axes locks an account, and separately an address, after
# BCRM_LOGIN_FAILURE_LIMIT failed sign-ins within BCRM_LOGIN_COOLOFF_MINUTES, for that long (each failure
# during the lock restarts it). `bcrm unlock USER` or the admin's "Unlock" action ends it early. API
# tokens are not passwords and are not counted. Behind a reverse proxy, set AXES_IPWARE_PROXY_COUNT /
# AXES_IPWARE_META_PRECEDENCE_ORDER (django-axes docs) so the client's address is the one locked.
AUTHENTICATION_BACKENDS = [
    "bcrm.accounts.security.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("BCRM_LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("BCRM_LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_LOCKOUT_CALLABLE = "bcrm.accounts.security.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
# Sessions end after BCRM_SESSION_IDLE_MINUTES without a request, and BCRM_SESSION_MAX_HOURS after sign-in
# however active (bcrm.accounts.security.SessionTimeoutMiddleware).
BCRM_SESSION_IDLE_MINUTES = int(os.environ.get("BCRM_SESSION_IDLE_MINUTES", "30"))
BCRM_SESSION_MAX_HOURS = int(os.environ.get("BCRM_SESSION_MAX_HOURS", "12"))
SESSION_COOKIE_AGE = BCRM_SESSION_MAX_HOURS * 3600

# Two-factor sign-in and API tokens (README "Security"; issue 15, finding 5), in one block. django-otp keeps
# each user's TOTP (RFC 6238) device and one-time recovery codes; after the password, a session that has not
# passed the second step reaches only the second-step, enrolment and sign-out pages
# (bcrm.accounts.twofactor.TwoFactorMiddleware). Users of the roles in BCRM_2FA_REQUIRED_ROLES (comma
# separated; empty: nobody must) are sent to enrolment until they have a device; anyone may enrol.
# API tokens expire BCRM_TOKEN_DAYS days after they are made unless made with another expiry (0: never).
INSTALLED_APPS += ["django_otp", "django_otp.plugins.otp_totp", "django_otp.plugins.otp_static"]
MIDDLEWARE[MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1:0] = [
    "django_otp.middleware.OTPMiddleware",
    "bcrm.accounts.twofactor.TwoFactorMiddleware",
]
BCRM_2FA_REQUIRED_ROLES = [r.strip() for r in os.environ.get("BCRM_2FA_REQUIRED_ROLES", "admin,compliance").split(",")
                           if r.strip()]
BCRM_TOKEN_DAYS = int(os.environ.get("BCRM_TOKEN_DAYS", "90"))
# Webhooks go to public addresses only (no request forgery into the server's own network) unless this is set.
BCRM_WEBHOOK_ALLOW_PRIVATE = env_bool("BCRM_WEBHOOK_ALLOW_PRIVATE")
OTP_TOTP_ISSUER = "bcrm"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("简体中文"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Comma thousands in both languages (bcrm/formats); applied where a number is formatted for people
# (bcrm.core.formatting, the |money filter, intcomma), not to every {{ number }} (ids in links stay plain).
FORMAT_MODULE_PATH = ["bcrm.formats"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", DATA_DIR / "static"))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the app's static folders too, so `bcrm serve` works before collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the meta tag, not the cookie
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES")
CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES")
# HTTPS in production (README "Security"): HSTS and the redirect to HTTPS are set from the environment;
# behind a proxy that terminates TLS, SECURE_PROXY_SSL_HEADER names the header it sets to "https"
# (e.g. HTTP_X_FORWARDED_PROTO).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT")
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS")
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD")
SECURE_PROXY_SSL_HEADER = ((os.environ["SECURE_PROXY_SSL_HEADER"], "https")
                           if os.environ.get("SECURE_PROXY_SSL_HEADER") else None)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy (django-csp; README "Security"): scripts only from the app's own static files, no inline
# script, no eval (the charts draw with Vega's CSP-safe expression interpreter). Styles allow 'unsafe-inline':
# bars carry their computed width in a style attribute, and htmx, vega-embed and Swagger UI insert <style>
# elements; a style cannot run script, and script is what the policy keeps out.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
    },
}
# The Swagger UI page (/api/v1/docs) and the OpenAPI document (/api/v1/openapi.json) need a signed-in user or an
# API token unless this is on.
BCRM_API_DOCS_PUBLIC = env_bool("BCRM_API_DOCS_PUBLIC")

BCRM_REPORTING_CURRENCY = os.environ.get("BCRM_REPORTING_CURRENCY", "USD")
BCRM_PAGE_SIZE = 50
# After the monthly KPI snapshot, the worker e-mails the management report (PDF, English and Chinese) to the
# active team leads and administrators; BCRM_MANAGEMENT_REPORT_EMAIL=0 turns that off.
BCRM_MANAGEMENT_REPORT_EMAIL = env_bool("BCRM_MANAGEMENT_REPORT_EMAIL", True)
# Lists count at most this many rows; beyond it the page says "10,000+" (counting a million rows
# on every page view is what makes lists slow).
BCRM_COUNT_CAP = 10_000

# Import bounds (README "Security"): the upload's size, and how much a file may hold once read, so a zip bomb
# or a million-column row is refused before it fills memory. Each is an environment variable of the same name.
BCRM_IMPORT_MAX_BYTES = int(os.environ.get("BCRM_IMPORT_MAX_BYTES", str(512 * 1024 * 1024)))
BCRM_IMPORT_MAX_UNPACKED_BYTES = int(os.environ.get("BCRM_IMPORT_MAX_UNPACKED_BYTES", str(1024 * 1024 * 1024)))
BCRM_IMPORT_MAX_SHARED_STRINGS_BYTES = int(os.environ.get("BCRM_IMPORT_MAX_SHARED_STRINGS_BYTES",
                                                          str(128 * 1024 * 1024)))
BCRM_IMPORT_MAX_RATIO = int(os.environ.get("BCRM_IMPORT_MAX_RATIO", "100"))
BCRM_IMPORT_MAX_ROWS = int(os.environ.get("BCRM_IMPORT_MAX_ROWS", "1048576"))
BCRM_IMPORT_MAX_COLUMNS = int(os.environ.get("BCRM_IMPORT_MAX_COLUMNS", "1000"))
BCRM_IMPORT_MAX_CELL_CHARS = int(os.environ.get("BCRM_IMPORT_MAX_CELL_CHARS", "32767"))
BCRM_IMPORT_MAX_MEMBERS = int(os.environ.get("BCRM_IMPORT_MAX_MEMBERS", "10000"))  # parts of an XLSX archive
# Import work (bcrm.dataio): where uploads and their error files are kept, rows written per batch, and how many
# rows of each outcome the job's report keeps (counts always cover the whole file).
BCRM_IMPORT_DIR = Path(os.environ.get("BCRM_IMPORT_DIR") or DATA_DIR / "imports")
BCRM_IMPORT_BATCH_ROWS = int(os.environ.get("BCRM_IMPORT_BATCH_ROWS", "2000"))
BCRM_IMPORT_REPORT_ROWS = int(os.environ.get("BCRM_IMPORT_REPORT_ROWS", "1000"))
# The analyst's file tools (bcrm.fileanalysis): the largest file the page and the API take.
BCRM_ANALYSE_MAX_BYTES = int(os.environ.get("BCRM_ANALYSE_MAX_BYTES", str(100 * 1024 * 1024)))
# Closing-checklist evidence files (bcrm.closing), kept in <data folder>/closing-evidence/: the largest one taken.
BCRM_EVIDENCE_MAX_BYTES = int(os.environ.get("BCRM_EVIDENCE_MAX_BYTES", str(10 * 1024 * 1024)))
# Segmentation: a run asked for on a page runs within the request up to this many clients, above it in the
# worker; a classification that moves more labels than BCRM_TIER_INLINE_LIMIT leaves the tiers to the next
# automation run; previews reuse computed features for BCRM_FEATURE_CACHE_SECONDS (0: no file cache);
# BCRM_COUNTRY_RISK_FILE replaces the shipped country risk table (same JSON shape).
BCRM_INLINE_RUN_LIMIT = int(os.environ.get("BCRM_INLINE_RUN_LIMIT", "50000"))
BCRM_TIER_INLINE_LIMIT = int(os.environ.get("BCRM_TIER_INLINE_LIMIT", "50000"))
# The daily automation run examines the clients with writes since the previous run started, less this many
# seconds (a transaction that began before that run and committed after it is not missed).
BCRM_AUTOMATION_SLACK_SECONDS = int(os.environ.get("BCRM_AUTOMATION_SLACK_SECONDS", "3600"))
BCRM_FEATURE_CACHE_SECONDS = float(os.environ.get("BCRM_FEATURE_CACHE_SECONDS", str(15 * 60)))
BCRM_COUNTRY_RISK_FILE = os.environ.get("BCRM_COUNTRY_RISK_FILE", "")
# The portfolio lifetime-value model (value features) is refitted when the kept fit is this many days older
# than a run's as-of date; in between, runs predict with the kept fit (bcrm.segmentation.model_features).
_refit_days = os.environ.get("BCRM_CLV_REFIT_DAYS", "7").strip()
BCRM_CLV_REFIT_DAYS = int(_refit_days) if _refit_days.isdigit() else 0
if BCRM_CLV_REFIT_DAYS < 1:
    raise ImproperlyConfigured("BCRM_CLV_REFIT_DAYS must be a whole number of days, 1 or more.")

# Background work (DESIGN.md section 4): Django's task API with the database backend, so no extra
# server is needed; `bcrm worker` runs the queue and the schedules. BCRM_TASKS_IMMEDIATE=1 runs
# tasks inline (tests, one-off scripts).
TASKS = {
    "default": {
        "BACKEND": (
            "django_tasks.backends.immediate.ImmediateBackend"
            if env_bool("BCRM_TASKS_IMMEDIATE")
            else "django_tasks_db.DatabaseBackend"
        ),
    }
}

# Long work (imports, automation runs, the worker's queue entries) beats while it runs; work silent for
# BCRM_HEARTBEAT_TIMEOUT seconds is marked failed by the worker's sweep, and queued again where that is safe.
BCRM_HEARTBEAT_TIMEOUT = float(os.environ.get("BCRM_HEARTBEAT_TIMEOUT", "120"))

# E-mail (survey invitations, progress reports, management reports): one configuration for the web server,
# the worker and the CLI, decided here from the environment. With EMAIL_HOST set, SMTP through that server;
# without it, every process writes each message as one .eml file into EMAIL_FILE_PATH (<data>/outbox), so
# nothing is lost and nothing fails for want of a mail server (bcrm.core.mailbox).
EMAIL_HOST = os.environ.get("EMAIL_HOST", "").strip()
EMAIL_BACKEND = ("django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST
                 else "bcrm.core.mailbox.EmlFileBackend")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL")
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "30"))
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(DATA_DIR / "outbox"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "bcrm <noreply@localhost>")
# The address users reach the app at, for links in e-mails (survey links, reports, unsubscribe). When it is not
# set, `bcrm serve` (and so `bcrm demo`) sets it to the host and port it serves on, for itself and its worker.
BCRM_BASE_URL = os.environ.get("BCRM_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

# Logging (README "Logging"): every process (web server, worker, CLI) writes its log to the console (stderr),
# one line per record: time, level, logger (the module, bcrm.<app>.<module>), message, then the traceback of an
# error. BCRM_LOG_LEVEL sets the level (DEBUG, INFO, WARNING, ERROR; default INFO); LOG_LEVEL, its older name,
# is still read. The service manager (systemd, Docker) keeps and rotates the output.
BCRM_LOG_LEVEL = (os.environ.get("BCRM_LOG_LEVEL") or os.environ.get("LOG_LEVEL") or "INFO").strip().upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"line": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "filters": {"expected_refusals": {"()": "bcrm.web.log_filters.ExpectedRefusals"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "line"}},
    "root": {"handlers": ["console"], "level": BCRM_LOG_LEVEL},
    # a 403 is an expected answer: one line, no traceback
    "loggers": {"django.request": {"filters": ["expected_refusals"]}},
}
