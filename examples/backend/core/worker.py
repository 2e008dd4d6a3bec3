"""The worker `manage.py runworker tasks` runs (core/management/commands/
runworker.py): Channels' worker, which receives the messages of named
channels from the channel layer and hands them to the consumers
config/asgi.py routes them to, made fit to run as a container's command.

What it adds to channels.worker.Worker, and why:

- It stops on SIGTERM, promptly and without losing a message. Run as the
  container's PID 1 (the entrypoint execs it), a process gets no signal it
  has no handler for, and Channels' worker installs none: `docker stop`
  would wait out its stop timeout (10 s by default) and SIGKILL it on every
  release. Here SIGTERM (or SIGINT) stops the receiving at once (a receive
  cancelled while it waits loses nothing: channels_redis keeps the message
  it pops in a backup queue until the receive has returned it, and the
  next receive on the channel puts it back), lets the consumer finish the
  message in hand (for at most stop_seconds), and exits with 128 + the
  signal, as serve.py does: Docker's on-failure restart policy then starts
  it again after a daemon restart, while a `docker stop` leaves it stopped.
- It takes a message off Redis only once the consumer has handled the one
  before (Channels' worker takes them as fast as Redis gives them, into a
  queue in memory, which a stop would have to work through or lose): a
  stop finds at most one message in hand per channel, and the others wait
  in Redis for the next worker, for REDIS_CHANNEL_EXPIRY (60 s).
- It writes a heartbeat, a file holding its pid, replaced every
  heartbeat_seconds from the event loop that receives and dispatches: a
  fresh file means the loop turns, which a thread of its own would not
  prove. docker/worker_health.py, the container's healthcheck, reads it
  without starting Django. The file is removed when the worker stops.
- It rides out a Redis outage: a receive that fails for a connection error
  is tried again, every 1, 2, then 5 s, instead of ending the worker
  (Channels' worker exits on the first error, and Docker's restart policy
  gives up after a few quick failures). Meanwhile the healthcheck, which
  asks Redis itself, reports the worker unhealthy.
- An unexpected error in a listener still ends the worker, non-zero, so
  that Docker's restart policy starts a fresh one.
"""

import asyncio
import logging
import os
import signal
import time

import redis
from asgiref.compatibility import guarantee_single_callable
from channels.db import database_sync_to_async
from channels.worker import Worker as ChannelsWorker
from django.db import connections

logger = logging.getLogger(__name__)

HEARTBEAT_FILE = "/tmp/worker-heartbeat"
HEARTBEAT_SECONDS = 2.0
# For the messages already handed to a consumer, after SIGTERM: inside
# Docker's default stop timeout of 10 s, before its SIGKILL.
STOP_SECONDS = 8.0
# Between receives that failed for a Redis error.
RETRY_SECONDS = (1, 2, 5)
# How often an outage that goes on is logged again.
OUTAGE_LOG_SECONDS = 60


