"""Power Climate settings: one module, every value read from the environment.

Each variable is listed, with its default, in `.env.example` and the README. The helpers below fail
loudly on a malformed value instead of silently guessing.
"""

import os
from pathlib import Path

import dj_database_url
import xstatic.pkg.bootstrap
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

DEVELOPMENT_SECRET_KEY = "development-only-secret-key-never-use-in-production"  # noqa: S105


def envbool(name: str, default: str) -> bool:
    value = os.getenv(name, default).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def envint(name: str, default: str, *, minimum: int | None = None) -> int:
    value = os.getenv(name, default)
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}")
    return number


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.getenv(name, default).split(",") if item.strip()]


DEBUG = envbool("DJANGO_DEBUG", "false")
SECRET_KEY = os.getenv("DJANGO_SECRET_KEY", DEVELOPMENT_SECRET_KEY)
if not DEBUG and (SECRET_KEY == DEVELOPMENT_SECRET_KEY or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY must be set to a random value of at least 50 characters when "
        "DJANGO_DEBUG is off. Generate one with: python -c 'import secrets; "
        "print(secrets.token_urlsafe(64))'"
    )

ALLOWED_HOSTS = envlist("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = envlist("DJANGO_CSRF_TRUSTED_ORIGINS", "")
SITE_URL = os.getenv("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "crispy_forms",
    "crispy_bootstrap5",
    "axes",
    "csp",
    "surveys",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
    "surveys.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "powerclimate.urls"
WSGI_APPLICATION = "powerclimate.wsgi.application"

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
                "django.template.context_processors.i18n",
                "reports.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.getenv("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
        conn_max_age=envint("DATABASE_CONN_MAX_AGE", "60", minimum=0),
        conn_health_checks=True,
    )
}
if os.getenv("DATABASE_REPLICA_URL"):
    # Report reads go to the replica; see reports/routers.py and docs/scaling.md.
    DATABASES["replica"] = dj_database_url.parse(
        os.environ["DATABASE_REPLICA_URL"], conn_max_age=60, conn_health_checks=True
    )
    DATABASE_ROUTERS = ["reports.routers.ReplicaRouter"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "reports:home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.getenv("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.getenv("DJANGO_STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("bootstrap", xstatic.pkg.bootstrap.BASE_DIR),
]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    # plotly.js from inside the plotly package, one file, served by the app (no CDN).
    "reports.staticfinders.PlotlyFinder",
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if envbool("DJANGO_STATIC_MANIFEST", "false" if DEBUG else "true")
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Security headers. Survey pages add Referrer-Policy no-referrer and Cache-Control no-store
# themselves. The rest of the site sends same-origin: never a referrer to another site, but
# browsers then send a real Origin header with POST forms, which Django's CSRF check needs
# (under no-referrer Chromium sends "Origin: null" and every log-in form fails with a 403).
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = envint("DJANGO_SESSION_AGE", str(8 * 3600), minimum=300)
CSRF_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT = envbool("DJANGO_SECURE_SSL_REDIRECT", "false" if DEBUG else "true")
SESSION_COOKIE_SECURE = envbool("DJANGO_SECURE_COOKIES", "false" if DEBUG else "true")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = envint("DJANGO_HSTS_SECONDS", "0" if DEBUG else "31536000", minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = envbool("DJANGO_HSTS_PRELOAD", "false" if DEBUG else "true")
WHITENOISE_USE_FINDERS = DEBUG or not envbool(
    "DJANGO_STATIC_MANIFEST", "false" if DEBUG else "true"
)
if envbool("DJANGO_BEHIND_PROXY", "false"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Strict Content-Security-Policy: every asset from this origin, no inline scripts.
# Plotly sets inline styles on the SVG it draws, hence 'unsafe-inline' for styles only.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

# Log-in rate limiting (django-axes): lock a user name from an address after repeated failures.
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", "5", minimum=1)
AXES_COOLOFF_TIME = envint("AXES_COOLOFF_MINUTES", "15", minimum=1) / 60
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_ENABLED = envbool("AXES_ENABLED", "true")
AXES_VERBOSE = False

# Requests larger than this are refused before a view sees them (a 10 MB comment, 10,000 fields).
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("DJANGO_MAX_REQUEST_BYTES", str(512 * 1024), minimum=1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = envint("DJANGO_MAX_REQUEST_FIELDS", "400", minimum=50)

# Anonymity defaults (each wave may raise them; k is never below 3, k_comments never below k).
POWERCLIMATE_DEFAULT_K = envint("POWERCLIMATE_DEFAULT_K", "5", minimum=3)
POWERCLIMATE_DEFAULT_K_COMMENTS = envint("POWERCLIMATE_DEFAULT_K_COMMENTS", "10", minimum=3)
# Published figures advance in batches of at least this many new responses (and never fewer
# than the wave's k), so a watcher cannot tie one submission to one change.
POWERCLIMATE_PUBLISH_BATCH = envint("POWERCLIMATE_PUBLISH_BATCH", "5", minimum=3)
# Where a full batch is published: "background" (a thread after the response is sent),
# "worker" (only `manage.py publish_results --loop`), or "inline" (in the request; tests).
POWERCLIMATE_PUBLISH_MODE = os.getenv("POWERCLIMATE_PUBLISH_MODE", "background")
if POWERCLIMATE_PUBLISH_MODE not in ("background", "worker", "inline"):
    raise ImproperlyConfigured(
        "POWERCLIMATE_PUBLISH_MODE must be background, worker or inline, "
        f"not {POWERCLIMATE_PUBLISH_MODE!r}"
    )
# Free-text comments are deleted this many days after a wave closes (0 keeps them).
POWERCLIMATE_COMMENT_RETENTION_DAYS = envint(
    "POWERCLIMATE_COMMENT_RETENTION_DAYS", "365", minimum=0
)

# After these numbers of requests a process collects garbage once and freezes what survived
# (powerclimate/gc_freeze.py); empty: never.
POWERCLIMATE_GC_FREEZE_AFTER = envlist("POWERCLIMATE_GC_FREEZE_AFTER", "10,100,1000")
if not all(n.isdigit() and int(n) > 0 for n in POWERCLIMATE_GC_FREEZE_AFTER):
    raise ImproperlyConfigured(
        "POWERCLIMATE_GC_FREEZE_AFTER must be request counts separated by commas, "
        f"not {os.getenv('POWERCLIMATE_GC_FREEZE_AFTER')!r}"
    )
POWERCLIMATE_GC_FREEZE_AFTER = [int(n) for n in POWERCLIMATE_GC_FREEZE_AFTER]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s %(message)s"}},
    # Survey links carry their secret token in the path: these loggers log paths, so the
    # filter replaces everything after /s/<kind>/ (surveys/logging.py).
    "filters": {"redact_survey_paths": {"()": "surveys.logging.RedactSurveyPaths"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact_survey_paths"],
        }
    },
    "root": {"handlers": ["console"], "level": os.getenv("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"filters": ["redact_survey_paths"]},
        "django.security.csrf": {"filters": ["redact_survey_paths"]},
        # The access log of the development server records client addresses; survey paths must
        # not leave addresses behind, so it only reports problems.
        "django.server": {"level": "WARNING", "filters": ["redact_survey_paths"]},
    },
}
