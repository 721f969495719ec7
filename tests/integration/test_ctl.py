"""portcullis-ctl quarantine list|show|release|delete|purge.

The quarantine is built the way portcullisd builds it (same schema, files
at DIR/YYYY/MM/DD/ID.eml, UTC date of `time`) with Python's sqlite3, then
every subcommand is run against it. Releases go to an SMTP sink on
127.0.0.1 that records the envelope and the unstuffed data, or into a
Maildir. FTP items (protocol 'ftp', user, file_name; seeded the same way,
since the FTP proxy does not store any yet) are released into a directory
under ID-NAME with NAME made safe from the stored file name. An index with
the first schema (no protocol, user, file_name) is upgraded on open. IDs
that are not 16 hex digits must be refused with exit 2 before anything is
opened: the directory tree is compared byte for byte.

Binary: $PORTCULLIS_CTL, else <repo>/build/portcullis-ctl; the sanitizer
variant $PORTCULLIS_CTL_ASAN, else <repo>/build-asan/portcullis-ctl, when
it exists.
"""

import hashlib
import json
import os
import re
import secrets
import socketserver
import sqlite3
import subprocess
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAY = 86400

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
 id TEXT PRIMARY KEY, time INTEGER, direction TEXT, listener TEXT,
 next_hop TEXT, client_addr TEXT, helo TEXT, mail_from TEXT,
 rcpts TEXT, virus_names TEXT, status TEXT, size INTEGER, action TEXT,
 path TEXT, released_at INTEGER, released_reply TEXT,
 protocol TEXT, user TEXT, file_name TEXT);
CREATE INDEX IF NOT EXISTS messages_time ON messages(time);
"""
# The first version's schema, before FTP items.
OLD_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
 id TEXT PRIMARY KEY, time INTEGER, direction TEXT, listener TEXT,
 next_hop TEXT, client_addr TEXT, helo TEXT, mail_from TEXT,
 rcpts TEXT, virus_names TEXT, status TEXT, size INTEGER, action TEXT,
 path TEXT, released_at INTEGER, released_reply TEXT);
CREATE INDEX IF NOT EXISTS messages_time ON messages(time);
"""

ASAN_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=99",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:")

MESSAGE = (b"From: sender@example.net\r\n"
           b"To: rcpt@example.org\r\n"
           b"Subject: quarantined\r\n"
           b"\r\n"
           b".a line starting with a dot\r\n"
           b"..two dots\r\n"
           b".\r\n"
           b"8-bit \xe9 and the end\r\n")


def iso(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Quarantine:
    """A quarantine directory filled the way the daemon fills it."""

    def __init__(self, root):
        self.dir = Path(root)
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.db = self.dir / "index.sqlite"

    def connect(self):
        c = sqlite3.connect(str(self.db))
        c.executescript(SCHEMA)
        return c

    def add(self, data=MESSAGE, t=None, mail_from="sender@example.net",
            rcpts=("rcpt@example.org",), next_hop=None, listener="smtp",
            virus="Eicar-Test-Signature", direction="inbound", action="quarantine",
            status="infected", qid=None, protocol=None, user=None, file_name=None):
        t = int(time.time()) if t is None else int(t)
        qid = qid or secrets.token_hex(8)
        d = datetime.fromtimestamp(t, timezone.utc)
        rel = "%04d/%02d/%02d/%s.eml" % (d.year, d.month, d.day, qid)
        p = self.dir / rel
        p.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        p.write_bytes(data)
        with self.connect() as c:
            c.execute("INSERT INTO messages (id, time, direction, listener, next_hop,"
                      " client_addr, helo, mail_from, rcpts, virus_names, status, size,"
                      " action, path) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                      (qid, t, direction, listener, next_hop, "[192.0.2.7]:40000",
                       "client.example", mail_from, json.dumps(list(rcpts)), virus,
                       status, len(data), action, rel))
            if protocol is not None or user is not None or file_name is not None:
                c.execute("UPDATE messages SET protocol = ?, user = ?, file_name = ?"
                          " WHERE id = ?", (protocol, user, file_name, qid))
        c.close()
        return qid

    def path(self, qid):
        with self.connect() as c:
            (t,) = c.execute("SELECT time FROM messages WHERE id = ?", (qid,)).fetchone()
        c.close()
        d = datetime.fromtimestamp(t, timezone.utc)
        return self.dir / ("%04d/%02d/%02d/%s.eml" % (d.year, d.month, d.day, qid))

    def row(self, qid):
        c = self.connect()
        c.row_factory = sqlite3.Row
        r = c.execute("SELECT * FROM messages WHERE id = ?", (qid,)).fetchone()
        c.close()
        return dict(r) if r else None

    def ids(self):
        c = self.connect()
        v = [r[0] for r in c.execute("SELECT id FROM messages ORDER BY time, rowid")]
        c.close()
        return v


