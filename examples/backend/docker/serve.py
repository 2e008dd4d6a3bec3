#!/usr/bin/env python3
"""The backend container's command: runs its two servers, and stops them
without dropping a request.

- gunicorn on 0.0.0.0:8000 serves HTTP through Django's WSGI handler
  (docker/gunicorn.conf.py: WEB_CONCURRENCY sync workers, config/wsgi.py);
- uvicorn on 0.0.0.0:8001 serves the websockets, /ws/, through Channels
  (config/asgi.py).

It runs as PID 1 (the entrypoint execs it): it reaps orphaned processes,
and when either server dies unexpectedly it stops the other and exits
non-zero, so that Docker's restart policy starts the container again.

On SIGTERM (docker stop) or SIGINT it drains, in three steps
(examples/backend/README.md, "Stopping without dropping a request"):

1. Lame duck. /api/ and /ws/health/ answer 503 {"status": "draining"} to
   the health probes (requests without X-Forwarded-For: Traefik adds one to
   every request it forwards, none to its probes), so that the load
   balancer takes the container out of its rotation; every request it
   forwards is served as before. The step ends once a probe from the load
   balancer (from another address than loopback) got that answer and the
   load balancer then forwarded nothing for a second: a configuration
   reload that puts the container back in its rotation (Traefik starts its
   health checks afresh, "up", on every reload) keeps it serving until the
   next probe. Or after DRAIN_SECONDS (default 10), whatever came.
2. Stop. Both servers get SIGTERM: each closes its port, gunicorn's workers
   finish the request they are serving (graceful_timeout, 15 s), uvicorn
   closes its websockets with 1012 ("service restart"; clients reconnect
   to another container).
3. Exit once both servers have exited cleanly, with 128 + the signal that
   stopped it (143 for SIGTERM), as a shell does: the program's restart
   policy (on-failure, at most 3) starts a container that exited non-zero
   again when Docker's daemon restarts, which is what brings the site back
   after a reboot.

All of it fits in the 30 s that Docker waits (the program's stopTimeout)
before SIGKILL: at most 10 s of lame duck, then 15 s for the last requests;
whatever still runs 18 s into step 2 is killed. A second SIGTERM or SIGINT
skips what is left of the lame duck. SIGHUP is passed to gunicorn, which
then replaces its workers gracefully.
"""

import errno
import os
import select
import shutil
import signal
import sys
import tempfile
import time

# What a lame duck waits for, and for how long at most.
DRAIN_SECONDS_DEFAULT = 10
# After the probe: stop once the load balancer forwarded nothing this long.
SETTLE_SECONDS = 1.0
# Step 2's limit: gunicorn's graceful_timeout (15 s) and some slack.
STOP_SECONDS = 18.0


def servers():
    """The two servers, as (name, argv). Each binds its own port."""
    python = sys.executable or "python3"
    return [
        ("gunicorn", [python, "-m", "gunicorn", "--config", "/app/docker/gunicorn.conf.py"]),
        (
            "uvicorn",
            [
                python, "-m", "uvicorn", "config.asgi:application",
                "--host", "0.0.0.0", "--port", "8001",
                # One process: an event loop holds thousands of websockets.
                # (Unset, uvicorn would read WEB_CONCURRENCY, gunicorn's.)
                "--workers", "1",
                # Channels' router answers no lifespan events; without this
                # uvicorn logs that as an error at every start.
                "--lifespan", "off",
                "--ws", "wsproto",
                # The client's address comes from X-Forwarded-For only when
                # the stack's own Traefik sent it: config/asgi.py decides
                # (core/clientip.py), not uvicorn, which would believe any
                # address allowed here and, with "*", the left-most claim.
                "--no-proxy-headers",
                "--timeout-graceful-shutdown", "10",
            ],
        ),
    ]


def log(message):
    print(f"serve: {message}", file=sys.stderr, flush=True)


