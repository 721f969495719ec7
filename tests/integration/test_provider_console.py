"""The operator console of portcullis-provider serve (docs/provider.md,
"Console"), over HTTP with urllib and a cookie jar (no browser; the browser
test is test_provider_browser.py).

Without a password file the console answers 503. Wrong passwords are
refused 403 and logged, and after 5 of them the address gets 429. The
right one gives a session cookie (HttpOnly, SameSite=Strict). Every
console response carries the Content-Security-Policy and the other
security headers. A POST without its CSRF token, or with a wrong one, is
refused 403 and publishes nothing. The alert form refuses bad input with
400 and the errors shown; a good alert is published and shown. An update
with a bad .ndb is refused showing `name:line`; a good one is published; one
over --max-upload gets 413. /console/api/state lists gateways and receipts;
logout ends the session; static names with `..` are 404.

Binary: $PORTCULLIS_PROVIDER, else <repo>/build/portcullis-provider.
"""

import base64
import http.client
import http.cookiejar
import json
import os
import re
import ssl
import signal
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

pytest.register_assert_rewrite("smtp_util", "ftp_util", "outbreak_util")
from smtp_util import *  # noqa: E402,F401,F403
from smtp_util import REPO, SANITIZER_MARKS, free_port, wait_until  # noqa: E402
from outbreak_util import *  # noqa: E402,F401,F403
from outbreak_util import gen_key, pub_hex, sign  # noqa: E402
from test_provider_cli import PROVIDER, ProviderCli, provider_bin  # noqa: E402
from test_provider_serve import Server, receipt_doc, table, token  # noqa: E402

pytest_plugins = ["smtp_util", "ftp_util", "outbreak_util"]

PASSWORD = "correct horse battery"
TEMPLATES = REPO / "templates" / "provider"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
MAX_UPLOAD = 64 * 1024


def set_password(prov, password=PASSWORD, expect=0):
    cmd = [str(provider_bin()), "-d", str(prov.state), "-n", PROVIDER, "passwd"]
    p = subprocess.run(cmd, input=(password + "\n").encode(), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    err = p.stderr.decode(errors="replace")
    for m in SANITIZER_MARKS:
        assert m not in err, err
    assert p.returncode == expect, (p.returncode, err)
    return p


class ConsoleServer(Server):
    """serve with the repo's templates and a small upload limit."""

    def __init__(self, prov, extra=(), tls=None):
        Server.__init__(self, prov, tls, ["--templates", str(TEMPLATES), "--max-upload",
                                          str(MAX_UPLOAD)] + list(extra))

    @property
    def base(self):
        if self.tls is not None:
            return "https://localhost:%d" % self.port
        return "http://127.0.0.1:%d" % self.port


@pytest.fixture
def prov(tmp_path):
    p = ProviderCli(tmp_path / "provider")
    p.hexkey = p.keygen()
    return p


@pytest.fixture
def console_factory(prov):
    made = []

    def make(extra=(), tls=None):
        s = ConsoleServer(prov, extra, tls)
        made.append(s)
        return s
    yield make
    for s in made:
        s.stop_checked()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class Client:
    """A cookie-keeping HTTP client that does not follow redirects; every
    response's security headers are checked."""

    def __init__(self, srv):
        self.srv = srv
        self.jar = http.cookiejar.CookieJar()
        handlers = [urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()]
        if srv.tls is not None:
            ctx = ssl.create_default_context(cafile=str(srv.tls.ca))
            handlers.append(urllib.request.HTTPSHandler(context=ctx))
        self.opener = urllib.request.build_opener(*handlers)

    def request(self, method, path, data=None, headers=None):
        """(status, headers (lower-case names; Set-Cookie as a list), body str)."""
        req = urllib.request.Request(self.srv.base + path, data=data, method=method,
                                     headers=headers or {})
        try:
            r = self.opener.open(req, timeout=30)
        except urllib.error.HTTPError as e:
            r = e
        body = r.read().decode(errors="replace")
        h = {k.lower(): v for k, v in r.headers.items()}
        h["set-cookie"] = r.headers.get_all("Set-Cookie") or []
        st = r.status if hasattr(r, "status") else r.code
        r.close()
        assert h.get("content-security-policy") == CSP, (path, st, h)
        assert h.get("x-content-type-options") == "nosniff", h
        assert h.get("referrer-policy") == "no-referrer", h
        assert h.get("x-frame-options") == "DENY", h
        return st, h, body

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, fields):
        data = urllib.parse.urlencode(fields, doseq=True).encode()
        return self.request("POST", path, data,
                            {"Content-Type": "application/x-www-form-urlencoded"})

    def post_files(self, path, fields, files):
        """multipart/form-data: fields {name: value}, files [(field, filename, bytes)]."""
        b = uuid.uuid4().hex
        out = []
        for k, v in fields.items():
            out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                        % (b, k, v)).encode())
        for field, name, content in files:
            out.append(("--%s\r\nContent-Disposition: form-data; name=\"%s\"; "
                        "filename=\"%s\"\r\nContent-Type: application/octet-stream\r\n\r\n"
                        % (b, field, name)).encode() + content + b"\r\n")
        out.append(("--%s--\r\n" % b).encode())
        return self.request("POST", path, b"".join(out),
                            {"Content-Type": "multipart/form-data; boundary=%s" % b})

    def csrf_of(self, body):
        m = re.search(r'name="csrf" value="([0-9a-f]{64})"', body)
        assert m, body
        return m.group(1)

    def login(self, password=PASSWORD):
        st, h, body = self.get("/console/login")
        assert st == 200, body
        return self.post("/console/login", {"csrf": self.csrf_of(body), "password": password})

    def dashboard(self):
        st, h, body = self.get("/console/")
        assert st == 200, (st, body)
        return body


