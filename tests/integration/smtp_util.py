"""Fixtures and helpers for the integration tests of the SMTP proxy.

Owns: the recording SMTP sink that plays the next hop (Sink), the
portcullisd launcher (Portcullisd) and its config writer, a raw SMTP
client that checks exact replies (Client), MIME message builders whose
parts can be compared byte for byte, the test certificates (made with the
openssl CLI at run time, never committed), and the failure report: a
failing test gets the daemon's log and the sink's transcript attached.

Test modules use it with
    pytest.register_assert_rewrite("smtp_util")   # before the import
    from smtp_util import *                       # fixtures and helpers
    pytest_plugins = ["smtp_util"]                # the failure-report hook

Binaries: $PORTCULLISD and $PORTCULLIS_CTL, else <repo>/build/portcullisd
and <repo>/build/portcullis-ctl.
"""

import base64
import binascii
import os
import re
import shutil
import signal
import socket
import socketserver
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from samples_build import TESTFILES, clam_exe, eicar, zip_bytes  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CERTS_SRC = Path(__file__).resolve().parent / "certs"

__all__ = [
    # constants
    "REPO", "TESTFILES", "EICAR", "EICAR_RE", "CLAM_RE", "QID_RE", "ALL_CAPS",
    # peers
    "Sink", "SinkMessage", "Portcullisd", "Client", "Reply", "closed_port", "free_port",
    # config
    "daemon_config", "render_config",
    # messages
    "headers", "part", "b64_part", "qp_part", "uu_block", "uu_text_part", "rfc822_part",
    "multipart", "split_parts", "body_of", "strip_trace", "to_crlf", "dot_stuff",
    "zip_bytes", "eicar", "clam_exe", "clamav_mail",
    # fixtures
    "certs", "sink_factory", "proxy_factory", "sink", "wait_until", "swaks_bin",
]

EICAR = eicar()
EICAR_RE = r"Eicar-Test-Signature(?:\.SHA256)?"
CLAM_RE = r"Portcullis\.Test\.ClamExe(?:\.MD5)?"
QID_RE = r"[0-9a-f]{16}"
ALL_CAPS = ("PIPELINING", "SIZE 52428800", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8",
            "XFORWARD NAME ADDR PORT PROTO HELO", "XCLIENT NAME ADDR PORT PROTO HELO")
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                   "runtime error:", "ThreadSanitizer")
DAEMON_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=99",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
}
if (REPO / "tests" / "unit" / "lsan.supp").is_file():
    DAEMON_ENV["LSAN_OPTIONS"] = "suppressions=%s:print_suppressions=0" % (
        REPO / "tests" / "unit" / "lsan.supp")


