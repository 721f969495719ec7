"""The provider's push fan-out (docs/provider.md, "Fan-out"), end to end.

With real portcullisd gateways, each with its HTTPS push endpoint
([outbreak] push_listen, the test certificate) and enrolled through
`POST /enrol` of `portcullis-provider serve` with its key and push URL:
`portcullis-provider alert` pushes the alert to every one (verified with
the test CA, --push-ca): each is sealed when the command returns and
`receipts` lists one verified receipt per gateway; a gateway whose push
endpoint is down is tried again (the log shows the retries), counted
failed, and gets the alert by pull once it starts (its receipt then
recorded through POST /receipts). The exit status is 0 all the same.

With fake gateways (a small HTTP server on 127.0.0.1, one path per
gateway): a receipt signed with a wrong key, or for another message, is
refused and nothing is recorded for it; a 4xx refusal is final (one
request); a 503 is retried until the gateway answers; pushing the same
document again (`push`) records no second receipt; --no-push pushes
nothing. Every wait is bounded.

Binaries: $PORTCULLIS_PROVIDER, $PORTCULLISD, $PORTCULLIS_CTL as for the
other provider tests.
"""

import http.server
import json
import re
import threading
import time

import pytest

pytest.register_assert_rewrite("smtp_util", "ftp_util", "outbreak_util")
from smtp_util import *  # noqa: E402,F401,F403
from smtp_util import wait_until  # noqa: E402
from outbreak_util import *  # noqa: E402,F401,F403
from test_provider_cli import PROVIDER, TrustedKey  # noqa: E402
from test_provider_serve import (prov, receipt_doc, server_factory, table, token,  # noqa: E402,F401
                                 write_key)

pytest_plugins = ["smtp_util", "ftp_util", "outbreak_util"]

WAIT = 30.0
SUMMARY = re.compile(r"^pushed to (\d+) gateways: (\d+) receipts, (\d+) failed \(they get it by"
                     r" pull\)", re.M)


def summary(out):
    m = SUMMARY.search(out)
    assert m, "no push summary in: %r" % out
    return tuple(int(x) for x in m.groups())


def published(out):
    m = re.search(r"^seq=(\d+) type=\S+ id=(\S+)", out, re.M)
    assert m, out
    return m.group(2), int(m.group(1))


def enrol(srv, prov, gateway, key, push_url):
    st, _, body = srv.request("POST", "/enrol", {
        "token": token(prov), "gateway": gateway, "public_key": pub_hex(key),
        "push_url": push_url})
    assert st == 200, body


def receipts_for(prov, mid):
    return sorted((r[0], r[3]) for r in table(prov, "receipts") if r[1] == mid)


# ------------------------------------------------------------ real gateways

def test_push_seals_the_fleet_and_a_down_gateway_pulls(prov, server_factory, gateway_factory,
                                                      sink, certs, tmp_path):
    hexkey = prov.keygen()
    srv = server_factory()
    gws = {}
    for name in ("gw-a", "gw-b", "gw-c"):
        key = gen_key()
        key_path = tmp_path / ("%s.key" % name)
        write_key(key_path, key)
        ob = {"gateway_id": name, "gateway_key": str(key_path)}
        if name == "gw-c":  # down during the push; it pulls when it comes
            ob.update({"feed_url": srv.base + "/feed/index.json",
                       "receipt_url": srv.base + "/receipts", "poll_interval": "1s",
                       "fetch_timeout": "5s"})
        gw = gateway_factory(sink, TrustedKey(PROVIDER, hexkey), outbreak=ob, start=False,
                             name=name)
        enrol(srv, prov, name, key, "https://127.0.0.1:%d/outbreak" % gw.push_port)
        gws[name] = gw
    gws["gw-a"].start()
    gws["gw-b"].start()
    assert [g[0] for g in table(prov, "gateways")] == ["gw-a", "gw-b", "gw-c"]

    t0 = time.monotonic()
    rc, out, err = prov.run("alert", "--virus", "Test.Fanout.Future-1", "--ttl", "1h",
                            "--push-ca", certs.ca, "--push-attempts", "3",
                            "--push-timeout", "5s", timeout=120)
    took = time.monotonic() - t0
    mid, seq = published(out)
    assert summary(out) == (3, 2, 1), out + err
    # the down gateway: tried 3 times (0.5 s, then 1 s between), then left to the pull
    assert len(re.findall(r"gw-c .*attempt \d failed", err)) == 2, err
    assert re.search(r"gw-c .*after 3 attempt\(s\); it gets %s by pull" % re.escape(mid), err), err
    assert 1.4 < took < 60, took
    # the pushed gateways are sealed by the time the command returns
    for name in ("gw-a", "gw-b"):
        st = gws[name].status()
        assert st.get("sealed") is True and [a["id"] for a in st["alerts"]] == [mid], st
    rows = [r for r in table(prov, "receipts") if r[1] == mid]
    assert sorted((r[0], r[2], r[3]) for r in rows) == [
        ("gw-a", str(seq), "sealed"), ("gw-b", str(seq), "sealed")], rows
    g = {r[0]: r for r in table(prov, "gateways")}
    assert g["gw-a"][1] == "sealed" and g["gw-a"][3] == mid, g
    assert g["gw-c"][1] == "open" and g["gw-c"][3] == "-", g

    # the down gateway comes up and gets the alert by pull
    gws["gw-c"].start()
    wait_until(lambda: gws["gw-c"].status().get("sealed") is True, WAIT,
               what="gw-c sealed by the pulled alert")
    wait_until(lambda: receipts_for(prov, mid) == [("gw-a", "sealed"), ("gw-b", "sealed"),
                                                   ("gw-c", "sealed")], WAIT,
               what="gw-c's receipt (by pull) recorded")

    # the all-clear is pushed too; gw-c may get it either way (push or pull)
    rc, out, err = prov.run("allclear", "--alert", mid, "--push-ca", certs.ca, timeout=120)
    cid, _ = published(out)
    n, r, f = summary(out)
    assert n == 3 and r >= 2 and r + f == 3, out + err
    for name in ("gw-a", "gw-b", "gw-c"):
        wait_until(lambda: gws[name].status().get("sealed") is False, WAIT,
                   what="%s open after the all-clear" % name)
    wait_until(lambda: receipts_for(prov, cid) == [("gw-a", "open"), ("gw-b", "open"),
                                                   ("gw-c", "open")], WAIT,
               what="3 receipts for the all-clear")
    # one receipt per gateway and document, whatever the path
    rows = table(prov, "receipts")
    assert len(rows) == len({(r[0], r[1]) for r in rows}) == 6, rows


