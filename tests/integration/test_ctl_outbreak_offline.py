"""portcullis-ctl outbreak|hold: what works without a running portcullisd.

- `outbreak keygen` writes PREFIX.key (0600) and PREFIX.pub (0644), prints
  the public key's 64 hex digits (the raw key, checked by loading the PEM
  with `cryptography`), picks its default paths from the configuration
  (outbreak.gateway_key, else STATE_DIR/gateway.key) and never replaces a
  file;
- the commands that talk to the daemon's control socket
  (STATE_DIR/control.sock) exit 2 with a message naming the socket when
  nothing listens there, and refuse invalid alert and hold IDs before
  they look for the socket (so nothing odd reaches a request path);
- `outbreak log` prints the transparency log one line per entry, and
  `outbreak log --verify` checks a log written here by hand in the format
  of src/outbreak/tlog.h (JSON lines, prev = hex SHA-256 of the previous
  line's bytes without the newline, 64 zeros first; PATH.head "<n> <hex>")
  and fails after a single flipped byte.

A stub speaking HTTP on a UNIX socket stands in for the daemon in a few
tests of the exit statuses docs/outbreak.md fixes (submit accepted 0,
refused 1; 404 for an unknown ID 1) and of the request the tool sends.

Every configuration is written under tmp_path ([outbreak] state_dir there),
so nothing touches /var/lib.

Binary: $PORTCULLIS_CTL, else <repo>/build/portcullis-ctl; the sanitizer
variant $PORTCULLIS_CTL_ASAN, else <repo>/build-asan/portcullis-ctl, when
it exists and knows the outbreak commands.
"""

import base64
import hashlib
import http.server
import json
import os
import socket
import socketserver
import stat
import subprocess
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

ASAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=99",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:")
ZERO = "0" * 64


class Run:
    def __init__(self, cmd, p, elapsed):
        self.cmd, self.rc, self.elapsed = cmd, p.returncode, elapsed
        self.stdout, self.stderr = p.stdout, p.stderr
        self.out = p.stdout.decode("utf-8", "backslashreplace")
        self.err = p.stderr.decode("utf-8", "backslashreplace")

    def describe(self):
        return "$ %s\nrc=%s (%.2fs)\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
            " ".join(str(a) for a in self.cmd), self.rc, self.elapsed, self.out[:6000],
            self.err[:6000])


def _umask022():
    os.umask(0o022)


class Ctl:
    def __init__(self, binary, env):
        self.binary, self.env, self.history = binary, env, []

    def __call__(self, *args, timeout=30, stdin=None):
        cmd = [str(self.binary)] + [str(a) for a in args]
        env = dict(os.environ)
        env.update(self.env)
        t0 = time.monotonic()
        p = subprocess.run(cmd, input=stdin if stdin is not None else b"",
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout,
                           env=env, preexec_fn=_umask022)
        r = Run(cmd, p, time.monotonic() - t0)
        self.history.append(r)
        assert r.rc in (0, 1, 2), "exit %d (negative = killed by a signal)" % r.rc
        assert not any(m in r.err for m in SANITIZER_MARKS), "sanitizer report"
        return r


def _bin(var, default):
    p = Path(os.environ.get(var, default))
    return p if p.is_file() and os.access(p, os.X_OK) else None


