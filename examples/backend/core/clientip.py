"""The client's address, as the proxies in front of the backend report it.

Traefik adds the address it saw to X-Forwarded-For on every request it
forwards; when Cloudflare proxies the site, Cloudflare adds the visitor's
before it, and Traefik keeps what Cloudflare sent (only from Cloudflare's
published ranges: anyone else's X-Forwarded-For it drops). So the client is
the TRUSTED_PROXY_HOPS-th address from the end of the header: the 1st (what
Traefik saw) behind Traefik alone, the 2nd (what Cloudflare saw) behind
Cloudflare and Traefik. Addresses further left are whatever the client
claimed, and never taken.

The header is believed only from the backend's own proxies, TRUSTED_PROXIES:
the Docker name of the Traefik that routes the stack (resolved through
Docker's DNS, again at most every RESOLVE_EVERY seconds when a request comes
from an address not seen among them, so a Traefik started again at a new
address is followed), or addresses and networks. A request from anywhere
else, such as another stack's container on a shared ingress network, is the
peer's own, whatever it claims.

ClientAddressMiddleware puts the client's address in REMOTE_ADDR for the
rest of Django: DRF's throttles (NUM_PROXIES 0: REMOTE_ADDR as it is), the
logs. ASGIClientAddress does the same for the websockets' scope["client"]
(config/asgi.py).
"""

import ipaddress
import socket
import time

from django.conf import settings

# Seconds between lookups of the proxies' names.
RESOLVE_EVERY = 5.0


def _address(text):
    """An IP address, or None. Drops an IPv6 zone ("fe80::1%eth0")."""
    try:
        return ipaddress.ip_address(text.strip().split("%", 1)[0])
    except (ValueError, AttributeError):
        return None


class TrustedProxies:
    """The proxies whose X-Forwarded-For the backend believes."""

    def __init__(self, entries, hops=1, resolve=socket.getaddrinfo, clock=time.monotonic):
        self.networks = []  # addresses and networks given as such
        self.names = []  # host names, looked up
        for entry in entries:
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.names.append(entry)
        self.hops = max(1, int(hops))
        self._resolve = resolve
        self._clock = clock
        self._resolved = frozenset()
        self._resolved_at = None

    def _lookup(self):
        found = set()
        for name in self.names:
            try:
                answers = self._resolve(name, None, 0, socket.SOCK_STREAM)
            except OSError:
                continue  # not there (yet): believe no one for it
            for *_, sockaddr in answers:
                address = _address(sockaddr[0])
                if address is not None:
                    found.add(address)
        return frozenset(found)

    def trusts(self, peer):
        """Whether the peer is one of the proxies."""
        address = _address(peer)
        if address is None:
            return False
        if any(address in network for network in self.networks):
            return True
        if not self.names:
            return False
        if address in self._resolved:
            return True
        now = self._clock()
        if self._resolved_at is not None and now - self._resolved_at < RESOLVE_EVERY:
            return False
        self._resolved_at = now
        self._resolved = self._lookup()
        return address in self._resolved

    def client(self, peer, forwarded_for):
        """The client's address: the peer's own, unless the peer is one of
        the proxies and says whom it forwards for."""
        if not forwarded_for or not self.trusts(peer):
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",")]
        hops = [hop for hop in hops if hop]
        if not hops:
            return peer
        claimed = _address(hops[-min(self.hops, len(hops))])
        return str(claimed) if claimed is not None else peer


def from_settings():
    return TrustedProxies(settings.TRUSTED_PROXIES, settings.TRUSTED_PROXY_HOPS)


class ClientAddressMiddleware:
    """Sets REMOTE_ADDR to the client's address (first in MIDDLEWARE)."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.proxies = from_settings()

    def __call__(self, request):
        meta = request.META
        meta["REMOTE_ADDR"] = self.proxies.client(meta.get("REMOTE_ADDR", ""), meta.get("HTTP_X_FORWARDED_FOR"))
        return self.get_response(request)


class ASGIClientAddress:
    """An ASGI application behind the same rule: scope["client"] and, from
    a proxy, scope["scheme"] (X-Forwarded-Proto: wss for a websocket behind
    TLS), as uvicorn's own proxy headers would set them, but from the
    proxies only. The wrapped application is .app."""

    def __init__(self, app):
        self.app = app
        self.proxies = from_settings()

    async def __call__(self, scope, receive, send):
        if scope["type"] in ("http", "websocket") and scope.get("client"):
            headers = dict(scope.get("headers") or [])
            forwarded_for = headers.get(b"x-forwarded-for", b"").decode("latin-1")
            peer = scope["client"][0]
            if forwarded_for and self.proxies.trusts(peer):
                scope = dict(scope, client=(self.proxies.client(peer, forwarded_for), 0))
                proto = headers.get(b"x-forwarded-proto", b"").decode("latin-1").strip().lower()
                if proto in ("http", "https"):
                    scope["scheme"] = proto.replace("http", "ws") if scope["type"] == "websocket" else proto
        return await self.app(scope, receive, send)
