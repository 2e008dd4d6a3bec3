"""Settings of the reference backend.

They are the production-robustness guide's Django settings (docs/ in this
repository), each value read from the environment contract the Pulumi program
hands the backend (docs/backend-contract.md). Where the
guide's code does not work as written with the packages it names, the
setting says what it does instead and why.

To adopt them, copy config/env.py and the sections below from "Database" to
"Logging" into your own settings (docs/backend-contract.md, "Adopting the
settings in your own app").
"""

from pathlib import Path
from urllib.parse import quote

from .env import Env

BASE_DIR = Path(__file__).resolve().parent.parent

env = Env()

# --- The project -------------------------------------------------------------

SECRET_KEY = env.secret("SECRET_KEY", required=True)
DEBUG = False
ALLOWED_HOSTS = env.csv("ALLOWED_HOSTS", required=True)
# The site's own origins (scheme and host): Django 4 checks a POST's Origin
# header against them, which behind a TLS-terminating proxy it cannot derive.
CSRF_TRUSTED_ORIGINS = env.csv("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "core",
]

MIDDLEWARE = [
    # First: every other part of Django sees the client's address in
    # REMOTE_ADDR, taken from X-Forwarded-For only when the request comes
    # from the stack's own proxy (core/clientip.py).
    "core.clientip.ClientAddressMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before CommonMiddleware, which can answer on its own (redirects), so
    # that those answers carry CORS headers too.
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

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

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# gunicorn reads WEB_CONCURRENCY itself (unset: 1 worker). It is read here
# too so that a bad value fails with the other problems at the entrypoint's
# `check`, not as a traceback from gunicorn.
WEB_CONCURRENCY = env.integer("WEB_CONCURRENCY", 1, minimum=1)

# --- Database ------------------------------------------------------------------

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "HOST": env.string("DB_HOST", required=True),
        "PORT": env.integer("DB_PORT", 5432, minimum=1, maximum=65535),
        "NAME": env.string("DB_NAME", required=True),
        "USER": env.string("DB_USER", required=True),
        "PASSWORD": env.secret("DB_PASSWORD", required=True),
        # Keep connections alive for 10 minutes: one per gunicorn worker,
        # WEB_CONCURRENCY per container. (Only because config/asgi.py serves
        # HTTP through Django's WSGI handler: under its ASGI handler every
        # request would open a connection of its own. See there.)
        "CONN_MAX_AGE": env.integer("DB_CONN_MAX_AGE", 600),
        # Test a reused connection before a request uses it (Django 4.1+), so
        # one that Postgres or the network dropped is replaced, not an error.
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": {
            "connect_timeout": env.integer("DB_CONNECT_TIMEOUT", 10),
            # Milliseconds: 30000 is the guide's 30-second query timeout.
            "options": f"-c statement_timeout={env.integer('DB_STATEMENT_TIMEOUT', 30000)}",
            "keepalives": 1,
            # Send a keepalive after 30 s idle, resend every 10 s, and drop
            # the connection after 5 unanswered: a dead peer is noticed in
            # about 80 s instead of the kernel's two hours.
            "keepalives_idle": env.integer("DB_KEEPALIVES_IDLE", 30),
            "keepalives_interval": env.integer("DB_KEEPALIVES_INTERVAL", 10),
            "keepalives_count": env.integer("DB_KEEPALIVES_COUNT", 5, minimum=1),
        },
    }
}

# --- CORS (django-cors-headers) ------------------------------------------------

# Each origin needs its scheme (https://example.com); django-cors-headers'
# system check, which the entrypoint runs, refuses one without.
CORS_ALLOWED_ORIGINS = env.csv("CORS_ALLOWED_ORIGINS")
CORS_ALLOW_ALL_ORIGINS = env.boolean("CORS_ALLOW_ALL_ORIGINS", False)
# Browsers cache a preflight answer this long (24 hours): far fewer OPTIONS.
CORS_PREFLIGHT_MAX_AGE = env.integer("CORS_PREFLIGHT_MAX_AGE", 86400)

CORS_ALLOW_HEADERS = [
    "accept",
    "accept-encoding",
    "accept-language",
    "authorization",
    "content-type",
    "content-length",
    "x-csrftoken",
    "x-requested-with",
    "x-guest-session-id",
    "cache-control",
    "if-modified-since",
    "if-none-match",
    "access-control-request-method",
    "access-control-request-headers",
]

CORS_EXPOSE_HEADERS = [
    "content-type",
    "content-length",
    "authorization",
    "x-csrftoken",
    "x-guest-session-id",
    "etag",
    "cache-control",
    "expires",
    "last-modified",
]

# --- Redis: channel layer and cache --------------------------------------------