def _knows_outbreak(b):
    p = subprocess.run([str(b), "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=30)
    return b"outbreak keygen" in p.stdout


@pytest.fixture(params=["release", "asan"])
def ctl(request):
    if request.param == "release":
        b = _bin("PORTCULLIS_CTL", REPO / "build" / "portcullis-ctl")
        if b is None:
            pytest.fail("portcullis-ctl not found (build it or set PORTCULLIS_CTL)")
        c = Ctl(b, {})
    else:
        b = _bin("PORTCULLIS_CTL_ASAN", REPO / "build-asan" / "portcullis-ctl")
        if b is None or not _knows_outbreak(b):
            pytest.skip("no sanitizer build of portcullis-ctl with the outbreak commands")
        c = Ctl(b, ASAN_ENV)
    request.node._pc_runner = c  # conftest prints the runs of a failing test
    return c


class Setup:
    """A configuration under tmp_path: [outbreak] state_dir = tmp_path/state."""

    def __init__(self, root, extra=""):
        # Short names: the socket path must fit a sockaddr_un (108 bytes).
        self.state = root / "st"
        self.state.mkdir()
        self.conf = root / "p.conf"
        self.conf.write_text("[outbreak]\nstate_dir = %s\n%s" % (self.state, extra))
        self.sock = self.state / "control.sock"
        self.log = self.state / "transparency.log"


@pytest.fixture
def setup(tmp_path):
    return Setup(tmp_path)


# --- keygen -----------------------------------------------------------------

def raw_public(pem_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    k = serialization.load_pem_public_key(Path(pem_path).read_bytes())
    assert isinstance(k, Ed25519PublicKey)
    return k.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def raw_private_public(pem_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    k = serialization.load_pem_private_key(Path(pem_path).read_bytes(), password=None)
    assert isinstance(k, Ed25519PrivateKey)
    return k.public_key().public_bytes(serialization.Encoding.Raw,
                                       serialization.PublicFormat.Raw)


def mode(p):
    return stat.S_IMODE(os.lstat(p).st_mode)


def check_pair(r, key, pub):
    assert r.rc == 0, r.err
    hexkey = r.out.strip()
    assert len(hexkey) == 64 and all(ch in "0123456789abcdef" for ch in hexkey.lower())
    assert r.out == hexkey + "\n"
    assert mode(key) == 0o600
    assert mode(pub) == 0o644
    assert raw_public(pub).hex() == hexkey.lower()
    assert raw_private_public(key).hex() == hexkey.lower()
    return hexkey


def test_keygen_out_prefix(ctl, setup, tmp_path):
    prefix = tmp_path / "keys" / "gw1"
    prefix.parent.mkdir()
    r = ctl("-c", setup.conf, "outbreak", "keygen", "--out", prefix)
    check_pair(r, str(prefix) + ".key", str(prefix) + ".pub")
    assert sorted(os.listdir(prefix.parent)) == ["gw1.key", "gw1.pub"]
    assert os.listdir(setup.state) == []


def test_keygen_default_is_state_dir(ctl, setup):
    r = ctl("-c", setup.conf, "outbreak", "keygen")
    check_pair(r, setup.state / "gateway.key", setup.state / "gateway.pub")


def test_keygen_default_is_gateway_key(ctl, tmp_path):
    kdir = tmp_path / "k"
    kdir.mkdir()
    s = Setup(tmp_path, "gateway_key = %s\n" % (kdir / "edge.key"))
    r = ctl("-c", s.conf, "outbreak", "keygen")
    check_pair(r, kdir / "edge.key", kdir / "edge.pub")
    assert os.listdir(s.state) == []


def test_keygen_two_pairs_differ(ctl, setup, tmp_path):
    a = ctl("-c", setup.conf, "outbreak", "keygen", "--out", tmp_path / "a")
    b = ctl("-c", setup.conf, "outbreak", "keygen", "--out", tmp_path / "b")
    assert a.rc == 0 and b.rc == 0
    assert a.out != b.out


@pytest.mark.parametrize("existing", ["key", "pub", "both"])
def test_keygen_never_replaces(ctl, setup, tmp_path, existing):
    prefix = tmp_path / "gw"
    if existing == "both":
        r = ctl("-c", setup.conf, "outbreak", "keygen", "--out", prefix)
        assert r.rc == 0
    else:
        Path(str(prefix) + "." + existing).write_bytes(b"keep me\n")
    before = {n: Path(tmp_path, n).read_bytes()
              for n in os.listdir(tmp_path) if n.startswith("gw.")}
    r = ctl("-c", setup.conf, "outbreak", "keygen", "--out", prefix)
    assert r.rc == 2
    assert r.out == ""
    assert "exists" in r.err
    after = {n: Path(tmp_path, n).read_bytes()
             for n in os.listdir(tmp_path) if n.startswith("gw.")}
    assert after == before


def test_keygen_dangling_symlink_not_followed(ctl, setup, tmp_path):
    target = tmp_path / "elsewhere"
    os.symlink(target, str(tmp_path / "gw.key"))
    r = ctl("-c", setup.conf, "outbreak", "keygen", "--out", tmp_path / "gw")
    assert r.rc == 2
    assert not target.exists()
    assert not (tmp_path / "gw.pub").exists()


def test_keygen_missing_directory(ctl, setup, tmp_path):
    r = ctl("-c", setup.conf, "outbreak", "keygen", "--out", tmp_path / "nodir" / "gw")
    assert r.rc == 2
    assert r.out == ""
    assert not (tmp_path / "nodir").exists()


# --- no daemon --------------------------------------------------------------

ENVELOPE = json.dumps({"payload": base64.b64encode(b'{"type":"alert"}').decode(),
                       "signature": base64.b64encode(b"\0" * 64).decode()}).encode()


def test_submit_without_daemon(ctl, setup, tmp_path):
    doc = tmp_path / "doc.json"
    doc.write_bytes(ENVELOPE)
    r = ctl("-c", setup.conf, "outbreak", "submit", doc)
    assert r.rc == 2
    assert str(setup.sock) in r.err
    assert r.out == ""
    r = ctl("-c", setup.conf, "outbreak", "submit", "-", stdin=ENVELOPE)
    assert r.rc == 2
    assert str(setup.sock) in r.err


def test_submit_connection_refused(ctl, setup, tmp_path):
    """A socket file nobody listens on (a daemon gone after a crash)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(setup.sock))
    s.close()
    doc = tmp_path / "doc.json"
    doc.write_bytes(ENVELOPE)
    r = ctl("-c", setup.conf, "outbreak", "submit", doc)
    assert r.rc == 2
    assert str(setup.sock) in r.err


@pytest.mark.parametrize("args", [
    ("outbreak", "status"),
    ("outbreak", "list"),
    ("outbreak", "list", "--json"),
    ("outbreak", "show", "A-2026-0042"),
    ("outbreak", "release", "A-2026-0042"),
    ("outbreak", "lift", "A-2026-0042"),
    ("hold", "list"),
    ("hold", "show", "0123456789abcdef"),
    ("hold", "release", "0123456789abcdef"),
    ("hold", "delete", "0123456789abcdef"),
])
def test_socket_commands_without_daemon(ctl, setup, args):
    r = ctl("-c", setup.conf, *args)
    assert r.rc == 2
    assert str(setup.sock) in r.err
    assert r.out == ""


def test_submit_missing_file(ctl, setup, tmp_path):
    r = ctl("-c", setup.conf, "outbreak", "submit", tmp_path / "nope.json")
    assert r.rc == 2
    assert "nope.json" in r.err


def test_submit_larger_than_max_document(ctl, tmp_path):
    s = Setup(tmp_path, "max_document = 1K\n")
    doc = tmp_path / "big.json"
    doc.write_bytes(b"x" * 1025)
    r = ctl("-c", s.conf, "outbreak", "submit", doc)
    assert r.rc == 2
    assert "max_document" in r.err
    assert str(s.sock) not in r.err  # refused before the socket


BAD_ALERT_IDS = ["", "a" * 65, "a/b", "../status", "a b", "a?x=1", "a%2f", "a#b",
                 "\u00e9t\u00e9", "a\nb"]
BAD_HOLD_IDS = ["", "0123456789ABCDEF", "0123456789abcde", "0123456789abcdef0",
                "../../status", "0123456789abcdeg", "A-2026-0042"]


@pytest.mark.parametrize("sub", ["show", "release", "lift"])
def test_invalid_alert_ids_refused_locally(ctl, setup, sub):
    for bad in BAD_ALERT_IDS:
        r = ctl("-c", setup.conf, "outbreak", sub, bad)
        assert r.rc != 0
        assert "invalid alert ID" in r.err, bad
        assert str(setup.sock) not in r.err


@pytest.mark.parametrize("sub", ["show", "release", "delete"])
def test_invalid_hold_ids_refused_locally(ctl, setup, sub):
    for bad in BAD_HOLD_IDS:
        r = ctl("-c", setup.conf, "hold", sub, bad)
        assert r.rc != 0
        assert "invalid hold ID" in r.err, bad
        assert str(setup.sock) not in r.err


def test_invalid_ids_never_reach_the_socket(ctl, setup):
    """With a stub listening, a refused ID sends no request at all."""
    with Stub(setup.sock) as stub:
        for bad in ("a/b", "../status", "a b"):
            assert ctl("-c", setup.conf, "outbreak", "show", bad).rc != 0
        assert ctl("-c", setup.conf, "hold", "release", "../x").rc != 0
        assert stub.requests == []


@pytest.mark.parametrize("args", [
    ("outbreak",),
    ("outbreak", "frobnicate"),
    ("outbreak", "keygen", "extra"),
    ("outbreak", "submit"),
    ("outbreak", "show"),
    ("outbreak", "show", "a", "b"),
    ("outbreak", "log", "--json"),
    ("outbreak", "show", "A-1", "--verify"),
    ("outbreak", "status", "--out", "x"),
    ("hold",),
    ("hold", "purge"),
    ("hold", "show", "0123456789abcdef", "--json"),
])
def test_usage_errors(ctl, setup, args):
    r = ctl("-c", setup.conf, *args)
    assert r.rc == 2
    assert "usage:" in r.err


def test_usage_mentions_outbreak_and_hold(ctl):
    r = ctl("--help")
    assert r.rc == 0
    for s in ("outbreak keygen", "outbreak submit", "outbreak log", "hold list"):
        assert s in r.out


# --- transparency log -------------------------------------------------------

def tlog_line(n, prev, result="accepted", reason="", source="local", typ="alert",
              doc_id="A-1", seq=1, t=1765000000):
    env = b'{"payload":"e30=","signature":"AAAA"}'
    o = {"n": n, "time": t, "prev": prev, "result": result, "reason": reason,
         "source": source, "type": typ, "id": doc_id, "seq": seq,
         "digest": hashlib.sha256(env).hexdigest(),
         "envelope": base64.b64encode(env).decode()}
    return json.dumps(o, separators=(",", ":")).encode()


def write_tlog(path, entries, head=True):
    """entries: kwargs per line. Returns the lines (bytes, no newline)."""
    lines, prev = [], ZERO
    for i, kw in enumerate(entries, 1):
        ln = tlog_line(i, prev, **kw)
        lines.append(ln)
        prev = hashlib.sha256(ln).hexdigest()
    Path(path).write_bytes(b"".join(ln + b"\n" for ln in lines))
    if head:
        Path(str(path) + ".head").write_text("%d %s\n" % (len(lines), prev))
    return lines


ENTRIES = [
    dict(),
    dict(result="rejected", reason="replay: seq 1 is not above 1", source="push", seq=1),
    dict(typ="update", doc_id="U-2", seq=2, source="pull"),
    dict(result="rejected", reason="bad signature", typ="", doc_id="", seq=0),
]


@pytest.mark.parametrize("head", [True, False])
def test_log_verify_good_chain(ctl, setup, head):
    write_tlog(setup.log, ENTRIES, head=head)
    r = ctl("-c", setup.conf, "outbreak", "log", "--verify")
    assert r.rc == 0, r.out + r.err
    assert r.out == "ok: %d entries\n" % len(ENTRIES)


def test_log_verify_empty_log(ctl, setup):
    setup.log.write_bytes(b"")
    Path(str(setup.log) + ".head").write_text("0 %s\n" % ZERO)
    r = ctl("-c", setup.conf, "outbreak", "log", "--verify")
    assert r.rc == 0
    assert r.out == "ok: 0 entries\n"


def flip(path, offset):
    b = bytearray(Path(path).read_bytes())
    b[offset] ^= 0x01
    Path(path).write_bytes(bytes(b))


@pytest.mark.parametrize("line_no", [1, 2, 3, 4])
def test_log_verify_flipped_byte(ctl, setup, line_no):
    lines = write_tlog(setup.log, ENTRIES)
    start = sum(len(ln) + 1 for ln in lines[:line_no - 1])
    # A byte inside the "reason"/"source" value: the line still parses.
    ln = lines[line_no - 1]
    off = ln.index(b'"source":"') + len(b'"source":"')
    flip(setup.log, start + off)
    r = ctl("-c", setup.conf, "outbreak", "log", "--verify")
    assert r.rc == 1, r.out + r.err
    assert r.out.startswith("FAILED at line ")
    bad = int(r.out[len("FAILED at line "):].split(":", 1)[0])
    # The change shows at the next line's prev, or, for the last line, in
    # the head.
    assert bad == (line_no + 1 if line_no < len(lines) else line_no)
    assert r.out.count("\n") == 1


def test_log_verify_flipped_byte_breaks_json(ctl, setup):
    lines = write_tlog(setup.log, ENTRIES)
    flip(setup.log, len(lines[0]) + 1)  # the '{' of line 2
    r = ctl("-c", setup.conf, "outbreak", "log", "--verify")
    assert r.rc == 1
    assert r.out.startswith("FAILED at line 2: ")


def test_log_verify_missing_line(ctl, setup):
    lines = write_tlog(setup.log, ENTRIES)
    setup.log.write_bytes(b"".join(ln + b"\n" for ln in lines[:1] + lines[2:]))
    r = ctl("-c", setup.conf, "outbreak", "log", "--verify")
    assert r.rc == 1
    assert r.out.startswith("FAILED at line 2: ")


def test_log_verify_cut_last_line_shows_in_head(ctl, setup):
    lines = write_tlog(setup.log, ENTRIES)
    setup.log.write_bytes(b"".join(ln + b"\n" for ln in lines[:-1]))
    r = ctl("-c", setup.conf, "outbreak", "log", "--verify")
    assert r.rc == 1
    assert r.out.startswith("FAILED")


def test_log_verify_no_log(ctl, setup):
    r = ctl("-c", setup.conf, "outbreak", "log", "--verify")
    assert r.rc != 0
    assert str(setup.log) in r.out + r.err


def test_log_lines(ctl, setup):
    write_tlog(setup.log, ENTRIES)
    r = ctl("-c", setup.conf, "outbreak", "log")
    assert r.rc == 0, r.err
    assert r.out.splitlines() == [
        "1 2025-12-06T05:46:40Z accepted local alert A-1 1 -",
        "2 2025-12-06T05:46:40Z rejected push alert A-1 1 replay: seq 1 is not above 1",
        "3 2025-12-06T05:46:40Z accepted pull update U-2 2 -",
        "4 2025-12-06T05:46:40Z rejected local - - 0 bad signature",
    ]


def test_log_escapes_what_came_from_the_wire(ctl, setup):
    write_tlog(setup.log, [dict(result="rejected", reason="bad\x1b[31m \u00e9",
                                doc_id="x y", typ="")])
    r = ctl("-c", setup.conf, "outbreak", "log")
    assert r.rc == 0
    assert "\x1b" not in r.out
    assert r.out == ("1 2025-12-06T05:46:40Z rejected local - x\\x20y 1 "
                     "bad\\x1b[31m \\xc3\\xa9\n")


def test_log_missing(ctl, setup):
    r = ctl("-c", setup.conf, "outbreak", "log")
    assert r.rc == 2
    assert str(setup.log) in r.err


# --- a stub daemon on the control socket -----------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        stub = self.server.stub
        stub.requests.append((self.command, self.path, body))
        status, obj = stub.answers.get((self.command, self.path),
                                       (404, {"error": "no such thing"}))
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = _answer


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        req, _ = super().get_request()
        return req, ("local", 0)  # BaseHTTPRequestHandler wants an address pair


class Stub:
    def __init__(self, path):
        self.path, self.requests, self.answers = str(path), [], {}

    def __enter__(self):
        self.srv = _Server(self.path, _Handler)
        self.srv.stub = self
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()
        return self

    def __exit__(self, *a):
        self.srv.shutdown()
        self.srv.server_close()
        os.unlink(self.path)


def test_stub_submit_exit_statuses(ctl, setup, tmp_path):
    doc = tmp_path / "doc.json"
    doc.write_bytes(ENVELOPE)
    with Stub(setup.sock) as stub:
        stub.answers[("POST", "/submit")] = (200, {"accepted": True, "reason": "sealed",
                                                   "receipt": None})
        r = ctl("-c", setup.conf, "outbreak", "submit", doc)
        assert r.rc == 0, r.err
        assert json.loads(r.out) == {"accepted": True, "reason": "sealed", "receipt": None}
        assert stub.requests[-1] == ("POST", "/submit", ENVELOPE)

        stub.answers[("POST", "/submit")] = (403, {"accepted": False,
                                                   "reason": "replay: seq 4 <= 5",
                                                   "receipt": None})
        r = ctl("-c", setup.conf, "outbreak", "submit", "-", stdin=ENVELOPE)
        assert r.rc == 1
        assert json.loads(r.out)["accepted"] is False
        assert "replay" in r.err
        assert stub.requests[-1] == ("POST", "/submit", ENVELOPE)


def test_stub_unknown_and_wrong_state(ctl, setup):
    with Stub(setup.sock) as stub:
        stub.answers[("POST", "/alerts/A-1/lift")] = (409, {"error": "A-1 is released"})
        r = ctl("-c", setup.conf, "outbreak", "show", "A-9")
        assert r.rc == 1
        assert "no such thing" in r.err
        r = ctl("-c", setup.conf, "outbreak", "lift", "A-1")
        assert r.rc == 1
        assert "A-1 is released" in r.err
        r = ctl("-c", setup.conf, "hold", "delete", "0123456789abcdef")
        assert r.rc == 1
        assert [(m, p) for m, p, _ in stub.requests] == [
            ("GET", "/alerts/A-9"), ("POST", "/alerts/A-1/lift"),
            ("POST", "/hold/0123456789abcdef/delete")]


def test_stub_list_lines_and_json(ctl, setup):
    """`outbreak list`: the answer as it came with --json, else one line
    per alert. The scope as docs/outbreak.md shows it (an object) and as
    flat direction/protocols members with space-separated lists."""
    alerts = [{"id": "A-1", "state": "active", "mode": "hold",
               "scope": {"direction": "inbound", "protocols": ["smtp", "ftp"]},
               "viruses": ["Win.Worm.Example-1"], "issued": 1765000000},
              {"id": "A-2", "state": "releasing", "mode": "hash", "direction": "both",
               "protocols": "smtp ftp", "viruses": "X.One X.Two", "sha256": "",
               "issued": 1765003600, "expires": 1765090000}]
    with Stub(setup.sock) as stub:
        stub.answers[("GET", "/alerts")] = (200, alerts)
        stub.answers[("GET", "/alerts/A-2")] = (200, alerts[1])
        stub.answers[("POST", "/alerts/A-2/release")] = (200, {"result": "A-2: releasing 3"})
        r = ctl("-c", setup.conf, "outbreak", "list", "--json")
        assert r.rc == 0
        assert json.loads(r.out) == alerts
        r = ctl("-c", setup.conf, "outbreak", "list")
        assert r.rc == 0
        assert r.out == ("A-1 active hold inbound:smtp,ftp Win.Worm.Example-1 "
                         "2025-12-06T05:46:40Z\n"
                         "A-2 releasing hash both:smtp,ftp X.One,X.Two "
                         "2025-12-06T06:46:40Z\n")
        r = ctl("-c", setup.conf, "outbreak", "show", "A-2")
        assert r.rc == 0
        assert "state: releasing\n" in r.out
        assert "expires: 2025-12-07T06:46:40Z\n" in r.out
        assert "sha256: -\n" in r.out
        r = ctl("-c", setup.conf, "outbreak", "release", "A-2")
        assert r.rc == 0
        assert r.out == "A-2: releasing 3\n"


def test_stub_hold_list(ctl, setup):
    held = [{"id": "0123456789abcdef", "time": 1765000100, "alert": "A-1",
             "mail_from": "<a@b.example>", "rcpts": ["<c@d.example>", "e@f.example"],
             "size": 1234, "released_at": 0},
            {"id": "fedcba9876543210", "time": 1765000200, "alert": "A-1",
             "mail_from": "", "rcpts": ["<c@d.example>"], "size": 99,
             "released_at": 1765003600}]
    with Stub(setup.sock) as stub:
        stub.answers[("GET", "/hold")] = (200, held)
        r = ctl("-c", setup.conf, "hold", "list")
        assert r.rc == 0
        assert r.out == (
            "0123456789abcdef 2025-12-06T05:48:20Z A-1 <a@b.example> "
            "<c@d.example>,<e@f.example> 1234 -\n"
            "fedcba9876543210 2025-12-06T05:50:00Z A-1 <> <c@d.example> 99 "
            "2025-12-06T06:46:40Z\n")
        r = ctl("-c", setup.conf, "hold", "list", "--json")
        assert r.rc == 0
        assert json.loads(r.out) == held
