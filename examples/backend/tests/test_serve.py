"""docker/serve.py, the container's command, with two stand-in servers:
small Python processes that write down the signals they get."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SERVE = Path(__file__).resolve().parent.parent / "docker" / "serve.py"

# A stand-in server: notes its start, each signal it gets and its exit in
# LOG, exits 0 on SIGTERM (after LINGER seconds, like a server finishing its
# requests; by the signal itself if EXIT is -15), or with EXIT after LIFE
# seconds.
STANDIN = textwrap.dedent(
    """
    import os, signal, sys, time
    name, log, life, code, linger = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    def note(what):
        with open(log, "a") as f:
            f.write(f"{time.monotonic():.3f} {name} {what}\\n")
    def on_term(sig, frame):
        note("SIGTERM")
        time.sleep(linger)
        note("exit")
        if code == -signal.SIGTERM:  # as uvicorn does once it has stopped
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
        sys.exit(0)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, lambda s, f: note("SIGHUP"))
    note("drain dir " + os.environ["SERVE_DRAIN_DIR"])
    deadline = time.monotonic() + life
    while time.monotonic() < deadline:
        time.sleep(0.05)
    note("dies")
    sys.exit(code)
    """
)

RUNNER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    import serve
    standin, log = sys.argv[2], sys.argv[3]
    def server(name, life=600, code=0, linger=0.2):
        return (name, [sys.executable, standin, name, log, str(life), str(code), str(linger)])
    spec = eval(sys.argv[4])
    supervisor = serve.Supervisor([server(*s) for s in spec], float(sys.argv[5]), settle_seconds=0.5, stop_seconds=float(sys.argv[6]))
    sys.exit(supervisor.run())
    """
)