class Sink(socketserver.ThreadingTCPServer):
    """An SMTP server on 127.0.0.1 that records each transaction."""
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), SinkHandler)
        self.transactions = []
        self.final_reply = b"250 2.0.0 queued as SINK1"
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.server_address[1]

    def stop(self):
        self.shutdown()
        self.server_close()
        self.thread.join(10)


class SinkHandler(socketserver.StreamRequestHandler):
    def handle(self):
        self.request.settimeout(10)
        srv = self.server
        tx = {"mail_from": None, "rcpts": [], "data": None, "commands": []}

        def say(b):
            self.wfile.write(b + b"\r\n")
            self.wfile.flush()

        say(b"220 sink ESMTP")
        while True:
            line = self.rfile.readline(4096)
            if not line:
                return
            cmd = line.rstrip(b"\r\n")
            tx["commands"].append(cmd)
            verb = cmd[:4].upper()
            if verb == b"EHLO":
                say(b"250-sink\r\n250-8BITMIME\r\n250 SIZE 10000000")
            elif verb == b"MAIL":
                m = re.match(rb"MAIL FROM:<([^>]*)>", cmd, re.I)
                tx["mail_from"] = m.group(1).decode()
                say(b"250 2.1.0 ok")
            elif verb == b"RCPT":
                m = re.match(rb"RCPT TO:<([^>]*)>", cmd, re.I)
                addr = m.group(1).decode()
                if "refuse" in addr:
                    say(b"550 5.1.1 no such user")
                else:
                    tx["rcpts"].append(addr)
                    say(b"250 2.1.5 ok")
            elif verb == b"DATA":
                say(b"354 go ahead")
                lines = []
                while True:
                    dl = self.rfile.readline(1 << 20)
                    if not dl or dl == b".\r\n":
                        break
                    lines.append(dl[1:] if dl.startswith(b".") else dl)
                tx["data"] = b"".join(lines)
                with srv.lock:
                    srv.transactions.append(dict(tx))
                say(srv.final_reply)
            elif verb == b"QUIT":
                say(b"221 bye")
                return
            else:
                say(b"502 5.5.1 not here")


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


class Ctl:
    def __init__(self, binary, env):
        self.binary, self.env, self.history = binary, env, []

    def __call__(self, *args, timeout=30):
        cmd = [str(self.binary)] + [str(a) for a in args]
        env = dict(os.environ)
        env.update(self.env)
        t0 = time.monotonic()
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout, env=env)
        r = Run(cmd, p, time.monotonic() - t0)
        self.history.append(r)
        assert r.rc in (0, 1, 2), "exit %d (negative = killed by a signal)" % r.rc
        assert not any(m in r.err for m in SANITIZER_MARKS), "sanitizer report"
        return r


def _bin(var, default):
    p = Path(os.environ.get(var, default))
    return p if p.is_file() and os.access(p, os.X_OK) else None


@pytest.fixture(params=["release", "asan"])
def ctl(request):
    if request.param == "release":
        b = _bin("PORTCULLIS_CTL", REPO / "build" / "portcullis-ctl")
        if b is None:
            pytest.fail("portcullis-ctl not found (build it or set PORTCULLIS_CTL)")
        c = Ctl(b, {})
    else:
        b = _bin("PORTCULLIS_CTL_ASAN", REPO / "build-asan" / "portcullis-ctl")
        if b is None:
            pytest.skip("no sanitizer build of portcullis-ctl")
        c = Ctl(b, ASAN_ENV)
    request.node._pc_runner = c  # conftest prints the runs of a failing test
    return c


@pytest.fixture
def q(tmp_path):
    return Quarantine(tmp_path / "quarantine")


@pytest.fixture
def sink():
    s = Sink()
    yield s
    s.stop()