def wait_until(pred, timeout=10.0, interval=0.02, what="condition"):
    """Polls pred() until it is true; returns its value or fails the test."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            pytest.fail("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_port():
    """A port where nothing listens (connect gets ECONNREFUSED)."""
    return free_port()


def _clip(b, n=4000):
    if isinstance(b, bytes):
        b = b.decode("utf-8", "backslashreplace")
    if len(b) <= n:
        return b
    return b[:n // 2] + "\n[... %d characters ...]\n" % (len(b) - n) + b[-n // 2:]


# ---------------------------------------------------------------- the sink

@dataclass
class SinkMessage:
    """One transaction the sink finished (accepted or refused at the dot)."""
    conn: int
    helo: str
    tls: bool
    mail_from: str
    mail_params: str
    rcpts: list
    data: bytes            # after dot-unstuffing, without the final dot line
    xforward: dict
    xclient: dict
    reply: str             # what the sink answered after the dot
    bare_lf: bool = False  # a line ended in LF without CR

    @property
    def accepted(self):
        return self.reply.startswith("2")


@dataclass
class _Rule:
    step: str
    action: str          # "NNN text" reply, "close", "hang"
    match: object = None  # compiled bytes regex or None
    times: object = None  # None = always


class _SinkServer(socketserver.ThreadingTCPServer):
    request_queue_size = 128
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False


class _SinkSession(socketserver.BaseRequestHandler):
    """One connection to the sink."""

    def handle(self):
        sink = self.server.sink
        self.sink = sink
        self.sock = self.request
        self.sock.settimeout(sink.io_timeout)
        self.rfile = self.sock.makefile("rb")
        self.tls = False
        self.helo = ""
        self.xclient = {}
        self.xforward = {}
        self.tx = None
        self.id = sink._conn_open(self)
        try:
            self._run()
        except (OSError, ValueError, ssl.SSLError) as e:
            sink._log(self.id, "!", "connection error: %r" % e)
        finally:
            sink._conn_close(self)
            try:
                self.sock.close()
            except OSError:
                pass

    def _send(self, text):
        self.sink._log(self.id, "S", text)
        self.sock.sendall(text.encode("utf-8") + b"\r\n")

    def _act(self, step, subject=b"", default=None):
        """Applies a rule for step; returns True if the rule took the turn."""
        act = self.sink._rule(step, subject)
        if act is None:
            if default is not None:
                self._send(default)
            return False
        self.sink._log(self.id, "!", "rule %s: %s" % (step, act))
        if act == "close":
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            raise _Closed()
        if act == "hang":
            self.sink._hung(self.id)
            self.sink._release.wait(self.sink.hang_max)
            raise _Closed()
        self._send(act)
        return True

    def _ehlo_reply(self, esmtp):
        if not esmtp:
            return ["250 sink.test"]
        caps = [c for c in self.sink.caps if not (c == "STARTTLS" and self.tls)]
        lines = ["sink.test"] + caps
        return ["250%s%s" % ("-" if i + 1 < len(lines) else " ", l) for i, l in enumerate(lines)]

    def _run(self):
        try:
            if self._act("banner", default="220 sink.test ESMTP sink"):
                return
            while True:
                raw = self.rfile.readline(1 << 20)
                if not raw:
                    return
                self.sink._record_cmd(self.id, raw)
                line = raw.rstrip(b"\r\n")
                self.sink._log(self.id, "C", line)
                if not self._command(line):
                    return
        except _Closed:
            return

    def _command(self, line):
        verb = line.split(b" ", 1)[0].upper()
        arg = line[len(verb) + 1:] if b" " in line else b""
        if verb in (b"EHLO", b"HELO"):
            self.helo = arg.decode("utf-8", "replace")
            self.tx = None
            if self._act("ehlo", line):
                return True
            for l in self._ehlo_reply(verb == b"EHLO"):
                self._send(l)
        elif verb == b"STARTTLS":
            if self.sink.tls_ctx is None or self.tls:
                self._send("502 5.5.1 no STARTTLS here")
                return True
            if self._act("starttls", line, default="220 2.0.0 go ahead"):
                return True
            self.sock = self.sink.tls_ctx.wrap_socket(self.sock, server_side=True)
            self.sock.settimeout(self.sink.io_timeout)
            self.rfile = self.sock.makefile("rb")
            self.tls = True
            self.helo = ""
            self.tx = None
            self.sink._conn_tls(self.id)
        elif verb == b"XFORWARD":
            if self._act("xforward", line):
                return True
            self.xforward.update(_attrs(arg))
            self._send("250 2.0.0 Ok")
        elif verb == b"XCLIENT":
            if self._act("xclient", line):
                return True
            self.xclient = _attrs(arg)
            self.helo = ""
            self.tx = None
            self._send("220 sink.test ESMTP sink")
        elif verb == b"MAIL":
            if self.tx is not None:
                self._send("503 5.5.1 nested MAIL")
                self.sink._protocol_error(self.id, "nested MAIL")
                return True
            m = re.match(rb"(?i)FROM:\s*<([^>]*)>(.*)$", arg)
            if not m:
                self._send("501 5.5.4 syntax")
                self.sink._protocol_error(self.id, "bad MAIL %r" % line)
                return True
            if self._act("mail", line):
                return True
            self.tx = {"from": m.group(1).decode("utf-8", "replace"),
                       "params": m.group(2).decode("utf-8", "replace").strip(),
                       "rcpts": [], "xforward": dict(self.xforward)}
            self._send("250 2.1.0 Ok")
        elif verb == b"RCPT":
            if self.tx is None:
                self._send("503 5.5.1 need MAIL")
                self.sink._protocol_error(self.id, "RCPT without MAIL")
                return True
            m = re.match(rb"(?i)TO:\s*<([^>]*)>", arg)
            if not m:
                self._send("501 5.5.4 syntax")
                self.sink._protocol_error(self.id, "bad RCPT %r" % line)
                return True
            if self._act("rcpt", line):
                return True
            self.tx["rcpts"].append(m.group(1).decode("utf-8", "replace"))
            self._send("250 2.1.5 Ok")
        elif verb == b"DATA":
            if self.tx is None or not self.tx["rcpts"]:
                self._send("554 5.5.1 no valid recipients")
                self.sink._protocol_error(self.id, "DATA without recipients")
                return True
            if self._act("data", line):
                self.tx = None
                return True
            self._send("354 go ahead")
            self._data()
        elif verb == b"RSET":
            self.tx = None
            self.xforward = {}
            if self._act("rset", line):
                return True
            self._send("250 2.0.0 Ok")
        elif verb == b"NOOP":
            self._send("250 2.0.0 Ok")
        elif verb == b"QUIT":
            self._act("quit", line, default="221 2.0.0 Bye")
            return False
        else:
            self._send("500 5.5.2 unrecognized")
            self.sink._protocol_error(self.id, "unknown command %r" % line[:60])
        return True

    def _data(self):
        buf = []
        bare_lf = False
        first = True
        size = 0
        while True:
            raw = self.rfile.readline(1 << 22)
            if not raw:
                self.sink._log(self.id, "!", "EOF inside DATA after %d bytes" % size)
                self.sink._partial(self.id, b"".join(buf))
                raise _Closed()
            if raw == b".\r\n":
                break
            if not raw.endswith(b"\r\n"):
                bare_lf = True
            if raw.startswith(b"."):
                raw = raw[1:]
            buf.append(raw)
            size += len(raw)
            if first:
                first = False
                try:
                    self._act("body", raw)
                except _Closed:
                    self.sink._partial(self.id, b"".join(buf))
                    raise
        data = b"".join(buf)
        self.sink._log(self.id, "C", "[message: %d bytes%s]" % (len(data),
                                                                 ", bare LF" if bare_lf else ""))
        tx, self.tx = self.tx, None
        self.xforward = {}
        if self.sink._rule_peek("dot", data):
            act = self.sink._rule("dot", data)
            reply = act
        else:
            act = None
            reply = "250 2.0.0 Ok: queued as SINK%d" % self.sink._next_queue_id()
        msg = SinkMessage(conn=self.id, helo=self.helo, tls=self.tls, mail_from=tx["from"],
                          mail_params=tx["params"], rcpts=tx["rcpts"], data=data,
                          xforward=tx["xforward"], xclient=dict(self.xclient),
                          reply=reply if act not in ("close", "hang") else act,
                          bare_lf=bare_lf)
        self.sink._message(msg)
        if act == "close":
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            raise _Closed()
        if act == "hang":
            self.sink._hung(self.id)
            self.sink._release.wait(self.sink.hang_max)
            raise _Closed()
        self._send(reply)


class _Closed(Exception):
    pass


def _attrs(arg):
    out = {}
    for tok in arg.decode("utf-8", "replace").split():
        k, _, v = tok.partition("=")
        out[k.upper()] = v
    return out


class Sink:
    """
    A recording SMTP server on 127.0.0.1:port playing the next hop.

    caps: the EHLO keywords offered (e.g. "PIPELINING", "SIZE 1000000",
    "STARTTLS" - which needs tls_ctx). Rules make it misbehave:
    sink.on(step, action, match=None, times=None) with step one of banner,
    ehlo, starttls, xforward, xclient, mail, rcpt, data, body (after the
    first message line arrived), dot (after the final dot), rset, quit;
    action "NNN text" (that reply), "close" (drop the connection) or "hang"
    (never answer). match: a bytes regex searched in the command line (or
    the message for body/dot). times: how often the rule fires.
    Records: commands (conn, raw line), messages (SinkMessage, accepted
    or refused at the dot), partial (bytes of DATA cut short), a transcript.
    """

    def __init__(self, caps=ALL_CAPS, tls_ctx=None, name="sink", io_timeout=60, hang_max=60):
        self.caps = list(caps)
        self.tls_ctx = tls_ctx
        self.name = name
        self.io_timeout = io_timeout
        self.hang_max = hang_max
        self.rules = []
        self.commands = []        # (conn, raw bytes)
        self.all_messages = []    # SinkMessage
        self.partial = []         # (conn, bytes)
        self.errors = []          # protocol errors the proxy made
        self.conns = {}           # id -> {"tls": bool, "open": bool, "peer": (h, p)}
        self.transcript = []      # (conn, "C"/"S"/"!", text)
        self._lock = threading.Condition()
        self._release = threading.Event()
        self._nconn = 0
        self._nqueue = 0
        self._socks = {}
        self.server = _SinkServer(("127.0.0.1", 0), _SinkSession, bind_and_activate=True)
        self.server.sink = self
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    # -- control
    def on(self, step, action, match=None, times=None):
        if isinstance(match, (bytes, str)):
            match = re.compile(match if isinstance(match, bytes) else match.encode())
        with self._lock:
            self.rules.append(_Rule(step, action, match, times))
        return self

    def clear_rules(self):
        with self._lock:
            self.rules = []

    def close(self):
        self._release.set()
        self.server.shutdown()
        self.server.server_close()
        with self._lock:
            socks = list(self._socks.values())
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # -- queries
    @property
    def messages(self):
        """Messages accepted at the final dot (not notices: see notices())."""
        with self._lock:
            return [m for m in self.all_messages if m.accepted and m.mail_from != ""]

    def notices(self, rcpt=None):
        """Accepted messages with MAIL FROM:<>, optionally to rcpt."""
        with self._lock:
            return [m for m in self.all_messages
                    if m.accepted and m.mail_from == "" and (rcpt is None or rcpt in m.rcpts)]

    def lines(self, conn=None):
        """Command lines received (CRLF stripped, str)."""
        with self._lock:
            return [l.rstrip(b"\r\n").decode("utf-8", "replace")
                    for c, l in self.commands if conn is None or c == conn]

    def conn_ids(self):
        with self._lock:
            return sorted(self.conns)

    def wait_messages(self, n, timeout=10.0, notices=False):
        get = self.notices if notices else (lambda: self.messages)
        wait_until(lambda: len(get()) >= n, timeout,
                   what="%d %s at %s" % (n, "notices" if notices else "messages", self.name))
        return get()

    def wait_idle(self, timeout=10.0):
        """Waits until no connection is open."""
        wait_until(lambda: not self.busy(), timeout, what="%s connections to close" % self.name)

    def reset(self):
        with self._lock:
            self.commands.clear()
            self.all_messages.clear()
            self.partial.clear()
            self.errors.clear()
            self.transcript.clear()

    def describe(self, limit=400):
        with self._lock:
            t = list(self.transcript)
            caps = " ".join(self.caps)
        out = ["sink %s on 127.0.0.1:%d caps=[%s] rules=%r" % (self.name, self.port, caps,
                                                                 self.rules)]
        if len(t) > limit:
            out.append("[... %d earlier lines ...]" % (len(t) - limit))
            t = t[-limit:]
        for c, d, text in t:
            if isinstance(text, bytes):
                text = text.decode("utf-8", "backslashreplace")
            out.append("#%d %s: %s" % (c, d, text[:300]))
        if self.errors:
            out.append("protocol errors: %r" % self.errors)
        return "\n".join(out)

    # -- called by sessions
    def _rule_peek(self, step, subject):
        with self._lock:
            for r in self.rules:
                if r.step == step and (r.times is None or r.times > 0) and \
                        (r.match is None or r.match.search(subject)):
                    return True
        return False

    def _rule(self, step, subject):
        with self._lock:
            for r in self.rules:
                if r.step != step or (r.times is not None and r.times <= 0):
                    continue
                if r.match is not None and not r.match.search(subject):
                    continue
                if r.times is not None:
                    r.times -= 1
                return r.action
        return None

    def _conn_open(self, sess):
        with self._lock:
            self._nconn += 1
            cid = self._nconn
            self.conns[cid] = {"tls": False, "open": True, "peer": sess.client_address}
            self._socks[cid] = sess.request
            self.transcript.append((cid, "!", "connect from %s:%d" % sess.client_address))
            self._lock.notify_all()
            return cid

    def _hung(self, cid):
        with self._lock:
            self.conns[cid]["hung"] = True

    def busy(self):
        """True while a connection is open that is not hanging on purpose."""
        with self._lock:
            return any(c["open"] and not c.get("hung") for c in self.conns.values())

    def _conn_tls(self, cid):
        with self._lock:
            self.conns[cid]["tls"] = True
            self.transcript.append((cid, "!", "TLS established"))

    def _conn_close(self, sess):
        with self._lock:
            self.conns[sess.id]["open"] = False
            self._socks.pop(sess.id, None)
            self.transcript.append((sess.id, "!", "closed"))
            self._lock.notify_all()

    def _record_cmd(self, cid, raw):
        with self._lock:
            self.commands.append((cid, raw))

    def _log(self, cid, d, text):
        with self._lock:
            self.transcript.append((cid, d, text))

    def _protocol_error(self, cid, what):
        with self._lock:
            self.errors.append((cid, what))

    def _partial(self, cid, data):
        with self._lock:
            self.partial.append((cid, data))

    def _message(self, m):
        with self._lock:
            self.all_messages.append(m)
            self._lock.notify_all()

    def _next_queue_id(self):
        with self._lock:
            self._nqueue += 1
            return self._nqueue


# ----------------------------------------------------------------- client

@dataclass
class Reply:
    code: int
    lines: list          # text after "NNN-"/"NNN "

    @property
    def enh(self):
        m = re.match(r"([245]\.\d{1,3}\.\d{1,3})\b", self.lines[0]) if self.lines else None
        return m.group(1) if m else ""

    @property
    def first(self):
        return "%d %s" % (self.code, self.lines[0] if self.lines else "")

    @property
    def text(self):
        return "\n".join(self.lines)

    def __str__(self):
        return " | ".join("%d %s" % (self.code, l) for l in self.lines)


class Client:
    """A raw SMTP client: exact bytes out, replies parsed and checked."""

    def __init__(self, port, timeout=15.0, host="127.0.0.1", source=None):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.timeout = timeout
        self.buf = b""
        self.log = []

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.log.append(("C", data[:200]))
        self.sock.sendall(data)

    def _line(self):
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply line within %.1fs (have %r)" %
                                   (self.timeout, self.buf[:200]))
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed by the proxy (have %r)" % self.buf[:200])
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self):
        """Reads one (possibly multi-line) reply."""
        lines = []
        while True:
            l = self._line()
            m = re.match(r"^(\d{3})([ -])(.*)$", l)
            if not m:
                raise AssertionError("malformed reply line %r" % l)
            lines.append(m.group(3))
            if m.group(2) == " ":
                r = Reply(int(m.group(1)), lines)
                self.log.append(("S", str(r)))
                return r

    def cmd(self, line, expect=None):
        """Sends line + CRLF, reads the reply; expect: code or "NNN X.Y.Z"."""
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send(line + b"\r\n")
        r = self.reply()
        if expect is not None:
            check(r, expect, line)
        return r

    def banner(self, expect=220):
        r = self.reply()
        if expect is not None:
            check(r, expect, b"(banner)")
        return r

    def ehlo(self, name="client.example"):
        return self.cmd("EHLO " + name, 250)

    def data(self, body, expect=None):
        """Sends the message (dot-stuffed, CRLF.CRLF added); the final reply."""
        self.send(dot_stuff(body) + b".\r\n")
        r = self.reply()
        if expect is not None:
            check(r, expect, b"(end of data)")
        return r

    def mail(self, mail_from, rcpts, body, params="", expect=None):
        """A whole transaction; returns the reply after the final dot."""
        self.cmd("MAIL FROM:<%s>%s" % (mail_from, params and " " + params), 250)
        for r in rcpts:
            self.cmd("RCPT TO:<%s>" % r, 250)
        self.cmd("DATA", 354)
        return self.data(body, expect)

    def at_eof(self, timeout=5.0):
        """True if the proxy closed the connection (unread bytes are kept)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (socket.timeout, TimeoutError):
            return False
        except ConnectionResetError:
            return True

    def quit(self):
        try:
            self.cmd("QUIT", 221)
        finally:
            self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def check(r, expect, what=b""):
    """expect: 250, "250", "550 5.7.1", or a regex string "^250 2\\.0\\.0 ..."."""
    if isinstance(what, bytes):
        what = what[:80].decode("utf-8", "backslashreplace")
    if isinstance(expect, int):
        assert r.code == expect, "%s: expected %d, got %s" % (what, expect, r)
        return
    if expect.startswith("^"):
        assert re.match(expect, r.first), "%s: expected /%s/, got %s" % (what, expect, r)
        return
    parts = expect.split(" ", 1)
    assert r.code == int(parts[0]), "%s: expected %s, got %s" % (what, expect, r)
    if len(parts) > 1:
        assert r.lines[0].startswith(parts[1]), "%s: expected %s, got %s" % (what, expect, r)