def ndb(virus, data):
    """One .ndb line (no newline): virus matches the bytes data anywhere."""
    return "%s:0:*:%s" % (virus, data.hex())


def documents(prov):
    return table(prov, "documents")


# ------------------------------------------------------------------ tests

def test_no_password_file_503(prov, console_factory):
    srv = console_factory()
    c = Client(srv)
    for path in ("/console/", "/console/login", "/console/api/state"):
        st, h, body = c.get(path)
        assert st == 503 and "portcullis-provider passwd" in body, (path, st, body)
    st, _, body = c.post("/console/login", {"password": PASSWORD})
    assert st == 503
    # the rest of the server works
    assert Client(srv).get("/console/static/console.css")[0] == 200
    # short or empty passwords are refused
    p = set_password(prov, "short", expect=1)
    assert b"at least 8" in p.stderr
    set_password(prov, "", expect=1)
    assert not (prov.state / "console.passwd").exists()


def test_wrong_password_rate_limited(prov, console_factory):
    set_password(prov)
    line = (prov.state / "console.passwd").read_text().strip()
    assert line.startswith("scrypt$32768$8$1$") and len(line.split("$")) == 6, line
    assert oct((prov.state / "console.passwd").stat().st_mode & 0o777) == "0o600"
    srv = console_factory()
    c = Client(srv)
    for i in range(5):
        st, _, body = c.login("wrong password %d" % i)
        assert st == 403 and "Wrong password" in body, (i, st, body)
    assert srv.logtext().count("console: login from 127.0.0.1 failed (wrong password)") == 5
    # locked out now, even with the right password
    st, h, body = c.login(PASSWORD)
    assert st == 429 and int(h["retry-after"]) > 0, (st, h)
    assert "locked out" in srv.logtext()
    # a login without its CSRF token is refused too
    c2 = Client(srv)
    st, _, _ = c2.post("/console/login", {"password": PASSWORD})
    assert st == 429


