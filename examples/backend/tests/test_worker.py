"""The worker role: the "tasks" channel's routing and consumer, the API that
hands a task to the worker and reads its result, the worker itself (its
stop, its heartbeat, a Redis outage) and its healthcheck,
docker/worker_health.py.

The database is a SQLite file here (Postgres is unreachable in this run,
as in test_runtime.py), the channel layer Channels' in-memory one where a
test needs messages to go through; tests/e2e/backend-image.sh runs the
worker for real, with Postgres and Redis."""

import asyncio
import datetime
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command

from conftest import PRODUCTION_ENV

APP = Path(__file__).resolve().parent.parent
HEALTH = APP / "docker" / "worker_health.py"
IN_MEMORY_LAYER = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


def closed_port():
    """A local port nobody listens on: connecting to it is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def unreachable_env():
    return dict(PRODUCTION_ENV, DB_HOST="127.0.0.1", DB_PORT=closed_port(), REDIS_HOST="127.0.0.1", REDIS_PORT=closed_port())


@pytest.fixture(scope="module")
def django_settings():
    import django
    from django.conf import settings

    os.environ.update(unreachable_env())
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    django.setup()
    return settings


def use_databases(databases):
    """Points Django's connections at other DATABASES. Django reads the
    setting once, into the connection handler, and override_settings does
    not reach it; so the handler forgets what it read, and its open
    connections, and reads it again."""
    from asgiref.local import Local
    from django.conf import settings
    from django.db import connections

    connections.close_all()
    settings.DATABASES = databases
    connections.__dict__.pop("settings", None)
    connections._settings = None
    connections._connections = Local(connections.thread_critical)


@pytest.fixture(scope="module")
def database(django_settings, tmp_path_factory):
    """The project's tables, migrated, in a SQLite file: a file, not
    ":memory:", as the consumer writes from a thread of its own, through a
    connection of its own."""
    original = django_settings.DATABASES
    path = tmp_path_factory.mktemp("db") / "db.sqlite3"
    use_databases({"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}})
    call_command("migrate", verbosity=0)
    yield
    use_databases(original)


@pytest.fixture
def layer(django_settings):
    """Channels' in-memory channel layer, for one test (Channels drops the
    layer it built when CHANNEL_LAYERS changes)."""
    from channels.layers import get_channel_layer
    from django.test import override_settings

    with override_settings(CHANNEL_LAYERS=IN_MEMORY_LAYER):
        yield get_channel_layer()


def task_message(text="hello worker", **fields):
    # The standard library's clock: the parameters below are made before
    # Django is set up.
    created = datetime.datetime.now(datetime.timezone.utc).isoformat()
    return {"type": "task.record", "id": str(uuid.uuid4()), "text": text, "created": created, **fields}


def client():
    from django.test import Client

    # The production profile: TLS, so the request says it came over https.
    return Client(HTTP_HOST="example.com", HTTP_X_FORWARDED_PROTO="https")


def wait_for(condition, seconds=10.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# --- routing ---------------------------------------------------------------------


def test_the_channel_router_sends_the_tasks_channel_to_the_task_consumer(django_settings):
    from channels.routing import ChannelNameRouter, get_default_application

    from core.consumers import TASKS_CHANNEL, TaskConsumer

    # What runworker runs: ASGI_APPLICATION, config/asgi.py's router (behind
    # core.clientip's client addresses, which a channel scope passes through).
    application = get_default_application().app
    router = application.application_mapping["channel"]
    assert isinstance(router, ChannelNameRouter)
    assert TASKS_CHANNEL == "tasks"
    assert set(router.application_mapping) == {"tasks"}
    assert router.application_mapping["tasks"].consumer_class is TaskConsumer


def test_the_worker_command_is_this_projects(django_settings):
    """`manage.py runworker` is core's (Channels' is not installed as an
    app), with Channels' arguments."""
    from django.core.management import get_commands, load_command_class

    assert get_commands()["runworker"] == "core"
    command = load_command_class("core", "runworker")
    options = command.create_parser("manage.py", "runworker").parse_args(["tasks"])
    assert (options.channels, options.layer, options.heartbeat_file) == (["tasks"], "default", "/tmp/worker-heartbeat")


