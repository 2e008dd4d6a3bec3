"""Whether a Postgres or Redis server answers at an address, by its own
protocol: `python3 answers.py HOST PORT postgres|redis [HOST PORT ...]`
prints one line per address and exits 1 if any server answered.

A TCP connection alone proves nothing: a network that sends unknown
addresses to a gateway may have something there that accepts every
connection. So each probe speaks first and waits for the server's kind of
answer: Postgres answers an SSLRequest with one byte, S or N; Redis answers
PING with +PONG, or -NOAUTH when it wants a password.
"""

import socket
import sys

PROBES = {
    "postgres": (b"\x00\x00\x00\x08\x04\xd2\x16\x2f", lambda reply: reply[:1] in (b"S", b"N")),
    "redis": (b"PING\r\n", lambda reply: reply.startswith((b"+PONG", b"-NOAUTH", b"-ERR"))),
}


def answers(host, port, kind):
    request, recognise = PROBES[kind]
    try:
        with socket.create_connection((host, port), timeout=3) as s:
            s.settimeout(3)
            s.sendall(request)
            return recognise(s.recv(64))
    except OSError:
        return False


def main(args):
    answered = False
    for host, port, kind in zip(args[0::3], args[1::3], args[2::3]):
        if answers(host, int(port), kind):
            print(f"{kind} answered at {host}:{port}")
            answered = True
        else:
            print(f"no {kind} at {host}:{port}")
    return 1 if answered else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
