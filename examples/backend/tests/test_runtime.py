"""The settings at work in a set-up Django, with Postgres and Redis
unreachable (ports nobody listens on): Django's system checks accept them,
the cache shrugs Redis off, the channel layer is built as configured and
encrypts, and /api/ says what is down. tests/e2e runs them against real
servers."""

import json
import os
import socket

import pytest
from django.core.management import call_command

from conftest import PRODUCTION_ENV


def closed_port():
    """A local port nobody listens on: connecting to it is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


@pytest.fixture(scope="module")
def django_settings():
    import django
    from django.conf import settings

    os.environ.update(
        PRODUCTION_ENV,
        DB_HOST="127.0.0.1",
        DB_PORT=closed_port(),
        REDIS_HOST="127.0.0.1",
        REDIS_PORT=closed_port(),
    )
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    django.setup()
    return settings


def test_deployment_checks_pass(django_settings):
    """manage.py check --deploy finds nothing to warn about in the TLS
    profile (it raises SystemCheckError on any warning at this level)."""
    call_command("check", deploy=True, fail_level="WARNING")


def test_cache_does_not_fail_while_redis_is_down(django_settings):
    from django.core.cache import cache

    cache.set("key", "value")  # no exception: IGNORE_EXCEPTIONS
    assert cache.get("key", "missed") == "missed"


def test_channel_layer_capacities_and_encryption(django_settings):
    from channels.layers import get_channel_layer
    from channels_redis.core import RedisChannelLayer

    layer = get_channel_layer()
    assert isinstance(layer, RedisChannelLayer)
    assert (layer.capacity, layer.expiry) == (1000, 60)
    assert layer.get_capacity("specific.0a1b2c!3d4e5f") == 100  # a consumer's own channel
    assert layer.get_capacity("thumbnails") == 1000  # a named channel
    message = {"type": "chat.message", "text": "plain words"}
    stored = layer.serialize(message)
    assert b"plain words" not in stored
    assert layer.deserialize(stored) == message


def get(path, **headers):
    from django.test import Client

    return Client(HTTP_HOST="example.com", **headers).get(path)


def test_health_is_503_without_the_database(django_settings):
    response = get("/api/", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 503
    assert json.loads(response.content) == {"status": "unavailable", "database": "unavailable", "redis": "unavailable"}
    assert "no-cache" in response["Cache-Control"]


def test_probe_over_tls_is_not_redirected(django_settings):
    """The healthcheck and Traefik send X-Forwarded-Proto: https; with it the
    request counts as secure and is answered, without it redirected."""
    assert get("/api/", HTTP_X_FORWARDED_PROTO="https").status_code == 503
    plain = get("/api/")
    assert plain.status_code == 301
    assert plain["Location"] == "https://example.com/api/"


def test_http_is_served_by_djangos_wsgi_handler(django_settings):
    """config/wsgi.py says why: one thread, one persistent connection per
    gunicorn worker."""
    from django.core.handlers.wsgi import WSGIHandler

    from config.wsgi import django_application

    assert isinstance(django_application, WSGIHandler)


def wsgi_get(path, **environ):
    from django.test import RequestFactory

    from config.wsgi import application

    statuses = []
    request = RequestFactory().get(path, HTTP_HOST="example.com", HTTP_X_FORWARDED_PROTO="https", **environ)
    b"".join(application(request.environ, lambda status, headers: statuses.append(status)))
    return statuses[0]


def asgi_http(path, method="GET", client="127.0.0.1", headers=()):
    """What config/asgi.py answers a plain HTTP request: (status, document)."""
    import asyncio

    from config.asgi import application

    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "path": path,
        "method": method,
        "headers": list(headers),
        "query_string": b"",
        "client": (client, 40000),
    }
    asyncio.run(application(scope, receive, send))
    return sent[0]["status"], json.loads(sent[1]["body"])


def test_asgi_serves_websockets_and_its_own_probe_only(django_settings, monkeypatch):
    from config.asgi import router

    # "channel" is the worker's (runworker); uvicorn never sends that scope.
    assert set(router.application_mapping) == {"http", "websocket", "channel"}
    monkeypatch.delenv("SERVE_DRAIN_DIR", raising=False)
    assert asgi_http("/ws/health/") == (200, {"status": "ok"})
    status, _ = asgi_http("/api/")
    assert status == 404


@pytest.fixture
def draining(tmp_path, monkeypatch):
    """The container as docker/serve.py leaves it on SIGTERM."""
    monkeypatch.setenv("SERVE_DRAIN_DIR", str(tmp_path))
    (tmp_path / "draining").touch()
    return tmp_path


FORWARDED = {"HTTP_X_FORWARDED_FOR": "203.0.113.9", "REMOTE_ADDR": "172.18.0.3"}


def test_probes_are_told_the_container_is_draining(django_settings, draining):
    response = get("/api/", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 503
    assert json.loads(response.content) == {"status": "draining"}
    assert asgi_http("/ws/health/") == (503, {"status": "draining"})


def test_requests_through_traefik_are_served_while_draining(django_settings, draining):
    """Traefik still forwards requests until its probe has seen the drain:
    they get the real answer (here the database is down: unavailable)."""
    response = get("/api/", HTTP_X_FORWARDED_PROTO="https", **FORWARDED)
    assert json.loads(response.content)["status"] == "unavailable"
    forwarded = [(b"x-forwarded-for", b"203.0.113.9")]
    assert asgi_http("/ws/health/", client="203.0.113.9", headers=forwarded) == (200, {"status": "ok"})


def test_forwarded_requests_are_noted_while_draining(django_settings, tmp_path, monkeypatch, draining):
    wsgi_get("/api/")  # a probe: not forwarded
    assert not (draining / "forwarded").exists()
    wsgi_get("/api/", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert (draining / "forwarded").exists()


def test_forwarded_requests_are_not_noted_otherwise(django_settings, tmp_path, monkeypatch):
    monkeypatch.setenv("SERVE_DRAIN_DIR", str(tmp_path))
    wsgi_get("/api/", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert list(tmp_path.iterdir()) == []


def test_only_the_load_balancers_probe_ends_the_lame_duck(django_settings, draining):
    """Docker's healthcheck (127.0.0.1) is told too, but only a probe from
    the load balancer itself tells the supervisor it may stop."""
    get("/api/", HTTP_X_FORWARDED_PROTO="https")  # the test client is 127.0.0.1
    get("/api/", HTTP_X_FORWARDED_PROTO="https", **FORWARDED)
    assert not (draining / "probed").exists()
    get("/api/", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="172.18.0.3")
    assert (draining / "probed").exists()


def test_database_ping_answers_like_pg_isready(django_settings):
    """The entrypoint's wait: exit 2 and "no response" while nothing listens."""
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "docker/pg_ping.py"],
        env={"DB_HOST": "127.0.0.1", "DB_PORT": closed_port(), "DB_CONNECT_TIMEOUT": "2"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.strip().endswith(" - no response")
