"""portcullisd relays clean mail unchanged: smtplib, swaks and raw clients,
8-bit and SMTPUTF8 mail, pipelining, STARTTLS on both legs, XFORWARD and
XCLIENT, SIZE. The next hop is a recording sink on 127.0.0.1."""

import re
import smtplib
import socket
import ssl
import subprocess

import pytest

pytest.register_assert_rewrite("smtp_util")
from smtp_util import *  # noqa: E402,F401,F403

pytest_plugins = ["smtp_util"]

CLEAN = multipart([
    part("text/plain; charset=us-ascii", b"Hello,\r\n.a line starting with a dot\r\n"
         b"..two dots\r\n.\r\nlast line\r\n"),
    b64_part(bytes(range(256)) * 8, "data.bin"),
], subject="clean relay")


def test_clean_raw_client_byte_identical(sink, proxy_factory):
    d = proxy_factory(sink=sink)
    with Client(d.port) as c:
        c.banner("220 portcullis.test ESMTP Portcullis")
        c.ehlo()
        r = c.mail("sender@example.net", ["rcpt@example.org", "two@example.org"], CLEAN)
        check(r, "^250 2\\.0\\.0 Ok: queued as SINK1$")   # the next hop's own reply
        c.quit()
    (m,) = sink.wait_messages(1)
    assert_delivered_clean(m, CLEAN, "sender@example.net", ["rcpt@example.org", "two@example.org"])
    log_of(d, direction="inbound", status="clean", action="pass", rcpts="2",
           reply="250 2.0.0 Ok: queued as SINK1", size=str(len(CLEAN)),
           **{"from": "<sender@example.net>"})


def test_session_story_in_one_grep(sink, proxy_factory):
    """Every line about a message carries its session id: the commands, the
    next hop's exchange, the worker's verdict, the decision and the end,
    so one grep for smtp[N] tells its whole story."""
    d = proxy_factory(sink=sink)
    with Client(d.port) as c:
        c.banner()
        c.ehlo()
        c.mail("sender@example.net", ["rcpt@example.org"], CLEAN, expect=250)
        c.quit()
    d.wait_log(r"smtp\[1\]: disconnect reason=quit")
    story = [l for l in d.log().splitlines() if "smtp[1]" in l]
    for rx in (r"smtp\[1\]: connect client=127\.0\.0\.1:",
               r"smtp\[1\]: nexthop 127\.0\.0\.1:%d: <<< 220 " % sink.port,
               r"smtp\[1\]: nexthop 127\.0\.0\.1:%d: >>> MAIL FROM:<sender@example\.net>" %
               sink.port,
               r"smtp\[1\]: verdict name=\"message\" status=clean",
               r"smtp\[1\]: message from=<sender@example\.net> .* action=pass",
               r"smtp\[1\]: disconnect reason=quit"):
        assert any(re.search(rx, l) for l in story), "no %s in:\n%s" % (rx, "\n".join(story))
    # Nothing of this session is logged without its id.
    assert not [l for l in d.log().splitlines() if re.search(r"info: verdict |nexthop\[", l)]


def test_clean_smtplib(sink, proxy_factory):
    d = proxy_factory(sink=sink)
    with smtplib.SMTP("127.0.0.1", d.port, local_hostname="smtplib.example", timeout=15) as s:
        refused = s.sendmail("sender@example.net", ["rcpt@example.org"], CLEAN)
        assert refused == {}
    (m,) = sink.wait_messages(1)
    assert_delivered_clean(m, CLEAN, "sender@example.net", ["rcpt@example.org"])
    assert m.xforward.get("HELO") == "smtplib.example"


