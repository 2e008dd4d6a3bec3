from django.urls import path

from .consumers import TASKS_CHANNEL, PingConsumer, TaskConsumer

websocket_urlpatterns = [
    path("ws/ping/", PingConsumer.as_asgi()),
]

# The named channels a worker serves (`manage.py runworker tasks`), each to
# its consumer.
channel_routes = {
    TASKS_CHANNEL: TaskConsumer.as_asgi(),
}
