from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from . import health
from .models import Note


def index(request):
    return render(request, "core/index.html")


@method_decorator(never_cache, name="dispatch")
class HealthView(APIView):
    """The health document: 200 while the database answers, 503 when it does
    not, so that Docker marks the container unhealthy and Traefik stops
    sending it traffic. Redis is reported but does not fail the probe: the
    cache ignores its errors (IGNORE_EXCEPTIONS), so the site still serves
    while Redis is down, and a backend taken out of rotation for it would
    only make things worse."""

    # Probes carry no credentials, and must never be throttled into
    # "unhealthy" or be slowed by a session lookup.
    authentication_classes = []
    permission_classes = []
    throttle_classes = []

    def get(self, request):
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
