"""Access control on the listeners: [smtp] clients (554, then only QUIT),
max_sessions_per_client and max_connection_rate (421), limit_exceptions;
the same limits on an FTP listener. Clients come from 127.0.0.1 and
127.0.0.2 (both loopback), bound as the source address."""
import time

import pytest

pytest.register_assert_rewrite("smtp_util", "ftp_util")
from smtp_util import *  # noqa: E402,F401,F403
from smtp_util import Client, check, headers, wait_until  # noqa: E402
from ftp_util import *  # noqa: E402,F401,F403
from ftp_util import FtpClient, RawFtp  # noqa: E402

pytest_plugins = ["smtp_util", "ftp_util"]

BODY = headers("access") + b"\r\nfrom an allowed client\r\n"


def send_one(port, source, tag):
    with Client(port, source=source) as c:
        c.banner()
        c.ehlo()
        check(c.mail("sender@example.net", ["rcpt@example.org"],
                      headers(tag) + b"\r\nbody\r\n"), 250)
        c.quit()


def test_smtp_allow_list(sink, proxy_factory):
    """A client outside clients gets 554 5.7.1 and 503 to every command but
    QUIT, is logged, and reaches no next hop; one inside is served."""
    d = proxy_factory(sink=sink, smtp={"clients": "127.0.0.1/32 ::1/128"})
    send_one(d.port, "127.0.0.1", "inside")
    (m,) = sink.wait_messages(1)
    assert b"Subject: inside" in m.data

    with Client(d.port, source="127.0.0.2") as c:
        check(c.banner(None), "554 5.7.1")
        check(c.cmd("EHLO client.example"), "503 5.7.1")
        check(c.cmd("MAIL FROM:<sender@example.net>"), "503 5.7.1")
        check(c.cmd("RCPT TO:<rcpt@example.org>"), "503 5.7.1")
        check(c.cmd("DATA"), "503 5.7.1")
        check(c.cmd("QUIT"), "221")
        assert c.at_eof()
    d.wait_log(r"refused client=127\.0\.0\.2 reason=not-allowed \(listener smtp clients\)")
    # A refused client that never says QUIT is closed after a few commands.
    with Client(d.port, source="127.0.0.2") as c:
        check(c.banner(None), "554")
        codes = []
        for _ in range(20):
            try:
                codes.append(c.cmd("NOOP").code)
            except (EOFError, ConnectionResetError, BrokenPipeError):
                break
        assert codes and codes[-1] == 421 and set(codes[:-1]) == {503}, codes
    time.sleep(0.3)
    assert len(sink.messages) == 1, "nothing from the refused client"


def test_smtp_sessions_per_client(sink, proxy_factory):
    """Two sessions from 127.0.0.1 at once with max_sessions_per_client = 2:
    the third gets 421 and is closed; 127.0.0.2 is still served; once one
    ends, 127.0.0.1 may open a new one."""
    d = proxy_factory(sink=sink, smtp={"max_sessions_per_client": "2", "limit_exceptions": ""})
    a, b = Client(d.port), Client(d.port)
    with a, b:
        a.banner()
        b.banner()
        with Client(d.port) as c:
            check(c.banner(None), "421 4.7.0")
            assert c.at_eof()
        d.wait_log(r"refused client=127\.0\.0\.1 reason=too-many-sessions "
                   r"\(max_sessions_per_client=2\)")
        send_one(d.port, "127.0.0.2", "other client")
        a.quit()

        def can():
            with Client(d.port) as c:
                r = c.banner(None)
                if r.code == 220:
                    c.quit()
                    return True
                return False
        wait_until(can, 10, 0.1, "a session from 127.0.0.1 to be free again")
        b.ehlo()
    sink.wait_messages(1)


def test_smtp_exceptions(sink, proxy_factory):
    """limit_exceptions (loopback by default): an MTA on this host is not
    limited however many sessions it opens."""
    d = proxy_factory(sink=sink, smtp={"max_sessions_per_client": "1",
                                       "max_connection_rate": "1"})
    cs = [Client(d.port) for _ in range(4)]
    try:
        for c in cs:
            c.banner()
        for i, c in enumerate(cs):
            c.ehlo()
            check(c.mail("sender@example.net", ["rcpt@example.org"],
                         headers("exempt %d" % i) + b"\r\nbody\r\n"), 250)
    finally:
        for c in cs:
            c.close()
    assert len(sink.wait_messages(4)) == 4


def test_smtp_connection_rate(sink, proxy_factory):
    """max_connection_rate = 3: the fourth connection within the minute gets
    421 4.7.0; another client is not affected."""
    d = proxy_factory(sink=sink, smtp={"max_connection_rate": "3", "limit_exceptions": ""})
    for i in range(3):
        with Client(d.port) as c:
            c.banner()
            c.quit()
    with Client(d.port) as c:
        check(c.banner(None), "421 4.7.0")
        assert "too many connections" in str(c.log)
        assert c.at_eof()
    d.wait_log(r"refused client=127\.0\.0\.1 reason=too-fast \(max_connection_rate=3\)")
    send_one(d.port, "127.0.0.2", "other")
    sink.wait_messages(1)


def test_ftp_connection_rate(ftp_server, ftp_proxy_factory):
    """The same rate limit on an FTP listener: 421 for the third connection
    within the minute with max_connection_rate = 2; 127.0.0.2 logs in."""
    d = ftp_proxy_factory(server=ftp_server, ftp={"max_connection_rate": 2})
    for _ in range(2):
        c = FtpClient("127.0.0.1", d.ftp_port, "pasv", timeout=5)
        c.quit()
        c.close_quietly()
    with RawFtp(d.ftp_port) as r:
        first = r.reply()
        assert first.startswith("421") and "connections" in first, first
        assert r.at_eof(5)
    d.wait_log(r"refused client=127\.0\.0\.1:\d+ reason=too-fast \(max_connection_rate=2\)")
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv", source="127.0.0.2", timeout=5)
    c.quit()
    c.close_quietly()


def test_ftp_exceptions(ftp_server, ftp_proxy_factory):
    """An FTP client in limit_exceptions is not limited."""
    d = ftp_proxy_factory(server=ftp_server, ftp={"max_connection_rate": 1,
                                                  "max_sessions_per_client": 1,
                                                  "limit_exceptions": "127.0.0.2/32"})
    cs = [FtpClient("127.0.0.1", d.ftp_port, "pasv", source="127.0.0.2", timeout=5)
          for _ in range(3)]
    for c in cs:
        c.quit()
        c.close_quietly()
