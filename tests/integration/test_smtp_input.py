"""Hostile and sloppy clients: garbage, commands out of order, a 1 MB
command line, NUL bytes, bare LF line endings, SMTP smuggling, a MIME
message without its final boundary, a client that disappears mid-DATA."""

import re
import socket
import time

import pytest

pytest.register_assert_rewrite("smtp_util")
from smtp_util import *  # noqa: E402,F401,F403

pytest_plugins = ["smtp_util"]

SMALL = headers("small") + b"\r\nsmall body\r\n"


@pytest.fixture
def proxy(sink, proxy_factory):
    return proxy_factory(sink=sink, inbound={"infected": "reject"})


def test_garbage_and_unknown_commands(proxy, sink):
    with Client(proxy.port) as c:
        c.banner()
        c.cmd(b"\xff\xfe\x01\x02garbage \x80", "500 5.5.2")
        c.cmd("FOO bar", "500 5.5.2")
        c.cmd("", "500 5.5.2")
        c.cmd("MAIL FROM:<a@example.net>", "503 5.5.1")      # before HELO
        c.ehlo()
        c.cmd("AUTH PLAIN AGFhAGI=", "502 5.5.1")
        c.cmd("VRFY root", "252 2.1.5")
        c.cmd("MAIL FROM:<a@example.net", "501 5.5.4")
        c.cmd("MAIL TO:<a@example.net>", "501 5.5.4")
        c.cmd("MAIL FROM:<a@example.net> BOGUS=1", "555 5.5.4")
        c.cmd("NOOP", "250 2.0.0")
        check(c.mail("sender@example.net", ["rcpt@example.org"], SMALL), 250)
        c.quit()
    assert len(sink.wait_messages(1)) == 1
    assert not sink.errors, "the proxy passed bad commands on: %r" % sink.errors
    assert not [l for l in sink.lines() if re.match(r"(FOO|BDAT|AUTH|VRFY)", l)]


def test_bdat_refused(proxy, sink):
    """BDAT's chunk would follow at once: 502, then the proxy hangs up."""
    with Client(proxy.port) as c:
        c.banner()
        c.ehlo()
        c.cmd("BDAT 10 LAST", "502 5.5.1")
        assert c.at_eof()
    assert not [l for l in sink.lines() if l.startswith("BDAT")]


def test_out_of_order(proxy, sink):
    with Client(proxy.port) as c:
        c.banner()
        c.ehlo()
        c.cmd("RCPT TO:<rcpt@example.org>", "503 5.5.1")
        c.cmd("DATA", "503 5.5.1")
        c.cmd("MAIL FROM:<sender@example.net>", "250")
        c.cmd("MAIL FROM:<sender@example.net>", "503 5.5.1")
        c.cmd("DATA", "554 5.5.1")
        c.cmd("RCPT TO:<rcpt@example.org>", "250")
        c.cmd("DATA", "354")
        c.data(SMALL, 250)
        c.cmd("RCPT TO:<rcpt@example.org>", "503 5.5.1")      # the transaction ended
        c.quit()
    assert len(sink.wait_messages(1)) == 1
    assert not sink.errors


def test_one_megabyte_command_line(proxy, sink):
    with Client(proxy.port) as c:
        c.banner()
        c.ehlo()
        c.send(b"MAIL FROM:<" + b"a" * (1 << 20) + b"@example.net>\r\n")
        check(c.reply(), "500 5.5.2 line too long")
        # exactly one reply for the long line: the next one is NOOP's
        c.cmd("NOOP", "250 2.0.0")
        check(c.mail("sender@example.net", ["rcpt@example.org"], SMALL), 250)
        c.quit()
    (m,) = sink.wait_messages(1)
    assert_delivered_clean(m, SMALL, "sender@example.net", ["rcpt@example.org"])
    assert max(len(l) for l in sink.lines()) < 2048
    proxy.wait_log(r"smtp\[1\]: command line too long")


def test_long_line_limit_is_configurable(sink, proxy_factory):
    d = proxy_factory(sink=sink, smtp={"max_line_length": "600"})
    with Client(d.port) as c:
        c.banner()
        c.ehlo()
        c.cmd("NOOP " + "x" * 580, "250")
        c.cmd("NOOP " + "x" * 700, "500 5.5.2 line too long")
        c.cmd("NOOP", "250")


