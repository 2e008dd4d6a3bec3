"""The client's address (core/clientip.py): X-Forwarded-For is believed only
from the backend's own proxies, and then only as far as they vouch for it;
the throttles count that address; the websockets' scope gets it too. And
the HSTS header Django sends is the program's setting."""

import asyncio
import socket

import pytest

from core.clientip import RESOLVE_EVERY, TrustedProxies

TRAEFIK = "172.18.0.3"
NEIGHBOUR = "172.18.0.9"  # another container on the same network: a clone's
FORGED = "198.51.100.7"


@pytest.mark.parametrize(
    "entries, hops, peer, forwarded_for, want",
    [
        # Nobody trusted: the peer's address, whatever it claims.
        ([], 1, TRAEFIK, FORGED, TRAEFIK),
        # Traefik alone: the address Traefik saw, the last one.
        ([TRAEFIK], 1, TRAEFIK, "203.0.113.9", "203.0.113.9"),
        ([TRAEFIK], 1, TRAEFIK, f"{FORGED}, 203.0.113.9", "203.0.113.9"),
        # Another container on the network is not Traefik.
        ([TRAEFIK], 1, NEIGHBOUR, FORGED, NEIGHBOUR),
        # Cloudflare, then Traefik: the address Cloudflare saw, one before.
        ([TRAEFIK], 2, TRAEFIK, f"{FORGED}, 203.0.113.9, 162.158.1.1", "203.0.113.9"),
        # ... and a request straight to Traefik, which kept no header.
        ([TRAEFIK], 2, TRAEFIK, "203.0.113.9", "203.0.113.9"),
        # A network of proxies.
        (["172.18.0.0/16"], 1, NEIGHBOUR, "203.0.113.9", "203.0.113.9"),
        # IPv6.
        (["fd00::3"], 1, "fd00::3", "2001:db8::7", "2001:db8::7"),
        # From a proxy, but nothing usable: the peer's.
        ([TRAEFIK], 1, TRAEFIK, "", TRAEFIK),
        ([TRAEFIK], 1, TRAEFIK, " , ", TRAEFIK),
        ([TRAEFIK], 1, TRAEFIK, "unknown", TRAEFIK),
        # No header at all.
        ([TRAEFIK], 1, TRAEFIK, None, TRAEFIK),
    ],
)
def test_client_address(entries, hops, peer, forwarded_for, want):
    proxies = TrustedProxies(entries, hops, resolve=no_names)
    assert proxies.client(peer, forwarded_for) == want


def no_names(*args):
    raise AssertionError(f"looked up {args[0]}, which is not a name")


class FakeDNS:
    """Docker's DNS for one name, whose address the test moves."""

    def __init__(self, address):
        self.address = address
        self.lookups = 0

    def __call__(self, name, port, family=0, type=0):
        self.lookups += 1
        if name != "django-stack-local-traefik" or self.address is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (self.address, 0))]


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_proxy_by_name_is_looked_up_and_followed_when_it_moves():
    dns, clock = FakeDNS(TRAEFIK), Clock()
    proxies = TrustedProxies(["django-stack-local-traefik"], 1, resolve=dns, clock=clock)
    assert proxies.client(TRAEFIK, FORGED) == FORGED
    assert proxies.client(TRAEFIK, FORGED) == FORGED
    assert dns.lookups == 1, "a known proxy is not looked up again"
    # A neighbour's requests cost one lookup every RESOLVE_EVERY at most.
    clock.now += RESOLVE_EVERY
    for _ in range(50):
        assert proxies.client(NEIGHBOUR, FORGED) == NEIGHBOUR
    assert dns.lookups == 2
    # Traefik started again at another address: followed, once the
    # lookups' pause is over.
    dns.address = "172.18.0.4"
    clock.now += RESOLVE_EVERY
    assert proxies.client("172.18.0.4", "203.0.113.9") == "203.0.113.9"
    # Its old address is nobody's proxy any more.
    assert proxies.client(TRAEFIK, FORGED) == TRAEFIK