__all__.append("check")


# ------------------------------------------------------------- messages

def to_crlf(b):
    """Any line endings to CRLF."""
    return re.sub(rb"\r?\n", b"\r\n", b)


def dot_stuff(body):
    """SMTP transparency: a leading dot doubled; ends in CRLF."""
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    out = re.sub(rb"(?m)^\.", b"..", body)
    return out


_seq = [0]


def headers(subject="test", frm="sender@example.net", to="rcpt@example.org", extra=()):
    """Top-level header block (CRLF, no blank line) with a unique Message-ID."""
    _seq[0] += 1
    h = [b"From: Sender <%s>" % frm.encode(), b"To: <%s>" % to.encode(),
         b"Subject: %s" % subject.encode("utf-8"),
         b"Date: Wed, 01 Jan 2020 00:00:00 +0000",
         b"Message-ID: <t%d.%d@example.net>" % (os.getpid(), _seq[0]),
         b"MIME-Version: 1.0"]
    h += [x if isinstance(x, bytes) else x.encode("utf-8") for x in extra]
    return b"\r\n".join(h) + b"\r\n"


def part(ctype, body, cte=None, filename=None, extra=()):
    """One MIME part: its header block, a blank line and body (CRLF)."""
    h = [b"Content-Type: " + ctype.encode() + (b'; name="%s"' % filename.encode()
                                               if filename else b"")]
    if cte:
        h.append(b"Content-Transfer-Encoding: " + cte.encode())
    if filename:
        h.append(b'Content-Disposition: attachment; filename="%s"' % filename.encode())
    h += [x if isinstance(x, bytes) else x.encode() for x in extra]
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return b"\r\n".join(h) + b"\r\n\r\n" + body