# --- the consumer -------------------------------------------------------------------


async def consume(*messages):
    """Sends the messages to the "tasks" channel's consumer through
    config/asgi.py's router, as the worker does, then a last task, and
    waits until that one is written: the consumer handles its messages one
    after the other, so it has handled them all. It must still be running."""
    from asgiref.testing import ApplicationCommunicator
    from channels.db import database_sync_to_async
    from channels.routing import get_default_application

    from core.models import Task

    last = task_message("the last one")
    communicator = ApplicationCommunicator(get_default_application(), {"type": "channel", "channel": "tasks"})
    for message in [*messages, last]:
        await communicator.send_input(message)
    written = database_sync_to_async(lambda: Task.objects.filter(id=last["id"]).exists())
    deadline = time.monotonic() + 10
    while not await written():
        assert not communicator.future.done(), communicator.future.exception()
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)
    assert not communicator.future.done(), communicator.future.exception()
    communicator.stop()


def test_the_consumer_writes_the_task(database):
    from django.utils.dateparse import parse_datetime

    from core.models import Task

    message = task_message("write me down")
    asyncio.run(consume(message))
    task = Task.objects.get(id=message["id"])
    assert task.text == "write me down"
    assert task.created == parse_datetime(message["created"])
    assert task.created <= task.handled_at
    assert task.handled_by == socket.gethostname()


def test_a_task_delivered_twice_is_written_once(database):
    from core.models import Task

    message = task_message("twice")
    asyncio.run(consume(message, dict(message, text="the second delivery")))
    assert list(Task.objects.filter(id=message["id"]).values_list("text", flat=True)) == ["twice"]


@pytest.mark.parametrize(
    "malformed",
    [
        {"type": "task.record"},
        task_message(id="not-a-uuid"),
        task_message(text=""),
        task_message(text="x" * 201),
        task_message(text=42),
        task_message(created="yesterday"),
    ],
    ids=["empty", "bad id", "empty text", "long text", "text not a string", "bad created"],
)
def test_a_malformed_task_is_dropped_and_the_next_one_handled(database, malformed, caplog):
    from core.models import Task

    before = Task.objects.count()
    good = task_message("after a bad one")
    asyncio.run(consume(malformed, good))
    assert Task.objects.count() == before + 2  # the good one and consume()'s last
    assert Task.objects.filter(id=good["id"]).exists()
    assert "dropped a malformed task message" in caplog.text


# --- the API ------------------------------------------------------------------------


def test_post_answers_202_with_the_id_and_sends_the_task(database, layer):
    response = client().post("/api/tasks/", {"text": "for the worker"}, content_type="application/json")
    assert response.status_code == 202
    task_id = response.json()["id"]
    assert response.json() == {"id": task_id}
    assert str(uuid.UUID(task_id)) == task_id
    assert response["Location"] == f"/api/tasks/{task_id}/"
    message = asyncio.run(layer.receive("tasks"))
    assert message["type"] == "task.record"
    assert (message["id"], message["text"]) == (task_id, "for the worker")


@pytest.mark.parametrize(
    "body, error",
    [
        ({}, "This field is required."),
        ({"text": ""}, "This field may not be blank."),
        ({"text": "x" * 201}, "Ensure this field has no more than 200 characters."),
    ],
)
def test_post_refuses_a_bad_text(database, layer, body, error):
    response = client().post("/api/tasks/", body, content_type="application/json")
    assert (response.status_code, response.json()) == (400, {"text": [error]})


