from django.db import models


class Note(models.Model):
    """The project's one model: its migration is the proof that the
    entrypoint's migrate step ran, and /api/notes/ shows DRF's pagination."""

    text = models.CharField(max_length=200)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self):
        return self.text


class Task(models.Model):
    """A task the web process handed to the worker through the channel layer
    (POST /api/tasks/), written by the worker that handled it
    (core.consumers.TaskConsumer): the row is the proof that the worker
    received the message and reached the database.

    The web process picks the id, so the client can ask for the row before it
    exists (GET /api/tasks/<id>/ is a 404 until the worker has written it),
    and a message delivered twice writes one row."""

    id = models.UUIDField(primary_key=True)
    text = models.CharField(max_length=200)
    # When the web process accepted the task; handled_at - created is the
    # time the message spent in Redis and in the worker.
    created = models.DateTimeField()
    handled_at = models.DateTimeField()
    # The worker's host name: its container's, which tells replicas apart.
    handled_by = models.CharField(max_length=255)

    def __str__(self):
        return self.text