def b64_part(data, filename, ctype="application/octet-stream"):
    enc = base64.encodebytes(data).replace(b"\n", b"\r\n")
    return part(ctype, enc, "base64", filename)


def qp_part(data, filename, ctype="application/octet-stream"):
    """Quoted-printable with EVERY byte escaped (so the raw part never
    contains the payload), soft breaks every 25 bytes."""
    out = b""
    for i in range(0, len(data), 25):
        out += b"".join(b"=%02X" % c for c in data[i:i + 25]) + b"=\r\n"
    return part(ctype, out, "quoted-printable", filename)


def uu_block(data, filename):
    lines = [b"begin 644 " + filename.encode()]
    for i in range(0, len(data), 45):
        lines.append(binascii.b2a_uu(data[i:i + 45]).rstrip(b"\n"))
    lines += [b"`", b"end"]
    return b"\r\n".join(lines) + b"\r\n"


def uu_text_part(before, data, filename, after):
    body = before + b"\r\n" + uu_block(data, filename) + after + b"\r\n"
    return part("text/plain; charset=us-ascii", body, "7bit")


def rfc822_part(inner):
    return part("message/rfc822", inner, "7bit")


def multipart(parts, subject="test", boundary="=_portcullis_test_b0", closing=True,
              frm="sender@example.net", to="rcpt@example.org", extra=()):
    """A multipart/mixed message from raw parts. closing=False leaves out
    the final boundary."""
    b = boundary.encode()
    out = headers(subject, frm, to, extra)
    out += b'Content-Type: multipart/mixed; boundary="' + b + b'"\r\n\r\n'
    out += b"This is a MIME message.\r\n"
    for p in parts:
        out += b"\r\n--" + b + b"\r\n" + p
    if closing:
        out += b"\r\n--" + b + b"--\r\n"
    return out


