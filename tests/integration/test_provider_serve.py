"""portcullis-provider serve (docs/provider.md): the provider's own server,
end to end. The server serves the feed (ETag, 304, names checked), enrols a
gateway with a one-time token (POST /enrol) and records the receipts the
gateway POSTs back (POST /receipts), verified with the key it enrolled.

With a real portcullisd: the gateway's key is made here beforehand, the
gateway enrolled with it, then started pulling the server's feed and
posting receipts to it; an alert seals it and `receipts` / `gateways` show
its verified receipt "sealed", an all-clear opens it again ("open").
Without a daemon: a receipt signed with another key is refused 403 and not
recorded, a reused token is refused 403, bad JSON 400, GET /feed/../x 404,
If-None-Match gives 304, and the same over HTTPS with the test certificate.

Binary: $PORTCULLIS_PROVIDER, else <repo>/build/portcullis-provider.
"""

import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

pytest.register_assert_rewrite("smtp_util", "ftp_util", "outbreak_util")
from smtp_util import *  # noqa: E402,F401,F403
from smtp_util import SANITIZER_MARKS, free_port, wait_until  # noqa: E402
from outbreak_util import *  # noqa: E402,F401,F403
from test_provider_cli import PROVIDER, ProviderCli, TrustedKey, provider_bin  # noqa: E402

from cryptography.hazmat.primitives import serialization  # noqa: E402

pytest_plugins = ["smtp_util", "ftp_util", "outbreak_util"]

WAIT = 30.0


class Server:
    """portcullis-provider ... serve on a free port (extra: more serve
    options), stopped by pid (SIGTERM)."""

    def __init__(self, prov, tls=None, extra=()):
        self.prov = prov
        self.port = free_port()
        self.tls = tls
        cmd = [str(provider_bin()), "-d", str(prov.state), "-n", PROVIDER, "serve",
               "--listen", "127.0.0.1:%d" % self.port] + list(extra)
        if tls is not None:
            cmd += ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key)]
        self.log = prov.state.parent / ("serve-%d.log" % self.port)
        self.logf = open(self.log, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT)

        def up():
            assert self.proc.poll() is None, "serve exited: %s" % self.log.read_text()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return True
            except OSError:
                return False
        wait_until(up, 15, 0.05, what="portcullis-provider serve on %d" % self.port)

    def logtext(self):
        if not self.logf.closed:
            self.logf.flush()
        return self.log.read_text(errors="replace")

    @property
    def base(self):
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)

    def request(self, method, path, body=None, headers=None):
        """(status, headers (dict, lower-case names), body bytes)."""
        if self.tls is not None:
            ctx = ssl.create_default_context(cafile=str(self.tls.ca))
            c = http.client.HTTPSConnection("localhost", self.port, timeout=10, context=ctx)
        else:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def stop(self):
        rc = None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                rc = self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        else:
            rc = self.proc.returncode
        self.logf.close()
        return rc

    def stop_checked(self):
        """Stops the server; asserts a clean exit and no sanitizer report."""
        rc = self.stop()
        out = self.logtext()
        for m in SANITIZER_MARKS:
            assert m not in out, "sanitizer report from serve:\n%s" % out
        assert rc == 0, "serve did not stop cleanly (rc=%s):\n%s" % (rc, out)


@pytest.fixture
def prov(tmp_path):
    return ProviderCli(tmp_path / "provider")


@pytest.fixture
def server_factory(prov):
    made = []

    def make(tls=None):
        s = Server(prov, tls)
        made.append(s)
        return s
    yield make
    for s in made:
        s.stop_checked()


def token(prov):
    rc, out, err = prov.run("enrol-token", "--ttl", "1h")
    t = out.strip()
    assert len(t) == 64, out
    return t


def table(prov, what):
    rc, out, err = prov.run(what)
    return [line.split("\t") for line in out.splitlines() if line]


def write_key(path, key):
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    os.chmod(path, 0o600)


def receipt_doc(gateway, message, message_seq, state, provider=PROVIDER):
    now = int(time.time())
    return {"type": "receipt", "provider": provider, "id": "r-%s-%s" % (gateway, message),
            "seq": 0, "issued": now, "gateway": gateway, "message": message,
            "message_seq": message_seq, "time": now, "state": state}


# ------------------------------------------------------------------ tests

