"""The WSGI application gunicorn serves (docker/gunicorn.conf.py): every
HTTP request, through Django's WSGI handler.

Why WSGI for HTTP: each gunicorn worker runs its requests one after the
other in one thread, so its persistent database connection (CONN_MAX_AGE) is
reused by every request and health-checked before each (CONN_HEALTH_CHECKS):
WEB_CONCURRENCY connections per container. Django's ASGI handler runs each
request's sync code in a thread that ends with the request, so a persistent
connection is never reused: each request opens one, which lingers until the
garbage collector finds it (measured: 2 workers held 16 connections after
250 requests), which is why Django advises against persistent connections
under ASGI. Websockets, which need ASGI, are served apart: config/asgi.py.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_wsgi_application()

from core import drain  # noqa: E402


def application(environ, start_response):
    # While the container stops (docker/serve.py), each request Traefik
    # forwards tells the supervisor it is still in Traefik's rotation.
    if "HTTP_X_FORWARDED_FOR" in environ:
        drain.forwarded()
    return django_application(environ, start_response)
