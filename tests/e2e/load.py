"""Load for the end-to-end checks, run in the backend's test image on the
stack's network:

    python3 - [options] < load.py

CLIENTS threads each send GET requests in turn to the --url paths, one
connection per request (as Traefik does with gunicorn's sync workers), with
the Host, X-Forwarded-Proto and X-Forwarded-For headers Traefik sends, for
--seconds; --ws
adds a websocket that pings through the channel layer all along. It prints
one JSON document: how many requests were answered 200, and every other
outcome by kind. A request counts as failed when it was not answered 200
within --timeout seconds; a connection that is refused or not established
within --connect-timeout seconds is counted apart (not accepted: a proxy
sends that request to another container).

--probe PATH makes it a load balancer the way Traefik's health check makes
Traefik one: it asks PATH every --probe-interval seconds (from its own
address, without X-Forwarded-For), and once the answer is not 200 it sends
no new request, as Traefik takes the container out of its rotation; the
requests already sent must still be answered. --slow-post PATH then sends,
as soon as the probe sees the drain, one POST (with the CSRF cookie and
token of a GET of PATH) whose body trickles in over --slow-seconds, to be in
progress while the server stops.
"""

import argparse
import collections
import json
import re
import socket
import threading
import time
import urllib.parse

parser = argparse.ArgumentParser()
parser.add_argument("--server", required=True, help="host:port of the backend's HTTP server")
parser.add_argument("--url", action="append", required=True, help="a path to GET; repeat for more")
parser.add_argument("--host", required=True, help="the Host header")
parser.add_argument("--proto", default="", help="the X-Forwarded-Proto header, if any")
parser.add_argument("--clients", type=int, default=8)
parser.add_argument("--seconds", type=float, default=30)
parser.add_argument("--timeout", type=float, default=10)
parser.add_argument("--connect-timeout", type=float, default=2)
parser.add_argument("--ws", help="a websocket URL to ping through all along")
parser.add_argument("--origin", help="the websocket's Origin, and the slow POST's")
parser.add_argument("--probe", help="the health path to probe, as a load balancer")
parser.add_argument("--probe-interval", type=float, default=1)
parser.add_argument("--slow-post", help="a form page to POST to slowly once the probe sees the drain")
parser.add_argument("--slow-seconds", type=float, default=4)
args = parser.parse_args()

address = args.server.rsplit(":", 1)
address = (address[0], int(address[1]))
started = time.monotonic()
deadline = started + args.seconds
lock = threading.Lock()
outcomes = collections.Counter()
routing = threading.Event()
routing.set()
report = {}


def count(kind):
    with lock:
        outcomes[kind] += 1


def exchange(method, path, headers=None, body=b"", trickle=None):
    """One request on a connection of its own: (status, headers, body), or
    raises. ConnectionRefusedError and "not accepted" come before the
    request was sent."""
    try:
        sock = socket.create_connection(address, timeout=args.connect_timeout)
    except OSError as error:
        raise NotAccepted(type(error).__name__) from error
    with sock:
        sock.settimeout(args.timeout)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {args.host}", "Connection: close"]
        if args.proto:
            lines.append(f"X-Forwarded-Proto: {args.proto}")
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        if trickle:
            sock.sendall(head)
            pieces = 8
            size = max(1, -(-len(body) // pieces))
            for i in range(0, len(body), size):
                time.sleep(trickle / pieces)
                sock.sendall(body[i : i + size])
        else:
            sock.sendall(head + body)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, content = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split()[1])
    response_headers = [tuple(h.split(": ", 1)) for h in header_lines if ": " in h]
    return status, response_headers, content


class NotAccepted(Exception):
    pass


# What Traefik adds to every request it forwards (its probes carry none).
FORWARDED = {"X-Forwarded-For": "198.51.100.7"}


def client(number):
    paths = args.url
    i = number
    while time.monotonic() < deadline and routing.is_set():
        path = paths[i % len(paths)]
        i += 1
        try:
            status, _, _ = exchange("GET", path, FORWARDED)
        except NotAccepted as error:
            count(f"not accepted: {error}")
            time.sleep(0.05)
            continue
        except Exception as error:  # timeouts, resets: the request was lost
            count(f"failed: {type(error).__name__}: {error}")
            continue
        count("200" if status == 200 else f"failed: HTTP {status}")


def prober():
    while time.monotonic() < deadline:
        try:
            status, _, _ = exchange("GET", args.probe)
        except Exception as error:
            status = type(error).__name__
        if status != 200 and routing.is_set():
            routing.clear()
            report["probe saw"] = status
            report["out of rotation after (s)"] = round(time.monotonic() - started, 1)
            if args.slow_post:
                threading.Thread(target=slow_post).start()
        time.sleep(args.probe_interval)


def slow_post():
    """A form POST in progress while the server stops: it must be answered."""
    try:
        status, headers, body = exchange("GET", args.slow_post, FORWARDED)
        cookie = next(v.split(";", 1)[0] for k, v in headers if k.lower() == "set-cookie" and v.startswith("csrftoken="))
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body)[1].decode()
        form = urllib.parse.urlencode({"text": "sent while the server stops " * 5, "csrfmiddlewaretoken": token})
        begun = time.monotonic()
        status, headers, _ = exchange(
            "POST",
            args.slow_post,
            {"Cookie": cookie, "Origin": args.origin, "Content-Type": "application/x-www-form-urlencoded", **FORWARDED},
            form.encode(),
            trickle=args.slow_seconds,
        )
        location = next((v for k, v in headers if k.lower() == "location"), "-")
        report["slow POST"] = f"{status} {location} after {time.monotonic() - begun:.1f} s"
    except Exception as error:
        report["slow POST"] = f"failed: {type(error).__name__}: {error}"


def websocket():
    from websockets.sync.client import connect

    pings = 0
    try:
        with connect(args.ws, origin=args.origin, open_timeout=10, close_timeout=2) as ws:
            while time.monotonic() < deadline:
                ws.send(json.dumps({"type": "ping", "echo": pings}))
                answer = json.loads(ws.recv(timeout=args.timeout))
                if answer != {"type": "pong", "echo": pings, "via": "channel layer"}:
                    report["websocket"] = f"failed: unexpected answer {answer}"
                    return
                pings += 1
                time.sleep(0.05)
        report["websocket"] = f"{pings} pongs through the channel layer"
    except Exception as error:
        report["websocket"] = f"failed after {pings} pongs: {type(error).__name__}: {error}"


threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
if args.probe:
    threads.append(threading.Thread(target=prober, daemon=True))
if args.ws:
    threads.append(threading.Thread(target=websocket))
for t in threads:
    t.start()
for t in threads:
    if not t.daemon:
        t.join()
if args.slow_post and "out of rotation after (s)" in report:
    # The slow POST may still be trickling: give it its time.
    end = time.monotonic() + args.slow_seconds + args.timeout
    while "slow POST" not in report and time.monotonic() < end:
        time.sleep(0.1)
elapsed = time.monotonic() - started
answered = outcomes["200"]
report.update(
    {
        "seconds": round(elapsed, 1),
        "200": answered,
        "requests/s": round(answered / elapsed, 1),
        "failed": sum(n for kind, n in outcomes.items() if kind.startswith("failed")),
        "not accepted": sum(n for kind, n in outcomes.items() if kind.startswith("not accepted")),
        "outcomes": dict(sorted(outcomes.items())),
    }
)
print(json.dumps(report))