def split_parts(msg, boundary="=_portcullis_test_b0"):
    """The raw parts of a multipart message (bytes between delimiter lines,
    the CRLF before a delimiter belongs to it)."""
    b = re.escape(boundary.encode())
    pieces = re.split(rb"\r\n--" + b + rb"(?:--)?[ \t]*\r\n", msg)
    return pieces[1:-1] if len(pieces) > 2 else pieces[1:]


def body_of(msg):
    return msg.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in msg else b""


def strip_trace(data):
    """Splits the proxy's trace header lines (X-Virus-*, X-Portcullis-*) off
    the top; returns (dict of them, the rest)."""
    found = {}
    while True:
        m = re.match(rb"(X-Virus-Scanned|X-Virus-Status|X-Portcullis-Unscanned): ([^\r\n]*)\r\n",
                     data)
        if not m:
            return found, data
        found[m.group(1).decode()] = m.group(2).decode("utf-8", "replace")
        data = data[m.end():]


def clamav_mail(name):
    """A whole mail from clamav-testfiles, CRLF, without an mbox From_ line."""
    raw = (TESTFILES / name).read_bytes()
    if raw.startswith(b"From "):
        raw = raw.split(b"\n", 1)[1]
    return to_crlf(raw)


# ---------------------------------------------------------------- config