def test_get_is_404_until_the_worker_has_written_the_task_then_200(database, layer):
    from core.models import Task

    task_id = client().post("/api/tasks/", {"text": "round trip"}, content_type="application/json").json()["id"]
    response = client().get(f"/api/tasks/{task_id}/")
    assert (response.status_code, response.json()) == (404, {"detail": "No Task matches the given query."})
    assert "no-cache" in response["Cache-Control"]

    run_worker(layer, until=lambda: Task.objects.filter(id=task_id).exists())

    response = client().get(f"/api/tasks/{task_id}/")
    assert response.status_code == 200
    document = response.json()
    assert list(document) == ["id", "text", "created", "handled_by", "handled_at"]
    assert (document["id"], document["text"], document["handled_by"]) == (task_id, "round trip", socket.gethostname())
    assert document["created"] <= document["handled_at"]


def test_post_is_503_when_the_channel_layer_is_unreachable(database, django_settings):
    """This run's Redis is a port nobody listens on."""
    response = client().post("/api/tasks/", {"text": "nowhere to go"}, content_type="application/json")
    assert (response.status_code, response.json()) == (503, {"detail": "the task queue is unavailable; try again later"})


def test_the_task_views_keep_the_api_throttles(django_settings):
    from rest_framework.settings import api_settings

    from core.views import TaskCreate, TaskDetail

    assert api_settings.DEFAULT_THROTTLE_CLASSES
    for view in (TaskCreate, TaskDetail):
        assert view.throttle_classes == api_settings.DEFAULT_THROTTLE_CLASSES


# --- the worker -------------------------------------------------------------------


def run_worker(layer, until, application=None, seconds=10.0, **options):
    """Runs a worker on "tasks" (with config/asgi.py's router unless given
    another application) until `until()` holds (asked from a thread, as it
    may use the database), then stops it as SIGTERM does; returns the
    worker, with how long its stop took."""
    from channels.routing import get_default_application

    from core.worker import Worker

    options.setdefault("heartbeat_file", f"/tmp/test-worker-heartbeat-{uuid.uuid4().hex}")
    worker = Worker(application or get_default_application(), ["tasks"], layer, **options)

    async def main():
        stop = asyncio.Event()
        serving = asyncio.ensure_future(worker.serve(stop=stop))
        deadline = time.monotonic() + seconds
        while not await asyncio.to_thread(until):
            assert not serving.done(), serving.exception()
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.01)
        started = time.monotonic()
        stop.set()
        await serving
        return time.monotonic() - started

    worker.stop_took = asyncio.run(main())
    return worker


def test_the_worker_writes_a_heartbeat_while_it_runs_and_removes_it_when_it_stops(django_settings, layer, tmp_path):
    heartbeat = tmp_path / "heartbeat"
    beats = []

    def two_beats():
        if heartbeat.exists():
            mtime = heartbeat.stat().st_mtime
            if not beats or beats[-1][0] != mtime:
                beats.append((mtime, heartbeat.read_text()))
        return len(beats) >= 2

    run_worker(layer, until=two_beats, heartbeat_file=str(heartbeat), heartbeat_seconds=0.2)
    assert [text for _, text in beats] == [f"{os.getpid()}\n"] * 2
    assert 0.1 < beats[1][0] - beats[0][0] < 1.0
    assert not heartbeat.exists()
    assert list(tmp_path.iterdir()) == []  # no half-written file left either


def slow_consumer(seconds, log):
    """A consumer that takes `seconds` over each message, noting in `log`
    when it began and finished: what the stop must wait for."""
    from channels.consumer import SyncConsumer

    class SlowConsumer(SyncConsumer):
        channel_layer_alias = None

        def task_record(self, message):
            log.append(("began", message["id"]))
            time.sleep(seconds)
            log.append(("finished", message["id"]))

    return SlowConsumer.as_asgi()


