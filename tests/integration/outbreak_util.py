"""Fixtures and helpers for the integration tests of outbreak sealing
(docs/outbreak.md).

Owns: the test provider (Ed25519 keys made with python3-cryptography, the
envelope {"payload", "signature"} of src/outbreak/omsg.h, builders of alert,
update and all-clear documents with an increasing seq), receipts checked
with the gateway's public key (STATE_DIR/gateway.pub), the HTTPS push
client (POST /outbreak, the test CA from smtp_util's certs fixture), a
threaded HTTP feed server (index with ETag / If-None-Match -> 304,
documents, update files, POSTed receipts recorded), "future viruses"
(random bytes no shipped signature matches) and the signature files an
update brings for them, portcullis-ctl outbreak|hold, and the daemon
launcher (Gateway: a Portcullisd with [outbreak], optionally [ftp]) with
restart and kill -9.

Test modules use it with
    pytest.register_assert_rewrite("smtp_util", "ftp_util", "outbreak_util")
    from outbreak_util import *
    pytest_plugins = ["smtp_util", "ftp_util", "outbreak_util"]

Binaries: $PORTCULLISD and $PORTCULLIS_CTL as for smtp_util.
"""

import base64
import copy
import hashlib
import http.client
import http.server
import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smtp_util import (REPO, Client, Portcullisd, _artifacts, _clip, _quiesce,  # noqa: E402
                       daemon_config, free_port, wait_until)
from ftp_util import FtpProxy, port_range  # noqa: E402

from cryptography.exceptions import InvalidSignature  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: E402
    Ed25519PrivateKey, Ed25519PublicKey)

__all__ = [
    # keys, envelopes
    "gen_key", "pub_hex", "pub_pem", "b64", "unb64", "sign", "sign_payload", "open_envelope",
    "tamper_payload", "Provider",
    # receipts
    "gateway_pub", "verify_receipt", "receipt_of",
    # transport
    "push", "FeedServer", "ctl", "ctl_json",
    # viruses and signature files
    "future_virus", "ndb_file", "hdb_file", "hsb_file", "sig_file", "sha256_hex", "md5_hex",
    # mail
    "send_mail", "send_many",
    # daemon
    "Gateway", "gateway_factory", "feed_server",
]

# ------------------------------------------------------------ keys, envelopes


def gen_key():
    """A fresh Ed25519 private key."""
    return Ed25519PrivateKey.generate()


def _pub(k):
    return k.public_key() if isinstance(k, Ed25519PrivateKey) else k


def pub_hex(k):
    """The 64 hex digits of the raw 32-byte public key (of k or its public half)."""
    raw = _pub(k).public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw.hex()


def pub_pem(k):
    """The public key as a PEM block (SubjectPublicKeyInfo)."""
    return _pub(k).public_bytes(serialization.Encoding.PEM,
                                serialization.PublicFormat.SubjectPublicKeyInfo)


def b64(b):
    return base64.b64encode(b).decode("ascii")


def unb64(s):
    return base64.b64decode(s, validate=True)


def sign_payload(priv, payload, signature=None):
    """The envelope (bytes) for payload bytes as they are; signature
    overrides the real one (forgeries)."""
    sig = priv.sign(payload) if signature is None else signature
    return json.dumps({"payload": b64(payload), "signature": b64(sig)}).encode()


def sign(priv, doc):
    """The envelope (bytes): payload = json.dumps(doc).encode(), signed by priv."""
    return sign_payload(priv, json.dumps(doc).encode())


def open_envelope(env, pub):
    """Verifies an envelope (bytes, str or dict) with pub; the document (dict).
    Raises AssertionError when the signature does not verify."""
    if isinstance(env, (bytes, str)):
        env = json.loads(env)
    assert isinstance(env, dict) and set(env) >= {"payload", "signature"}, \
        "not an envelope: %r" % (env,)
    payload = unb64(env["payload"])
    sig = unb64(env["signature"])
    assert len(sig) == 64, "an Ed25519 signature has 64 bytes, not %d" % len(sig)
    try:
        _pub(pub).verify(sig, payload)
    except InvalidSignature:
        raise AssertionError("the signature does not verify with the given key: %r" %
                             payload[:300])
    return json.loads(payload)