def snapshot(root):
    """Every path under root with its type, mode, size and content hash."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            st = p.lstat()
            h = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
            out[str(p)] = (st.st_mode, st.st_size, st.st_mtime_ns, h)
    return out


# --- list -------------------------------------------------------------------

def test_list_lines_and_json(ctl, q):
    now = int(time.time())
    a = q.add(t=now - 3 * DAY, rcpts=("a@example.org", "b@example.org"))
    b = q.add(t=now - 2 * DAY, mail_from="", virus="Win.Test.X Other.Y", direction="outbound")
    c = q.add(t=now - DAY, data=b"x" * 1234, action="quarantine", status="encrypted",
              virus=None)
    r = ctl("--dir", q.dir, "quarantine", "list")
    assert r.rc == 0
    lines = r.out.splitlines()
    assert lines == [
        "%s %s inbound <sender@example.net> <a@example.org>,<b@example.org> "
        "Eicar-Test-Signature %d quarantine -" % (a, iso(now - 3 * DAY), len(MESSAGE)),
        "%s %s outbound <> <rcpt@example.org> Win.Test.X,Other.Y %d quarantine -"
        % (b, iso(now - 2 * DAY), len(MESSAGE)),
        "%s %s inbound <sender@example.net> <rcpt@example.org> - 1234 quarantine -"
        % (c, iso(now - DAY)),
    ]

    r = ctl("--dir", q.dir, "quarantine", "list", "--json")
    assert r.rc == 0
    v = json.loads(r.out)
    assert [m["id"] for m in v] == [a, b, c]
    assert v[0]["rcpts"] == ["a@example.org", "b@example.org"]
    assert v[0]["time"] == iso(now - 3 * DAY) and v[0]["time_unix"] == now - 3 * DAY
    assert v[0]["size"] == len(MESSAGE) and v[0]["released_at"] is None
    assert v[1]["mail_from"] == "" and v[1]["virus_names"] == "Win.Test.X Other.Y"
    assert v[2]["virus_names"] is None and v[2]["status"] == "encrypted"
    assert v[0]["client_addr"] == "[192.0.2.7]:40000" and v[0]["helo"] == "client.example"


def test_list_empty_and_escaping(ctl, q):
    r = ctl("--dir", q.dir, "quarantine", "list")
    assert r.rc == 0 and r.out == ""
    assert json.loads(ctl("--dir", q.dir, "quarantine", "list", "--json").out) == []

    # Terminal escapes from the wire never reach the terminal raw.
    qid = q.add(mail_from="evil\x1b[2J@example.net", rcpts=("j\u00fcrgen@example.org",))
    r = ctl("--dir", q.dir, "quarantine", "list")
    assert r.rc == 0
    assert b"\x1b" not in r.stdout
    assert "<evil\\x1b[2J@example.net>" in r.out
    assert "<j\\xc3\\xbcrgen@example.org>" in r.out
    v = json.loads(ctl("--dir", q.dir, "quarantine", "list", "--json").out)
    assert v[0]["id"] == qid and v[0]["mail_from"] == "evil\x1b[2J@example.net"
    assert v[0]["rcpts"] == ["j\u00fcrgen@example.org"]


# --- show -------------------------------------------------------------------

def test_show_record_headers_and_raw(ctl, q):
    t = int(time.time()) - 100
    qid = q.add(t=t)
    # The path column is informational: the file is found by ID and time.
    with q.connect() as c:
        c.execute("UPDATE messages SET path = '../../etc/passwd'")
    c.close()
    r = ctl("--dir", q.dir, "quarantine", "show", qid)
    assert r.rc == 0
    head, _, rest = r.out.partition("\n\n")
    fields = dict(line.split(": ", 1) for line in head.splitlines())
    assert fields["id"] == qid
    assert fields["time"] == iso(t)
    assert fields["mail_from"] == "<sender@example.net>"
    assert fields["rcpts"] == "<rcpt@example.org>"
    assert fields["virus_names"] == "Eicar-Test-Signature"
    assert fields["size"] == str(len(MESSAGE))
    assert fields["released_at"] == "-"
    assert fields["path"] == str(q.path(qid))
    # The header block only, not the body.
    assert rest.splitlines() == ["From: sender@example.net", "To: rcpt@example.org",
                                 "Subject: quarantined"]

    r = ctl("--dir", q.dir, "quarantine", "show", qid, "--raw")
    assert r.rc == 0 and r.stdout == MESSAGE


def test_show_missing_file_and_unknown(ctl, q):
    qid = q.add()
    q.path(qid).unlink()
    r = ctl("--dir", q.dir, "quarantine", "show", qid)
    assert r.rc == 2
    assert ("id: %s" % qid) in r.out
    r = ctl("--dir", q.dir, "quarantine", "show", "0123456789abcdef")
    assert r.rc == 1 and "no such message" in r.err


# --- release ----------------------------------------------------------------

def test_release_to_stored_next_hop(ctl, q, sink):
    qid = q.add(next_hop="smtp:" + sink.addr, rcpts=("a@example.org", "b@example.org"))
    before = int(time.time())
    r = ctl("--dir", q.dir, "quarantine", "release", qid)
    assert r.rc == 0, r.err
    assert r.out.strip() == "250 2.0.0 queued as SINK1"
    assert len(sink.transactions) == 1
    tx = sink.transactions[0]
    assert tx["mail_from"] == "sender@example.net"
    assert tx["rcpts"] == ["a@example.org", "b@example.org"]
    assert tx["data"] == MESSAGE
    assert any(c.endswith(b"BODY=8BITMIME") for c in tx["commands"])
    row = q.row(qid)
    assert before <= row["released_at"] <= int(time.time()) + 1
    assert row["released_reply"] == "250 2.0.0 queued as SINK1"
    assert q.path(qid).read_bytes() == MESSAGE  # released, still kept

    r = ctl("--dir", q.dir, "quarantine", "list")
    assert r.out.split()[-1] == iso(row["released_at"])
    r = ctl("--dir", q.dir, "quarantine", "show", qid)
    assert "released_reply: 250 2.0.0 queued as SINK1" in r.out


def test_release_next_hop_option_and_to(ctl, q, sink):
    # The stored next hop is dead: --next-hop wins.
    qid = q.add(next_hop="smtp:127.0.0.1:1", mail_from="")
    r = ctl("--dir", q.dir, "--next-hop", "smtp:" + sink.addr, "quarantine", "release", qid,
            "--to", "admin@example.org", "--to", "<second@example.org>")
    assert r.rc == 0, r.err
    tx = sink.transactions[0]
    assert tx["mail_from"] == ""
    assert tx["rcpts"] == ["admin@example.org", "second@example.org"]
    assert tx["data"] == MESSAGE


def test_release_refused(ctl, q, sink):
    sink.final_reply = b"554 5.7.1 still not wanted"
    qid = q.add(next_hop="smtp:" + sink.addr)
    r = ctl("--dir", q.dir, "quarantine", "release", qid)
    assert r.rc == 2
    assert "refused" in r.err and "554 5.7.1 still not wanted" in r.err
    assert q.row(qid)["released_at"] is None

    qid = q.add(next_hop="smtp:" + sink.addr, rcpts=("refuse-me@example.org",))
    r = ctl("--dir", q.dir, "quarantine", "release", qid)
    assert r.rc == 2 and "550 5.1.1" in r.err
    assert q.row(qid)["released_at"] is None


def test_release_dead_next_hop(ctl, q):
    qid = q.add(next_hop="smtp:127.0.0.1:1")
    r = ctl("--dir", q.dir, "quarantine", "release", qid)
    assert r.rc == 2 and "connect" in r.err
    assert q.row(qid)["released_at"] is None
    qid = q.add(next_hop="ftp:somewhere")
    r = ctl("--dir", q.dir, "quarantine", "release", qid)
    assert r.rc == 2 and "neither" in r.err


def test_release_to_maildir(ctl, q, tmp_path):
    md = tmp_path / "Maildir"
    qid = q.add(next_hop="maildir:%s" % md)
    r = ctl("--dir", q.dir, "quarantine", "release", qid)
    assert r.rc == 0, r.err
    files = list((md / "new").iterdir())
    assert len(files) == 1 and files[0].read_bytes() == MESSAGE
    assert list((md / "tmp").iterdir()) == []
    assert r.out.strip() == "delivered to maildir:%s/new/%s" % (md, files[0].name)
    assert q.row(qid)["released_reply"] == r.out.strip()


def test_release_unknown_id(ctl, q, sink):
    q.add()
    r = ctl("--dir", q.dir, "--next-hop", "smtp:" + sink.addr, "quarantine", "release",
            "00000000deadbeef")
    assert r.rc == 1
    assert sink.transactions == []


# --- delete and purge -------------------------------------------------------

def test_delete(ctl, q):
    keep = q.add()
    qid = q.add()
    p = q.path(qid)
    r = ctl("--dir", q.dir, "quarantine", "delete", qid)
    assert r.rc == 0 and r.out.strip() == "deleted %s" % qid
    assert not p.exists()
    assert q.ids() == [keep]
    assert q.path(keep).exists()
    assert ctl("--dir", q.dir, "quarantine", "delete", qid).rc == 1


def test_purge_by_age(ctl, q):
    now = int(time.time())
    old = [q.add(t=now - 40 * DAY), q.add(t=now - 31 * DAY)]
    paths = [q.path(i) for i in old]
    young = q.add(t=now - DAY)
    r = ctl("--dir", q.dir, "quarantine", "purge", "--older-than", "30d", "--max-size", "0")
    assert r.rc == 0
    assert r.out.strip() == "purged 2 messages, %d bytes" % (2 * len(MESSAGE))
    assert q.ids() == [young]
    assert not any(p.exists() for p in paths)
    r = ctl("--dir", q.dir, "quarantine", "purge", "--older-than", "12h", "--max-size", "0")
    assert r.rc == 0 and q.ids() == []


def test_purge_by_size(ctl, q):
    now = int(time.time())
    ids = [q.add(t=now - 100 + i, data=b"y" * 1000) for i in range(4)]
    r = ctl("--dir", q.dir, "quarantine", "purge", "--older-than", "0", "--max-size", "2k")
    assert r.rc == 0
    assert r.out.strip() == "purged 2 messages, 2000 bytes"
    assert q.ids() == ids[2:]


def test_config_file(ctl, q, sink, tmp_path):
    """-c: quarantine.dir, max_age and the listener's next hop come from it."""
    now = int(time.time())
    conf = tmp_path / "portcullis.conf"
    conf.write_text("[quarantine]\ndir = %s\nmax_age = 7d\nmax_size = 1G\n\n"
                    "[smtp]\nnext_hop = smtp:%s\n" % (q.dir, sink.addr))
    old = q.add(t=now - 8 * DAY)
    qid = q.add(t=now - DAY, next_hop=None, listener="smtp")
    r = ctl("-c", conf, "quarantine", "list")
    assert r.rc == 0 and len(r.out.splitlines()) == 2
    r = ctl("-c", conf, "quarantine", "release", qid)
    assert r.rc == 0, r.err
    assert sink.transactions[0]["data"] == MESSAGE
    r = ctl("-c", conf, "quarantine", "purge")
    assert r.rc == 0 and r.out.startswith("purged 1 messages")
    assert q.ids() == [qid] and old not in q.ids()

    bad = tmp_path / "bad.conf"
    bad.write_text("[quarantine]\nnonsense = 1\n")
    r = ctl("-c", bad, "quarantine", "list")
    assert r.rc == 2 and "bad.conf:2" in r.err


