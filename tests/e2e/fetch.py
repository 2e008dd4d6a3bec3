"""Run inside a backend container (`docker exec -i C python3 - PATH HOST PROTO < fetch.py`):
asks the backend on 127.0.0.1:8000 for PATH with the Host and, unless PROTO
is empty, X-Forwarded-Proto headers, as the healthcheck does, and prints
"STATUS LOCATION BODY" (LOCATION "-" when there is none). Redirects are
reported, not followed."""

import sys
import urllib.error
import urllib.request

path, host, proto = sys.argv[1:4]


class Reported(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


headers = {"Host": host}
if proto:
    headers["X-Forwarded-Proto"] = proto
request = urllib.request.Request("http://127.0.0.1:8000" + path, headers=headers)
try:
    response = urllib.request.build_opener(Reported).open(request, timeout=10)
except urllib.error.HTTPError as error:
    response = error
print(response.status, response.headers.get("Location") or "-", response.read().decode())
