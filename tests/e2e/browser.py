"""Run inside a backend container (`docker exec -i C python3 - HOST PROTO ORIGIN USER PASSWORD < browser.py`):
uses the site on 127.0.0.1:8000 as a browser would, with the Host and,
unless PROTO is empty, X-Forwarded-Proto headers Traefik sends, and prints
one line per step:

- the notes page (a template with {% csrf_token %}) sets the CSRF cookie;
- a POST without the token is refused;
- a POST with the cookie, the token and the page's Origin adds a note and
  redirects; the page then counts it in the session (a session cookie);
- the admin's login page sets the CSRF cookie, the login (a CSRF-checked
  POST) redirects to the admin, which then shows its index.

Cookies are kept by hand: Secure ones (USE_TLS) would not be sent over this
plain connection by a cookie jar, but Traefik terminates TLS in front of it.
"""

import re
import sys
import urllib.error
import urllib.parse
import urllib.request

host, proto, origin, user, password = sys.argv[1:6]
cookies = {}


class Reported(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def request(path, form=None, with_origin=True):
    headers = {"Host": host}
    if proto:
        headers["X-Forwarded-Proto"] = proto
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        if with_origin:
            headers["Origin"] = origin
    req = urllib.request.Request("http://127.0.0.1:8000" + path, data=data, headers=headers)
    try:
        response = urllib.request.build_opener(Reported).open(req, timeout=10)
    except urllib.error.HTTPError as error:
        response = error
    body = response.read().decode()
    set_cookies = []
    for header in response.headers.get_all("Set-Cookie") or []:
        name, _, rest = header.partition("=")
        value = rest.split(";", 1)[0]
        cookies[name] = value
        flags = [f for f in ("Secure", "HttpOnly") if re.search(rf";\s*{f}\b", header, re.I)]
        set_cookies.append(" ".join([name] + flags))
    return response.status, response.headers.get("Location") or "-", body, set_cookies


def token(body):
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    return found[1] if found else ""


def show(step, status, location, cookies_set, extra=""):
    print(f"{step}: {status} {location} cookies [{', '.join(cookies_set)}]{extra}")


status, location, body, set_cookies = request("/notes/")
show("notes page", status, location, set_cookies)
csrf = token(body)

status, location, _, set_cookies = request("/notes/", {"text": "no token"})
show("POST without the token", status, location, set_cookies)

status, location, _, set_cookies = request("/notes/", {"text": "from the e2e browser", "csrfmiddlewaretoken": csrf})
show("POST with the token", status, location, set_cookies)

status, location, body, set_cookies = request("/notes/")
added = re.search(r'<p id="added">([^<]*)</p>', body)
listed = "from the e2e browser" in body
show("notes page again", status, location, set_cookies, f" says {added[1] if added else '?'!r}, lists it: {listed}")

cookies.clear()
status, location, body, set_cookies = request("/admin/login/?next=/admin/")
show("admin login page", status, location, set_cookies)
csrf = token(body)

status, location, _, set_cookies = request(
    "/admin/login/?next=/admin/",
    {"username": user, "password": password, "csrfmiddlewaretoken": csrf, "next": "/admin/"},
)
show("admin login", status, location, set_cookies)

status, location, body, set_cookies = request("/admin/")
show("admin index", status, location, set_cookies, f" shows the notes: {'/admin/core/note/' in body}")
