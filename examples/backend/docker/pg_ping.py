#!/usr/bin/env python3
"""pg_isready without postgresql-client.

Asks libpq's PQpingParams, as pg_isready does, whether the server at DB_HOST:DB_PORT
accepts connections, and exits with pg_isready's codes: 0 accepting,
1 rejecting (starting up, shutting down), 2 no response, 3 no attempt (bad
parameters). Authentication is not tried: the entrypoint's next step,
`manage.py check --database default`, does that.

Debian's postgresql-client would bring perl (about 50 MB) into the image for
this one call; libpq is there already, for psycopg2.
"""

import ctypes
import os
import sys

ANSWERS = ["accepting connections", "rejecting connections", "no response", "no attempt"]


def ping(params):
    libpq = ctypes.CDLL("libpq.so.5")
    libpq.PQpingParams.restype = ctypes.c_int
    strings = ctypes.c_char_p * (len(params) + 1)  # NULL-terminated arrays
    keywords = strings(*(key.encode() for key in params), None)
    values = strings(*(value.encode() for value in params.values()), None)
    return libpq.PQpingParams(keywords, values, 0)


def main():
    params = {
        "host": os.environ.get("DB_HOST", ""),
        "port": os.environ.get("DB_PORT") or "5432",
        "user": os.environ.get("DB_USER", ""),
        "dbname": os.environ.get("DB_NAME", ""),
        "connect_timeout": os.environ.get("DB_CONNECT_TIMEOUT") or "10",
    }
    code = ping(params)
    answer = ANSWERS[code] if 0 <= code < len(ANSWERS) else f"unknown answer {code}"
    print(f"{params['host']}:{params['port']} - {answer}", file=sys.stderr if code else sys.stdout)
    return code


if __name__ == "__main__":
    sys.exit(main())
