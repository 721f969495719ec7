"""When something fails: the next hop (down, refusing, closing, hanging),
the scanner (clamd dead), a scan limit, a full disk. The rule under test:
the client never gets 250 for a message that was not handed on and
accepted, stored with fsync, or dropped by policy."""

import re
import subprocess
import time

import pytest

pytest.register_assert_rewrite("smtp_util")
from smtp_util import *  # noqa: E402,F401,F403

pytest_plugins = ["smtp_util"]

SMALL = headers("small") + b"\r\nsmall body\r\n"
INFECTED = multipart([part("text/plain", b"hi\r\n"), b64_part(EICAR, "eicar.com")])


def _session(d):
    c = Client(d.port)
    c.banner()
    c.ehlo()
    return c


# ---------------------------------------------------------------- next hop

def test_next_hop_down_at_connect(proxy_factory):
    class Closed:
        port = closed_port()
    d = proxy_factory(sink=Closed)
    with Client(d.port) as c:
        check(c.reply(), "421 4.4.1 portcullis.test next hop unavailable")
        assert c.at_eof()
    d.wait_log(r"smtp\[1\]: disconnect")


def test_next_hop_banner_refused(sink, proxy_factory):
    sink.on("banner", "554 5.3.2 not accepting mail")
    d = proxy_factory(sink=sink)
    with Client(d.port) as c:
        check(c.reply(), "421 4.4.1")
        assert c.at_eof()
    d.wait_log(r'next hop unavailable reply="554 5\.3\.2 not accepting mail"')


def test_next_hop_refuses_rcpt_relayed(sink, proxy_factory):
    sink.on("rcpt", "550 5.1.1 <nobody@example.org>: Recipient address rejected",
            match=rb"nobody@")
    sink.on("rcpt", "452 4.2.2 <full@example.org>: mailbox full", match=rb"full@")
    d = proxy_factory(sink=sink)
    with _session(d) as c:
        c.cmd("MAIL FROM:<sender@example.net>", 250)
        r = c.cmd("RCPT TO:<nobody@example.org>")
        assert r.first == "550 5.1.1 <nobody@example.org>: Recipient address rejected"
        r = c.cmd("RCPT TO:<full@example.org>")
        assert r.first == "452 4.2.2 <full@example.org>: mailbox full"
        c.cmd("DATA", "554 5.5.1")
        c.cmd("RCPT TO:<ok@example.org>", 250)
        c.cmd("DATA", 354)
        check(c.data(SMALL), 250)
        c.quit()
    (m,) = sink.wait_messages(1)
    assert m.rcpts == ["ok@example.org"]
    log_of(d, rcpts="1")


def test_next_hop_refuses_mail_relayed(sink, proxy_factory):
    sink.on("mail", "451 4.3.0 try again later", times=1)
    d = proxy_factory(sink=sink)
    with _session(d) as c:
        r = c.cmd("MAIL FROM:<sender@example.net>")
        assert r.first == "451 4.3.0 try again later"
        c.cmd("RCPT TO:<rcpt@example.org>", "503 5.5.1")
        check(c.mail("sender@example.net", ["rcpt@example.org"], SMALL), 250)
    assert len(sink.wait_messages(1)) == 1


@pytest.mark.parametrize("reply", ["452 4.2.2 mailbox full", "554 5.7.1 spam, go away"])
def test_next_hop_final_reply_relayed(sink, proxy_factory, reply):
    sink.on("dot", reply, times=1)
    d = proxy_factory(sink=sink)
    with _session(d) as c:
        r = c.mail("sender@example.net", ["rcpt@example.org"], SMALL)
        assert r.first == reply
        # the session goes on
        check(c.mail("sender@example.net", ["rcpt@example.org"], SMALL), 250)
        c.quit()
    log_of(d, n=1, action="pass", status="clean", reply=re.escape(reply))
    assert len(sink.messages) == 1


def test_next_hop_refuses_data_relayed(sink, proxy_factory):
    sink.on("data", "554 5.5.0 no DATA today", times=1)
    d = proxy_factory(sink=sink)
    with _session(d) as c:
        r = c.mail("sender@example.net", ["rcpt@example.org"], SMALL)
        assert r.first == "554 5.5.0 no DATA today"
        c.cmd("NOOP", 250)
    assert not sink.messages