# --- hostile input ----------------------------------------------------------

BAD_IDS = ["../../etc/passwd", "..%2f..%2f..%2fetc%2fpasswd", "0123456789abcdef0",
           "0123456789abcde", "0123456789ABCDEF", "0123456789abcde/", "/etc/passwd",
           "012345678\n9abcdef", "", "-", "2024/05/01/0123"]


@pytest.mark.parametrize("sub", ["show", "release", "delete"])
def test_bad_ids_touch_nothing(ctl, q, tmp_path, sub):
    qid = q.add()
    (tmp_path / "victim.eml").write_bytes(b"do not touch")
    before = snapshot(tmp_path)
    for bad in BAD_IDS:
        r = ctl("--dir", q.dir, "--next-hop", "smtp:127.0.0.1:1", "quarantine", sub, "--", bad)
        assert r.rc == 2, bad
        assert "invalid ID" in r.err or "usage" in r.err, bad
    assert snapshot(tmp_path) == before
    # A quarantine with no index yet stays without one.
    empty = tmp_path / "empty"
    empty.mkdir()
    r = ctl("--dir", empty, "quarantine", sub, "../" + qid)
    assert r.rc == 2 and list(empty.iterdir()) == []


def test_usage_errors(ctl, q, tmp_path):
    q.add()
    cases = [
        [],
        ["quarantine"],
        ["quarantine", "frobnicate"],
        ["queue", "list"],
        ["quarantine", "list", "extra"],
        ["quarantine", "show"],
        ["quarantine", "list", "--raw"],
        ["quarantine", "delete", "0123456789abcdef", "--to", "x@y"],
        ["quarantine", "list", "--dir", str(tmp_path)],
        ["quarantine", "show", "0123456789abcdef", "--dir", str(tmp_path)],
        ["quarantine", "release", "0123456789abcdef", "--dir"],
        ["quarantine", "purge", "--older-than", "soon"],
        ["quarantine", "purge", "--max-size", "big"],
        ["--timeout", "never", "quarantine", "list"],
    ]
    for args in cases:
        r = ctl("--dir", q.dir, *args)
        assert r.rc == 2, args
    r = ctl("--dir", tmp_path / "nope", "quarantine", "list")
    assert r.rc == 2 and "no quarantine directory" in r.err
    assert not (tmp_path / "nope").exists()
    assert ctl("--help").rc == 0


