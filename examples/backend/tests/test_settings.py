"""The settings module, loaded under the contract's environment, gives the
production-robustness guide's settings; a missing or malformed variable
stops it with a message naming the variable."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from conftest import CONTRACT, PRODUCTION_ENV, REQUIRED, golden_contract, only_required, settings_module

REDIS_URL = "redis://:redis0password0from0the0state@django-stack-production-redis:6379/0"

# The guide's values, section by section, as the settings must hold them for
# PRODUCTION_ENV. Where they differ from the guide's code, settings.py says why.
GUIDE_DATABASE = {
    "ENGINE": "django.db.backends.postgresql",
    "HOST": "django-stack-production-postgres",
    "PORT": 5432,
    "NAME": "app",
    "USER": "app",
    "PASSWORD": "db0password0from0the0stack0state",
    "CONN_MAX_AGE": 600,
    "CONN_HEALTH_CHECKS": True,
    "OPTIONS": {
        "connect_timeout": 10,
        "options": "-c statement_timeout=30000",
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 5,
    },
}

GUIDE_CORS_ALLOW_HEADERS = [
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

GUIDE_CORS_EXPOSE_HEADERS = [
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

GUIDE_CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [REDIS_URL],
            "capacity": 1000,
            "expiry": 60,
            "channel_capacity": {"specific.*": 100},
            "symmetric_encryption_keys": [PRODUCTION_ENV["SECRET_KEY"][:32]],
        },
    },
}

GUIDE_CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {
            "SOCKET_CONNECT_TIMEOUT": 5,
            "SOCKET_TIMEOUT": 5,
            "CONNECTION_POOL_KWARGS": {
                "max_connections": 50,
                "retry_on_timeout": True,
                "health_check_interval": 30,
            },
            "IGNORE_EXCEPTIONS": True,
        },
    }
}

GUIDE_REST_FRAMEWORK = {
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {"anon": "1000/hour", "user": "5000/hour"},
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "COMPACT_JSON": True,
    # Not the guide's: throttles count REMOTE_ADDR, the client's address
    # (core/clientip.py), never a client's own X-Forwarded-For.
    "NUM_PROXIES": 0,
}

GUIDE_UPLOADS = {
    "DATA_UPLOAD_MAX_MEMORY_SIZE": 10485760,
    "DATA_UPLOAD_MAX_NUMBER_FIELDS": 1000,
    "FILE_UPLOAD_MAX_MEMORY_SIZE": 10485760,
}

GUIDE_TLS = {
    "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"),
    "SECURE_SSL_REDIRECT": True,
    "SESSION_COOKIE_SECURE": True,
    "CSRF_COOKIE_SECURE": True,
    "SECURE_HSTS_SECONDS": 31536000,
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
    "SECURE_HSTS_PRELOAD": True,
    "SECURE_CONTENT_TYPE_NOSNIFF": True,
    "SECURE_BROWSER_XSS_FILTER": True,
    "SECURE_REFERRER_POLICY": "same-origin",
}

GUIDE_SESSIONS = {
    "SESSION_ENGINE": "django.contrib.sessions.backends.db",
    "SESSION_COOKIE_AGE": 1209600,
    "SESSION_SAVE_EVERY_REQUEST": False,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
}


def values(settings, names):
    return {name: getattr(settings, name) for name in names}


@pytest.fixture
def production(load_settings):
    return load_settings(PRODUCTION_ENV)


def test_database(production):
    assert production.DATABASES["default"] == GUIDE_DATABASE


def test_cors(production):
    assert production.CORS_ALLOWED_ORIGINS == ["https://example.com", "https://www.example.com"]
    assert production.CORS_ALLOW_ALL_ORIGINS is False
    assert production.CORS_PREFLIGHT_MAX_AGE == 86400
    assert production.CORS_ALLOW_HEADERS == GUIDE_CORS_ALLOW_HEADERS
    assert production.CORS_EXPOSE_HEADERS == GUIDE_CORS_EXPOSE_HEADERS


def test_channel_layers(production):
    assert production.CHANNEL_LAYERS == GUIDE_CHANNEL_LAYERS


def test_caches(production):
    assert production.CACHES == GUIDE_CACHES


def test_rest_framework(production):
    assert production.REST_FRAMEWORK == GUIDE_REST_FRAMEWORK


def test_upload_limits(production):
    assert values(production, GUIDE_UPLOADS) == GUIDE_UPLOADS


def test_tls_security(production):
    assert values(production, GUIDE_TLS) == GUIDE_TLS


def test_sessions(production):
    assert values(production, GUIDE_SESSIONS) == GUIDE_SESSIONS


def test_hosts_files_and_workers(production):
    assert production.ALLOWED_HOSTS == ["example.com", "www.example.com"]
    assert production.CSRF_TRUSTED_ORIGINS == ["https://example.com", "https://www.example.com"]
    assert production.SECRET_KEY == PRODUCTION_ENV["SECRET_KEY"]
    assert production.DEBUG is False
    assert production.STATIC_ROOT == "/srv/static"
    assert production.MEDIA_ROOT == "/srv/media"
    assert production.WEB_CONCURRENCY == 4


def test_logging(production):
    handlers = production.LOGGING["handlers"]
    assert handlers["console"] == {"level": "INFO", "class": "logging.StreamHandler"}
    for name, level, filename in [("file", "WARNING", "django.log"), ("error_file", "ERROR", "django_errors.log")]:
        handler = dict(handlers[name])
        assert handler.pop("filename").endswith("/logs/" + filename)
        assert handler == {
            "level": level,
            "class": "logging.handlers.RotatingFileHandler",
            "maxBytes": 10485760,
            "backupCount": 5,
        }
    loggers = production.LOGGING["loggers"]
    assert loggers["django"] == {"handlers": ["console", "file"], "level": "INFO"}
    assert loggers["django.request"] == {"handlers": ["console", "error_file"], "level": "ERROR"}


def test_unset_tunables_default_to_the_guide(load_settings):
    """With only the required variables, every other setting is the guide's."""
    settings = load_settings(only_required())
    assert settings.DATABASES["default"] == GUIDE_DATABASE
    assert settings.CHANNEL_LAYERS == GUIDE_CHANNEL_LAYERS
    assert settings.CACHES == GUIDE_CACHES
    assert settings.REST_FRAMEWORK == GUIDE_REST_FRAMEWORK
    assert values(settings, GUIDE_UPLOADS) == GUIDE_UPLOADS
    assert values(settings, GUIDE_TLS) == GUIDE_TLS
    assert settings.CORS_ALLOWED_ORIGINS == []
    assert settings.CORS_ALLOW_ALL_ORIGINS is False
    assert settings.CORS_PREFLIGHT_MAX_AGE == 86400
    assert (settings.STATIC_ROOT, settings.MEDIA_ROOT) == ("/srv/static", "/srv/media")
    # No proxy named: X-Forwarded-For is believed from no one.
    assert (settings.TRUSTED_PROXIES, settings.TRUSTED_PROXY_HOPS) == ([], 1)