def test_next_hop_closes_mid_data(sink, proxy_factory):
    sink.on("body", "close")
    d = proxy_factory(sink=sink)
    msg = headers("cut") + b"\r\n" + b"line\r\n" * 5000
    with _session(d) as c:
        r = c.mail("sender@example.net", ["rcpt@example.org"], msg)
        check(r, "451 4.4.1")
        try:
            r2 = c.reply()
            check(r2, "421 4.4.1")
        except (EOFError, ConnectionResetError):
            pass
    rec = log_of(d)
    assert not rec["reply"].startswith("2"), rec["line"]
    assert rec["reply"].startswith("451 4.4.1")
    wait_until(lambda: sink.partial, what="the sink to record the cut message")
    assert not sink.messages


@pytest.mark.parametrize("step", ["mail", "rcpt", "data", "dot"])
def test_next_hop_hangs(sink_factory, proxy_factory, step):
    sink = sink_factory(hang_max=20)
    sink.on(step, "hang")
    d = proxy_factory(sink=sink, smtp={"next_hop_timeout": "1s"})
    t0 = time.monotonic()
    with _session(d) as c:
        c.timeout = 8
        c.cmd("MAIL FROM:<sender@example.net>", 451 if step == "mail" else 250)
        if step in ("rcpt", "data", "dot"):
            c.cmd("RCPT TO:<rcpt@example.org>", 451 if step == "rcpt" else 250)
        if step in ("data", "dot"):
            c.cmd("DATA", 354)
            r = c.data(SMALL)
            check(r, "451 4.4.1")
            if step == "dot":
                rec = log_of(d)
                assert rec["reply"].startswith("451 4.4.1"), rec["line"]
    assert time.monotonic() - t0 < 8
    assert not sink.messages


def test_next_hop_closes_after_mail(sink, proxy_factory):
    sink.on("rcpt", "close")
    d = proxy_factory(sink=sink)
    with _session(d) as c:
        c.cmd("MAIL FROM:<sender@example.net>", 250)
        r = c.cmd("RCPT TO:<rcpt@example.org>")
        check(r, "451 4.4.1")
        try:
            check(c.reply(), "421 4.4.1")
        except (EOFError, ConnectionResetError):
            pass
        assert c.at_eof()


# ----------------------------------------------------------------- scanner

def _dead_clamd(tmp_path):
    return {"backend": "clamd", "clamd_socket": str(tmp_path / "no-clamd.sock"),
            "clamd_connect_timeout": "1s", "clamd_timeout": "2s"}


def test_scanner_down_tempfails(sink, proxy_factory, tmp_path):
    d = proxy_factory(sink=sink, scan=_dead_clamd(tmp_path))
    with _session(d) as c:
        r = c.mail("sender@example.net", ["rcpt@example.org"], SMALL)
        assert r.first == "451 4.7.0 message not scanned: scanner unavailable"
        c.quit()
    log_of(d, status="error", action="tempfail",
           reply="451 4.7.0 message not scanned: scanner unavailable")
    assert not sink.messages and d.quarantine() == []
    assert "RSET" in sink.lines()


def test_scanner_down_pass(sink, proxy_factory, tmp_path):
    d = proxy_factory(sink=sink, scan=_dead_clamd(tmp_path), inbound={"scanner_error": "pass"})
    with _session(d) as c:
        r = c.mail("sender@example.net", ["rcpt@example.org"], SMALL)
        check(r, 250)
    (m,) = sink.wait_messages(1)
    trace, rest = strip_trace(m.data)
    assert trace.get("X-Portcullis-Unscanned") == "scanner unavailable", trace
    assert rest == SMALL
    log_of(d, action="pass", status="error")
    d.wait_log(r"warn")


def test_scanner_down_reject(sink, proxy_factory, tmp_path):
    d = proxy_factory(sink=sink, scan=_dead_clamd(tmp_path), inbound={"scanner_error": "reject"})
    with _session(d) as c:
        r = c.mail("sender@example.net", ["rcpt@example.org"], SMALL)
        assert r.first == "554 5.7.0 message not scanned: scanner unavailable"
    assert not sink.messages