# --- FTP items --------------------------------------------------------------

FTP_FILE = b"MZ\x90\x00\x03\x00\x00\x00\r\n\r\nnot a header\x00\xff binary tail\n"
EVIL_NAME = "../../etc/evil name.exe"


def add_ftp(q, **kw):
    """An FTP item as the FTP proxy will store it: no envelope, a login name
    and the client's file name; the server is the next hop."""
    args = dict(data=FTP_FILE, mail_from=None, rcpts=(), next_hop="192.0.2.21:21",
                listener="ftp", protocol="ftp", user="alice", file_name=EVIL_NAME)
    args.update(kw)
    return q.add(**args)


def test_ftp_list_and_json(ctl, q):
    now = int(time.time())
    smtp = q.add(t=now - 2 * DAY)
    ftp = add_ftp(q, t=now - DAY)
    r = ctl("--dir", q.dir, "quarantine", "list")
    assert r.rc == 0
    # The SMTP line is as before; an FTP line has ftp:USER and the file
    # name (spaces escaped) where the envelope would be: nine columns.
    assert r.out.splitlines() == [
        "%s %s inbound <sender@example.net> <rcpt@example.org> Eicar-Test-Signature %d "
        "quarantine -" % (smtp, iso(now - 2 * DAY), len(MESSAGE)),
        "%s %s inbound ftp:alice ../../etc/evil\\x20name.exe Eicar-Test-Signature %d "
        "quarantine -" % (ftp, iso(now - DAY), len(FTP_FILE)),
    ]
    assert all(len(line.split()) == 9 for line in r.out.splitlines())

    v = json.loads(ctl("--dir", q.dir, "quarantine", "list", "--json").out)
    assert [m["id"] for m in v] == [smtp, ftp]
    # A row without protocol (from before FTP) is SMTP.
    assert v[0]["protocol"] == "smtp" and v[0]["user"] is None and v[0]["file_name"] is None
    assert v[1]["protocol"] == "ftp" and v[1]["user"] == "alice"
    assert v[1]["file_name"] == EVIL_NAME
    assert v[1]["next_hop"] == "192.0.2.21:21" and v[1]["size"] == len(FTP_FILE)
    assert v[1]["mail_from"] is None and v[1]["rcpts"] == []
    # Every key of before is still there.
    for k in ("id", "time", "time_unix", "direction", "listener", "next_hop", "client_addr",
              "helo", "mail_from", "rcpts", "virus_names", "status", "size", "action",
              "released_at", "released_reply"):
        assert k in v[1] and k in v[0], k


