"""portcullis-provider (docs/provider.md), the CLI slice, end to end with a
real portcullisd: the provider makes its key, publishes an alert into its
feed directory, a plain HTTP server serves that directory, and a gateway
trusting the key polls it: it seals and holds mail; the provider publishes
an update with a real .ndb for the held virus and the gateway releases the
clean mail to the next hop and quarantines the infected one. Also: an
update file with a bad line is refused with `file:line` and nothing is
published; seq increases strictly across runs; the feed's files are
replaced atomically (no temporary file left) and every document verifies
with the provider's public key.

Binary: $PORTCULLIS_PROVIDER, else <repo>/build/portcullis-provider (the
daemon and portcullis-ctl as for smtp_util).
"""

import functools
import http.server
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

pytest.register_assert_rewrite("smtp_util", "ftp_util", "outbreak_util")
from smtp_util import *  # noqa: E402,F401,F403
from smtp_util import REPO, SANITIZER_MARKS, check  # noqa: E402
from outbreak_util import *  # noqa: E402,F401,F403
from outbreak_util import ndb_line  # noqa: E402

pytest_plugins = ["smtp_util", "ftp_util", "outbreak_util"]

PROVIDER = "acme"
SEAL_WAIT = 20.0
RELEASE_WAIT = 30.0


def provider_bin():
    p = Path(os.environ.get("PORTCULLIS_PROVIDER", REPO / "build" / "portcullis-provider"))
    if not (p.is_file() and os.access(p, os.X_OK)):
        pytest.fail("portcullis-provider not found at %s (build it or set "
                    "PORTCULLIS_PROVIDER)" % p)
    return p


class ProviderCli:
    """portcullis-provider -d STATE -n acme ... as a subprocess."""

    def __init__(self, state):
        self.state = Path(state)
        self.feed = self.state / "feed"
        self.runs = []

    def run(self, *args, expect=0, timeout=60):
        cmd = [str(provider_bin()), "-d", str(self.state), "-n", PROVIDER] + \
            [str(a) for a in args]
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        self.runs.append((cmd, p.returncode, out, err))
        for m in SANITIZER_MARKS:
            assert m not in err, "sanitizer report from %s:\n%s" % (cmd, err)
        if expect is not None:
            assert p.returncode == expect, "%s: rc=%d (expected %d)\nstdout: %s\nstderr: %s" % (
                " ".join(cmd), p.returncode, expect, out, err)
        return p.returncode, out, err

    def keygen(self):
        rc, out, err = self.run("keygen")
        hexkey = out.strip()
        assert len(hexkey) == 64 and int(hexkey, 16) >= 0, out
        return hexkey

    def publish(self, *args):
        """Runs alert/update/allclear; the printed fields (dict)."""
        rc, out, err = self.run(*args)
        line = [l for l in out.splitlines() if l.startswith("seq=")][-1]
        fields = dict(kv.split("=", 1) for kv in line.split())
        assert set(fields) >= {"seq", "type", "id", "envelope"}, out
        fields["seq"] = int(fields["seq"])
        assert Path(fields["envelope"]).is_file(), fields
        return fields

    def index(self):
        return json.loads((self.feed / "index.json").read_bytes())


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass


class DirServer:
    """A plain HTTP server for a directory (the provider's feed) on 127.0.0.1."""

    def __init__(self, directory):
        handler = functools.partial(_Quiet, directory=str(directory))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def index_url(self):
        return "http://127.0.0.1:%d/index.json" % self.port

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class TrustedKey:
    """What gateway_factory needs of a provider: its name and key (hex)."""

    def __init__(self, name, hexkey):
        self.name = name
        self.pub_hex = hexkey


@pytest.fixture
def prov(tmp_path):
    return ProviderCli(tmp_path / "provider")


@pytest.fixture
def dir_server(prov):
    prov.feed.mkdir(parents=True, exist_ok=True)
    s = DirServer(prov.feed)
    yield s
    s.close()