@pytest.mark.parametrize("line", [b"MAIL FROM:<a\x00b@example.net>", b"NO\x00OP",
                                  b"\x00", b"EHLO \x00client"])
def test_nul_in_command(proxy, sink, line):
    with Client(proxy.port) as c:
        c.banner()
        c.ehlo()
        c.cmd(line, "500 5.5.2")
        c.cmd("NOOP", "250")
        check(c.mail("sender@example.net", ["rcpt@example.org"], SMALL), 250)
    sink.wait_messages(1)
    assert not [l for l in sink.commands if b"\x00" in l[1]]


def test_bare_lf_commands_and_data(proxy, sink):
    body_lf = (b"From: <sender@example.net>\nTo: <rcpt@example.org>\nSubject: bare LF\n\n"
               b"line one\n..leading dot, stuffed\nmixed\r\nlast\r\n")
    with Client(proxy.port) as c:
        c.banner()
        c.send(b"EHLO lf.example\n")
        check(c.reply(), 250)
        c.send(b"MAIL FROM:<sender@example.net>\n")
        check(c.reply(), "250 2.1.0")
        c.send(b"RCPT TO:<rcpt@example.org>\n")
        check(c.reply(), "250 2.1.5")
        c.send(b"DATA\n")
        check(c.reply(), 354)
        c.send(b"..leading dot stuffed\n" + body_lf + b".\r\n")
        check(c.reply(), 250)
        c.send(b"QUIT\n")
        check(c.reply(), 221)
    (m,) = sink.wait_messages(1)
    expect = to_crlf(b".leading dot stuffed\n" + body_lf.replace(b"\n..", b"\n."))
    assert_delivered_clean(m, expect, "sender@example.net", ["rcpt@example.org"])
    assert m.xforward["HELO"] == "lf.example"


SMUGGLED = (b"MAIL FROM:<evil@example.com>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\n"
            b"From: <ceo@example.org>\r\nSubject: smuggled\r\n\r\nsmuggled body\r\n")


@pytest.mark.parametrize("sep", [b"\n.\n", b"\r\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\r"],
                         ids=["LF.LF", "CRLF.LF", "LF.CRLF", "CR.CRLF", "CRLF.CR"])
def test_smuggling_does_not_end_data(proxy, sink, sep):
    head = headers("smuggling") + b"\r\nfirst part"
    with Client(proxy.port) as c:
        c.banner()
        c.ehlo()
        c.cmd("MAIL FROM:<sender@example.net>", 250)
        c.cmd("RCPT TO:<rcpt@example.org>", 250)
        c.cmd("DATA", 354)
        c.send(head + sep + SMUGGLED + b".\r\n")
        r = c.reply()
        check(r, 250)
        # one reply only: nothing else is waiting
        c.cmd("NOOP", "250 2.0.0")
        c.quit()
    (m,) = sink.wait_messages(1)
    assert m.mail_from == "sender@example.net" and m.rcpts == ["rcpt@example.org"]
    assert b"MAIL FROM:<evil@example.com>" in m.data and b"smuggled body" in m.data
    assert not m.bare_lf, "bare LF must reach the next hop as CRLF"
    assert not re.search(rb"(?<!\r)\n", m.data)
    mails = [l for l in sink.lines() if l.startswith("MAIL")]
    assert mails == ["MAIL FROM:<sender@example.net>"], mails
    # The daemon's log reaches us through a reader thread, maybe after the
    # reply: its disconnect line comes after every message line.
    proxy.wait_log(r"smtp\[1\]: disconnect")
    assert len(proxy.message_logs()) == 1


def test_missing_final_boundary_still_detected(proxy, sink):
    msg = multipart([part("text/plain", b"hello\r\n"), b64_part(EICAR, "eicar.com")],
                    closing=False)
    assert b"--=_portcullis_test_b0--" not in msg
    with Client(proxy.port) as c:
        c.banner()
        c.ehlo()
        r = c.mail("sender@example.net", ["rcpt@example.org"], msg)
    check(r, "^550 5\\.7\\.1 message rejected: virus found \\(%s\\)$" % names_rx(EICAR_RE))
    log_of(proxy, status="infected", action="reject")
    assert not sink.messages