def test_every_variable_changes_its_setting(load_settings):
    """Each tunable reaches its setting: a value unlike the guide's comes
    through (so none is silently hard-coded)."""
    env = dict(
        PRODUCTION_ENV,
        DB_PORT="6543",
        DB_CONN_MAX_AGE="60",
        DB_CONNECT_TIMEOUT="3",
        DB_STATEMENT_TIMEOUT="1500",
        DB_KEEPALIVES_IDLE="7",
        DB_KEEPALIVES_INTERVAL="2",
        DB_KEEPALIVES_COUNT="4",
        CORS_ALLOWED_ORIGINS=" https://a.test , https://b.test ,",
        CORS_ALLOW_ALL_ORIGINS="True",
        CORS_PREFLIGHT_MAX_AGE="600",
        REDIS_PORT="6380",
        REDIS_DB="3",
        REDIS_CHANNEL_CAPACITY="200",
        REDIS_CHANNEL_EXPIRY="30",
        REDIS_MAX_CONNECTIONS="8",
        DRF_PAGE_SIZE="5",
        DRF_ANON_RATE="10/minute",
        DRF_USER_RATE="100/minute",
        DATA_UPLOAD_MAX_MEMORY_SIZE="1024",
        DATA_UPLOAD_MAX_NUMBER_FIELDS="50",
        FILE_UPLOAD_MAX_MEMORY_SIZE="2048",
        WEB_CONCURRENCY="2",
        STATIC_ROOT="/tmp/static",
        MEDIA_ROOT="/tmp/media",
        HSTS_SECONDS="3600",
        HSTS_INCLUDE_SUBDOMAINS="False",
        HSTS_PRELOAD="False",
        TRUSTED_PROXIES="django-stack-staging-traefik, 172.18.0.0/16",
        TRUSTED_PROXY_HOPS="2",
    )
    s = load_settings(env)
    assert (s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD) == (3600, False, False)
    assert s.TRUSTED_PROXIES == ["django-stack-staging-traefik", "172.18.0.0/16"]
    assert s.TRUSTED_PROXY_HOPS == 2
    db = s.DATABASES["default"]
    assert (db["PORT"], db["CONN_MAX_AGE"]) == (6543, 60)
    assert db["OPTIONS"] == {
        "connect_timeout": 3,
        "options": "-c statement_timeout=1500",
        "keepalives": 1,
        "keepalives_idle": 7,
        "keepalives_interval": 2,
        "keepalives_count": 4,
    }
    assert s.CORS_ALLOWED_ORIGINS == ["https://a.test", "https://b.test"]
    assert (s.CORS_ALLOW_ALL_ORIGINS, s.CORS_PREFLIGHT_MAX_AGE) == (True, 600)
    url = "redis://:redis0password0from0the0state@django-stack-production-redis:6380/3"
    layer = s.CHANNEL_LAYERS["default"]["CONFIG"]
    assert (layer["hosts"], layer["capacity"], layer["expiry"]) == ([url], 200, 30)
    assert s.CACHES["default"]["LOCATION"] == url
    assert s.CACHES["default"]["OPTIONS"]["CONNECTION_POOL_KWARGS"]["max_connections"] == 8
    assert s.REST_FRAMEWORK["PAGE_SIZE"] == 5
    assert s.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] == {"anon": "10/minute", "user": "100/minute"}
    assert values(s, GUIDE_UPLOADS) == {
        "DATA_UPLOAD_MAX_MEMORY_SIZE": 1024,
        "DATA_UPLOAD_MAX_NUMBER_FIELDS": 50,
        "FILE_UPLOAD_MAX_MEMORY_SIZE": 2048,
    }
    assert (s.WEB_CONCURRENCY, s.STATIC_ROOT, s.MEDIA_ROOT) == (2, "/tmp/static", "/tmp/media")