def test_ftp_show(ctl, q):
    t = int(time.time()) - 50
    qid = add_ftp(q, t=t, user="bob\x1b[2J")
    r = ctl("--dir", q.dir, "quarantine", "show", qid)
    assert r.rc == 0, r.err
    assert b"\x1b" not in r.stdout
    fields = dict(line.split(": ", 1) for line in r.out.splitlines())
    assert fields["id"] == qid and fields["time"] == iso(t)
    assert fields["protocol"] == "ftp"
    assert fields["user"] == "bob\\x1b[2J"
    assert fields["file_name"] == EVIL_NAME
    assert fields["next_hop"] == "192.0.2.21:21"
    assert fields["size"] == str(len(FTP_FILE))
    # A file has no header block: the record is all.
    assert "\n\n" not in r.out
    r = ctl("--dir", q.dir, "quarantine", "show", qid, "--raw")
    assert r.rc == 0 and r.stdout == FTP_FILE

    smtp = q.add()
    fields = dict(line.split(": ", 1)
                  for line in ctl("--dir", q.dir, "quarantine", "show", smtp)
                  .out.partition("\n\n")[0].splitlines())
    assert fields["protocol"] == "smtp" and fields["user"] == "-"
    assert fields["file_name"] == "-"


def test_ftp_release_to_dir(ctl, q, tmp_path):
    qid = add_ftp(q)
    out = tmp_path / "out"
    out.mkdir()
    before = snapshot(tmp_path)
    t0 = int(time.time())
    r = ctl("--dir", q.dir, "quarantine", "release", qid, "--dir", str(out) + "/")
    assert r.rc == 0, r.err
    want = out / ("%s-evil_name.exe" % qid)
    assert r.out == "written to %s\n" % want
    # Only the one new file, inside DIR; nothing outside it.
    assert sorted(os.listdir(out)) == [want.name]
    assert want.read_bytes() == FTP_FILE
    st = want.lstat()
    assert st.st_mode & 0o7777 & ~0o640 == 0 and st.st_mode & 0o600 == 0o600
    after = snapshot(tmp_path)
    new = set(after) - set(before)
    assert all(p.startswith(str(q.dir)) or p == str(want) for p in new), new
    assert not (tmp_path / "etc").exists()
    row = q.row(qid)
    assert row["released_reply"] == "written to %s" % want
    assert t0 <= row["released_at"] <= int(time.time()) + 1
    assert q.path(qid).read_bytes() == FTP_FILE  # released, still kept
    v = json.loads(ctl("--dir", q.dir, "quarantine", "list", "--json").out)
    assert v[0]["released_reply"] == "written to %s" % want and v[0]["released_at"]

    # Again into the same directory: O_EXCL, the first copy and the first
    # release mark stay; into another directory it works again.
    want.write_bytes(b"changed by the admin")
    r = ctl("--dir", q.dir, "quarantine", "release", qid, "--dir", out)
    assert r.rc == 2 and "File exists" in r.err and r.out == ""
    assert want.read_bytes() == b"changed by the admin"
    assert q.row(qid)["released_reply"] == row["released_reply"]
    assert q.row(qid)["released_at"] == row["released_at"]
    out2 = tmp_path / "out2"
    out2.mkdir()
    r = ctl("--dir", q.dir, "quarantine", "release", qid, "--dir", out2)
    assert r.rc == 0, r.err
    assert (out2 / want.name).read_bytes() == FTP_FILE


