"""gunicorn's settings for the backend's HTTP server (docker/serve.py starts
it next to the websocket server).

The number of workers is WEB_CONCURRENCY, which gunicorn reads by itself.
GUNICORN_CMD_ARGS, which gunicorn also reads, overrides anything here
(e.g. "--bind 0.0.0.0:9000" with a backend.port other than 8000).
"""

# The WSGI application: Django's WSGI handler, so that each worker keeps one
# persistent database connection (CONN_MAX_AGE); see config/wsgi.py.
wsgi_app = "config.wsgi:application"

# The contract's port, on every interface: Traefik and the healthcheck
# reach it from the edge network and from inside the container.
bind = "0.0.0.0:8000"

# Sync workers: one request at a time per worker, WEB_CONCURRENCY workers per
# container, one database connection each. Measured against threads
# (examples/backend/README.md, "Benchmark"): on this app threads brought no
# throughput (Python runs one thread at a time, and a request here spends
# most of its time in Python), only more database connections. Sync workers
# do not keep connections alive: Traefik opens one per request, which on the
# host's network costs little, and a closing container never has an idle
# kept-alive connection that Traefik could reuse as it closes (Traefik does
# not retry a request it has written). Traefik does not buffer requests:
# a client that sends its body slowly holds a worker that long, within
# Traefik's readTimeout (60 s).
worker_class = "sync"

# On SIGTERM, let each worker finish its request for up to 15 s: docker/
# serve.py's lame duck (at most 10 s) and this fit in the 30 s the container
# gets to stop (backend.stopTimeout) before Docker kills it.
graceful_timeout = 15

# No access log here: Traefik's (the program turns it on) already records
# every request, with its client, status and duration. Written here too, each
# request's line would pass through Docker's log driver as well, which on a
# small host costs CPU the workers need (measured: README, "Benchmark").
# GUNICORN_CMD_ARGS="--access-logfile -" puts it back in the container's log.
accesslog = None

# Take the client's scheme from X-Forwarded-Proto whoever sends it: the port
# is published nowhere, only Traefik and the healthcheck reach it, and
# Traefik replaces that header when a client sends it.
forwarded_allow_ips = "*"


def worker_exit(server, worker):
    """Serves the connections still waiting on port 8000, then lets go of it.

    When gunicorn stops, each worker finishes its request and exits; the
    port closes with the last one. Connections Traefik opened meanwhile wait
    in the port's backlog (the kernel accepted them, no worker did), and
    Traefik has already written a request on each: closing the port resets
    them, and Traefik answers 502 without a retry, since the request may have
    been read. So each worker, on its way out, serves what is waiting until
    accept would block, and closes the port at once then: the gap in which a
    connection can still arrive and be reset is microseconds, and one that
    comes after is refused, which Traefik's retry middleware sends to another
    container (measured: README.md, "Stopping without dropping a request").
    """
    for listener in getattr(worker, "sockets", []):
        listener.setblocking(False)
        while True:
            try:
                client, addr = listener.accept()
            except OSError:
                break  # nothing waiting (or the port is gone)
            client.setblocking(True)
            worker.handle(listener, client, addr)
        listener.close()