def test_console(prov, console_factory, tmp_path):
    set_password(prov)
    srv = console_factory()
    c = Client(srv)
    # not logged in: the dashboard redirects, the API and POSTs refuse
    st, h, _ = c.get("/console/")
    assert st == 303 and h["location"] == "/console/login"
    assert c.get("/console/api/state")[0] == 401
    assert c.post("/console/alert", {"virus": "X"})[0] == 403
    # a login without the pre-session cookie's token: 403
    st, _, _ = Client(srv).post("/console/login", {"password": PASSWORD, "csrf": "0" * 64})
    assert st == 403

    st, h, _ = c.login()
    assert st == 303 and h["location"] == "/console/", h
    (sc,) = [v for v in h["set-cookie"] if v.startswith("pc_session=")]
    parts = [p.strip() for p in sc.split(";")]
    assert "HttpOnly" in parts and "SameSite=Strict" in parts and "Path=/console" in parts, sc
    assert "Secure" not in parts  # plain HTTP here
    assert len(parts[0]) == len("pc_session=") + 64
    body = c.dashboard()
    csrf = c.csrf_of(body)
    assert 'id="alert-form"' in body and 'id="update-form"' in body

    # CSRF: none or a wrong token -> 403, nothing published
    before = documents(prov)
    good = {"virus": "Test.Console.Alert-1", "mode": "hold", "protocol": ["smtp", "ftp"],
            "protocols_sent": "1", "direction": "inbound", "ttl": "1h",
            "name": "console <test>"}
    assert c.post("/console/alert", good)[0] == 403
    assert c.post("/console/alert", dict(good, csrf="f" * 64))[0] == 403
    assert c.post("/console/alert", dict(good, csrf=csrf[:-1]))[0] == 403
    st, _, _ = c.post_files("/console/update", {"csrf": "0" * 64},
                            [("files", "x.ndb", ndb("Test.X-1", b"abcdefgh").encode())])
    assert st == 403
    assert documents(prov) == before
    assert "CSRF token missing or wrong" in srv.logtext()

    # bad alerts: 400 with the errors on the page, nothing published
    for bad, want in ((dict(good, virus=""), "at least one virus ID"),
                      (dict(good, mode="hash"), "mode hash needs at least one SHA-256"),
                      (dict(good, mode="seal"), "mode is hold, hold_attachments or hash"),
                      (dict(good, sha256="abc"), "64 hex digits"),
                      (dict(good, ttl="forever"), "TTL"),
                      (dict(good, protocol=[]), "at least one protocol"),
                      (dict(good, direction="sideways"), "direction")):
        st, _, body = c.post("/console/alert", dict(bad, csrf=csrf))
        assert st == 400 and want in body, (bad, st, body)
        assert "<li>" in body
    assert documents(prov) == before

    # a good alert: published, on the dashboard with a flash
    st, h, _ = c.post("/console/alert", dict(good, csrf=csrf))
    assert st == 303 and h["location"] == "/console/"
    docs = documents(prov)
    assert len(docs) == len(before) + 1 and docs[-1][1] == "alert", docs
    aid = docs[-1][2]
    body = c.dashboard()
    assert "Published alert %s" % aid in body and ">%s</td>" % aid in body
    # the flash is shown once
    assert "Published alert" not in c.dashboard()
    # the alert's document has the form's values
    env = json.loads((prov.feed / ("alert-%s.json" % docs[-1][0])).read_text())
    doc = json.loads(base64.b64decode(env["payload"]))
    assert doc["viruses"] == ["Test.Console.Alert-1"] and doc["name"] == "console <test>", doc

    # an update with a bad line: 400 with name:line, nothing published
    bad_ndb = (ndb("Test.Console.Upd-1", b"abcdefgh") + "\nBroken.Sig-1:0:*:zz\n").encode()
    st, _, body = c.post_files("/console/update", {"csrf": csrf},
                               [("files", "bad.ndb", bad_ndb)])
    assert st == 400 and "bad.ndb:2:" in body, body
    assert "console-upload" not in body  # the temporary directory is not shown
    st, _, body = c.post_files("/console/update", {"csrf": csrf},
                               [("files", "../evil.ndb", b"x")])
    assert st == 400 and "evil.ndb" in body
    st, _, body = c.post_files("/console/update", {"csrf": csrf}, [])
    assert st == 400 and "at least one signature file" in body
    assert documents(prov) == docs
    # a good one: published
    good_ndb = (ndb("Test.Console.Upd-1", b"abcdefgh") + "\n").encode()
    st, h, body = c.post_files("/console/update", {"csrf": csrf},
                               [("files", "console.ndb", good_ndb)])
    assert st == 303, body
    docs2 = documents(prov)
    assert docs2[-1][1] == "update" and len(docs2) == len(docs) + 1
    assert "Published update" in c.dashboard()
    # over the limit: 413, nothing published
    st, _, _ = c.post_files("/console/update", {"csrf": csrf},
                            [("files", "big.ndb", b"#" * (MAX_UPLOAD + 1000))])
    assert st == 413
    assert documents(prov) == docs2
    # no temporary upload directory is left behind
    assert not [p for p in prov.state.iterdir() if p.name.startswith("console-upload")]

    # all-clear of the alert
    body = c.dashboard()
    assert '<option value="%s">' % aid in body
    st, _, body = c.post("/console/allclear", {"csrf": csrf, "alert": "A-nothing"})
    assert st == 400 and "no alert A-nothing" in body
    st, h, _ = c.post("/console/allclear", {"csrf": csrf, "alert": aid})
    assert st == 303
    assert documents(prov)[-1][1] == "allclear"
    assert '<option value="%s">' % aid not in c.dashboard()

    # a gateway and its receipt show in the API and on the dashboard
    gw_key = gen_key()
    hc = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    hc.request("POST", "/enrol", body=json.dumps({
        "token": token(prov), "gateway": "gw-console", "public_key": pub_hex(gw_key)}))
    r = hc.getresponse()
    assert r.status == 200, r.read()
    r.read()
    hc.request("POST", "/receipts", body=sign(gw_key, receipt_doc("gw-console", aid,
                                                                  int(docs[-1][0]), "sealed")))
    r = hc.getresponse()
    assert r.status == 200, r.read()
    r.read()
    hc.close()
    st, h, body = c.get("/console/api/state")
    assert st == 200 and h["content-type"] == "application/json"
    s = json.loads(body)
    assert [(g["id"], g["state"], g["last_receipt"]) for g in s["gateways"]] == \
        [("gw-console", "sealed", aid)], s
    assert [(r["gateway"], r["message"], r["state"]) for r in s["receipts"]] == \
        [("gw-console", aid, "sealed")], s
    assert [d["id"] for d in s["documents"]][0] == documents(prov)[-1][2]
    body = c.dashboard()
    assert 'data-gateway="gw-console"' in body and "state-sealed" in body

    # static files: names checked
    st, h, body = c.get("/console/static/console.js")
    assert st == 200 and h["content-type"].startswith("text/javascript")
    for bad in ("/console/static/../console.html", "/console/static/..%2fconsole.html",
                "/console/static/console.html", "/console/static/.hidden.css",
                "/console/static/", "/console/nothing"):
        assert c.get(bad)[0] == 404, bad
    # the server's other routes still work
    hc = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    hc.request("GET", "/feed/index.json")
    r = hc.getresponse()
    assert r.status == 200 and json.loads(r.read())["provider"] == PROVIDER
    hc.close()

    # logout: the session ends
    st, h, _ = c.post("/console/logout", {"csrf": csrf})
    assert st == 303 and h["location"] == "/console/login"
    assert c.get("/console/")[0] == 303
    assert c.get("/console/api/state")[0] == 401
    assert c.post("/console/alert", dict(good, csrf=csrf))[0] == 403