# ------------------------------------------------------------ fake gateways

class _FakeHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        status, answer = self.server.fake.answer(self.path, body)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _FakeHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False


class FakeGateways:
    """Gateways at http://127.0.0.1:PORT/gw/NAME/outbreak, each answering
    as its behaviour says: good (a valid receipt), forger (a receipt signed
    with another key), stray (a valid receipt for another message), flaky
    (503 twice, then good), refuser (403, as a gateway that refuses it)."""

    def __init__(self):
        self.keys = {}      # name -> enrolled key
        self.requests = {}  # name -> count
        self.lock = threading.Lock()
        self.server = _FakeHTTPServer(("127.0.0.1", 0), _FakeHandler)
        self.server.fake = self
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, name):
        return "http://127.0.0.1:%d/gw/%s/outbreak" % (self.port, name)

    def answer(self, path, body):
        name = path.split("/")[2] if path.startswith("/gw/") else ""
        with self.lock:
            self.requests[name] = k = self.requests.get(name, 0) + 1
        if name not in self.keys:
            return 404, {"error": "no such gateway"}
        doc = json.loads(unb64(json.loads(body)["payload"]))
        receipt = receipt_doc(name, doc["id"], doc["seq"], "sealed")
        key = self.keys[name]
        if name.startswith("forger"):
            key = gen_key()
        elif name.startswith("stray"):
            receipt["message"], receipt["message_seq"] = "A-other", doc["seq"] + 100
        elif name.startswith("flaky") and k <= 2:
            return 503, {"accepted": False, "reason": "busy", "receipt": None}
        elif name.startswith("refuser"):
            return 403, {"accepted": False, "reason": "replayed or out of order",
                         "receipt": None}
        return 200, {"accepted": True, "reason": "",
                     "receipt": json.loads(sign(key, receipt))}

    def count(self, name):
        with self.lock:
            return self.requests.get(name, 0)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fakes():
    f = FakeGateways()
    yield f
    f.close()


def test_fake_gateways_refusals_retries_and_repeats(prov, server_factory, fakes):
    prov.keygen()
    srv = server_factory()
    names = ("good", "forger", "stray", "flaky", "refuser")
    for name in names:
        fakes.keys[name] = gen_key()
        enrol(srv, prov, name, fakes.keys[name], fakes.url(name))

    rc, out, err = prov.run("alert", "--virus", "Test.Fanout.Fake-1", "--push-attempts", "4",
                            timeout=120)
    mid, seq = published(out)
    assert summary(out) == (5, 2, 3), out + err
    assert re.search(r"forger .*receipt refused: bad signature", err), err
    assert re.search(r"stray .*receipt refused: it is for A-other", err), err
    assert re.search(r"refuser .*refused: HTTP 403 replayed or out of order after 1 attempt",
                     err), err
    assert len(re.findall(r"flaky .*attempt \d failed: HTTP 503 busy", err)) == 2, err
    assert {n: fakes.count(n) for n in names} == {
        "good": 1, "forger": 1, "stray": 1, "flaky": 3, "refuser": 1}
    assert receipts_for(prov, mid) == [("flaky", "sealed"), ("good", "sealed")]
    g = {r[0]: r for r in table(prov, "gateways")}
    assert g["forger"][1] == "open" and g["forger"][3] == "-", g
    assert g["good"][1] == "sealed" and g["good"][3] == mid, g

    # the same document pushed again: answered again, recorded once
    rc, out, err = prov.run("push", "--push-attempts", "1", timeout=120)
    assert published(out) == (mid, seq)
    assert summary(out) == (5, 2, 3), out + err
    assert fakes.count("good") == 2
    rows = table(prov, "receipts")
    assert sorted((r[0], r[1]) for r in rows) == [("flaky", mid), ("good", mid)], rows

    # --no-push: published, nothing pushed
    before = {n: fakes.count(n) for n in names}
    rc, out, err = prov.run("alert", "--virus", "Test.Fanout.Fake-2", "--no-push")
    published(out)
    assert SUMMARY.search(out) is None, out
    assert {n: fakes.count(n) for n in names} == before
    # a bad push option is a usage error; nothing is published
    prov.run("alert", "--virus", "Test.Fanout.Fake-3", "--push-parallel", "0", expect=2)
    assert len(table(prov, "documents")) == 2