def tamper_payload(env, where=None):
    """The envelope with one byte of its decoded payload flipped (the
    signature kept). By default a letter inside the document's "name" (or
    "id") string gets its case bit flipped, so the payload stays valid JSON
    and only the signature can tell."""
    e = json.loads(env)
    p = bytearray(unb64(e["payload"]))
    if where is None:
        for key in (b'"name": "', b'"id": "'):
            i = p.find(key)
            if i >= 0:
                j = i + len(key)
                while not chr(p[j]).isalpha():
                    j += 1
                where = j
                break
        else:
            where = len(p) // 2
    p[where] ^= 0x20
    e["payload"] = b64(bytes(p))
    return json.dumps(e).encode()


class Provider:
    """A signature provider: a name, a key, and the seq counter over all its
    documents (1, 2, 3, ...). Builders return dicts; seal() signs them."""

    def __init__(self, name="test", key=None, seq=0):
        self.name = name
        self.key = key or gen_key()
        self.seq = seq
        self._n = 0

    @property
    def pub_hex(self):
        return pub_hex(self.key)

    def next_seq(self):
        self.seq += 1
        return self.seq

    def _id(self, prefix):
        self._n += 1
        return "%s-%d-%d-%s" % (prefix, os.getpid() % 10000, self._n, os.urandom(3).hex())

    def alert(self, viruses=("Test.Future.Virus-1",), mode="hold", direction="inbound",
              protocols=("smtp",), sha256=None, name="Test outbreak", issued=None,
              expires=None, ttl=3600, seq=None, id=None, **extra):
        now = int(time.time())
        issued = now if issued is None else issued
        d = {"type": "alert", "provider": self.name, "id": id or self._id("A"),
             "seq": self.next_seq() if seq is None else seq, "issued": issued,
             "expires": (issued + ttl) if expires is None else expires,
             "viruses": list(viruses), "mode": mode,
             "scope": {"direction": direction, "protocols": list(protocols)}}
        if sha256 is not None:
            d["sha256"] = list(sha256)
        if name is not None:
            d["name"] = name
        d.update(extra)
        return d

    def update(self, viruses=("Test.Future.Virus-1",), files=None, issued=None, seq=None,
               id=None, **extra):
        """files: entries from ndb_file()/hdb_file()/... (default: one .ndb
        that matches nothing any test sends)."""
        if files is None:
            files = [ndb_file("outbreak-%d.ndb" % (self.seq + 1),
                              future_virus(os.urandom(8).hex()), "Test.Unrelated.Virus-0")]
        d = {"type": "update", "provider": self.name, "id": id or self._id("U"),
             "seq": self.next_seq() if seq is None else seq,
             "issued": int(time.time()) if issued is None else issued,
             "viruses": list(viruses), "files": list(files)}
        d.update(extra)
        return d

    def allclear(self, alert, issued=None, seq=None, id=None, **extra):
        d = {"type": "allclear", "provider": self.name, "id": id or self._id("C"),
             "seq": self.next_seq() if seq is None else seq,
             "issued": int(time.time()) if issued is None else issued, "alert": alert}
        d.update(extra)
        return d

    def seal(self, doc):
        """The signed envelope (bytes) of doc."""
        return sign(self.key, doc)


# ------------------------------------------------------------------- receipts

def gateway_pub(state_dir):
    """The gateway's public key from STATE_DIR/gateway.pub (PEM)."""
    p = Path(state_dir) / "gateway.pub"
    wait_until(p.exists, 10, what="%s to exist" % p)
    data = p.read_bytes()
    k = serialization.load_pem_public_key(data)
    assert isinstance(k, Ed25519PublicKey), "gateway.pub is no Ed25519 key: %r" % data[:200]
    return k


def receipt_of(body):
    """The receipt envelope (dict) of a push/submit answer (dict), or None.
    A receipt given as a JSON string is parsed."""
    r = body.get("receipt")
    if isinstance(r, str):
        r = json.loads(r)
    return r


def verify_receipt(env, gw_pub, message=None, message_seq=None, state=None,
                   provider="test", gateway="gw-test"):
    """Verifies a receipt envelope with the gateway's key and checks its
    fields (those given); returns the receipt document."""
    assert env is not None, "no receipt"
    doc = open_envelope(env, gw_pub)
    assert doc.get("type") == "receipt", doc
    if provider is not None:
        assert doc.get("provider") == provider, doc
    if gateway is not None:
        assert doc.get("gateway") == gateway, doc
    if message is not None:
        assert doc.get("message") == message, doc
    if message_seq is not None:
        assert doc.get("message_seq") == message_seq, doc
    if state is not None:
        assert doc.get("state") == state, doc
    assert isinstance(doc.get("time"), int) and abs(doc["time"] - time.time()) < 600, doc
    return doc