def daemon_config(tmp, sink_port=None, maildir=None, port=None, **sections):
    """
    The config as {section: {key: value}} for a daemon under tmp. Sections
    given as keyword dicts (use smtp=..., inbound=..., scan=...) update the
    defaults; a value None removes a key.
    """
    tmp = Path(tmp)
    c = {
        "log": {"verdicts": "yes"},
        "daemon": {"user": "", "spool_dir": str(tmp / "spool"), "workers": "2",
                   "drain_timeout": "10s"},
        "scan": {"database_dir": str(REPO / "sigs")},
        "smtp": {"listen": "127.0.0.1:%d" % (port or free_port()),
                 "next_hop": ("maildir:%s" % maildir) if maildir else
                 "smtp:127.0.0.1:%d" % sink_port,
                 "hostname": "portcullis.test", "command_timeout": "30s",
                 "data_timeout": "30s", "next_hop_timeout": "10s"},
        "quarantine": {"dir": str(tmp / "q")},
        "notify": {"template_dir": str(REPO / "templates")},
    }
    for sec, kv in sections.items():
        sec = sec.replace("__", ".")
        d = c.setdefault(sec, {})
        for k, v in kv.items():
            if v is None:
                d.pop(k, None)
            else:
                d[k] = str(v)
    return c


def render_config(c):
    out = []
    for sec, kv in c.items():
        out.append("[%s]" % sec)
        out += ["%s = %s" % kv_ for kv_ in kv.items()]
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------- daemon

def _bin(env, name):
    p = Path(os.environ.get(env, REPO / "build" / name))
    if not (p.is_file() and os.access(p, os.X_OK)):
        pytest.fail("%s not found at %s (build it or set %s)" % (name, p, env))
    return p


RE_MSG = re.compile(r"smtp\[(\d+)\]: message (.*)$")
RE_KV = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


class Portcullisd:
    """One portcullisd -f run: config file, log lines, signals, ctl."""

    def __init__(self, tmp, conf, verbose=True, name="portcullisd"):
        self.tmp = Path(tmp)
        self.conf = conf
        self.name = name
        self.verbose = verbose
        self.conf_path = self.tmp / ("%s.conf" % name)
        self.bin = _bin("PORTCULLISD", "portcullisd")
        self.ctl_bin = _bin("PORTCULLIS_CTL", "portcullis-ctl")
        self.proc = None
        self.lines = []
        self.rc = None
        self._lock = threading.Condition()
        self._reader = None
        self.stopped_by_test = False
        self.sink = None            # the Sink it relays to, if any

    @property
    def port(self):
        return int(self.conf["smtp"]["listen"].rsplit(":", 1)[1])

    @property
    def qdir(self):
        return Path(self.conf["quarantine"]["dir"])

    @property
    def spool_dir(self):
        return Path(self.conf["daemon"]["spool_dir"])

    def write_config(self):
        self.conf_path.write_text(render_config(self.conf))

    def start(self, timeout=20.0, expect_ready=True):
        """Starts the daemon and waits for its ready line. When the port
        picked for the listener was taken meanwhile, picks another one
        (twice at most)."""
        for attempt in range(3):
            self.write_config()
            cmd = [str(self.bin), "-f", "-c", str(self.conf_path)] + (
                ["-v"] if self.verbose else [])
            env = dict(os.environ)
            env.update(DAEMON_ENV)
            with self._lock:
                self.lines.append("[%s: start %d: %s]" % (self.name, attempt + 1, " ".join(cmd)))
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, env=env)
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()
            if not expect_ready:
                return self
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if "ready listeners=" in self.log():
                    return self
                if self.proc.poll() is not None:
                    break
                time.sleep(0.01)
            else:
                pytest.fail("%s did not log its ready line within %.0fs" % (self.name, timeout))
            self._reader.join(5)
            if "Address already in use" not in self.log() or attempt == 2:
                pytest.fail("%s exited with rc=%s before it was ready" % (
                    self.name, self.proc.returncode))
            host = self.conf["smtp"]["listen"].rsplit(":", 1)[0]
            self.conf["smtp"]["listen"] = "%s:%d" % (host, free_port())
        return self

    def _read(self):
        for raw in self.proc.stdout:
            with self._lock:
                self.lines.append(raw.decode("utf-8", "backslashreplace").rstrip("\n"))
                self._lock.notify_all()
        with self._lock:
            self.lines.append("[%s: output closed]" % self.name)
            self._lock.notify_all()

    def log(self):
        with self._lock:
            return "\n".join(self.lines)

    def wait_log(self, pattern, timeout=10.0, after=0):
        """Waits for a log line matching pattern (from line index after);
        returns the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for l in self.lines[after:]:
                    m = rx.search(l)
                    if m:
                        return m
                if self.proc.poll() is not None and self.lines and \
                        self.lines[-1].endswith("output closed]"):
                    pytest.fail("%s exited (rc=%s) before logging /%s/" %
                                (self.name, self.proc.returncode, pattern))
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail("%s did not log /%s/ within %.1fs" % (self.name, pattern,
                                                                       timeout))
                self._lock.wait(min(left, 0.2))

    def mark(self):
        with self._lock:
            return len(self.lines)

    def message_logs(self, after=0):
        """Parsed `smtp[N]: message ...` lines: dicts with sid and the keys."""
        out = []
        with self._lock:
            lines = self.lines[after:]
        for l in lines:
            m = RE_MSG.search(l)
            if not m:
                continue
            d = {"sid": int(m.group(1)), "line": l}
            for k, v in RE_KV.findall(m.group(2)):
                if v.startswith('"'):
                    v = v[1:-1]
                d[k] = v
            out.append(d)
        return out

    def wait_message_log(self, n=1, after=0, timeout=10.0):
        wait_until(lambda: len(self.message_logs(after)) >= n, timeout,
                   what="%d message log lines" % n)
        return self.message_logs(after)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=15.0, fast=True):
        """SIGTERM, wait; returns the exit code (kills after timeout).
        fast: a second SIGTERM right after the first ("stop now") instead
        of waiting for the drain, which the daemon checks once a second."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if fast:
                try:
                    self.proc.wait(0.05)
                except subprocess.TimeoutExpired:
                    self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
                self.lines.append("[%s: killed after SIGTERM timeout]" % self.name)
                self.rc = "killed"
                return self.rc
        if self._reader:
            self._reader.join(5)
        self.rc = self.proc.returncode
        return self.rc

    def sanitizer_report(self):
        text = self.log()
        return [m for m in SANITIZER_MARKS if m in text]

    def ctl(self, *args, timeout=30):
        p = subprocess.run([str(self.ctl_bin), "-c", str(self.conf_path)] + list(args),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        return p

    def quarantine(self):
        """portcullis-ctl quarantine list --json, parsed."""
        import json
        p = self.ctl("quarantine", "list", "--json")
        assert p.returncode == 0, "portcullis-ctl list failed rc=%d: %s" % (
            p.returncode, p.stderr.decode(errors="replace"))
        return json.loads(p.stdout or b"[]")

    def quarantine_rows(self):
        """The index rows straight from index.sqlite (path included)."""
        db = self.qdir / "index.sqlite"
        if not db.exists():
            return []
        c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
        c.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in c.execute("SELECT * FROM messages ORDER BY time, rowid")]
        except sqlite3.OperationalError:
            return []
        finally:
            c.close()

    def quarantined_bytes(self, qid):
        for r in self.quarantine_rows():
            if r["id"] == qid:
                p = Path(r["path"])
                if not p.is_absolute():
                    p = self.qdir / p
                return p.read_bytes()
        raise AssertionError("quarantine id %s not in the index" % qid)

    def describe(self):
        return ("$ %s -f -c %s%s\nrc=%s\n--- config ---\n%s\n--- log ---\n%s" %
                (self.bin, self.conf_path, " -v" if self.verbose else "", self.rc,
                 render_config(self.conf), _clip(self.log(), 30000)))


