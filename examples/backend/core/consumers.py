import logging
import socket
import uuid

from channels.consumer import SyncConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.db import DatabaseError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from .models import Task

logger = logging.getLogger(__name__)

# The named channel the worker listens on (`manage.py runworker tasks`) and
# POST /api/tasks/ sends to.
TASKS_CHANNEL = "tasks"


class PingConsumer(AsyncJsonWebsocketConsumer):
    """Answers {"type": "ping"} with {"type": "pong"} by way of the channel
    layer: the message goes through Redis, encrypted, to this consumer's own
    channel and back, so a pong proves the layer works, not only the socket."""

    async def receive_json(self, content):
        if not isinstance(content, dict) or content.get("type") != "ping":
            await self.send_json({"type": "error", "error": 'send {"type": "ping"}'})
            return
        await self.channel_layer.send(self.channel_name, {"type": "pong", "echo": content.get("echo")})

    async def pong(self, event):
        await self.send_json({"type": "pong", "echo": event.get("echo"), "via": "channel layer"})


class TaskConsumer(SyncConsumer):
    """The worker's consumer of the "tasks" channel (config/asgi.py routes
    the channel here; core/worker.py runs it): writes each task it is sent
    as a core.Task row.

    {"type": "task.record", "id": "<uuid>", "text": "...", "created": "<ISO 8601>"}

    Handlers run one at a time, in a thread, with Django's database
    connection handling around each (SyncConsumer's dispatch): a connection
    Postgres dropped is replaced before the next message (CONN_HEALTH_CHECKS).

    A message it cannot handle, malformed or met by a database error, is
    logged and dropped, never raised: an exception would end this consumer
    instance, and with it the messages the worker has already queued for it.
    The channel layer delivers at most once, so a dropped task is never
    written (GET /api/tasks/<id>/ stays 404). A message delivered twice
    (channels_redis puts back one whose receive was cancelled before it was
    acknowledged) finds its row written and writes no other.
    """

    # No channel of its own: the worker hands it the messages of "tasks"
    # and it answers no one, so it need not hold a second Redis connection
    # polling a channel of its own.
    channel_layer_alias = None

    def task_record(self, message):
        try:
            task_id = uuid.UUID(str(message["id"]))
            text = message["text"]
            created = parse_datetime(message["created"])
            if not isinstance(text, str) or not 0 < len(text) <= Task._meta.get_field("text").max_length:
                raise ValueError("text must be 1 to 200 characters")
            if created is None:
                raise ValueError("created is not a date and time")
        except (KeyError, TypeError, ValueError) as error:
            logger.warning("worker: dropped a malformed task message (%s: %s)", type(error).__name__, error)
            return
        try:
            task, written = Task.objects.get_or_create(
                id=task_id,
                defaults={
                    "text": text,
                    "created": created,
                    "handled_at": timezone.now(),
                    "handled_by": socket.gethostname(),
                },
            )
        except DatabaseError as error:
            logger.error("worker: task %s not written, dropped: %s: %s", task_id, type(error).__name__, error)
            return
        if written:
            logger.info("worker: task %s handled", task_id)
        else:
            logger.info("worker: task %s was already handled by %s at %s", task_id, task.handled_by, task.handled_at)
