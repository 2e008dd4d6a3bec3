"""gunicorn's settings for the backend.

The number of workers is WEB_CONCURRENCY, which gunicorn reads by itself.
GUNICORN_CMD_ARGS, which gunicorn also reads, overrides anything here
(e.g. "--bind 0.0.0.0:9000" with a backend.port other than 8000).
"""

# The contract's port, on every interface: Traefik and the healthcheck
# reach it from the edge network and from inside the container.
bind = "0.0.0.0:8000"

# An ASGI worker, which Channels needs for websockets. Debian trixie has no
# uvicorn-worker package; uvicorn's own worker class is deprecated in its
# favour but shipped and working in uvicorn 0.32.
worker_class = "uvicorn.workers.UvicornWorker"

# Let in-flight requests finish for 25 s after SIGTERM, inside the 30 s the
# container gets to stop (backend.stopTimeout) before Docker kills it.
graceful_timeout = 25

# One line per request on stdout, the container's log.
accesslog = "-"

# Take the client's address and scheme from X-Forwarded-For and
# X-Forwarded-Proto whoever sends them: the port is published nowhere, only
# Traefik and the healthcheck reach it, and Traefik replaces those headers
# when a client sends them. The access log then shows real clients.
forwarded_allow_ips = "*"