def test_a_proxy_that_does_not_resolve_is_trusted_by_no_one():
    dns = FakeDNS(None)
    proxies = TrustedProxies(["django-stack-local-traefik"], 1, resolve=dns, clock=Clock())
    assert proxies.client(TRAEFIK, FORGED) == TRAEFIK


@pytest.fixture(scope="module")
def django_settings():
    """Django set up as test_runtime sets it up: production's environment,
    Postgres and Redis unreachable."""
    import os

    import django

    from conftest import PRODUCTION_ENV
    from test_runtime import closed_port

    os.environ.update(
        PRODUCTION_ENV, DB_HOST="127.0.0.1", DB_PORT=closed_port(), REDIS_HOST="127.0.0.1", REDIS_PORT=closed_port()
    )
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    django.setup()


@pytest.fixture
def drf(django_settings):
    """The proxy at TRAEFIK, behind Cloudflare: two hops."""
    from django.test import override_settings

    with override_settings(TRUSTED_PROXIES=[TRAEFIK], TRUSTED_PROXY_HOPS=2):
        yield


def throttle_ident(remote_addr, forwarded_for):
    """The address DRF's anonymous throttle counts, for a request that
    went through the backend's middleware."""
    from django.test import RequestFactory
    from rest_framework.request import Request
    from rest_framework.throttling import AnonRateThrottle

    from core.clientip import ClientAddressMiddleware

    environ = {"REMOTE_ADDR": remote_addr}
    if forwarded_for is not None:
        environ["HTTP_X_FORWARDED_FOR"] = forwarded_for
    request = RequestFactory().get("/api/notes/", **environ)
    seen = ClientAddressMiddleware(lambda r: r)(request)
    return AnonRateThrottle().get_ident(Request(seen))


def test_the_throttle_counts_the_client(drf):
    assert throttle_ident(TRAEFIK, f"{FORGED}, 203.0.113.9, 162.158.1.1") == "203.0.113.9"
    # Straight from a neighbour, with a claim of its own: the neighbour.
    assert throttle_ident(NEIGHBOUR, FORGED) == NEIGHBOUR
    # Docker's healthcheck, from the container itself.
    assert throttle_ident("127.0.0.1", None) == "127.0.0.1"


def asgi_scope(scope_type, client, headers):
    from config.asgi import clientip

    seen = []

    async def app(scope, receive, send):
        seen.append(scope)

    scope = {"type": scope_type, "path": "/ws/ping/", "headers": headers, "client": (client, 40000), "scheme": "ws"}
    asyncio.run(clientip.ASGIClientAddress(app)(scope, None, None))
    return seen[0]


def test_the_websockets_see_the_client(drf):
    headers = [(b"x-forwarded-for", f"{FORGED}, 203.0.113.9, 162.158.1.1".encode()), (b"x-forwarded-proto", b"https")]
    scope = asgi_scope("websocket", TRAEFIK, headers)
    assert (scope["client"][0], scope["scheme"]) == ("203.0.113.9", "wss")
    scope = asgi_scope("websocket", NEIGHBOUR, headers)
    assert (scope["client"][0], scope["scheme"]) == (NEIGHBOUR, "ws")


@pytest.mark.parametrize(
    "seconds, subdomains, preload, want",
    [
        (31536000, True, True, "max-age=31536000; includeSubDomains; preload"),
        (3600, False, False, "max-age=3600"),
        (0, True, True, None),
    ],
)
def test_the_hsts_header_is_the_settings(drf, seconds, subdomains, preload, want):
    from django.test import Client, override_settings

    with override_settings(
        SECURE_HSTS_SECONDS=seconds, SECURE_HSTS_INCLUDE_SUBDOMAINS=subdomains, SECURE_HSTS_PRELOAD=preload
    ):
        response = Client(HTTP_HOST="example.com").get("/api/", HTTP_X_FORWARDED_PROTO="https")
    assert response.get("Strict-Transport-Security") == want