# ---------------------------------------------------------------- fixtures

def _quiesce(d):
    """Before a test's daemon is stopped: lets notices still on their way
    to the sink arrive (the fast stop would cut them off), bounded."""
    s = getattr(d, "sink", None)
    if s is None or not d.alive():
        return
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        if not s.busy():
            time.sleep(0.02)
            if not s.busy():
                return
        time.sleep(0.02)


def _artifacts(node):
    if not hasattr(node, "_smtp_artifacts"):
        node._smtp_artifacts = []
    return node._smtp_artifacts


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    arts = getattr(item, "_smtp_artifacts", None)
    if not arts or not rep.failed:
        return
    for a in arts:
        title = "%s %s" % (type(a).__name__, getattr(a, "name", ""))
        try:
            rep.sections.append((title, a.describe()))
        except Exception as e:  # never hide the real failure
            rep.sections.append((title, "describe() failed: %r" % e))


CERT_EXT = """basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:localhost, DNS:portcullis.test, DNS:sink.test, IP:127.0.0.1, IP:::1
"""


@dataclass
class Certs:
    dir: Path
    ca: Path
    cert: Path
    key: Path

    def server_ctx(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(self.cert), str(self.key))
        return ctx

    def client_ctx(self):
        ctx = ssl.create_default_context(cafile=str(self.ca))
        ctx.check_hostname = True
        return ctx


@pytest.fixture
def small_tmpfs(tmp_path):
    """Mounts 256k tmpfs file systems; skips when mount is not permitted
    (a container without CAP_SYS_ADMIN). mount(8) itself must be there:
    scripts/deps.sh installs it."""
    mounted = []

    def mount(path):
        path.mkdir(parents=True, exist_ok=True)
        if shutil.which("mount") is None:
            pytest.fail("mount(8) not found (Debian package mount; scripts/deps.sh installs it)")
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs",
                            str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=10)
        if p.returncode != 0:
            pytest.skip("cannot mount a tmpfs here (needs root/CAP_SYS_ADMIN): %s" %
                        " ".join(p.stdout.decode(errors="replace").split()))
        mounted.append(path)
        return path

    yield mount
    for p in mounted:
        subprocess.run(["umount", "-l", str(p)], timeout=10)


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    """A throw-away CA and a server cert for localhost/127.0.0.1 (EC P-256),
    made with the openssl CLI; keys live only in the test's tmp dir."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not installed")
    d = tmp_path_factory.mktemp("certs")
    ext = CERTS_SRC / "server.ext"
    if not ext.is_file():
        ext = d / "server.ext"
        ext.write_text(CERT_EXT)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*a):
        p = subprocess.run(["openssl"] + list(a), cwd=d, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=30)
        assert p.returncode == 0, "openssl %s: %s" % (" ".join(a), p.stdout.decode())

    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=Portcullis Test CA")
    run("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", str(ext))
    return Certs(d, d / "ca.pem", d / "server.pem", d / "server.key")


@pytest.fixture
def sink_factory(request):
    """sink_factory(caps=..., tls_ctx=..., name=...) -> a started Sink,
    closed at teardown and shown in a failing test's report."""
    made = []

    def make(caps=ALL_CAPS, tls_ctx=None, name=None, **kw):
        s = Sink(caps=caps, tls_ctx=tls_ctx, name=name or "sink%d" % (len(made) + 1), **kw)
        made.append(s)
        _artifacts(request.node).append(s)
        return s

    yield make
    for s in made:
        s.close()