class Worker(ChannelsWorker):
    def __init__(
        self,
        application,
        channels,
        channel_layer,
        heartbeat_file=HEARTBEAT_FILE,
        heartbeat_seconds=HEARTBEAT_SECONDS,
        stop_seconds=STOP_SECONDS,
        retry_seconds=RETRY_SECONDS,
        **kwargs,
    ):
        super().__init__(application, channels, channel_layer, **kwargs)
        self.heartbeat_file = heartbeat_file
        self.heartbeat_seconds = heartbeat_seconds
        self.stop_seconds = stop_seconds
        self.retry_seconds = retry_seconds
        self.stopped_by = None  # the signal that stopped the worker
        self.abandoned = False  # stop_seconds ran out with a message in hand

    # --- the run -----------------------------------------------------------------

    def run(self):
        """Runs until SIGTERM or SIGINT; returns the exit code: 128 + the
        signal. An error that ends a listener is raised."""
        asyncio.run(self.serve(signals=(signal.SIGTERM, signal.SIGINT)))
        code = 128 + self.stopped_by if self.stopped_by else 0
        if self.abandoned:
            # The consumer's thread still runs; the interpreter would wait
            # for it at exit, past Docker's stop timeout.
            logging.shutdown()
            os._exit(code)
        return code

    async def serve(self, signals=(), stop=None):
        """Receives and dispatches until a signal in `signals` arrives or
        the event `stop` is set, then stops as the module says."""
        loop = asyncio.get_running_loop()
        stop = stop or asyncio.Event()
        for sig in signals:
            loop.add_signal_handler(sig, self._stop_requested, sig, stop)
        helpers = [asyncio.ensure_future(self.application_checker()), asyncio.ensure_future(self.heartbeat())]
        listeners = [asyncio.ensure_future(self.listener(channel)) for channel in self.channels]
        stopping = asyncio.ensure_future(stop.wait())
        logger.info("worker: receiving on %s (pid %d)", ", ".join(self.channels), os.getpid())
        try:
            await asyncio.wait(listeners + [stopping], return_when=asyncio.FIRST_COMPLETED)
            started = time.monotonic()
            for task in listeners + [stopping]:
                task.cancel()
            results = await asyncio.gather(*listeners, return_exceptions=True)
            failed = [r for r in results if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError)]
            if failed:
                raise failed[0]
            await self._finish_handed_over(started)
            if not self.abandoned:
                # The consumers' persistent database connection (CONN_MAX_AGE)
                # belongs to the one thread their handlers run in: closed
                # there, Postgres sees a goodbye instead of a reset.
                await database_sync_to_async(connections.close_all)()
            await self._close_layer()
            logger.info("worker: stopped in %.2f s", time.monotonic() - started)
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
            for task in helpers + [details["future"] for details in self.application_instances.values()]:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            self._remove_heartbeat()

    def _stop_requested(self, sig, stop):
        if self.stopped_by is None:
            self.stopped_by = sig
            logger.info("worker: %s: no more receiving; finishing the messages in hand", signal.Signals(sig).name)
        stop.set()

    async def _finish_handed_over(self, started):
        """Waits until every consumer has handled what it was handed, for at
        most stop_seconds."""
        deadline = started + self.stop_seconds
        while any(self._busy(details) for details in self.application_instances.values()):
            if time.monotonic() >= deadline:
                self.abandoned = True
                logger.warning(
                    "worker: messages still in hand after %.0f s: exiting without them", self.stop_seconds
                )
                return
            await asyncio.sleep(0.02)

    async def _close_layer(self):
        # Waits for channels_redis's acknowledgement of the last messages
        # received (else they would be delivered again), and closes its
        # connections.
        close = getattr(self.channel_layer, "close_pools", None)
        if close is None:
            return
        try:
            await close()
        except (redis.RedisError, OSError) as error:
            logger.warning("worker: closing the channel layer's connections: %s: %s", type(error).__name__, error)

    # --- receiving -----------------------------------------------------------------

    async def listener(self, channel):
        """Channels' listener, but one that waits out a Redis outage and
        drops, with a warning, a message without a type (Channels' raises,
        which ends the worker)."""
        failures = 0
        outage_logged = 0.0
        while True:
            try:
                if failures and hasattr(self.channel_layer, "connection"):
                    # A receive that works says nothing until a message
                    # comes: ask Redis, so that the outage's end is logged
                    # when it ends, and the next one counts afresh.
                    await self._ping()
                    failures = self._recovered(channel, failures)
                message = await self.channel_layer.receive(channel)
            except (redis.RedisError, OSError) as error:
                failures += 1
                now = time.monotonic()
                if failures == 1 or now - outage_logged >= OUTAGE_LOG_SECONDS:
                    outage_logged = now
                    logger.warning(
                        "worker: receiving on %s failed%s: %s: %s; trying again",
                        channel, f" {failures} times in a row" if failures > 1 else "", type(error).__name__, error,
                    )
                await asyncio.sleep(self.retry_seconds[min(failures, len(self.retry_seconds)) - 1])
                continue
            if failures:  # a layer with no connection to ask: its receive answered
                failures = self._recovered(channel, failures)
            if not message.get("type"):
                logger.warning("worker: dropped a message without a type on %s", channel)
                continue
            await self.hand_over(channel, message)

    async def _ping(self):
        """PINGs each of the channel layer's Redis servers through the
        layer's own connections; raises as a receive would."""
        for index in range(self.channel_layer.ring_size):
            await self.channel_layer.connection(index).ping()

    @staticmethod
    def _recovered(channel, failures):
        logger.info("worker: receiving on %s again, after %d failed tries", channel, failures)
        return 0

    async def hand_over(self, channel, message):
        """Gives the message to the channel's consumer and waits until it
        has handled it (or has ended): the next message stays in Redis
        meanwhile, so a stop finds at most one message in hand per channel
        and leaves the others to the next worker. A consumer handles its
        messages one after the other anyway; taking more ahead would only
        save a round trip to Redis."""
        ended = self.application_instances.get(channel)
        if ended is not None and ended["future"].done():
            # An error ended the consumer after its last message: say why
            # now (the application checker would, within 0.1 s) and let a
            # new one take this message, which the ended one never would.
            del self.application_instances[channel]
            if not ended["future"].cancelled() and ended["future"].exception() is not None:
                await self.application_exception(ended["future"].exception(), ended)
        scope = {"type": "channel", "channel": channel}
        self.get_or_create_application_instance(channel, scope).put_nowait(message)
        details = self.application_instances[channel]
        details["handled"].clear()
        handled = asyncio.ensure_future(details["handled"].wait())
        try:
            await asyncio.wait([handled, details["future"]], return_when=asyncio.FIRST_COMPLETED)
        finally:
            handled.cancel()

    def get_or_create_application_instance(self, scope_id, scope):
        """asgiref's, with a receive that tells when the consumer has
        handled its message: it asks for the next one once it is done."""
        if scope_id in self.application_instances:
            details = self.application_instances[scope_id]
            details["last_used"] = time.time()
            return details["input_queue"]
        while len(self.application_instances) > self.max_applications:
            self.delete_oldest_application_instance()
        input_queue = asyncio.Queue()
        handled = asyncio.Event()
        handled.set()
        details = {"input_queue": input_queue, "scope": scope, "last_used": time.time(), "handled": handled}

        async def receive():
            if input_queue.empty():
                handled.set()
            return await input_queue.get()

        # A coroutine function, not asgiref's lambda: SyncConsumer wraps send
        # in async_to_sync, which warns about a plain callable.
        async def send(message):
            await self.application_send(scope, message)

        details["future"] = asyncio.ensure_future(
            guarantee_single_callable(self.application)(scope=scope, receive=receive, send=send)
        )
        self.application_instances[scope_id] = details
        return input_queue

    @staticmethod
    def _busy(details):
        return not details["future"].done() and not details["handled"].is_set()

    # --- the heartbeat -----------------------------------------------------------------

    async def heartbeat(self):
        """Replaces the heartbeat file every heartbeat_seconds. A failed
        write is logged once; the healthcheck then reports the file stale."""
        failing = False
        pid = str(os.getpid())
        while True:
            try:
                # Written aside and renamed: the healthcheck never reads a
                # half-written file, and the file's time is the beat's.
                partial = f"{self.heartbeat_file}.{pid}"
                with open(partial, "w") as f:
                    f.write(pid + "\n")
                os.replace(partial, self.heartbeat_file)
                if failing:
                    logger.info("worker: the heartbeat file is written again")
                failing = False
            except OSError as error:
                if not failing:
                    logger.warning("worker: cannot write the heartbeat file %s: %s", self.heartbeat_file, error)
                failing = True
            await asyncio.sleep(self.heartbeat_seconds)

    def _remove_heartbeat(self):
        try:
            os.remove(self.heartbeat_file)
        except FileNotFoundError:
            pass
        except OSError as error:
            logger.warning("worker: cannot remove the heartbeat file %s: %s", self.heartbeat_file, error)