def test_gateway_enrols_seals_and_opens(prov, server_factory, gateway_factory, sink, tmp_path):
    hexkey = prov.keygen()
    srv = server_factory()
    gw_key = gen_key()
    key_path = tmp_path / "gw.key"
    write_key(key_path, gw_key)
    st, _, body = srv.request("POST", "/enrol", {
        "token": token(prov), "gateway": "gw-test", "public_key": pub_hex(gw_key),
        "push_url": "https://127.0.0.1:1/outbreak", "scope": "smtp"})
    assert st == 200, body
    assert json.loads(body) == {"gateway": "gw-test", "provider_public_key": hexkey}
    assert table(prov, "gateways")[0][:2] == ["gw-test", "open"]

    gw = gateway_factory(sink, TrustedKey(PROVIDER, hexkey), push=False, outbreak={
        "feed_url": srv.base + "/feed/index.json", "receipt_url": srv.base + "/receipts",
        "poll_interval": "1s", "fetch_timeout": "5s", "gateway_key": str(key_path)})

    a = prov.publish("alert", "--virus", "Test.Serve.Future-1", "--ttl", "1h")
    wait_until(lambda: gw.status().get("sealed") is True, WAIT, what="the gateway sealed")

    def receipt_for(mid, state):
        return [r for r in table(prov, "receipts")
                if r[0] == "gw-test" and r[1] == mid and r[3] == state]
    (r,) = wait_until(lambda: receipt_for(a["id"], "sealed"), WAIT,
                      what="the gateway's receipt for %s recorded" % a["id"])
    assert int(r[2]) == a["seq"] and r[4].endswith("Z"), r
    g = table(prov, "gateways")
    assert len(g) == 1 and g[0][0] == "gw-test" and g[0][1] == "sealed" and \
        g[0][3] == a["id"], g

    c = prov.publish("allclear", "--alert", a["id"])
    wait_until(lambda: gw.status().get("sealed") is False, WAIT, what="the seal lifted")
    wait_until(lambda: receipt_for(c["id"], "open"), WAIT,
               what="the gateway's receipt for %s recorded" % c["id"])
    wait_until(lambda: table(prov, "gateways")[0][1] == "open", WAIT, what="gateway open")


def test_refusals_and_feed(prov, server_factory):
    prov.keygen()
    a = prov.publish("alert", "--virus", "Test.Serve.Refusals-1")
    srv = server_factory()
    gw_key, other = gen_key(), gen_key()
    t = token(prov)
    st, _, body = srv.request("POST", "/enrol", {"token": t, "gateway": "gw-x",
                                                 "public_key": pub_hex(gw_key)})
    assert st == 200, body
    # a used token, an unknown one, bad JSON, a bad key
    st, _, _ = srv.request("POST", "/enrol", {"token": t, "gateway": "gw-y",
                                              "public_key": pub_hex(other)})
    assert st == 403
    st, _, _ = srv.request("POST", "/enrol", {"token": "00" * 32, "gateway": "gw-y",
                                              "public_key": pub_hex(other)})
    assert st == 403
    st, _, _ = srv.request("POST", "/enrol", b"{not json")
    assert st == 400
    st, _, _ = srv.request("POST", "/enrol", {"token": token(prov), "gateway": "gw-y",
                                              "public_key": "zz"})
    assert st == 400
    assert [g[0] for g in table(prov, "gateways")] == ["gw-x"]

    # a forged receipt (another key), one of an unknown gateway: 403, nothing recorded
    doc = receipt_doc("gw-x", a["id"], a["seq"], "sealed")
    st, _, body = srv.request("POST", "/receipts", sign(other, doc))
    assert st == 403, body
    st, _, body = srv.request("POST", "/receipts",
                              sign(other, receipt_doc("gw-zz", a["id"], a["seq"], "sealed")))
    assert st == 403, body
    st, _, body = srv.request("POST", "/receipts", b"[]")
    assert st == 400, body
    assert table(prov, "receipts") == []
    assert table(prov, "gateways")[0][1] == "open"
    # the same document signed with the enrolled key is recorded
    st, _, body = srv.request("POST", "/receipts", sign(gw_key, doc))
    assert st == 200 and json.loads(body) == {"recorded": True}, body
    (r,) = table(prov, "receipts")
    assert r[:4] == ["gw-x", a["id"], str(a["seq"]), "sealed"], r
    assert table(prov, "gateways")[0][1] == "sealed"

    # the feed: ETag, 304, names checked
    st, h, body = srv.request("GET", "/feed/index.json")
    assert st == 200 and h["content-type"] == "application/json", h
    assert body == (prov.feed / "index.json").read_bytes()
    etag = h["etag"]
    assert etag.startswith('"') and len(etag) == 66, etag
    st, h, body = srv.request("GET", "/feed/index.json", headers={"If-None-Match": etag})
    assert st == 304 and body == b"", (st, body)
    st, _, body = srv.request("GET", "/feed/" + Path(a["envelope"]).name)
    assert st == 200 and body == Path(a["envelope"]).read_bytes()
    for bad in ("/feed/../x", "/feed/..%2fprovider.sqlite", "/feed/.hidden", "/feed/",
                "/feed/missing.json", "/nothing"):
        st, _, _ = srv.request("GET", bad)
        assert st == 404, bad
    # bodies are bounded
    st, _, _ = srv.request("POST", "/receipts", b"x" * ((1 << 20) + 10))
    assert st == 413


def test_tls(prov, server_factory, certs):
    prov.keygen()
    prov.publish("alert", "--virus", "Test.Serve.Tls-1")
    srv = server_factory(tls=certs)
    st, h, body = srv.request("GET", "/feed/index.json")
    assert st == 200 and json.loads(body)["provider"] == PROVIDER
    st, _, body = srv.request("POST", "/enrol", {"token": token(prov), "gateway": "gw-tls",
                                                 "public_key": pub_hex(gen_key())})
    assert st == 200, body