def test_client_disconnect_mid_data(sink, proxy_factory):
    d = proxy_factory(sink=sink, smtp={"memory_spool": "1k"})   # spool to a file
    msg = multipart([part("text/plain", b"x" * 4000), b64_part(EICAR, "eicar.com")])
    with Client(d.port) as c:
        c.banner()
        c.ehlo()
        c.cmd("MAIL FROM:<sender@example.net>", 250)
        c.cmd("RCPT TO:<rcpt@example.org>", 250)
        c.cmd("DATA", 354)
        c.send(dot_stuff(msg))           # everything but the final dot
        time.sleep(0.2)
        c.sock.shutdown(socket.SHUT_RDWR)
    d.wait_log(r"smtp\[1\]: client gone during DATA")
    d.wait_log(r"smtp\[1\]: disconnect")
    settle(d, sink)
    assert not sink.all_messages and not sink.notices()
    assert "DATA" not in sink.lines()
    assert d.quarantine() == []
    assert d.message_logs() == [], "no transaction outcome for an unfinished message"
    assert [p for p in d.spool_dir.rglob("*") if p.is_file()] == [], "spool cleaned up"


def test_disconnect_log_reason(proxy, sink):
    """The disconnect line carries reason=quit|eof (docs/smtp.md, Logs)."""
    with Client(proxy.port) as c:
        c.banner()
        c.quit()
    with Client(proxy.port) as c:
        c.banner()
        c.ehlo()
    proxy.wait_log(r"smtp\[2\]: disconnect")
    proxy.wait_log(r"smtp\[1\]: disconnect reason=quit commands=1", timeout=0.5)
    proxy.wait_log(r"smtp\[2\]: disconnect reason=eof commands=1", timeout=0.5)


def test_helo_smtp_client(proxy, sink):
    """Plain HELO: no extensions, mail still flows."""
    with Client(proxy.port) as c:
        c.banner()
        r = c.cmd("HELO old.example", 250)
        assert len(r.lines) == 1
        check(c.mail("sender@example.net", ["rcpt@example.org"], SMALL), 250)
        c.quit()
    (m,) = sink.wait_messages(1)
    assert m.xforward["PROTO"] == "SMTP"


def test_max_recipients(sink, proxy_factory):
    d = proxy_factory(sink=sink, smtp={"max_recipients": "2"})
    with Client(d.port) as c:
        c.banner()
        c.ehlo()
        c.cmd("MAIL FROM:<sender@example.net>", 250)
        c.cmd("RCPT TO:<a@example.org>", 250)
        c.cmd("RCPT TO:<b@example.org>", 250)
        c.cmd("RCPT TO:<c@example.org>", "452 4.5.3")
        c.cmd("DATA", 354)
        check(c.data(SMALL), 250)
    (m,) = sink.wait_messages(1)
    assert m.rcpts == ["a@example.org", "b@example.org"]


def test_max_sessions(sink, proxy_factory):
    d = proxy_factory(sink=sink, smtp={"max_sessions": "2"})
    a, b = Client(d.port), Client(d.port)
    with a, b:
        a.banner()
        b.banner()
        with Client(d.port) as c:
            check(c.reply(), "421 4.7.0")
            assert c.at_eof()
        a.ehlo()
    d.wait_log(r"too many sessions")


def test_command_timeout(sink, proxy_factory):
    d = proxy_factory(sink=sink, smtp={"command_timeout": "1s"})
    with Client(d.port) as c:
        c.banner()
        c.ehlo()
        t0 = time.monotonic()
        check(c.reply(), "421 4.4.2")
        assert 0.5 < time.monotonic() - t0 < 5
        assert c.at_eof()
    d.wait_log(r"smtp\[1\]: timeout state=cmd")


def test_data_timeout(sink, proxy_factory):
    d = proxy_factory(sink=sink, smtp={"data_timeout": "1s"})
    with Client(d.port) as c:
        c.banner()
        c.ehlo()
        c.cmd("MAIL FROM:<sender@example.net>", 250)
        c.cmd("RCPT TO:<rcpt@example.org>", 250)
        c.cmd("DATA", 354)
        c.send(SMALL)
        check(c.reply(), "421 4.4.2")
    d.wait_log(r"smtp\[1\]: timeout state=data")
    settle(d, sink)
    assert not sink.all_messages and d.message_logs() == []