@pytest.fixture
def sink(sink_factory):
    """A well-behaved sink offering every extension except STARTTLS."""
    return sink_factory()


@pytest.fixture
def proxy_factory(request, tmp_path):
    """
    proxy_factory(sink=None, maildir=None, verbose=True, start=True,
    tmp=None, **sections) -> a started Portcullisd with sections merged
    into daemon_config(). At teardown it is stopped with SIGTERM; the test
    fails if it crashed, did not exit 0 or printed a sanitizer report.
    """
    made = []

    def make(sink=None, maildir=None, verbose=True, start=True, tmp=None, name=None, **sections):
        base = Path(tmp) if tmp else tmp_path / ("d%d" % (len(made) + 1))
        base.mkdir(parents=True, exist_ok=True)
        conf = daemon_config(base, sink_port=sink.port if sink else None, maildir=maildir,
                             **sections)
        d = Portcullisd(base, conf, verbose=verbose, name=name or "portcullisd%d" % (len(made) + 1))
        d.sink = sink if isinstance(sink, Sink) else None
        made.append(d)
        _artifacts(request.node).append(d)
        if start:
            d.start()
        return d

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
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture(scope="session")
def swaks_bin():
    p = shutil.which("swaks")
    if p is None:
        pytest.skip("swaks not installed (apt-get install swaks)")
    return p


# ------------------------------------------------------------ assertions

def assert_delivered_clean(m, sent, mail_from, rcpts, status="clean"):
    """m (SinkMessage) is sent with exactly the two trace headers on top."""
    assert m.mail_from == mail_from
    assert m.rcpts == list(rcpts)
    assert not m.bare_lf, "the proxy sent a line ending in a bare LF"
    trace, rest = strip_trace(m.data)
    assert list(trace) == ["X-Virus-Scanned", "X-Virus-Status"], \
        "trace headers on top: %r" % (m.data[:300],)
    assert re.fullmatch(r"Portcullis \S+ on portcullis\.test", trace["X-Virus-Scanned"]), trace
    assert re.fullmatch(status, trace["X-Virus-Status"]), trace
    assert rest == sent, "message changed on the way (%d bytes sent, %d after the trace " \
        "headers)" % (len(sent), len(rest))


def log_of(d, after=0, n=1, timeout=10.0, **expect):
    """The n-th `smtp[N]: message` log line after mark `after`; each expect
    key=regex must fullmatch its value."""
    logs = d.wait_message_log(n, after, timeout)
    rec = logs[n - 1]
    for k, rx in expect.items():
        assert k in rec, "log line lacks %s=: %s" % (k, rec["line"])
        assert re.fullmatch(rx, rec[k]), "log %s=%r does not match /%s/: %s" % (
            k, rec[k], rx, rec["line"])
    return rec


__all__ += ["assert_delivered_clean", "log_of"]


def start_shared(request, tmp_path_factory, name, sink_kw=None, verbose=True, **sections):
    """A sink and a daemon for a module- or class-scoped fixture: started
    now, stopped (and checked: exit 0, no sanitizer report) when request's
    scope ends. Tests show them in their failure report with attach()."""
    s = Sink(name="sink-" + name, **(sink_kw or {}))
    base = tmp_path_factory.mktemp(name)
    conf = daemon_config(base, sink_port=s.port, **sections)
    d = Portcullisd(base, conf, verbose=verbose, name="portcullisd-" + name)
    d.sink = s

    def fin():
        _quiesce(d)
        rc = d.stop()
        s.close()
        assert rc == 0, "%s: exit code %s after SIGTERM\n%s" % (d.name, rc, d.describe())
        assert not d.sanitizer_report(), d.describe()

    request.addfinalizer(fin)
    d.start()
    return d, s


def attach(node, *objs):
    """Shows objs (Sink, Portcullisd) in node's report if it fails."""
    _artifacts(node).extend(objs)


def names_rx(one):
    """A regex for the comma-separated names list of one signature family."""
    return r"(?:%s)(?:,(?:%s))*" % (one, one)


def notices_to(sink, rcpt, timeout=10.0, n=1):
    wait_until(lambda: len(sink.notices(rcpt)) >= n, timeout, what="notice to %s" % rcpt)
    return sink.notices(rcpt)


def settle(d, sink, sid=None, timeout=10.0):
    """Waits until the proxy session sid (default: every one so far) logged
    its disconnect and the sink has no open connection: nothing more is
    coming (notices included)."""
    if sid is not None:
        d.wait_log(r"smtp\[%d\]: disconnect" % sid, timeout)
    sink.wait_idle(timeout)
    time.sleep(0.1)
    sink.wait_idle(timeout)


__all__ += ["start_shared", "attach", "names_rx", "notices_to", "settle"]