@pytest.mark.parametrize("file_name,name", [
    (EVIL_NAME, "evil_name.exe"),
    ("/etc/passwd", "passwd"),
    ("..", "__"),
    (".", "_"),
    ("", "file"),
    (None, "file"),
    ("dir/", "file"),
    ("dir/..", "__"),
    (".hidden", "_hidden"),
    ("...x..y", "___x..y"),
    ("-rf", "-rf"),
    ("j\u00fcrgen.txt", "j__rgen.txt"),
    ("C:\\Users\\x.exe", "C__Users_x.exe"),
    ("evil\x1b[2J\nname\x7f", "evil__2J_name_"),
    ("a" * 300 + ".exe", "a" * 100),
])
def test_ftp_release_names(ctl, q, tmp_path, file_name, name):
    qid = add_ftp(q, file_name=file_name)
    out = tmp_path / "out"
    out.mkdir()
    r = ctl("--dir", q.dir, "quarantine", "release", qid, "--dir", out)
    assert r.rc == 0, r.err
    assert os.listdir(out) == ["%s-%s" % (qid, name)]
    assert (out / ("%s-%s" % (qid, name))).read_bytes() == FTP_FILE
    assert r.out == "written to %s/%s-%s\n" % (out, qid, name)


def test_ftp_release_refused(ctl, q, sink, tmp_path):
    qid = add_ftp(q)
    out = tmp_path / "out"
    out.mkdir()

    # No --dir: an FTP file has no next hop to go to.
    r = ctl("--dir", q.dir, "quarantine", "release", qid)
    assert r.rc == 2 and "--dir" in r.err and "FTP" in r.err
    # --to and --next-hop are for messages.
    r = ctl("--dir", q.dir, "quarantine", "release", qid, "--dir", out, "--to", "a@b.example")
    assert r.rc == 2 and "--to" in r.err
    r = ctl("--dir", q.dir, "--next-hop", "smtp:" + sink.addr, "quarantine", "release", qid,
            "--dir", out)
    assert r.rc == 2 and "--next-hop" in r.err
    # DIR must exist and be a directory; it is never created.
    r = ctl("--dir", q.dir, "quarantine", "release", qid, "--dir", tmp_path / "nope")
    assert r.rc == 2 and "No such file" in r.err
    assert not (tmp_path / "nope").exists()
    (tmp_path / "plain").write_bytes(b"x")
    r = ctl("--dir", q.dir, "quarantine", "release", qid, "--dir", tmp_path / "plain")
    assert r.rc == 2 and "not a directory" in r.err
    assert (tmp_path / "plain").read_bytes() == b"x"
    # A symlink planted at the name is not followed nor replaced.
    victim = tmp_path / "victim"
    victim.write_bytes(b"do not touch")
    (out / ("%s-evil_name.exe" % qid)).symlink_to(victim)
    r = ctl("--dir", q.dir, "quarantine", "release", qid, "--dir", out)
    assert r.rc == 2
    assert victim.read_bytes() == b"do not touch"
    assert (out / ("%s-evil_name.exe" % qid)).is_symlink()
    os.unlink(out / ("%s-evil_name.exe" % qid))
    # The stored file is gone: nothing is written.
    q.path(qid).unlink()
    r = ctl("--dir", q.dir, "quarantine", "release", qid, "--dir", out)
    assert r.rc == 2 and os.listdir(out) == []
    assert q.row(qid)["released_at"] is None

    # --dir on an SMTP message is an error too, and sends nothing.
    smtp = q.add(next_hop="smtp:" + sink.addr)
    r = ctl("--dir", q.dir, "quarantine", "release", smtp, "--dir", out)
    assert r.rc == 2 and "--dir" in r.err and "SMTP" in r.err
    assert sink.transactions == [] and os.listdir(out) == []
    assert q.row(smtp)["released_at"] is None
    # An unknown protocol is not guessed at.
    other = q.add(next_hop="smtp:" + sink.addr, protocol="gopher")
    r = ctl("--dir", q.dir, "quarantine", "release", other)
    assert r.rc == 2 and "gopher" in r.err and sink.transactions == []