def test_local_stack_without_tls(load_settings):
    """The local stack's USE_TLS=False: plain http, so no redirect, no secure
    cookies, no HSTS, and X-Forwarded-Proto is not consulted."""
    s = load_settings(dict(PRODUCTION_ENV, USE_TLS="False", ALLOWED_HOSTS="localhost"))
    assert s.SECURE_SSL_REDIRECT is False
    assert s.SECURE_PROXY_SSL_HEADER is None
    assert (s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE) == (False, False)
    assert s.SECURE_HSTS_SECONDS == 0
    # The session settings do not depend on TLS.
    assert values(s, GUIDE_SESSIONS) == GUIDE_SESSIONS


def test_booleans_in_any_case(load_settings):
    s = load_settings(dict(PRODUCTION_ENV, USE_TLS="false", USE_REDIS_CACHE="FALSE", CORS_ALLOW_ALL_ORIGINS="true"))
    assert (s.USE_TLS, s.USE_REDIS_CACHE, s.CORS_ALLOW_ALL_ORIGINS) == (False, False, True)


def test_without_the_redis_cache(load_settings):
    s = load_settings(dict(PRODUCTION_ENV, USE_REDIS_CACHE="False"))
    assert s.CACHES == {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # The channel layer still uses Redis.
    assert s.CHANNEL_LAYERS == GUIDE_CHANNEL_LAYERS


def test_redis_password_empty_means_none(load_settings):
    s = load_settings(dict(PRODUCTION_ENV, REDIS_PASSWORD=""))
    assert s.CACHES["default"]["LOCATION"] == "redis://django-stack-production-redis:6379/0"


def test_redis_password_is_quoted_in_the_url(load_settings):
    s = load_settings(dict(PRODUCTION_ENV, REDIS_PASSWORD="p@ss:w/rd"))
    assert s.CACHES["default"]["LOCATION"] == "redis://:p%40ss%3Aw%2Frd@django-stack-production-redis:6379/0"


def test_secrets_can_come_from_files(load_settings, tmp_path):
    """The program hands the secrets over as files (NAME_FILE), as Swarm
    does: read-only files under /run/secrets/, never in the environment."""
    env = dict(PRODUCTION_ENV)
    for name in ("DB_PASSWORD", "REDIS_PASSWORD", "SECRET_KEY"):
        path = tmp_path / name.lower()
        path.write_text(env.pop(name) + "\n")
        env[f"{name}_FILE"] = str(path)
    s = load_settings(env)
    assert s.DATABASES["default"]["PASSWORD"] == PRODUCTION_ENV["DB_PASSWORD"]
    assert s.SECRET_KEY == PRODUCTION_ENV["SECRET_KEY"]
    assert PRODUCTION_ENV["REDIS_PASSWORD"] in s.CACHES["default"]["LOCATION"]


def test_a_secret_file_must_be_readable_and_alone(load_settings, tmp_path):
    env = dict(PRODUCTION_ENV, DB_PASSWORD_FILE=str(tmp_path / "missing"))
    message = load_error(load_settings, env)
    assert "DB_PASSWORD: is set and so is DB_PASSWORD_FILE; set one" in message
    del env["DB_PASSWORD"]
    message = load_error(load_settings, env)
    assert "DB_PASSWORD_FILE: " in message and "cannot be read" in message


def test_reads_exactly_the_contract(load_settings):
    load_settings(PRODUCTION_ENV)
    assert set(settings_module().env.names) == CONTRACT


def test_contract_matches_the_pulumi_program():
    """The variables the program hands the backend (its golden snapshot,
    given by the test script) are the ones this test suite knows."""
    names = golden_contract()
    if names is None:
        pytest.skip("no golden snapshot given (CONTRACT_GOLDEN)")
    assert names == CONTRACT


# --- Missing and malformed variables --------------------------------------------


def load_error(load_settings, env):
    with pytest.raises(ImproperlyConfigured) as caught:
        load_settings(env)
    return str(caught.value)


@pytest.mark.parametrize("name", REQUIRED)
def test_missing_required_variable_is_named(load_settings, name):
    env = dict(PRODUCTION_ENV)
    del env[name]
    message = load_error(load_settings, env)
    assert f"{name}: is not set; it is required" in message
    assert "1 problem:" in message


@pytest.mark.parametrize("name", [n for n in REQUIRED if n != "REDIS_PASSWORD"])
def test_empty_required_variable_is_named(load_settings, name):
    message = load_error(load_settings, dict(PRODUCTION_ENV, **{name: ""}))
    assert f"{name}: is empty; it is required" in message


def test_allowed_hosts_of_only_commas(load_settings):
    message = load_error(load_settings, dict(PRODUCTION_ENV, ALLOWED_HOSTS=" , "))
    assert "ALLOWED_HOSTS: ' , ' holds no item; it is required" in message


def test_every_problem_at_once(load_settings):
    env = dict(PRODUCTION_ENV, DB_PORT="fivefourthreetwo", USE_TLS="yes", DRF_ANON_RATE="1000 per hour")
    del env["SECRET_KEY"]
    del env["DB_PASSWORD"]
    message = load_error(load_settings, env)
    assert message.startswith("the backend's environment has 5 problems:")
    for expected in [
        "SECRET_KEY: is not set; it is required",
        "DB_PASSWORD: is not set; it is required",
        "DB_PORT: 'fivefourthreetwo' is not a whole number",
        "USE_TLS: 'yes' is not True or False",
        "DRF_ANON_RATE: '1000 per hour' is not a DRF rate",
    ]:
        assert expected in message


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("DB_PORT", "70000", "70000 must be between 1 and 65535"),
        ("REDIS_DB", "16", "16 must be between 0 and 15"),
        ("DB_CONN_MAX_AGE", "-1", "-1 must be at least 0"),
        ("DB_KEEPALIVES_COUNT", "0", "0 must be at least 1"),
        ("REDIS_CHANNEL_CAPACITY", "1e3", "'1e3' is not a whole number"),
        ("WEB_CONCURRENCY", "0", "0 must be at least 1"),
        ("USE_REDIS_CACHE", "1", "'1' is not True or False"),
        ("DRF_USER_RATE", "5000/fortnight", "'5000/fortnight' is not a DRF rate"),
        ("TRUSTED_PROXY_HOPS", "0", "0 must be at least 1"),
        ("HSTS_SECONDS", "1y", "'1y' is not a whole number"),
        ("HSTS_PRELOAD", "yes", "'yes' is not True or False"),
    ],
)
def test_malformed_values_are_named(load_settings, name, value, expected):
    message = load_error(load_settings, dict(PRODUCTION_ENV, **{name: value}))
    assert f"{name}: {expected}" in message