def test_a_stop_finishes_the_message_in_hand_and_leaves_the_others_in_the_layer(django_settings, layer):
    log = []
    messages = [task_message(f"slow {n}") for n in range(3)]
    for message in messages:
        asyncio.run(layer.send("tasks", message))
    # Stopped while the first is handled: the worker took no other.
    worker = run_worker(
        layer, until=lambda: ("began", messages[0]["id"]) in log, application=slow_consumer(0.5, log)
    )
    assert log == [("began", messages[0]["id"]), ("finished", messages[0]["id"])]
    assert not worker.abandoned
    assert worker.stop_took < 1.0
    assert [asyncio.run(layer.receive("tasks"))["id"] for _ in messages[1:]] == [m["id"] for m in messages[1:]]


def test_the_worker_hands_over_the_next_message_once_the_last_is_handled(django_settings, layer):
    log = []
    messages = [task_message(f"in turn {n}") for n in range(3)]
    for message in messages:
        asyncio.run(layer.send("tasks", message))
    run_worker(layer, until=lambda: len(log) == 6, application=slow_consumer(0.1, log))
    assert log == [(event, m["id"]) for m in messages for event in ("began", "finished")]


def test_a_consumer_that_failed_is_replaced_for_the_next_message(django_settings, layer, caplog):
    from channels.consumer import SyncConsumer

    handled = []

    class Fragile(SyncConsumer):
        channel_layer_alias = None

        def task_record(self, message):
            if message["text"] == "break":
                raise RuntimeError("a bug in a consumer")
            handled.append(message["text"])

    for text in ("break", "after the break"):
        asyncio.run(layer.send("tasks", task_message(text)))
    run_worker(layer, until=lambda: handled == ["after the break"], application=Fragile.as_asgi())
    assert "a bug in a consumer" in caplog.text


def test_a_stop_gives_up_on_a_message_after_stop_seconds(django_settings, layer):
    log = []
    message = task_message("too slow")
    asyncio.run(layer.send("tasks", message))
    worker = run_worker(layer, until=lambda: bool(log), application=slow_consumer(2.0, log), stop_seconds=0.3)
    assert worker.abandoned
    assert 0.3 <= worker.stop_took < 1.0
    wait_for(lambda: ("finished", message["id"]) in log)  # its thread, before the next test


class FlakyLayer:
    """A channel layer whose first receives fail as a Redis outage does."""

    def __init__(self, failures, message):
        self.failures = failures
        self.message = message
        self.receives = 0

    async def receive(self, channel):
        import redis

        self.receives += 1
        if self.receives <= self.failures:
            raise redis.ConnectionError("Error 111 connecting to redis:6379. Connection refused.")
        if self.receives == self.failures + 1:
            return self.message
        await asyncio.Event().wait()  # nothing more, until cancelled


def test_the_worker_waits_out_a_redis_outage(database, caplog):
    from core.models import Task

    message = task_message("after the outage")
    flaky = FlakyLayer(3, message)
    run_worker(flaky, until=lambda: Task.objects.filter(id=message["id"]).exists(), retry_seconds=(0.05, 0.1))
    # 3 failed, then the message; a fifth, waiting when the worker stopped,
    # only if the consumer had asked for the next message by then.
    assert flaky.receives in (4, 5)
    assert "receiving on tasks failed: ConnectionError" in caplog.text
    assert "receiving on tasks again, after 3 failed tries" in caplog.text


class RedisLayer:
    """A channel layer with Redis's connections, which a test takes down
    and brings back (`up`): down, a receive and a PING fail; up, a PING
    answers and a receive waits, as no message comes, until Redis goes."""

    ring_size = 1

    def __init__(self):
        self.up = True

    def connection(self, index):
        return self

    async def ping(self):
        import redis

        if not self.up:
            raise redis.ConnectionError("Error -2 connecting to redis:6379. Name or service not known.")
        return True

    async def receive(self, channel):
        await self.ping()
        while self.up:
            await asyncio.sleep(0.01)
        await self.ping()


