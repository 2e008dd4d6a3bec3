"""The ASGI application uvicorn serves on port 8001 (docker/serve.py): the
websockets, under /ws/, through Channels. Traefik routes /ws/ there and
everything else to gunicorn on port 8000 (config/wsgi.py).

It is also what the worker runs (`manage.py runworker tasks`,
core/worker.py): the messages of each named channel it listens on come in
as "channel" scopes, which ChannelNameRouter hands to that channel's
consumer (core/routing.py). uvicorn never sees a "channel" scope.

Plain HTTP on this port answers only /ws/health/, the websocket server's
own health probe: 200 {"status": "ok"}, or, to a probe, 503 {"status":
"draining"} once the container is stopping (core/drain.py). Any other HTTP
request is a 404: HTTP is served on port 8000.
"""

import json
import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Set up Django (settings, app registry) before anything imports models.
django.setup()

from channels.routing import ChannelNameRouter, ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from core import clientip, drain  # noqa: E402
from core.routing import channel_routes, websocket_urlpatterns  # noqa: E402

HEALTH_PATH = "/ws/health/"


async def http(scope, receive, send):
    if scope["path"] == HEALTH_PATH and scope["method"] in ("GET", "HEAD"):
        client = (scope.get("client") or ("", 0))[0]
        forwarded = any(name == b"x-forwarded-for" for name, _ in scope["headers"])
        if drain.tell_probe(client, forwarded):
            status, document = 503, {"status": "draining"}
        else:
            status, document = 200, {"status": "ok"}
    else:
        status, document = 404, {"detail": "this port serves websockets under /ws/; HTTP is served on port 8000"}
    body = json.dumps(document).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-cache, no-store, must-revalidate, max-age=0"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


router = ProtocolTypeRouter(
    {
        "http": http,
        # A websocket's Origin must be one of ALLOWED_HOSTS: a page on
        # another site cannot open a socket with the user's cookies.
        "websocket": AllowedHostsOriginValidator(URLRouter(websocket_urlpatterns)),
        # The worker's named channels: "tasks" to core.consumers.TaskConsumer.
        "channel": ChannelNameRouter(channel_routes),
    }
)

# scope["client"] is the client's address, from X-Forwarded-For only when
# the request comes from the stack's own proxy (core/clientip.py); uvicorn's
# own proxy headers are off (docker/serve.py).
application = clientip.ASGIClientAddress(router)
