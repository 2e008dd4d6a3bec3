"""The ASGI application gunicorn's uvicorn workers serve: Django for HTTP,
Channels for websockets.

HTTP goes through Django's WSGI handler, wrapped for ASGI by asgiref, not
through Django's ASGI handler. The ASGI handler runs each request's sync code
(middleware, views, the ORM) in a thread of its own that ends with the
request, so a persistent connection (CONN_MAX_AGE) is never reused: each
request opens one, which stays open until the garbage collector finds it.
Django's documentation says to disable persistent connections under ASGI;
measured here, 2 workers held 16 connections after 250 requests. Wrapped,
a worker runs all its HTTP requests in its one sync thread, so it keeps one
persistent connection, reused and health-checked (CONN_HEALTH_CHECKS) as the
guide intends, and serves one HTTP request at a time, like gunicorn's sync
workers: WEB_CONCURRENCY of them per container. Websockets stay asynchronous.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Set up Django (settings, app registry) before anything imports models.
django_application = get_wsgi_application()

from asgiref.wsgi import WsgiToAsgi  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from core.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": WsgiToAsgi(django_application),
        # A websocket's Origin must be one of ALLOWED_HOSTS: a page on
        # another site cannot open a socket with the user's cookies.
        "websocket": AllowedHostsOriginValidator(URLRouter(websocket_urlpatterns)),
    }
)