REDIS_HOST = env.string("REDIS_HOST", required=True)
REDIS_PORT = env.integer("REDIS_PORT", 6379, minimum=1, maximum=65535)
REDIS_DB = env.integer("REDIS_DB", 0, maximum=15)
# Required like DB_PASSWORD, but may be set empty for a Redis without a
# password: forgetting it must not look like "no password".
REDIS_PASSWORD = env.secret("REDIS_PASSWORD", required=True, allow_empty=True)
# One URL for the channel layer, the cache and the health check. The password
# is quoted: the program's are alphanumeric, yours may not be.
_redis_auth = f":{quote(REDIS_PASSWORD, safe='')}@" if REDIS_PASSWORD else ""
REDIS_URL = f"redis://{_redis_auth}{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}"

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [REDIS_URL],
            # Max messages per channel.
            "capacity": env.integer("REDIS_CHANNEL_CAPACITY", 1000, minimum=1),
            # Message expiry in seconds.
            "expiry": env.integer("REDIS_CHANNEL_EXPIRY", 60, minimum=1),
            # The guide writes "channel_capacity": 100, but channels_redis
            # takes a mapping of channel-name glob (or compiled regex) to
            # capacity and calls .items() on it: a bare 100 raises
            # AttributeError as soon as the layer is first used. The guide
            # names no channel; its 100 is applied to "specific.*", the
            # per-connection channels every consumer receives on (named by
            # new_channel()), the reading in which both numbers keep a
            # meaning: a stalled client can back up 100 messages, and named
            # channels (workers, your own sends) keep `capacity`.
            "channel_capacity": {"specific.*": 100},
            # Messages in Redis are encrypted with Fernet (python3-cryptography,
            # which Debian's python3-channels-redis depends on). Every backend
            # must share the key: they do, as they share SECRET_KEY.
            "symmetric_encryption_keys": [SECRET_KEY[:32]],
        },
    },
}

USE_REDIS_CACHE = env.boolean("USE_REDIS_CACHE", True)
if USE_REDIS_CACHE:
    # The guide names Django's built-in RedisCache, but its OPTIONS are
    # django-redis's: the built-in backend hands OPTIONS to redis-py's
    # connection pool as keyword arguments, so SOCKET_TIMEOUT and the others
    # fail with TypeError at the first cache call, and it has no
    # IGNORE_EXCEPTIONS at all. django-redis (Debian's python3-django-redis)
    # reads every one of them and is what really gives "don't fail if Redis
    # is down": with IGNORE_EXCEPTIONS a connection error or timeout makes
    # a read a miss and a write a no-op instead of a 500.
    # The guide's top-level RETRY_ON_TIMEOUT is read by neither backend; the
    # retry it asks for is retry_on_timeout in CONNECTION_POOL_KWARGS.
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": 5,
                "SOCKET_TIMEOUT": 5,
                "CONNECTION_POOL_KWARGS": {
                    "max_connections": env.integer("REDIS_MAX_CONNECTIONS", 50, minimum=1),
                    "retry_on_timeout": True,
                    "health_check_interval": 30,
                },
                "IGNORE_EXCEPTIONS": True,  # Don't fail if Redis is down
            },
        }
    }
    # An ignored exception is still logged (logger django_redis, below), so
    # an outage shows in the container log instead of as a silent slowdown.
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
else:
    # Per-process memory: each worker has its own cache.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Proxies and the client's address ------------------------------------------

# Who forwards requests to the backend: the Docker name of the stack's
# Traefik (or addresses, networks), comma-separated. Only their
# X-Forwarded-For is believed; empty believes no one. TRUSTED_PROXY_HOPS is
# how many of them add an address to it: 1 (Traefik), 2 when Cloudflare
# proxies the site in front of Traefik. See core/clientip.py.
TRUSTED_PROXIES = env.csv("TRUSTED_PROXIES")
TRUSTED_PROXY_HOPS = env.integer("TRUSTED_PROXY_HOPS", 1, minimum=1)

# --- Django REST framework -----------------------------------------------------

# Throttle history lives in the cache above: with Redis it is shared by every
# worker and container; with USE_REDIS_CACHE=False each worker counts alone.
# Each anonymous client is counted by its address: REMOTE_ADDR, which
# core.clientip's middleware set to the client's (NUM_PROXIES 0). Not in the
# guide: DRF's default (None) keys the count on the whole X-Forwarded-For
# header when there is one, which a client writes as it likes, so each
# request could claim a fresh anonymous allowance.
REST_FRAMEWORK = {
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.rate("DRF_ANON_RATE", "1000/hour"),  # Anonymous users
        "user": env.rate("DRF_USER_RATE", "5000/hour"),  # Authenticated users
    },
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": env.integer("DRF_PAGE_SIZE", 20, minimum=1),
    "COMPACT_JSON": True,
    "NUM_PROXIES": 0,
}

