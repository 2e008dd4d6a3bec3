import logging
import uuid

import redis
from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer
from django import forms
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from . import drain, health
from .consumers import TASKS_CHANNEL
from .models import Note, Task

logger = logging.getLogger(__name__)


def index(request):
    return render(request, "core/index.html")


class NoteForm(forms.ModelForm):
    class Meta:
        model = Note
        fields = ["text"]


@require_http_methods(["GET", "HEAD", "POST"])
def notes(request):
    """A page with a form: rendering {% csrf_token %} sets the CSRF cookie,
    a POST without the token is refused (403), and a note added is counted
    in the visitor's session (database sessions, the session cookie). The
    form posts back here and is redirected, so a reload posts nothing."""
    if request.method == "POST":
        form = NoteForm(request.POST)
        if form.is_valid():
            form.save()
            request.session["notes_added"] = request.session.get("notes_added", 0) + 1
            return redirect("notes-page")
    else:
        form = NoteForm()
    context = {
        "form": form,
        "notes": Note.objects.all()[:10],
        "added": request.session.get("notes_added", 0),
    }
    return render(request, "core/notes.html", context)


@method_decorator(never_cache, name="dispatch")
class HealthView(APIView):
    """The health document: 200 while the database answers, 503 when it does
    not, so that Docker marks the container unhealthy and Traefik stops
    sending it traffic. Redis is reported but does not fail the probe: the
    cache ignores its errors (IGNORE_EXCEPTIONS), so the site still serves
    while Redis is down, and a backend taken out of rotation for it would
    only make things worse. While the container stops, the probes are
    answered 503 "draining" (core/drain.py)."""

    # Probes carry no credentials, and must never be throttled into
    # "unhealthy" or be slowed by a session lookup.
    authentication_classes = []
    permission_classes = []
    throttle_classes = []

    def get(self, request):
        # The container is stopping (docker/serve.py): the probes learn it
        # first, while every request forwarded by Traefik is still served.
        if drain.tell_probe(request.META.get("REMOTE_ADDR"), "HTTP_X_FORWARDED_FOR" in request.META):
            return Response({"status": "draining"}, status=503)
        database = health.database_status()
        document = {
            "status": health.OK if database == health.OK else health.UNAVAILABLE,
            "database": database,
            "redis": health.redis_status(),
        }
        return Response(document, status=200 if database == health.OK else 503)


class NoteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Note
        fields = ["id", "text", "created"]


class NoteList(generics.ListAPIView):
    """Notes, newest first: paginated by PAGE_SIZE and throttled by the
    anonymous and user rates of REST_FRAMEWORK."""

    queryset = Note.objects.all()
    serializer_class = NoteSerializer


class TaskRequestSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=Task._meta.get_field("text").max_length)


class TaskCreate(APIView):
    """POST {"text": "..."}: hands the task to the worker through the channel
    layer ("tasks", encrypted in Redis) and answers 202 {"id": "<uuid>"}
    with a Location to ask for the result, GET /api/tasks/<id>/, which is a
    404 until the worker has written it. 400 for a text that is missing,
    empty or longer than 200 characters; 503 when the message cannot be
    sent (Redis down, or the channel full: REDIS_CHANNEL_CAPACITY messages
    waiting, no worker receiving).

    Throttled and authenticated as every API view (REST_FRAMEWORK's
    defaults): an anonymous POST needs no CSRF token, one from a logged-in
    session does (DRF's SessionAuthentication)."""

    def post(self, request):
        serializer = TaskRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        task_id = uuid.uuid4()
        message = {
            "type": "task.record",
            "id": str(task_id),
            "text": serializer.validated_data["text"],
            "created": timezone.now().isoformat(),
        }
        try:
            async_to_sync(get_channel_layer().send)(TASKS_CHANNEL, message)
        except (ChannelFull, redis.RedisError, OSError) as error:
            logger.warning("tasks: could not send task %s: %s: %s", task_id, type(error).__name__, error)
            return Response({"detail": "the task queue is unavailable; try again later"}, status=503)
        return Response(
            {"id": str(task_id)}, status=202, headers={"Location": reverse("task", kwargs={"pk": task_id})}
        )


class TaskSerializer(serializers.ModelSerializer):
    class Meta:
        model = Task
        fields = ["id", "text", "created", "handled_by", "handled_at"]


# Never cached: the same URL is a 404 until the worker writes the row.
@method_decorator(never_cache, name="dispatch")
class TaskDetail(generics.RetrieveAPIView):
    """The task as the worker wrote it, or 404 until it has."""

    queryset = Task.objects.all()
    serializer_class = TaskSerializer