def no_tmp_files(d):
    left = [p.name for p in Path(d).iterdir() if p.name.endswith(".tmp")]
    assert not left, "temporary files left in %s: %s" % (d, left)


def verify_feed(prov, hexkey):
    """Every document the index lists verifies with the provider's key and
    carries the seq the index says; returns the documents."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    pub = Ed25519PublicKey.from_public_bytes(bytes.fromhex(hexkey))
    idx = prov.index()
    assert idx["provider"] == PROVIDER and isinstance(idx["generated"], int), idx
    docs = []
    for e in idx["documents"]:
        doc = open_envelope((prov.feed / e["url"]).read_bytes(), pub)
        assert doc["seq"] == e["seq"] and doc["provider"] == PROVIDER, (e, doc)
        docs.append(doc)
    return docs


def text_mail(tag, rcpt, attach=None):
    parts = [part("text/plain; charset=us-ascii",
                  ("Hello,\r\nthis is message %s.\r\n" % tag).encode(), "7bit")]
    if attach is not None:
        parts.append(b64_part(attach, "payload.exe"))
    return multipart(parts, subject="provider test %s" % tag, frm="s@example.net", to=rcpt)


def to(sink, rcpt):
    return [m for m in sink.messages if rcpt in m.rcpts]


# ------------------------------------------------------------------ tests

def test_keygen_files(prov):
    hexkey = prov.keygen()
    key = prov.state / "provider.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert (prov.state / "provider.pub").read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    # a second keygen never overwrites the key
    prov.run("keygen", expect=1)
    assert len(hexkey) == 64


def test_seal_hold_update_release(prov, dir_server, sink, gateway_factory):
    hexkey = prov.keygen()
    virus = "Test.Provider.Future-1"
    fv = future_virus("provider-cli")
    gw = gateway_factory(sink, TrustedKey(PROVIDER, hexkey), push=False,
                         outbreak={"feed_url": dir_server.index_url, "poll_interval": "1s",
                                   "fetch_timeout": "5s"})

    a = prov.publish("alert", "--virus", virus, "--mode", "hold", "--direction", "inbound",
                     "--protocol", "smtp", "--ttl", "1h", "--name", "CLI outbreak")
    assert a["type"] == "alert" and a["id"] == "A-%d" % a["seq"]
    wait_until(lambda: gw.status().get("sealed") is True, SEAL_WAIT,
               what="the gateway sealed by the provider's alert")
    assert [x["id"] for x in gw.status().get("alerts", [])] == [a["id"]]

    clean = text_mail("clean", "c1@example.org")
    bad = text_mail("bad", "c2@example.org", attach=fv)
    check(send_mail(gw.port, "s@example.net", ["c1@example.org"], clean), 250)
    check(send_mail(gw.port, "s@example.net", ["c2@example.org"], bad), 250)
    wait_until(lambda: len(gw.held(a["id"])) >= 2, SEAL_WAIT, what="2 held messages")
    time.sleep(0.5)
    assert not to(sink, "c1@example.org"), "mail passed a sealed gateway"

    sig = prov.state.parent / "outbreak-cli.ndb"
    sig.write_text(ndb_line(fv, virus))
    u = prov.publish("update", sig)
    assert u["type"] == "update" and u["seq"] > a["seq"]
    wait_until(lambda: to(sink, "c1@example.org"), RELEASE_WAIT,
               what="the clean held mail released to the sink")
    (m,) = to(sink, "c1@example.org")
    assert m.data == clean, "released mail changed"
    wait_until(lambda: [q for q in gw.quarantine_json()
                        if "c2@example.org" in (q.get("rcpts") or [])], RELEASE_WAIT,
               what="the infected held mail quarantined")
    wait_until(lambda: gw.status().get("sealed") is False, SEAL_WAIT, what="the seal lifted")
    time.sleep(0.5)
    assert not to(sink, "c2@example.org")

    docs = verify_feed(prov, hexkey)
    assert [d["type"] for d in docs] == ["alert", "update"]
    assert docs[1]["viruses"] == [virus]
    no_tmp_files(prov.feed)


def test_bad_update_refused(prov, tmp_path):
    prov.keygen()
    prov.publish("alert", "--virus", "Test.Provider.Bad-1")
    before = (prov.feed / "index.json").read_bytes()
    names = sorted(p.name for p in prov.feed.iterdir())
    good = tmp_path / "good.ndb"
    good.write_text("Test.Provider.Good-1:0:*:0102030405060708090a0b0c\n")
    bad = tmp_path / "broken.ndb"
    bad.write_text("Test.Provider.Ok-1:0:*:0102030405060708090a0b0c\n"
                   "# a comment\n"
                   "Test.Provider.Bad-1:0:*:zzzz\n")
    rc, out, err = prov.run("update", good, bad, expect=1)
    assert "%s:3: " % bad in err, err
    assert str(good) + ":" not in err, err
    assert out.strip() == "", out
    big = tmp_path / "big.ndb"
    with open(big, "wb") as f:
        f.truncate((16 << 20) + 1)
    rc, out, err = prov.run("update", big, expect=1)
    assert str(big) in err and "limit" in err, err
    rc, out, err = prov.run("update", tmp_path / "missing.ndb", expect=1)
    # nothing published: same index, same files, no seq consumed
    assert (prov.feed / "index.json").read_bytes() == before
    assert sorted(p.name for p in prov.feed.iterdir()) == names
    n = prov.publish("allclear", "--alert", "A-1")
    assert n["seq"] == 2, n


def test_seq_and_atomic_feed(prov, tmp_path):
    hexkey = prov.keygen()
    seqs = []
    a1 = prov.publish("alert", "--virus", "Test.Seq-1", "--mode", "hash", "--sha256",
                      "ab" * 32, "--direction", "both")
    seqs.append(a1["seq"])
    a2 = prov.publish("alert", "--virus", "Test.Seq-2", "--virus", "Test.Seq-3", "--id",
                      "A-named.2", "--mode", "hold_attachments", "--protocol", "ftp")
    seqs.append(a2["seq"])
    # refused input consumes no seq and publishes nothing
    prov.run("alert", "--virus", "Test.Seq-4", "--mode", "freeze", expect=1)
    prov.run("alert", "--virus", "Test.Seq-4", "--id", "../x", expect=1)
    prov.run("alert", "--virus", "Test.Seq-4", "--id", "A-named.2", expect=1)
    prov.run("allclear", "--alert", "A-nope", expect=1)
    sig = tmp_path / "seq.hsb"
    sig.write_text("%s:4096:Test.Seq-1\n" % ("cd" * 32))
    seqs.append(prov.publish("update", "--virus", "Test.Seq-1", sig)["seq"])
    seqs.append(prov.publish("allclear", "--alert", a1["id"])["seq"])
    prov.run("allclear", "--alert", a1["id"], expect=1)  # already ended
    assert seqs == sorted(set(seqs)) and seqs == [1, 2, 3, 4], seqs
    idx = prov.index()
    assert [e["seq"] for e in idx["documents"]] == seqs
    assert all("/" not in e["url"] for e in idx["documents"]), idx
    docs = verify_feed(prov, hexkey)
    assert docs[0]["mode"] == "hash" and docs[0]["sha256"] == ["ab" * 32]
    assert docs[0]["scope"] == {"direction": "both", "protocols": ["smtp", "ftp"]}
    assert docs[1]["id"] == "A-named.2" and docs[1]["scope"]["protocols"] == ["ftp"]
    assert docs[3]["alert"] == a1["id"]
    no_tmp_files(prov.feed)
    rc, out, err = prov.run("documents")
    rows = [l.split("\t") for l in out.strip().splitlines()]
    assert [int(r[0]) for r in rows] == seqs
    assert [r[1] for r in rows] == ["alert", "alert", "update", "allclear"]
    rc, out, err = prov.run("enrol-token")
    assert len(out.strip()) == 64