def test_scanner_down_quarantine(sink, proxy_factory, tmp_path):
    d = proxy_factory(sink=sink, scan=_dead_clamd(tmp_path),
                      inbound={"scanner_error": "quarantine"})
    with _session(d) as c:
        r = c.mail("sender@example.net", ["rcpt@example.org"], SMALL)
    m = re.fullmatch(r"250 2\.0\.0 message quarantined as (%s)" % QID_RE, r.first)
    assert m, r
    (q,) = d.quarantine()
    assert q["id"] == m.group(1) and q["status"] == "error"
    assert d.quarantined_bytes(q["id"]) == SMALL
    assert not sink.messages


def test_limit_max_depth(sink, proxy_factory):
    d = proxy_factory(sink=sink, scan={"max_depth": "2"})
    one = multipart([part("text/plain", b"hi\r\n"),
                     b64_part(zip_bytes([("a.txt", b"hello\n")]), "a.zip", "application/zip")])
    two = multipart([part("text/plain", b"hi\r\n"),
                     b64_part(zip_bytes([("in.zip", zip_bytes([("a.txt", b"hello\n")]))]),
                              "b.zip", "application/zip")])
    with _session(d) as c:
        check(c.mail("sender@example.net", ["rcpt@example.org"], one), 250)
        r = c.mail("sender@example.net", ["rcpt@example.org"], two)
        assert r.first == "451 4.7.0 message not scanned: limit max_depth"
    log_of(d, n=2, status="limit", action="tempfail")
    assert len(sink.messages) == 1


def test_limit_max_depth_one_zip_in_zip(sink, proxy_factory):
    d = proxy_factory(sink=sink, scan={"max_depth": "1"})
    two = multipart([part("text/plain", b"hi\r\n"),
                     b64_part(zip_bytes([("in.zip", zip_bytes([("a.txt", b"hello\n")]))]),
                              "b.zip", "application/zip")])
    with _session(d) as c:
        r = c.mail("sender@example.net", ["rcpt@example.org"], two)
        check(r, "451 4.7.0")
        assert "limit" in r.first
    assert not sink.messages


# --------------------------------------------------------------- disk full

def test_spool_disk_full(sink, proxy_factory, small_tmpfs, tmp_path):
    spool = small_tmpfs(tmp_path / "spool")
    d = proxy_factory(sink=sink, daemon={"spool_dir": spool}, smtp={"memory_spool": "0"})
    big = headers("big") + b"\r\n" + (b"y" * 76 + b"\r\n") * 5000      # ~390k
    with _session(d) as c:
        r = c.mail("sender@example.net", ["rcpt@example.org"], big)
        assert r.first == "452 4.3.1 insufficient system storage"
        # nothing lost: the space is back and the session goes on
        check(c.mail("sender@example.net", ["rcpt@example.org"], SMALL), 250)
        c.quit()
    (m,) = sink.wait_messages(1)
    assert_delivered_clean(m, SMALL, "sender@example.net", ["rcpt@example.org"])
    log_of(d, n=1, reply="452 4.3.1 .*")
    assert [p for p in spool.rglob("*") if p.is_file()] == []


def test_quarantine_disk_full(sink, proxy_factory, small_tmpfs, tmp_path):
    q = small_tmpfs(tmp_path / "q")
    d = proxy_factory(sink=sink, quarantine={"dir": q})
    big = multipart([part("text/plain", (b"z" * 76 + b"\r\n") * 4000),
                     b64_part(EICAR, "eicar.com")])                        # ~310k
    with _session(d) as c:
        r = c.mail("sender@example.net", ["rcpt@example.org"], big)
        assert r.first == "452 4.3.1 insufficient system storage"
        r = c.mail("sender@example.net", ["rcpt@example.org"], INFECTED)
        check(r, "^250 2\\.0\\.0 message quarantined as %s$" % QID_RE)
    rows = d.quarantine()
    assert len(rows) == 1 and rows[0]["size"] == len(INFECTED)
    assert not sink.messages
    log_of(d, n=1, action="quarantine", reply="452 4.3.1 .*")
    assert not [p for p in q.rglob("*.eml") if p.stat().st_size > 100000]
