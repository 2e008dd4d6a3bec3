"""Whether the container is stopping, as docker/serve.py tells its servers.

The supervisor hands its servers a directory, SERVE_DRAIN_DIR, and creates
"draining" in it when it gets SIGTERM. From then on the health probes (/api/
and /ws/health/) answer 503 {"status": "draining"} to the probes, so that
the load balancer takes the container out of its rotation, while the
container goes on serving every request the load balancer forwards,
those two paths included.

A probe is a request that did not come through the load balancer: Traefik
adds X-Forwarded-For to every request it forwards, and none to its own
health probes; Docker's healthcheck sends none either. When the load
balancer's probe (from another address than the container's own loopback)
got "draining", "probed" is created in the directory; every request the
load balancer forwards while draining touches "forwarded" (config/wsgi.py).
The supervisor stops the servers once the probe has been told and nothing
was forwarded for a second, instead of waiting out its longest lame duck
(DRAIN_SECONDS).

Outside the supervisor (manage.py, tests, a plain gunicorn) there is no
directory and the container is never draining.
"""

import os

LOOPBACK = ("127.0.0.1", "::1")


def _path(name):
    directory = os.environ.get("SERVE_DRAIN_DIR")
    return os.path.join(directory, name) if directory else None


def draining():
    path = _path("draining")
    return path is not None and os.path.exists(path)


def forwarded():
    """Called for every request the load balancer forwards: while the
    container drains, notes when the last one came ("forwarded"'s time),
    which the supervisor waits to see grow old before it stops."""
    if not draining():
        return
    path = _path("forwarded")
    try:
        with open(path, "a"):
            pass
        os.utime(path)
    except OSError:
        pass  # the supervisor then waits out DRAIN_SECONDS


def tell_probe(client_address, forwarded):
    """Whether to answer this request to a health path "draining": only
    while the container drains, and only to a probe (a request not
    forwarded by the load balancer). Records that the load balancer's own
    probe was told."""
    if forwarded or not draining():
        return False
    if client_address not in LOOPBACK:
        path = _path("probed")
        try:
            open(path, "a").close()
        except OSError:
            pass  # the supervisor then waits out DRAIN_SECONDS
    return True