def test_clean_swaks(sink, proxy_factory, swaks_bin, tmp_path):
    d = proxy_factory(sink=sink)
    f = tmp_path / "msg.eml"
    f.write_bytes(CLEAN[:-2])  # swaks ends the data with its own CRLF
    p = subprocess.run([swaks_bin, "--server", "127.0.0.1", "--port", str(d.port),
                        "--helo", "swaks.example", "--from", "sender@example.net",
                        "--to", "rcpt@example.org", "--data", "@%s" % f, "--pipeline"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 0, out
    assert re.search(r"<[-~] +250 2\.0\.0 Ok: queued as SINK1", out), out
    (m,) = sink.wait_messages(1)
    assert_delivered_clean(m, CLEAN, "sender@example.net", ["rcpt@example.org"])
    assert m.xforward.get("HELO") == "swaks.example"


def test_ehlo_lists_what_the_next_hop_offers(sink_factory, proxy_factory):
    full = sink_factory(caps=("PIPELINING", "SIZE 52428800", "8BITMIME", "ENHANCEDSTATUSCODES",
                              "SMTPUTF8", "XFORWARD NAME ADDR PORT PROTO HELO", "CHUNKING",
                              "AUTH PLAIN", "DSN", "ETRN", "XCLIENT NAME ADDR"))
    bare = sink_factory(caps=())
    d1 = proxy_factory(sink=full)             # 127.0.0.1 may send XFORWARD by default
    d2 = proxy_factory(sink=bare, smtp={"authorized_xforward_hosts": "192.0.2.0/24"})
    with Client(d1.port) as c:
        c.banner()
        kw = [l.split()[0] for l in c.ehlo().lines[1:]]
        assert sorted(kw) == sorted(["PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES",
                                     "SMTPUTF8", "DSN", "XFORWARD"])
    with Client(d2.port) as c:
        c.banner()
        kw = [l.split()[0] for l in c.ehlo().lines[1:]]
        for k in ("PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "STARTTLS",
                  "CHUNKING", "AUTH", "XFORWARD", "XCLIENT", "DSN"):
            assert k not in kw, kw
        assert "SIZE" in kw


def test_8bit_body_8bitmime(sink, proxy_factory):
    body = (headers("8-bit \xe9t\xe9", extra=["Content-Type: text/plain; charset=iso-8859-1",
                                              "Content-Transfer-Encoding: 8bit"]) +
            b"\r\ncaf\xe9 na\xefve \xff\xfe bytes\r\n\x80\x81\r\n")
    d = proxy_factory(sink=sink)
    with smtplib.SMTP("127.0.0.1", d.port, local_hostname="c.example", timeout=15) as s:
        s.sendmail("sender@example.net", ["rcpt@example.org"], body,
                   mail_options=["BODY=8BITMIME"])
    (m,) = sink.wait_messages(1)
    assert m.mail_params.split() == ["SIZE=%d" % len(body), "BODY=8BITMIME"]  # smtplib adds SIZE
    assert_delivered_clean(m, body, "sender@example.net", ["rcpt@example.org"])


def test_body_8bitmime_refused_when_next_hop_lacks_it(sink_factory, proxy_factory):
    sink = sink_factory(caps=("PIPELINING", "SIZE 1000000", "ENHANCEDSTATUSCODES"))
    d = proxy_factory(sink=sink)
    with Client(d.port) as c:
        c.banner()
        assert "8BITMIME" not in c.ehlo().text
        c.cmd("MAIL FROM:<sender@example.net> BODY=8BITMIME", "555 5.5.4")
        c.cmd("MAIL FROM:<sender@example.net> BODY=7BIT", "250")
        c.quit()
    assert not any(l.startswith("MAIL") and "8BITMIME" in l for l in sink.lines())


def test_smtputf8_passed_on(sink, proxy_factory):
    frm = "s\u00e9nder@exampl\u00e9.net"
    to = "\u53d7\u4fe1\u8005@example.org"
    body = (headers("utf8 \u2713", frm=frm, to=to,
                    extra=["Content-Type: text/plain; charset=utf-8"]) +
            "\r\n\u00fcnicode body \u2603\r\n".encode("utf-8"))
    d = proxy_factory(sink=sink)
    with smtplib.SMTP("127.0.0.1", d.port, local_hostname="c.example", timeout=15) as s:
        s.ehlo()
        assert s.has_extn("smtputf8")
        s.sendmail(frm, [to], body, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    (m,) = sink.wait_messages(1)
    assert m.mail_params.split() == ["SIZE=%d" % len(body), "SMTPUTF8", "BODY=8BITMIME"]
    assert_delivered_clean(m, body, frm, [to])


def test_smtputf8_refused_555_when_next_hop_lacks_it(sink_factory, proxy_factory):
    sink = sink_factory(caps=("PIPELINING", "SIZE 1000000", "8BITMIME", "ENHANCEDSTATUSCODES"))
    d = proxy_factory(sink=sink)
    with Client(d.port) as c:
        c.banner()
        assert "SMTPUTF8" not in c.ehlo().text
        c.cmd("MAIL FROM:<s\u00e9nder@example.net> SMTPUTF8", "555 5.5.4")
        c.cmd("MAIL FROM:<sender@example.net> XYZZY=1", "555 5.5.4")
        c.cmd("NOOP", "250")
        c.quit()
    assert not [l for l in sink.lines() if l.startswith("MAIL")]


def test_pipelining_replies_in_order(sink, proxy_factory):
    sink.on("rcpt", "550 5.1.1 <nobody@example.org>: user unknown", match=rb"nobody@")
    d = proxy_factory(sink=sink)
    msg = headers("pipelined") + b"\r\nbody\r\n"
    with Client(d.port) as c:
        c.banner()
        assert "PIPELINING" in c.ehlo().text
        c.send(b"MAIL FROM:<sender@example.net>\r\nRCPT TO:<a@example.org>\r\n"
               b"RCPT TO:<nobody@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n")
        got = [c.reply() for _ in range(5)]
        assert [r.first for r in got] == [
            "250 2.1.0 Ok", "250 2.1.5 Ok", "550 5.1.1 <nobody@example.org>: user unknown",
            "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>"]
        # the message and the next transaction's commands in one write
        c.send(dot_stuff(msg) + b".\r\nMAIL FROM:<s2@example.net>\r\nRCPT TO:<c@example.org>\r\n"
               b"DATA\r\n")
        got = [c.reply() for _ in range(4)]
        assert [r.code for r in got] == [250, 250, 250, 354]
        c.data(msg, "250")
        c.quit()
    ms = sink.wait_messages(2)
    assert ms[0].rcpts == ["a@example.org", "b@example.org"]
    assert ms[1].mail_from == "s2@example.net" and ms[1].rcpts == ["c@example.org"]


def test_starttls_from_client(sink, proxy_factory, certs):
    d = proxy_factory(sink=sink, smtp={"tls_cert": certs.cert, "tls_key": certs.key})
    s = smtplib.SMTP("127.0.0.1", d.port, local_hostname="tls.example", timeout=15)
    try:
        s.ehlo()
        assert s.has_extn("starttls")
        code, _ = s.starttls(context=certs.client_ctx())
        assert code == 220
        assert isinstance(s.sock, ssl.SSLSocket)
        s.ehlo()
        assert not s.has_extn("starttls"), "STARTTLS offered again inside TLS"
        s.sendmail("sender@example.net", ["rcpt@example.org"], CLEAN)
    finally:
        s.close()
    (m,) = sink.wait_messages(1)
    assert_delivered_clean(m, CLEAN, "sender@example.net", ["rcpt@example.org"])
    assert m.xforward.get("HELO") == "tls.example"


def _tls_session(d, certs):
    """A raw client socket after EHLO + STARTTLS: (tls socket, line file)."""
    raw = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    f = raw.makefile("rb")
    assert f.readline().startswith(b"220 ")
    raw.sendall(b"EHLO x.example\r\n")
    while not f.readline().startswith(b"250 "):
        pass
    raw.sendall(b"STARTTLS\r\n")
    assert f.readline().startswith(b"220 ")
    t = certs.client_ctx().wrap_socket(raw, server_hostname="localhost")
    return t, t.makefile("rb")


def test_starttls_session_closes_after_quit(sink, proxy_factory, certs):
    d = proxy_factory(sink=sink, smtp={"tls_cert": certs.cert, "tls_key": certs.key})
    t, f = _tls_session(d, certs)
    with t:
        negotiated = "%s:%s" % (t.version(), t.cipher()[0])
        t.sendall(b"QUIT\r\n")
        assert f.readline().startswith(b"221 2.0.0")
        t.settimeout(2)
        assert t.recv(100) == b"", "connection still open 2s after 221"
    # The admin sees what was negotiated, as the client saw it.
    d.wait_log(r"smtp\[1\]: tls established tls=%s$" % re.escape(negotiated), timeout=2)
    d.wait_log(r"smtp\[1\]: disconnect", timeout=2)


def test_starttls_client_close_noticed(sink, proxy_factory, certs):
    d = proxy_factory(sink=sink, smtp={"tls_cert": certs.cert, "tls_key": certs.key})
    t, f = _tls_session(d, certs)
    t.sendall(b"NOOP\r\n")
    assert f.readline().startswith(b"250 ")
    # The socket closes only when its file object is closed too.
    f.close()
    t.close()
    d.wait_log(r"smtp\[1\]: disconnect reason=eof", timeout=2)


def test_starttls_drops_pipelined_plaintext(sink, proxy_factory, certs):
    """Commands sent in the clear behind STARTTLS are not executed inside TLS."""
    d = proxy_factory(sink=sink, smtp={"tls_cert": certs.cert, "tls_key": certs.key})
    raw = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    with raw:
        f = raw.makefile("rb")
        assert f.readline().startswith(b"220 ")
        raw.sendall(b"EHLO x.example\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        raw.sendall(b"STARTTLS\r\nMAIL FROM:<injected@example.net>\r\n")
        assert f.readline().startswith(b"220 ")
        t = certs.client_ctx().wrap_socket(raw, server_hostname="localhost")
        tf = t.makefile("rb")
        t.sendall(b"NOOP\r\n")
        line = tf.readline()
        assert line.startswith(b"250 2.0.0"), "first reply inside TLS: %r" % line
        t.sendall(b"MAIL FROM:<a@example.net>\r\n")
        line = tf.readline()
        assert line.startswith(b"503 5.5.1"), "HELO state must be reset after STARTTLS: %r" % line
    assert not [l for l in sink.lines() if "injected" in l]


def test_starttls_to_next_hop(sink_factory, proxy_factory, certs):
    sink = sink_factory(caps=ALL_CAPS + ("STARTTLS",), tls_ctx=certs.server_ctx())
    d = proxy_factory(sink=sink)
    with Client(d.port) as c:
        c.banner()
        c.ehlo()
        check(c.mail("sender@example.net", ["rcpt@example.org"], CLEAN), 250)
        c.quit()
    (m,) = sink.wait_messages(1)
    assert m.tls, "the next hop offered STARTTLS and next_hop_tls = may"
    assert_delivered_clean(m, CLEAN, "sender@example.net", ["rcpt@example.org"])
    d.wait_log(r"smtp\[1\]: next hop TLS established tls=TLSv1\.[23]:\S+$")


def test_next_hop_tls_none_stays_plain(sink_factory, proxy_factory, certs):
    sink = sink_factory(caps=ALL_CAPS + ("STARTTLS",), tls_ctx=certs.server_ctx())
    d = proxy_factory(sink=sink, smtp={"next_hop_tls": "none"})
    with Client(d.port) as c:
        c.banner()
        c.ehlo()
        check(c.mail("sender@example.net", ["rcpt@example.org"], CLEAN), 250)
    (m,) = sink.wait_messages(1)
    assert not m.tls
    assert "STARTTLS" not in sink.lines()


def test_next_hop_tls_require_without_starttls_421(sink, proxy_factory):
    d = proxy_factory(sink=sink, smtp={"next_hop_tls": "require"})
    with Client(d.port) as c:
        c.banner()
        check(c.cmd("EHLO client.example"), "421 4.7.0")
        assert c.at_eof()
    assert not [l for l in sink.lines() if l.startswith("MAIL")]


def test_xforward_attributes(sink, proxy_factory):
    d = proxy_factory(sink=sink)
    with Client(d.port) as c:
        port = c.sock.getsockname()[1]
        c.banner()
        c.ehlo("helo+name=x.example")
        check(c.mail("sender@example.net", ["rcpt@example.org"], CLEAN), 250)
        c.cmd("HELO plain.example", 250)
        check(c.mail("sender@example.net", ["rcpt@example.org"], CLEAN), 250)
        c.quit()
    m1, m2 = sink.wait_messages(2)
    assert m1.xforward == {"NAME": "[UNAVAILABLE]", "ADDR": "127.0.0.1", "PORT": str(port),
                           "PROTO": "ESMTP", "HELO": "helo+2Bname+3Dx.example"}
    assert m2.xforward["HELO"] == "plain.example" and m2.xforward["PROTO"] == "SMTP"
    lines = sink.lines()
    for i, l in enumerate(lines):
        if l.startswith("MAIL FROM:"):
            assert lines[i - 1].startswith("XFORWARD "), "XFORWARD right before MAIL"
    assert not [l for l in lines if l.startswith("XCLIENT")]


def test_forward_client_off(sink, proxy_factory):
    d = proxy_factory(sink=sink, smtp={"forward_client": "off"})
    with Client(d.port) as c:
        c.banner()
        c.ehlo()
        check(c.mail("sender@example.net", ["rcpt@example.org"], CLEAN), 250)
    sink.wait_messages(1)
    assert not [l for l in sink.lines() if l.startswith(("XFORWARD", "XCLIENT"))]


@pytest.mark.parametrize("mode,caps", [
    ("xclient", ALL_CAPS),
    ("auto", ("PIPELINING", "SIZE 52428800", "8BITMIME", "ENHANCEDSTATUSCODES",
              "XCLIENT NAME ADDR PORT PROTO HELO")),
])
def test_xclient(sink_factory, proxy_factory, mode, caps):
    sink = sink_factory(caps=caps)
    d = proxy_factory(sink=sink, smtp={"forward_client": mode})
    with Client(d.port) as c:
        port = c.sock.getsockname()[1]
        c.banner()
        c.ehlo("xc.example")
        check(c.mail("sender@example.net", ["rcpt@example.org"], CLEAN), 250)
        c.quit()
    (m,) = sink.wait_messages(1)
    assert m.xclient["ADDR"] == "127.0.0.1"
    assert m.xclient["PORT"] == str(port)
    assert m.xclient["HELO"] == "xc.example"
    lines = sink.lines(m.conn)
    i = [k for k, l in enumerate(lines) if l.startswith("XCLIENT ")]
    assert len(i) == 1, lines
    assert lines[i[0] - 1] == "EHLO portcullis.test" and lines[i[0] + 1] == "EHLO portcullis.test"
    assert not [l for l in lines if l.startswith("XFORWARD")]


def test_size_advertised_and_lowered(sink_factory, proxy_factory):
    big = sink_factory(caps=("PIPELINING", "SIZE 52428800", "ENHANCEDSTATUSCODES"))
    small = sink_factory(caps=("PIPELINING", "SIZE 500000", "ENHANCEDSTATUSCODES"))
    d1 = proxy_factory(sink=big, smtp={"max_message_size": "1M"})
    d2 = proxy_factory(sink=small, smtp={"max_message_size": "1M"})
    with Client(d1.port) as c:
        c.banner()
        assert "SIZE 1048576" in c.ehlo().lines
        c.cmd("MAIL FROM:<sender@example.net> SIZE=2000000", "552 5.3.4")
        c.cmd("MAIL FROM:<sender@example.net> SIZE=1048577", "552 5.3.4")
        c.cmd("MAIL FROM:<sender@example.net> SIZE=1048576", "250")
        c.cmd("RSET", 250)
        c.cmd("MAIL FROM:<sender@example.net> SIZE=abc", "501 5.5.4")
    with Client(d2.port) as c:
        c.banner()
        assert "SIZE 500000" in c.ehlo().lines
        c.cmd("MAIL FROM:<sender@example.net> SIZE=500001", "552 5.3.4")
        c.cmd("MAIL FROM:<sender@example.net> SIZE=1000", "250")
    mails = [l for l in big.lines() + small.lines() if l.startswith("MAIL")]
    assert mails == ["MAIL FROM:<sender@example.net> SIZE=1048576",
                     "MAIL FROM:<sender@example.net> SIZE=1000"]


def test_message_over_max_size_552_nothing_delivered(sink, proxy_factory):
    d = proxy_factory(sink=sink, smtp={"max_message_size": "64k"})
    big = headers("big") + b"\r\n" + (b"x" * 998 + b"\r\n") * 100
    small = headers("small") + b"\r\nsmall\r\n"
    with Client(d.port) as c:
        c.banner()
        c.ehlo()
        r = c.mail("sender@example.net", ["rcpt@example.org"], big)
        check(r, "552 5.3.4")
        # the session stays usable
        check(c.mail("sender@example.net", ["rcpt@example.org"], small), 250)
        c.quit()
    (m,) = sink.wait_messages(1)
    assert_delivered_clean(m, small, "sender@example.net", ["rcpt@example.org"])
    assert len(sink.all_messages) == 1
    log_of(d, reply="552 5.3.4 .*")


def _have_ipv6():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
            return s.getsockname()[1]
    except OSError:
        return 0


def test_ipv6_listener(sink, proxy_factory):
    port = _have_ipv6()
    if not port:
        pytest.skip("no ::1 on this machine")
    d = proxy_factory(sink=sink, smtp={"listen": "[::1]:%d" % port})
    with Client(d.port, host="::1") as c:
        cport = c.sock.getsockname()[1]
        c.banner()
        c.ehlo("v6.example")
        check(c.mail("sender@example.net", ["rcpt@example.org"], CLEAN), 250)
        c.quit()
    (m,) = sink.wait_messages(1)
    assert m.xforward["ADDR"] == "IPV6:::1" and m.xforward["PORT"] == str(cport)
    d.wait_log(r"smtp\[1\]: connect client=\[::1\]:%d listener=smtp" % cport)


def test_maildir_next_hop(proxy_factory, tmp_path):
    md = tmp_path / "Maildir"
    d = proxy_factory(maildir=md)
    infected = multipart([part("text/plain", b"hi\r\n"), b64_part(EICAR, "eicar.com")])
    with Client(d.port) as c:
        c.banner()
        kw = [l.split()[0] for l in c.ehlo().lines[1:]]
        assert {"PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES"} <= set(kw)
        r = c.mail("sender@example.net", ["rcpt@example.org"], CLEAN)
        m = re.fullmatch(r"250 2\.0\.0 Ok: delivered as (\S+)", r.first)
        assert m, r
        name = m.group(1)
        check(c.mail("sender@example.net", ["rcpt@example.org"], infected),
              "^250 2\\.0\\.0 message quarantined as %s$" % QID_RE)
        c.quit()
    trace, rest = strip_trace((md / "new" / name).read_bytes())
    assert trace["X-Virus-Status"] == "clean" and rest == CLEAN
    wait_until(lambda: len(list((md / "new").iterdir())) == 2, what="the notice in the Maildir")
    notice = [p for p in (md / "new").iterdir() if p.name != name][0].read_bytes()
    assert re.search(EICAR_RE.encode(), notice) and b"To: <rcpt@example.org>" in notice
    assert list((md / "tmp").iterdir()) == []


def test_xforward_from_authorized_client(sink, proxy_factory):
    """A Postfix content filter names the original client; the next hop
    and the direction policy see that client, for one transaction."""
    d = proxy_factory(sink=sink, policy={"direction_by": "client"},
                      inbound={"infected": "reject"}, outbound={"infected": "drop"})
    infected = multipart([part("text/plain", b"hi\r\n"), b64_part(EICAR, "eicar.com")])
    with Client(d.port) as c:
        port = c.sock.getsockname()[1]
        c.banner()
        assert "XFORWARD NAME ADDR PORT PROTO HELO" in c.ehlo("postfix.example").lines
        c.cmd("XFORWARD NAME=mx.example.com ADDR=192.0.2.7 PORT=40000", "250 2.0.0")
        c.cmd("XFORWARD PROTO=ESMTP HELO=orig+2Eexample", "250 2.0.0")
        check(c.mail("sender@example.net", ["rcpt@example.org"], CLEAN), 250)
        # the attributes ended with that transaction
        check(c.mail("sender@example.net", ["rcpt@example.org"], CLEAN), 250)
        c.cmd("XFORWARD ADDR=192.0.2.7", 250)
        check(c.mail("sender@example.net", ["rcpt@example.org"], infected),
              "550 5.7.1")                      # external client: inbound
        check(c.mail("sender@example.net", ["rcpt@example.org"], infected),
              "250 2.0.0 message dropped")       # 127.0.0.1: outbound
        c.cmd("MAIL FROM:<sender@example.net>", 250)
        c.cmd("XFORWARD ADDR=192.0.2.8", "503 5.5.1")
        c.quit()
    m1, m2 = sink.wait_messages(2)
    assert m1.xforward == {"NAME": "mx.example.com", "ADDR": "192.0.2.7", "PORT": "40000",
                           "PROTO": "ESMTP", "HELO": "orig.example"}
    assert m2.xforward["ADDR"] == "127.0.0.1" and m2.xforward["PORT"] == str(port)
    assert m2.xforward["HELO"] == "postfix.example"
    d.wait_log(r"smtp\[1\]: disconnect")     # after every message line of the session
    logs = d.message_logs()
    assert [r["direction"] for r in logs] == ["inbound", "outbound", "inbound", "outbound"]


def test_xforward_from_unauthorized_client_refused(sink, proxy_factory):
    d = proxy_factory(sink=sink, smtp={"authorized_xforward_hosts": "192.0.2.0/24"})
    with Client(d.port) as c:
        c.banner()
        assert not [l for l in c.ehlo().lines if l.startswith("XFORWARD")]
        r = c.cmd("XFORWARD ADDR=192.0.2.7")
        assert r.code in (502, 550) and r.enh.startswith("5."), r
        check(c.mail("sender@example.net", ["rcpt@example.org"], CLEAN), 250)
    (m,) = sink.wait_messages(1)
    assert m.xforward["ADDR"] == "127.0.0.1"


def test_dsn_parameters(sink_factory, proxy_factory):
    dsn = sink_factory(caps=("PIPELINING", "SIZE 1000000", "ENHANCEDSTATUSCODES", "DSN"))
    nodsn = sink_factory(caps=("PIPELINING", "SIZE 1000000", "ENHANCEDSTATUSCODES"))
    d1, d2 = proxy_factory(sink=dsn), proxy_factory(sink=nodsn)
    with Client(d1.port) as c:
        c.banner()
        c.ehlo()
        c.cmd("MAIL FROM:<sender@example.net> RET=HDRS ENVID=QQ314159", 250)
        c.cmd("RCPT TO:<rcpt@example.org> NOTIFY=SUCCESS,FAILURE "
              "ORCPT=rfc822;rcpt@example.org", 250)
        c.cmd("DATA", 354)
        check(c.data(CLEAN), 250)
    with Client(d2.port) as c:
        c.banner()
        c.ehlo()
        c.cmd("MAIL FROM:<sender@example.net> RET=HDRS", "555 5.5.4")
        c.cmd("MAIL FROM:<sender@example.net>", 250)
        c.cmd("RCPT TO:<rcpt@example.org> NOTIFY=NEVER", "555 5.5.4")
    (m,) = dsn.wait_messages(1)
    assert m.mail_params.split() == ["RET=HDRS", "ENVID=QQ314159"]
    rc = [l for l in dsn.lines() if l.startswith("RCPT")]
    assert rc == ["RCPT TO:<rcpt@example.org> NOTIFY=SUCCESS,FAILURE "
                  "ORCPT=rfc822;rcpt@example.org"]
    assert not [l for l in nodsn.lines() if "RET=" in l or "NOTIFY=" in l]