class Supervisor:
    def __init__(self, commands, drain_seconds, settle_seconds=SETTLE_SECONDS, stop_seconds=STOP_SECONDS):
        self.commands = commands
        self.drain_seconds = drain_seconds
        self.settle_seconds = settle_seconds
        self.stop_seconds = stop_seconds
        self.children = {}  # pid -> name, of the servers still running
        self.failed = None  # (name, exit code) of a server that died unexpectedly
        self.stopping = False
        self.stopped_by = None  # the signal that stopped the container
        self.signals = []

    # --- processes -------------------------------------------------------------

    def start(self):
        # The servers read SERVE_DRAIN_DIR (core/drain.py): the supervisor
        # puts "draining" there, the app "probed" when the load balancer's
        # probe was answered 503.
        self.drain_dir = tempfile.mkdtemp(prefix="serve-")
        env = dict(os.environ, SERVE_DRAIN_DIR=self.drain_dir)
        for name, argv in self.commands:
            # Each in a process group of its own: a Ctrl-C on a terminal
            # reaches this process only, which then drains in order.
            pid = os.posix_spawn(argv[0], argv, env, setpgroup=0)
            self.children[pid] = name
            log(f"started {name} (pid {pid}): {' '.join(argv[1:])}")

    def signal_all(self, sig, names=None):
        for pid, name in list(self.children.items()):
            if names is None or name in names:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass

    def reap(self):
        """Collects every exited child, the servers and any orphan that was
        handed to PID 1."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            name = self.children.pop(pid, None)
            if name is None:
                continue  # an orphan
            code = os.waitstatus_to_exitcode(status)
            how = f"exit code {code}" if code >= 0 else f"signal {signal.Signals(-code).name}"
            if self.stopping:
                log(f"{name} stopped ({how})")
                # uvicorn ends by raising the SIGTERM it handled again: that
                # is a clean stop too.
                if code not in (0, -signal.SIGTERM) and self.failed is None:
                    self.failed = (name, code)
            elif self.failed is None:
                log(f"{name} exited unexpectedly ({how}): stopping the other server")
                self.failed = (name, code)

    # --- signals ---------------------------------------------------------------

    def install_signals(self):
        read, write = os.pipe()
        os.set_blocking(read, False)
        os.set_blocking(write, False)
        self.wakeup = read
        signal.set_wakeup_fd(write)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(sig, self.on_signal)

    def on_signal(self, sig, frame):
        self.signals.append(sig)

    def wait(self, seconds):
        """Sleeps until a signal arrives or the time is up."""
        try:
            select.select([self.wakeup], [], [], max(0.0, seconds))
        except InterruptedError:
            pass
        try:
            while os.read(self.wakeup, 512):
                pass
        except OSError as error:
            if error.errno != errno.EAGAIN:
                raise

    def take_signals(self):
        taken, self.signals = self.signals, []
        return [s for s in taken if s != signal.SIGCHLD]

    # --- the run -----------------------------------------------------------------

    def probed(self):
        return os.path.exists(os.path.join(self.drain_dir, "probed"))

    def probed_after(self, drain_started, now):
        """Seconds from the drain's start to the first probe told."""
        created = os.stat(os.path.join(self.drain_dir, "probed")).st_mtime
        return max(0.0, (now - drain_started) - (time.time() - created))

    def quiet_for(self, draining_for):
        """Seconds since the last request the load balancer forwarded (the
        app touches "forwarded" while draining), or since the drain began."""
        try:
            return min(draining_for, time.time() - os.stat(os.path.join(self.drain_dir, "forwarded")).st_mtime)
        except FileNotFoundError:
            return draining_for

    def run(self):
        self.install_signals()
        self.start()
        drain_started = None  # when the lame duck began
        lame_duck_ends = None
        stop_started = None
        while self.children:
            self.reap()
            now = time.monotonic()
            for sig in self.take_signals():
                if sig == signal.SIGHUP:
                    log("SIGHUP: passing it to gunicorn (graceful reload of its workers)")
                    self.signal_all(signal.SIGHUP, names={"gunicorn"})
                elif drain_started is None and stop_started is None:
                    self.stopped_by = sig
                    drain_started = now
                    lame_duck_ends = now + self.drain_seconds
                    open(os.path.join(self.drain_dir, "draining"), "w").close()
                    log(
                        f"{signal.Signals(sig).name}: draining: the health probes answer 503, every other "
                        f"request is served until the load balancer's probe has seen it (at most {self.drain_seconds:g} s)"
                    )
                elif stop_started is None:
                    log(f"{signal.Signals(sig).name} again: stopping now")
                    lame_duck_ends = now
            if self.failed is not None and stop_started is None:
                lame_duck_ends = now  # no lame duck: the container is restarting
            if drain_started is not None and stop_started is None and now < lame_duck_ends and self.probed():
                quiet = self.quiet_for(now - drain_started)
                if quiet >= self.settle_seconds:
                    log(
                        f"the load balancer's probe saw the drain after {self.probed_after(drain_started, now):.1f} s, "
                        f"and it forwarded nothing for {quiet:.1f} s: stopping"
                    )
                    lame_duck_ends = now
            if lame_duck_ends is not None and stop_started is None and now >= lame_duck_ends:
                if drain_started is not None and not self.probed() and self.failed is None:
                    log(f"no probe from a load balancer saw the drain in {self.drain_seconds:g} s; stopping anyway")
                stop_started = now
                self.stopping = True
                log("stopping: the servers close their ports and finish their requests")
                self.signal_all(signal.SIGTERM)
            if stop_started is not None and now >= stop_started + self.stop_seconds:
                log(f"still running {self.stop_seconds:g} s after SIGTERM: killing {', '.join(self.children.values())}")
                self.signal_all(signal.SIGKILL)
                stop_started = float("inf")  # killed once
            if not self.children:
                break
            # Wake up for the next deadline, or to poll for the probe.
            timeout = 1.0
            if drain_started is not None and stop_started is None:
                timeout = min(0.1, max(0.0, lame_duck_ends - now))
            elif stop_started is not None and stop_started != float("inf"):
                timeout = min(1.0, max(0.0, stop_started + self.stop_seconds - now))
            self.wait(timeout)
        shutil.rmtree(self.drain_dir, ignore_errors=True)
        if self.failed is not None:
            name, code = self.failed
            return code if code > 0 else 1
        if self.stopped_by is not None:
            # Stopped by a signal, as a shell reports it: 128 + the signal.
            # Docker's on-failure policy then starts the container again
            # when its daemon restarts (a reboot stops every container this
            # way); a `docker stop` or a release is never restarted, whatever
            # the status.
            log(f"stopped by {signal.Signals(self.stopped_by).name}")
            return 128 + self.stopped_by
        log("stopped")
        return 0


def drain_seconds():
    value = os.environ.get("DRAIN_SECONDS", "")
    if value == "":
        return DRAIN_SECONDS_DEFAULT
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1
    if not 0 <= seconds <= 20:
        sys.exit(f"serve: DRAIN_SECONDS must be a number of seconds from 0 to 20, not {value!r}")
    return seconds


def main(commands=None):
    return Supervisor(commands or servers(), drain_seconds()).run()


if __name__ == "__main__":
    sys.exit(main())