def test_each_redis_outage_is_logged_when_it_begins_and_when_it_ends(django_settings, caplog):
    """The end is logged when Redis answers again, not when a message next
    comes (there may be none for a long time), and the next outage is
    logged afresh."""
    layer = RedisLayer()

    def lines():
        messages = [r.getMessage() for r in caplog.records if r.name == "core.worker"]
        return [m for m in messages if "failed:" in m or "again, after" in m]

    # Each change of Redis, then the worker's line about it.
    changes = [(False, "failed:"), (True, "again, after"), (False, "failed:"), (True, "again, after")]
    made = []  # (the line awaited, how many lines there were before)

    def outages():
        if made and not any(made[-1][0] in line for line in lines()[made[-1][1]:]):
            return False
        if len(made) == len(changes):
            return True
        up, line = changes[len(made)]
        made.append((line, len(lines())))
        layer.up = up
        return False

    run_worker(layer, until=outages, retry_seconds=(0.05,))
    assert ["failed" if "failed:" in line else "again" for line in lines()] == ["failed", "again", "failed", "again"]
    assert all(line.startswith("worker: receiving on tasks again, after ") for line in lines()[1::2])


def test_runworker_as_the_container_runs_it_stops_at_once_on_sigterm(tmp_path):
    """`manage.py runworker tasks`, as the worker container's command: with
    Redis down it keeps trying and beating, its healthcheck says why it is
    unhealthy; on SIGTERM it stops within a second, 143, without a
    traceback, and its heartbeat is gone."""
    heartbeat = tmp_path / "heartbeat"
    env = dict(os.environ, **unreachable_env(), PYTHONUNBUFFERED="1")
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "runworker", "tasks", "--heartbeat-file", str(heartbeat)],
        cwd=APP, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        wait_for(heartbeat.exists, seconds=30)
        assert heartbeat.read_text() == f"{worker.pid}\n"
        health = subprocess.run(
            [sys.executable, str(HEALTH), "--heartbeat-file", str(heartbeat)], env=env, capture_output=True, text=True
        )
        assert health.returncode == 1
        assert health.stdout.startswith(f"unhealthy: Redis at 127.0.0.1:{env['REDIS_PORT']}: Connection refused")
        started = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=10)
        took = time.monotonic() - started
    finally:
        worker.kill()
    assert worker.returncode == 143, output
    assert took < 1.5, output
    assert "Traceback" not in output
    assert "worker: receiving on tasks failed: ConnectionError" in output
    assert "worker: SIGTERM: no more receiving" in output
    assert not heartbeat.exists()


# --- the healthcheck ------------------------------------------------------------------