def test_tls_cookie_secure(prov, console_factory, certs):
    """Over HTTPS the cookies get Secure; the console works the same."""
    set_password(prov)
    srv = console_factory(tls=certs)
    c = Client(srv)
    st, h, body = c.get("/console/login")
    assert st == 200
    (lc,) = [v for v in h["set-cookie"] if v.startswith("pc_login=")]
    assert "Secure" in [p.strip() for p in lc.split(";")], lc
    st, h, _ = c.post("/console/login", {"csrf": c.csrf_of(body), "password": PASSWORD})
    assert st == 303
    (sc,) = [v for v in h["set-cookie"] if v.startswith("pc_session=")]
    parts = [p.strip() for p in sc.split(";")]
    assert "Secure" in parts and "HttpOnly" in parts and "SameSite=Strict" in parts, sc
    csrf = c.csrf_of(c.dashboard())
    st, _, _ = c.post("/console/alert", {"csrf": csrf, "virus": "Test.Console.Tls-1",
                                         "protocol": "smtp", "protocols_sent": "1"})
    assert st == 303
    assert documents(prov)[-1][1] == "alert"


def test_login_check_client_gone(prov, console_factory):
    """The password check runs off the loop: a client that leaves while it
    runs gets no reply (its failure still counts), the server keeps serving,
    and a stop while checks are in flight is clean."""
    set_password(prov)
    srv = console_factory()
    c = Client(srv)
    st, h, body = c.get("/console/login")
    cookie = [v for v in h["set-cookie"] if v.startswith("pc_login=")][0].split(";")[0]
    form = urllib.parse.urlencode({"csrf": c.csrf_of(body), "password": "wrong one!"}).encode()
    raw = (b"POST /console/login HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: " + cookie.encode() +
           b"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
           str(len(form)).encode() + b"\r\n\r\n" + form)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(raw)
    wait_until(lambda: "console: login from 127.0.0.1 failed (wrong password)" in srv.logtext(),
               30, 0.05, what="the abandoned check counted")
    st, _, _ = c.login()
    assert st == 303
    # checks in flight when the server stops
    socks = []
    for _ in range(2):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.sendall(raw)
        socks.append(s)
    rc = srv.stop()
    for s in socks:
        s.close()
    assert rc == 0, srv.log.read_text()