def test_old_schema_upgraded(ctl, q, tmp_path):
    """An index from before FTP items: listed as SMTP, upgraded in place,
    and its rows can become (and be released as) FTP items."""
    c = sqlite3.connect(str(q.db))
    c.executescript(OLD_SCHEMA)
    c.close()
    # q.add's INSERT names only the old columns.
    c = sqlite3.connect(str(q.db))
    assert "protocol" not in [r[1] for r in c.execute("PRAGMA table_info(messages)")]
    c.close()
    t = int(time.time()) - 10
    d = datetime.fromtimestamp(t, timezone.utc)
    qid = "0123456789abcdef"
    rel = "%04d/%02d/%02d/%s.eml" % (d.year, d.month, d.day, qid)
    (q.dir / rel).parent.mkdir(parents=True)
    (q.dir / rel).write_bytes(MESSAGE)
    c = sqlite3.connect(str(q.db))
    with c:
        c.execute("INSERT INTO messages (id, time, direction, listener, mail_from, rcpts,"
                  " virus_names, status, size, action, path) VALUES"
                  " (?,?,?,?,?,?,?,?,?,?,?)",
                  (qid, t, "inbound", "smtp", "sender@example.net",
                   '["rcpt@example.org"]', "Old.Virus", "infected", len(MESSAGE),
                   "quarantine", rel))
    c.close()

    r = ctl("--dir", q.dir, "quarantine", "list")
    assert r.rc == 0, r.err
    assert r.out == ("%s %s inbound <sender@example.net> <rcpt@example.org> Old.Virus %d "
                     "quarantine -\n" % (qid, iso(t), len(MESSAGE)))
    v = json.loads(ctl("--dir", q.dir, "quarantine", "list", "--json").out)
    assert v[0]["protocol"] == "smtp" and v[0]["user"] is None
    c = sqlite3.connect(str(q.db))
    cols = [r[1] for r in c.execute("PRAGMA table_info(messages)")]
    c.close()
    assert cols[-4:] == ["protocol", "user", "file_name", "alert"]
    assert q.row(qid)["protocol"] is None  # old rows stay NULL

    c = sqlite3.connect(str(q.db))
    with c:
        c.execute("UPDATE messages SET protocol='ftp', user='alice', file_name=?", (EVIL_NAME,))
    c.close()
    out = tmp_path / "out"
    out.mkdir()
    r = ctl("--dir", q.dir, "quarantine", "release", qid, "--dir", out)
    assert r.rc == 0, r.err
    assert (out / ("%s-evil_name.exe" % qid)).read_bytes() == MESSAGE