class FakeRedis(socketserver.ThreadingTCPServer):
    """Answers AUTH and PING in RESP, as Redis with requirepass does."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, password, silent=False):
        self.password = password
        self.silent = silent  # accepts, never answers

        class Handler(socketserver.StreamRequestHandler):
            def handle(handler):
                authenticated = not self.password
                while True:
                    words = read_command(handler.rfile)
                    if words is None:
                        return
                    if self.silent:
                        continue
                    if words[0].upper() == "AUTH":
                        authenticated = words[1:] == [self.password]
                        reply = "+OK" if authenticated else "-WRONGPASS invalid username-password pair or user is disabled."
                    elif not authenticated:
                        reply = "-NOAUTH Authentication required."
                    else:
                        reply = "+PONG"
                    handler.wfile.write(reply.encode() + b"\r\n")

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self):
        return str(self.server_address[1])


def read_command(stream):
    header = stream.readline()
    if not header.startswith(b"*"):
        return None
    words = []
    for _ in range(int(header[1:])):
        length = int(stream.readline()[1:])
        words.append(stream.read(length + 2)[:-2].decode())
    return words


@pytest.fixture
def fake_redis():
    servers = []

    def start(password="redis0password", silent=False):
        server = FakeRedis(password, silent)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def health(heartbeat, redis_port, password_file=None, password=None, *args):
    env = {"PATH": os.environ["PATH"], "REDIS_HOST": "127.0.0.1", "REDIS_PORT": redis_port}
    if password_file is not None:
        env["REDIS_PASSWORD_FILE"] = str(password_file)
    if password is not None:
        env["REDIS_PASSWORD"] = password
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(HEALTH), "--heartbeat-file", str(heartbeat), *args], env=env, capture_output=True, text=True
    )
    assert result.stderr == ""
    assert result.stdout.count("\n") == 1  # one line
    return result.returncode, result.stdout.strip(), time.monotonic() - started


@pytest.fixture
def heartbeat(tmp_path):
    """A fresh heartbeat of this (running) process."""
    path = tmp_path / "worker-heartbeat"
    path.write_text(f"{os.getpid()}\n")
    return path


@pytest.fixture
def password_file(tmp_path):
    path = tmp_path / "redis_password"
    path.write_text("redis0password\n")
    return path


def test_health_is_healthy_with_a_fresh_heartbeat_and_redis_answering(heartbeat, password_file, fake_redis):
    code, line, took = health(heartbeat, fake_redis().port, password_file)
    assert code == 0, line
    assert line.startswith(f"healthy: the worker (pid {os.getpid()}) beat 0.")
    assert "Redis answered PING in" in line
    assert took < 2.0  # a Python start; no Django


def test_health_takes_the_password_from_the_variable_too(heartbeat, fake_redis):
    assert health(heartbeat, fake_redis().port, password="redis0password")[0] == 0
    assert health(heartbeat, fake_redis(password="").port, password="")[0] == 0


def test_health_is_unhealthy_without_a_heartbeat(tmp_path, password_file, fake_redis):
    missing = tmp_path / "worker-heartbeat"
    assert health(missing, fake_redis().port, password_file)[:2] == (
        1,
        f"unhealthy: no heartbeat file {missing}: the worker has not started yet, or has stopped",
    )


def test_health_is_unhealthy_with_a_stale_heartbeat(heartbeat, password_file, fake_redis):
    old = time.time() - 30
    os.utime(heartbeat, (old, old))
    code, line, _ = health(heartbeat, fake_redis().port, password_file)
    assert (code, line) == (1, "unhealthy: the last heartbeat is 30 s old (at most 10): the worker's event loop is stuck")
    assert health(heartbeat, fake_redis().port, password_file, None, "--max-age", "60")[0] == 0


def test_health_is_unhealthy_when_the_worker_is_gone(heartbeat, password_file, fake_redis):
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    heartbeat.write_text(f"{gone.pid}\n")
    assert health(heartbeat, fake_redis().port, password_file)[:2] == (1, f"unhealthy: the worker (pid {gone.pid}) is not running")


def test_health_is_unhealthy_when_redis_does_not_answer(heartbeat, password_file, fake_redis):
    port = closed_port()
    assert health(heartbeat, port, password_file)[:2] == (1, f"unhealthy: Redis at 127.0.0.1:{port}: Connection refused")
    silent = fake_redis(silent=True)
    code, line, took = health(heartbeat, silent.port, password_file)
    assert (code, line) == (1, f"unhealthy: Redis at 127.0.0.1:{silent.port} did not answer within 2 s")
    assert took < 4.0


def test_health_is_unhealthy_when_redis_refuses_the_password(heartbeat, tmp_path, fake_redis):
    wrong = tmp_path / "wrong"
    wrong.write_text("not0the0password\n")
    redis = fake_redis()
    assert health(heartbeat, redis.port, wrong)[:2] == (
        1,
        f"unhealthy: Redis at 127.0.0.1:{redis.port} refused the password: "
        "-WRONGPASS invalid username-password pair or user is disabled.",
    )
    assert health(heartbeat, redis.port)[:2] == (
        1,
        f"unhealthy: Redis at 127.0.0.1:{redis.port} answered PING with -NOAUTH Authentication required.",
    )
