import os
import re
import sys

import pytest
from django.conf import Settings

# The production profile's environment, as the Pulumi program renders it
# (docs/backend-contract.md), with stand-ins for the
# stack's host names and generated secrets.
PRODUCTION_ENV = {
    "DB_HOST": "django-stack-production-postgres",
    "DB_PORT": "5432",
    "DB_NAME": "app",
    "DB_USER": "app",
    "DB_PASSWORD": "db0password0from0the0stack0state",
    "DB_CONN_MAX_AGE": "600",
    "DB_CONNECT_TIMEOUT": "10",
    "DB_STATEMENT_TIMEOUT": "30000",
    "DB_KEEPALIVES_IDLE": "30",
    "DB_KEEPALIVES_INTERVAL": "10",
    "DB_KEEPALIVES_COUNT": "5",
    "CORS_ALLOWED_ORIGINS": "https://example.com,https://www.example.com",
    "CORS_ALLOW_ALL_ORIGINS": "False",
    "CORS_PREFLIGHT_MAX_AGE": "86400",
    "REDIS_HOST": "django-stack-production-redis",
    "REDIS_PORT": "6379",
    "REDIS_DB": "0",
    "REDIS_PASSWORD": "redis0password0from0the0state",
    "REDIS_CHANNEL_CAPACITY": "1000",
    "REDIS_CHANNEL_EXPIRY": "60",
    "REDIS_MAX_CONNECTIONS": "50",
    "USE_REDIS_CACHE": "True",
    "DRF_PAGE_SIZE": "20",
    "DRF_ANON_RATE": "1000/hour",
    "DRF_USER_RATE": "5000/hour",
    "DATA_UPLOAD_MAX_MEMORY_SIZE": "10485760",
    "DATA_UPLOAD_MAX_NUMBER_FIELDS": "1000",
    "FILE_UPLOAD_MAX_MEMORY_SIZE": "10485760",
    # 50 characters from Django's alphabet, like the program's.
    "SECRET_KEY": "k3y-0f-f1fty-ch4r4ct3rs-fr0m-dj4ng0s-4lph4b3t-(+=)",
    "USE_TLS": "True",
    "HSTS_SECONDS": "31536000",
    "HSTS_INCLUDE_SUBDOMAINS": "True",
    "HSTS_PRELOAD": "True",
    "TRUSTED_PROXIES": "django-stack-production-traefik",
    "TRUSTED_PROXY_HOPS": "1",
    "ALLOWED_HOSTS": "example.com,www.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://example.com,https://www.example.com",
    "WEB_CONCURRENCY": "4",
    "STATIC_ROOT": "/srv/static",
    "MEDIA_ROOT": "/srv/media",
}

CONTRACT = frozenset(PRODUCTION_ENV)

# Variables of the contract that the entrypoint reads, not the settings.
ENTRYPOINT_ONLY = frozenset({"RUN_MIGRATIONS"})

# The variables without a default: they identify the deployment.
REQUIRED = (
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "DB_HOST",
    "DB_NAME",
    "DB_USER",
    "DB_PASSWORD",
    "REDIS_HOST",
    "REDIS_PASSWORD",
)


def only_required(env=PRODUCTION_ENV):
    return {name: env[name] for name in REQUIRED}


@pytest.fixture
def load_settings(monkeypatch):
    """Loads config.settings afresh under exactly the given contract
    variables (the others unset) and returns Django's Settings for it."""

    def load(env):
        for name in CONTRACT | set(env):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        sys.modules.pop("config.settings", None)
        return Settings("config.settings")

    yield load
    sys.modules.pop("config.settings", None)


def settings_module():
    """The settings module last loaded, for its Env."""
    return sys.modules["config.settings"]


# The secrets, which the program may hand over as values (secret entries,
# "[secret]" in a snapshot) or as files named by NAME_FILE.
SECRETS = ("DB_PASSWORD", "REDIS_PASSWORD", "SECRET_KEY")


def golden_contract(path=os.environ.get("CONTRACT_GOLDEN", "")):
    """The backend environment's variable names in one of the Pulumi
    program's golden snapshots (tests/testdata/<stack>.golden.json), when the
    test run was given one, with NAME_FILE counted as NAME; secret values
    appear there only as "[secret]"."""
    import json

    if not path or not os.path.exists(path):
        return None
    with open(path) as f:
        resources = json.load(f)
    # The first replica: its name carries the digest of its spec.
    first = re.compile(r"Container::backend-[0-9a-zA-Z]+-1$")
    for resource in resources:
        if first.search(resource["resource"]):
            names = {entry.split("=", 1)[0] for entry in resource["inputs"]["envs"] if "=" in entry}
            names = {name.removesuffix("_FILE") if name.removesuffix("_FILE") in SECRETS else name for name in names}
            return (names - ENTRYPOINT_ONLY) | set(SECRETS)
    raise AssertionError(f"{path} has no first backend replica")