class Run:
    def __init__(self, tmp_path, servers, drain_seconds=2.0, stop_seconds=18.0):
        (tmp_path / "standin.py").write_text(STANDIN)
        (tmp_path / "runner.py").write_text(RUNNER)
        self.log = tmp_path / "servers.log"
        self.log.touch()
        self.process = subprocess.Popen(
            [
                sys.executable, str(tmp_path / "runner.py"), str(SERVE.parent), str(tmp_path / "standin.py"),
                str(self.log), repr(servers), str(drain_seconds), str(stop_seconds),
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        self.started = time.monotonic()
        self.wait_for(lambda: self.count("drain dir") == len(servers))

    def lines(self):
        return [line.split(" ", 1) for line in self.log.read_text().splitlines()]

    def count(self, what):
        return sum(1 for _, line in self.lines() if what in line)

    def when(self, what):
        return next(float(t) for t, line in self.lines() if what in line)

    def drain_dir(self):
        return Path(next(line for _, line in self.lines() if "drain dir" in line).split("drain dir ", 1)[1])

    def wait_for(self, condition, seconds=10):
        deadline = time.monotonic() + seconds
        while not condition():
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.05)

    def finish(self, seconds=20):
        code = self.process.wait(timeout=seconds)
        return code, self.process.stderr.read()


def test_sigterm_drains_until_the_probe_then_stops_both(tmp_path):
    run = Run(tmp_path, [("gunicorn",), ("uvicorn",)], drain_seconds=10)
    drain = run.drain_dir()
    sigterm = time.monotonic()
    run.process.send_signal(signal.SIGTERM)
    run.wait_for(lambda: (drain / "draining").exists())
    time.sleep(1)
    assert run.count("SIGTERM") == 0, "the servers keep serving during the lame duck"
    (drain / "probed").touch()  # what /api/ does when the load balancer's probe asks
    code, stderr = run.finish()
    assert code == 128 + signal.SIGTERM, stderr  # as a shell reports a stop by SIGTERM
    assert run.count("SIGTERM") == 2 and run.count("exit") == 2
    # Stopped half a second (settle_seconds) after the probe, not after 10 s.
    assert run.when("gunicorn SIGTERM") - sigterm < 3
    assert "the load balancer's probe saw the drain" in stderr
    assert not drain.exists(), "the drain directory is removed"


def test_requests_forwarded_after_the_probe_keep_it_serving(tmp_path):
    """A configuration reload puts a draining container back in Traefik's
    rotation until the next probe: while requests keep coming (the app
    touches "forwarded"), the servers keep running."""
    run = Run(tmp_path, [("gunicorn",), ("uvicorn",)], drain_seconds=10)
    drain = run.drain_dir()
    run.process.send_signal(signal.SIGTERM)
    run.wait_for(lambda: (drain / "draining").exists())
    (drain / "probed").touch()
    for _ in range(15):  # 1.5 s of forwarded requests
        (drain / "forwarded").touch()
        time.sleep(0.1)
    last = time.monotonic()
    code, stderr = run.finish()
    assert code == 128 + signal.SIGTERM, stderr
    assert run.when("gunicorn SIGTERM") - last >= 0.4, "stopped only once nothing was forwarded for settle_seconds"
    assert "and it forwarded nothing for" in stderr


def test_without_a_probe_the_lame_duck_lasts_drain_seconds(tmp_path):
    # This uvicorn ends by raising the SIGTERM again, as the real one does.
    run = Run(tmp_path, [("gunicorn",), ("uvicorn", 600, -signal.SIGTERM)], drain_seconds=1.5)
    sigterm = time.monotonic()
    run.process.send_signal(signal.SIGTERM)
    code, stderr = run.finish()
    assert code == 128 + signal.SIGTERM, stderr
    assert 1.4 < run.when("uvicorn SIGTERM") - sigterm < 4
    assert "no probe from a load balancer saw the drain in 1.5 s" in stderr


def test_a_second_signal_skips_the_lame_duck(tmp_path):
    run = Run(tmp_path, [("gunicorn",), ("uvicorn",)], drain_seconds=15)
    sigterm = time.monotonic()
    run.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    run.process.send_signal(signal.SIGINT)
    code, stderr = run.finish()
    assert code == 128 + signal.SIGTERM, stderr  # the first signal stopped it
    assert run.when("gunicorn SIGTERM") - sigterm < 3


def test_a_stop_by_sigint_exits_130(tmp_path):
    """128 + the signal that stopped it, as a shell reports it: Docker's
    on-failure policy starts a container that exited non-zero again when
    its daemon restarts."""
    run = Run(tmp_path, [("gunicorn",), ("uvicorn",)], drain_seconds=0)
    run.process.send_signal(signal.SIGINT)
    code, stderr = run.finish()
    assert code == 128 + signal.SIGINT, stderr
    assert "stopped by SIGINT" in stderr


def test_a_server_that_dies_stops_the_other_and_the_container(tmp_path):
    run = Run(tmp_path, [("gunicorn",), ("uvicorn", 1.0, 3)])
    code, stderr = run.finish()
    assert code == 3, "the server's exit code, non-zero: Docker's restart policy acts"
    assert "uvicorn exited unexpectedly (exit code 3)" in stderr
    assert run.count("gunicorn SIGTERM") == 1 and run.count("gunicorn exit") == 1


def test_a_server_that_exits_0_by_itself_is_a_failure_too(tmp_path):
    run = Run(tmp_path, [("gunicorn", 1.0, 0), ("uvicorn",)])
    code, stderr = run.finish()
    assert code == 1
    assert "gunicorn exited unexpectedly (exit code 0)" in stderr


def test_sighup_reaches_gunicorn_only(tmp_path):
    run = Run(tmp_path, [("gunicorn",), ("uvicorn",)], drain_seconds=0)
    run.process.send_signal(signal.SIGHUP)
    run.wait_for(lambda: run.count("gunicorn SIGHUP") == 1)
    run.process.send_signal(signal.SIGTERM)
    code, stderr = run.finish()
    assert code == 128 + signal.SIGTERM, stderr
    assert run.count("uvicorn SIGHUP") == 0


def test_servers_still_running_after_the_stop_limit_are_killed(tmp_path):
    """A server that outlives step 2 (gunicorn's graceful_timeout and some
    slack) is killed, before Docker's own SIGKILL."""
    run = Run(tmp_path, [("gunicorn", 600, 0, 60)], drain_seconds=0, stop_seconds=1.0)
    sigterm = time.monotonic()
    run.process.send_signal(signal.SIGTERM)
    code, stderr = run.finish()
    assert code == 1
    assert time.monotonic() - sigterm < 5
    assert "still running 1 s after SIGTERM: killing gunicorn" in stderr
    assert run.count("gunicorn exit") == 0


@pytest.mark.parametrize("value", ["-1", "21", "ten"])
def test_drain_seconds_is_checked(value):
    result = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(SERVE.parent)!r}); import serve; serve.drain_seconds()"],
        env=dict(os.environ, DRAIN_SECONDS=value),
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "DRAIN_SECONDS must be a number of seconds from 0 to 20" in result.stderr