# ------------------------------------------------------------------ transport

def push(port, body, ca=None, timeout=20.0, path="/outbreak", host="127.0.0.1"):
    """POSTs body (an envelope, bytes) to the HTTPS push endpoint.
    ca: the test CA's PEM path (verified, host name 127.0.0.1), or None for
    no verification. Returns (status, parsed JSON answer or None, raw bytes)."""
    if ca is not None:
        ctx = ssl.create_default_context(cafile=str(ca))
        ctx.check_hostname = True
    else:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    c = http.client.HTTPSConnection(host, port, timeout=timeout, context=ctx)
    try:
        c.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        r = c.getresponse()
        raw = r.read()
        status = r.status
    finally:
        c.close()
    try:
        v = json.loads(raw) if raw else None
    except ValueError:
        v = None
    return status, v, raw


def ctl(conf, *args, timeout=60, stdin=None):
    """portcullis-ctl -c CONF ARGS...; (rc, stdout, stderr) as str. stdin:
    bytes to feed (else /dev/null)."""
    binp = Path(os.environ.get("PORTCULLIS_CTL", REPO / "build" / "portcullis-ctl"))
    cmd = [str(binp), "-c", str(conf)] + [str(a) for a in args]
    try:
        p = subprocess.run(cmd, input=stdin,
                           stdin=None if stdin is not None else subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail("%s did not finish within %ss" % (" ".join(cmd), timeout))
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def ctl_json(conf, *args, timeout=60):
    """portcullis-ctl ... --json: the parsed output (fails the test on rc != 0)."""
    rc, out, err = ctl(conf, *args, timeout=timeout)
    assert rc == 0, "portcullis-ctl %s: rc=%d\nstdout: %s\nstderr: %s" % (
        " ".join(map(str, args)), rc, out[:2000], err[:2000])
    try:
        return json.loads(out)
    except ValueError:
        raise AssertionError("portcullis-ctl %s printed no JSON: %r" % (
            " ".join(map(str, args)), out[:2000]))


class _FeedHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        self.server.feed._note("log", fmt % a)

    def _send(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        f = self.server.feed
        f._record(self, b"")
        path = self.path.split("?", 1)[0]
        with f.lock:
            if path == f.index_path:
                body = f._index_bytes()
                etag = '"%s"' % hashlib.sha256(body).hexdigest()[:32]
                inm = self.headers.get("If-None-Match")
                if inm is not None and etag in [t.strip() for t in inm.split(",")]:
                    f.not_modified += 1
                    return self._send(304, b"", [("ETag", etag)])
                return self._send(200, body, [("ETag", etag),
                                              ("Content-Type", "application/json")])
            if path in f.files:
                return self._send(200, f.files[path],
                                  [("Content-Type", "application/octet-stream")])
        self._send(404, b"not found\n")

    def do_POST(self):
        f = self.server.feed
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        f._record(self, body)
        path = self.path.split("?", 1)[0]
        if path == f.receipt_path:
            with f.lock:
                f.receipts.append(body)
                f.lock.notify_all()
            return self._send(200, b'{"ok": true}\n', [("Content-Type", "application/json")])
        self._send(404, b"not found\n")


class _FeedHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False


class FeedServer:
    """
    A provider's feed on http://127.0.0.1:port: GET /feed/index.json is
    {"provider", "documents": [{"seq", "url"}...]} with an ETag, and 304
    when If-None-Match names it; add(seq, envelope) publishes a document
    under /feed/doc-SEQ.json (relative URL in the index); put_file(path,
    bytes) serves any other file; POST /receipts records the body.
    Every request is recorded: requests (method, path, headers dict, body).
    """

    def __init__(self, provider="test", name="feed"):
        self.name = name
        self.provider = provider
        self.lock = threading.Condition()
        self.docs = []            # (seq, relative url)
        self.files = {}           # path -> bytes
        self.receipts = []        # bodies POSTed to /receipts
        self.requests = []        # (method, path, headers, body)
        self.notes = []
        self.not_modified = 0
        self.index_path = "/feed/index.json"
        self.receipt_path = "/receipts"
        self.server = _FeedHTTPServer(("127.0.0.1", 0), _FeedHandler)
        self.server.feed = self
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def feed_url(self):
        return self.base + self.index_path

    @property
    def receipt_url(self):
        return self.base + self.receipt_path

    def _index_bytes(self):
        return json.dumps({"provider": self.provider,
                           "documents": [{"seq": s, "url": u} for s, u in self.docs]}).encode()

    def add(self, seq, envelope):
        with self.lock:
            rel = "doc-%d.json" % seq
            self.files["/feed/" + rel] = envelope
            self.docs.append((seq, rel))

    def put_file(self, path, data):
        """Serves data at path; returns its absolute URL."""
        with self.lock:
            self.files[path] = data
        return self.base + path

    def _record(self, h, body):
        with self.lock:
            self.requests.append((h.command, h.path, {k.lower(): v for k, v in h.headers.items()},
                                  body))
            self.lock.notify_all()

    def _note(self, kind, text):
        with self.lock:
            self.notes.append((kind, text))

    def index_gets(self):
        with self.lock:
            return [r for r in self.requests if r[0] == "GET" and
                    r[1].split("?", 1)[0] == self.index_path]

    def gets_of(self, path):
        with self.lock:
            return [r for r in self.requests if r[0] == "GET" and r[1].split("?", 1)[0] == path]

    def receipts_copy(self):
        with self.lock:
            return list(self.receipts)

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def describe(self):
        with self.lock:
            reqs = list(self.requests)
            notes = list(self.notes)
        out = ["feed server %s on %s: %d docs %r" % (self.name, self.base, len(self.docs),
                                                     self.docs)]
        for m, p, h, b in reqs[-200:]:
            out.append("%s %s inm=%s etag-ish headers=%s body=%d bytes" % (
                m, p, h.get("if-none-match"), sorted(h), len(b)))
        out += ["%s: %s" % n for n in notes[-50:]]
        return "\n".join(out)


@pytest.fixture
def feed_server(request):
    f = FeedServer()
    _artifacts(request.node).append(f)
    yield f
    f.close()


# -------------------------------------------------- viruses and signature files

def future_virus(seed, n=4096):
    """n random bytes (the same for the same seed) that no shipped signature
    matches: a virus only an update's signature will recognise."""
    r = random.Random("future-%s" % seed)
    return bytes(r.getrandbits(8) for _ in range(n))


def sha256_hex(b):
    return hashlib.sha256(b).hexdigest()


def md5_hex(b):
    return hashlib.md5(b).hexdigest()


def sig_file(name, text, url=None):
    """An update's file entry: data embedded (base64), or url= instead."""
    data = text if isinstance(text, bytes) else text.encode()
    e = {"name": name, "sha256": sha256_hex(data)}
    if url is None:
        e["data"] = b64(data)
    else:
        e["url"] = url
    return e


def ndb_line(data, virus, off=64, n=32):
    return "%s:0:*:%s\n" % (virus, data[off:off + n].hex())


def ndb_file(name, data, virus, url=None):
    """A .ndb body signature (Name:0:*:hex of 32 bytes from inside data)."""
    return sig_file(name, ndb_line(data, virus), url)


def hdb_file(name, data, virus, url=None):
    """A .hdb MD5 signature (md5:size:Name) of data."""
    return sig_file(name, "%s:%d:%s\n" % (md5_hex(data), len(data), virus), url)


def hsb_file(name, data, virus, url=None):
    """A .hsb SHA-256 signature (sha256:size:Name) of data."""
    return sig_file(name, "%s:%d:%s\n" % (sha256_hex(data), len(data), virus), url)


# ------------------------------------------------------------------------ mail

def send_mail(port, frm, rcpts, msg, timeout=30.0):
    """One SMTP transaction on a fresh connection; the reply after the dot."""
    with Client(port, timeout=timeout) as c:
        c.banner()
        c.ehlo("client.example")
        r = c.mail(frm, list(rcpts), msg)
        try:
            c.quit()
        except (AssertionError, EOFError, OSError, TimeoutError):
            pass
    return r


def send_many(port, items, conns=4, timeout=60.0):
    """Sends items [(frm, rcpts, msg)] over `conns` parallel connections,
    several transactions per connection. Returns the replies in item order
    (an exception text where a transaction failed)."""
    replies = [None] * len(items)
    errors = []

    def worker(k):
        idx = list(range(k, len(items), conns))
        try:
            c = Client(port, timeout=timeout)
            c.banner()
            c.ehlo("client%d.example" % k)
            for i in idx:
                frm, rcpts, msg = items[i]
                replies[i] = c.mail(frm, list(rcpts), msg)
            try:
                c.quit()
            except Exception:
                c.close()
        except Exception as e:  # reported by the caller
            errors.append("connection %d: %r" % (k, e))

    ts = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(conns)]
    for t in ts:
        t.start()
    deadline = time.monotonic() + timeout * 4
    for t in ts:
        t.join(max(0.1, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in ts), "senders still running after %.0fs" % (timeout * 4)
    assert not errors, "; ".join(errors)
    return replies


# ---------------------------------------------------------------------- daemon

def _short_dir(tmp, name, cleanup):
    """tmp/name, or a short directory in /tmp when a UNIX socket path under
    tmp/name would be too long (sun_path holds 108 bytes)."""
    p = Path(tmp) / name
    if len(str(p / "control.sock")) < 100:
        return p
    d = Path(tempfile.mkdtemp(prefix="pcob-"))
    cleanup.append(d)
    return d / name


class Gateway(FtpProxy):
    """A Portcullisd with [outbreak] (and optionally [ftp]): push port, state
    and hold dirs, portcullis-ctl outbreak|hold, receipts."""

    provider = None        # the Provider it trusts first
    push_ca = None         # the test CA (PEM path) for push()

    @property
    def ob(self):
        return self.conf["outbreak"]

    @property
    def state_dir(self):
        return Path(self.ob["state_dir"])

    @property
    def hold_dir(self):
        return Path(self.ob["hold_dir"])

    @property
    def sig_dir(self):
        return Path(self.conf["scan"]["database_dir"])

    @property
    def tlog_path(self):
        return self.state_dir / "transparency.log"

    @property
    def push_port(self):
        return int(self.ob["push_listen"].rsplit(":", 1)[1])

    def start(self, timeout=20.0, expect_ready=True):
        FtpProxy.start(self, timeout, expect_ready)
        if expect_ready and self.ob.get("push_listen"):
            def up():
                try:
                    with socket.create_connection(("127.0.0.1", self.push_port), timeout=1):
                        return True
                except OSError:
                    return False
            wait_until(up, 15, 0.05, what="%s: push endpoint on %s" % (
                self.name, self.ob["push_listen"]))
        return self

    def push(self, envelope, **kw):
        return push(self.push_port, envelope, ca=self.push_ca, **kw)

    def gw_pub(self):
        return gateway_pub(self.state_dir)

    def ctl(self, *args, timeout=60, stdin=None):
        """portcullis-ctl -c CONF ...: (rc, stdout, stderr)."""
        return ctl(self.conf_path, *args, timeout=timeout, stdin=stdin)

    def ctl_json(self, *args, timeout=60):
        return ctl_json(self.conf_path, *args, timeout=timeout)

    def status(self):
        """portcullis-ctl outbreak status --json, parsed."""
        return self.ctl_json("outbreak", "status", "--json")

    def holds(self):
        """portcullis-ctl hold list --json, parsed."""
        v = self.ctl_json("hold", "list", "--json")
        assert isinstance(v, list), v
        return v

    def held(self, alert=None):
        """Held items not released yet (optionally of one alert)."""
        return [h for h in self.holds() if not h.get("released_at") and
                (alert is None or h.get("alert") == alert)]

    def quarantine_json(self):
        rc, out, err = self.ctl("quarantine", "list", "--json")
        assert rc == 0, "quarantine list rc=%d: %s" % (rc, err)
        return json.loads(out or "[]")

    def kill9(self):
        """SIGKILL; waits for the process and its output to end."""
        self.stopped_by_test = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        if self._reader:
            self._reader.join(5)
        self.rc = self.proc.returncode

    def describe(self):
        text = Portcullisd.describe(self)
        try:
            if self.tlog_path.exists():
                text += "\n--- transparency.log (tail) ---\n" + _clip(
                    "\n".join(l[:400] for l in self.tlog_path.read_text(
                        errors="replace").splitlines()[-20:]), 8000)
        except OSError:
            pass
        return text


def _ob_config(base, sink, provider, certs, push=True, ftp_server=None, ftp=None,
               outbreak=None, dirs=None, **sections):
    """The config (dict of sections) of a gateway under base."""
    base = Path(base)
    sigs = base / "sigs"
    if not sigs.exists():
        shutil.copytree(REPO / "sigs", sigs)
    sections = {k: dict(v) for k, v in sections.items()}
    smtp = {"direction": "inbound"}
    smtp.update(sections.pop("smtp", {}))
    scan = {"database_dir": str(sigs)}
    scan.update(sections.pop("scan", {}))
    conf = daemon_config(base, sink_port=sink.port if sink else None,
                         maildir=None if sink else base / "Maildir",
                         smtp=smtp, scan=scan, **sections)
    if sink is None:
        for d in ("cur", "new", "tmp"):
            (base / "Maildir" / d).mkdir(parents=True, exist_ok=True)
    state_dir, hold_dir = dirs
    ob = {"state_dir": str(state_dir), "hold_dir": str(hold_dir), "gateway_id": "gw-test",
          "release_retry": "1s"}
    if provider is not None:
        ob["provider_keys"] = provider.pub_hex
    if push:
        ob["push_listen"] = "127.0.0.1:%d" % free_port()
        ob["push_tls_cert"] = str(certs.cert)
        ob["push_tls_key"] = str(certs.key)
    for k, v in (outbreak or {}).items():
        if v is None:
            ob.pop(k, None)
        else:
            ob[k] = str(v)
    conf["outbreak"] = ob
    if ftp_server is not None:
        lo, hi = port_range(40)
        f = {"listen": "127.0.0.1:%d" % free_port(), "upstream": ftp_server.addr,
             "data_ports": "%d-%d" % (lo, hi), "direction": "inbound",
             "command_timeout": "30s", "data_timeout": "30s", "upstream_timeout": "10s"}
        for k, v in (ftp or {}).items():
            if v is None:
                f.pop(k, None)
            else:
                f[k] = str(v)
        conf["ftp"] = f
    return conf


@pytest.fixture
def gateway_factory(request, tmp_path, certs):
    """
    gateway_factory(sink, provider=Provider, push=True, ftp_server=None,
    ftp={...}, outbreak={...}, start=True, **sections) -> a started Gateway:
    the usual test daemon (SMTP listener with direction = inbound to the
    sink, quarantine and spool under its dir, a private copy of sigs/ as
    scan.database_dir, since updates write into it) plus [outbreak]
    (provider_keys = the provider's key in hex, state_dir and hold_dir under
    its dir, gateway_id gw-test, the HTTPS push endpoint on a free port
    with the test certificate, release_retry 1s); outbreak= updates that
    section (None removes a key). ftp_server: an [ftp] section in front of
    it (direction inbound). gateway_factory.restart(gw) starts a second
    daemon on the same config and directories (after gw was stopped or
    killed). Every daemon is stopped at teardown; the test fails if one
    died on its own, did not exit 0 or printed a sanitizer report.
    """
    made = []
    cleanup = []

    def make(sink=None, provider=None, push=True, ftp_server=None, ftp=None, outbreak=None,
             start=True, verbose=True, name=None, **sections):
        n = len(made) + 1
        base = tmp_path / ("g%d" % n)
        base.mkdir(parents=True, exist_ok=True)
        dirs = (_short_dir(base, "ob", cleanup), base / "hold")
        conf = _ob_config(base, sink, provider, certs, push, ftp_server, ftp, outbreak, dirs,
                          **sections)
        d = Gateway(base, conf, verbose=verbose, name=name or "gw%d" % n)
        d.sink = sink
        d.provider = provider
        d.push_ca = certs.ca
        made.append(d)
        _artifacts(request.node).append(d)
        if start:
            d.start()
        return d

    def restart(old, start=True):
        """A new daemon on old's config and directories (old must be down)."""
        assert old.proc is None or old.proc.poll() is not None, "%s still runs" % old.name
        old.stopped_by_test = True
        d = Gateway(old.tmp, copy.deepcopy(old.conf), verbose=old.verbose,
                    name="%s-r%d" % (old.name, len(made) + 1))
        d.sink = old.sink
        d.provider = old.provider
        d.push_ca = old.push_ca
        made.append(d)
        _artifacts(request.node).append(d)
        if start:
            d.start()
        return d

    make.restart = restart
    yield make
    problems = []
    for d in made:
        if d.proc is None:
            continue
        died = d.proc.poll()
        if died is not None and not d.stopped_by_test:
            problems.append("%s exited on its own with rc=%s" % (d.name, died))
        _quiesce(d)
        rc = d.stop()
        if not d.stopped_by_test and rc != 0:
            problems.append("%s: exit code %s after SIGTERM" % (d.name, rc))
        if d.sanitizer_report():
            problems.append("%s: sanitizer report in the log" % d.name)
    for c in cleanup:
        shutil.rmtree(c, ignore_errors=True)
    if problems:
        pytest.fail("; ".join(problems))