# --- Request and upload limits -------------------------------------------------

DATA_UPLOAD_MAX_MEMORY_SIZE = env.integer("DATA_UPLOAD_MAX_MEMORY_SIZE", 10485760)  # 10MB
DATA_UPLOAD_MAX_NUMBER_FIELDS = env.integer("DATA_UPLOAD_MAX_NUMBER_FIELDS", 1000)  # Prevent field flooding
FILE_UPLOAD_MAX_MEMORY_SIZE = env.integer("FILE_UPLOAD_MAX_MEMORY_SIZE", 10485760)  # 10MB in memory

# --- Security --------------------------------------------------------------------

# Default True: a backend that is not told otherwise behaves as in production.
USE_TLS = env.boolean("USE_TLS", True)
# The site's HSTS policy, the one Traefik sends (the program's
# traefik.securityHeaders.hsts), so that Django's own header never says
# otherwise; 0 seconds sends none. Read with or without TLS, applied with it.
HSTS_SECONDS = env.integer("HSTS_SECONDS", 31536000)  # 1 year
HSTS_INCLUDE_SUBDOMAINS = env.boolean("HSTS_INCLUDE_SUBDOMAINS", True)
HSTS_PRELOAD = env.boolean("HSTS_PRELOAD", True)
if USE_TLS:
    # Traefik terminates TLS and says so in X-Forwarded-Proto. Trusting it is
    # what keeps SECURE_SSL_REDIRECT from redirecting every request, Docker's
    # and Traefik's health probes among them (they send the header). Safe
    # here: only Traefik and the healthcheck reach port 8000, and Traefik
    # replaces any X-Forwarded-Proto a client sends.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = HSTS_SECONDS
    SECURE_HSTS_INCLUDE_SUBDOMAINS = HSTS_INCLUDE_SUBDOMAINS
    SECURE_HSTS_PRELOAD = HSTS_PRELOAD
    SECURE_CONTENT_TYPE_NOSNIFF = True
    # No effect since Django 4.0 (browsers dropped X-XSS-Protection); kept
    # because the guide sets it and it is harmless.
    SECURE_BROWSER_XSS_FILTER = True
    SECURE_REFERRER_POLICY = "same-origin"

# Session Configuration
SESSION_ENGINE = "django.contrib.sessions.backends.db"
SESSION_COOKIE_AGE = 1209600  # 2 weeks
SESSION_SAVE_EVERY_REQUEST = False  # Only save when modified
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# --- Static and media files ------------------------------------------------------

# Shared volumes: the entrypoint's collectstatic fills STATIC_ROOT, which
# nginx serves as /static/; uploads land in MEDIA_ROOT, served as /media/.
STATIC_URL = "/static/"
STATIC_ROOT = env.string("STATIC_ROOT", "/srv/static")
MEDIA_URL = "/media/"
MEDIA_ROOT = env.string("MEDIA_ROOT", "/srv/media")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # nginx serves /static/ with "expires 1y" and "immutable": browsers never
    # ask again, so a changed file must get a new name. The manifest storage
    # puts a content hash in every name ({% static %} resolves it).
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"},
}

# --- Logging -----------------------------------------------------------------------

# The guide's files are relative to the working directory (logs/django.log);
# here they are anchored to the project, whose logs/ the image creates
# writable. They stay in the container: its console output, which Docker
# rotates (json-file, 10 MB x 5), is the complete record. Each gunicorn worker
# rotates the files on its own, so a rotation can lose a few lines from
# another worker.
LOG_DIR = BASE_DIR / "logs"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {
        "console": {
            "level": "INFO",
            "class": "logging.StreamHandler",
        },
        "file": {
            "level": "WARNING",
            "class": "logging.handlers.RotatingFileHandler",
            "filename": str(LOG_DIR / "django.log"),
            "maxBytes": 10485760,  # 10 MB
            "backupCount": 5,
        },
        "error_file": {
            "level": "ERROR",
            "class": "logging.handlers.RotatingFileHandler",
            "filename": str(LOG_DIR / "django_errors.log"),
            "maxBytes": 10485760,
            "backupCount": 5,
        },
    },
    "loggers": {
        "django": {
            "handlers": ["console", "file"],
            "level": "INFO",
        },
        # As in the guide, this logger also propagates to "django", so a
        # request error reaches the console twice and both files.
        "django.request": {
            "handlers": ["console", "error_file"],
            "level": "ERROR",
        },
        # Not in the guide: the loggers of this project and of django-redis's
        # ignored exceptions, which would otherwise go nowhere.
        "core": {"handlers": ["console", "file"], "level": "INFO"},
        "django_redis": {"handlers": ["console", "file"], "level": "WARNING"},
    },
}

env.check()
