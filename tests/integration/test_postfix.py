"""Portcullis behind a real Postfix: the two setups of docs/postfix.md.

Every test builds its own Postfix instance (postfix_util.Postfix: its own
config, queue and data directories, loopback ports) and runs portcullisd
(smtp_util) between two of its smtpd services; the final sink is a
recording SMTP server that Postfix relays everything to, bounces included.

after-queue:  smtplib -> Postfix smtpd A -> queue -> content_filter
              portcullis:[127.0.0.1]:P -> portcullisd -> smtpd B
              (re-injection) -> queue -> relayhost = the sink
before-queue: smtplib -> Postfix smtpd A (smtpd_proxy_filter =
              127.0.0.1:P) -> portcullisd -> smtpd B -> queue -> the sink

The main.cf and master.cf lines below are the ones docs/postfix.md gives
admins, with the ports of the test. A virus must never reach the sink:
neither in a delivered message nor in a bounce Postfix writes; the control
test shows that with Postfix's default bounce_size_limit and a proxy that
rejects, the bounce does carry it, so the check can fail.
"""

import re
import smtplib
import socket
import time
import zipfile

import pytest

pytest.register_assert_rewrite("smtp_util", "postfix_util")
from smtp_util import EICAR, EICAR_RE, b64_part, multipart, part, zip_bytes  # noqa: E402
from postfix_util import carries_eicar, free_ports  # noqa: E402

pytest_plugins = ["smtp_util", "postfix_util"]

SENDER = "sender@example.net"
RCPT = "rcpt@example.org"
HELO = "client.example.net"
# The final sink: what a plain MTA offers (no XFORWARD/XCLIENT).
FINAL_CAPS = ("PIPELINING", "SIZE 52428800", "8BITMIME", "ENHANCEDSTATUSCODES")
BLOB = bytes(range(256)) * 4


def clean_mail(subject):
    return multipart([part("text/plain; charset=us-ascii", b"Hello,\r\nall fine here.\r\n"),
                      b64_part(BLOB, "data.bin")], subject=subject, frm=SENDER, to=RCPT)


def infected_mail(subject):
    return multipart([part("text/plain; charset=us-ascii", b"Please open the attachment.\r\n"),
                      b64_part(EICAR, "eicar.com")], subject=subject, frm=SENDER, to=RCPT)


# ---------------------------------------------------------------- recipes
# The same lines as docs/postfix.md; the ports are the test's.

def after_queue_main(proxy_port, bounce_size_limit="1"):
    main = {
        # Every message Postfix receives goes to Portcullis once...
        "content_filter": "portcullis:[127.0.0.1]:%d" % proxy_port,
        # ...and aliases/virtual are expanded once, after the filter.
        "receive_override_options": "no_address_mappings",
    }
    if bounce_size_limit is not None:
        # Bounces return the original's headers only, never its body.
        main["bounce_size_limit"] = bounce_size_limit
    return main


AFTER_QUEUE_MASTER = """\
127.0.0.1:{front} inet n - n - - smtpd
portcullis unix  -       -       n       -       10      smtp
    -o syslog_name=postfix/portcullis
    -o smtp_data_done_timeout=1200s
    -o smtp_send_xforward_command=yes
    -o disable_mime_output_conversion=yes
    -o smtp_generic_maps=
127.0.0.1:{reinject} inet n - n - 10 smtpd
    -o syslog_name=postfix/reinject
    -o content_filter=
    -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_milters
    -o smtpd_helo_restrictions=
    -o smtpd_client_restrictions=
    -o smtpd_sender_restrictions=
    -o smtpd_relay_restrictions=
    -o smtpd_recipient_restrictions=permit_mynetworks,reject
    -o smtpd_data_restrictions=
    -o mynetworks=127.0.0.0/8
    -o smtpd_authorized_xforward_hosts=127.0.0.0/8
"""

BEFORE_QUEUE_MASTER = """\
127.0.0.1:{front} inet n - n - 20 smtpd
    -o smtpd_proxy_filter=127.0.0.1:{proxy}
    -o smtpd_proxy_timeout=300s
    -o smtpd_discard_ehlo_keywords={discard}
    -o smtpd_client_connection_count_limit=10
{options}127.0.0.1:{reinject} inet n - n - - smtpd
    -o syslog_name=postfix/reinject
    -o smtpd_authorized_xforward_hosts=127.0.0.0/8
    -o smtpd_client_restrictions=
    -o smtpd_helo_restrictions=
    -o smtpd_sender_restrictions=
    -o smtpd_relay_restrictions=
    -o smtpd_recipient_restrictions=permit_mynetworks,reject
    -o smtpd_data_restrictions=
    -o mynetworks=127.0.0.0/8
    -o receive_override_options=no_unknown_recipient_checks
"""
RECIPE_DISCARD = "silent-discard,dsn"


class NextHop:
    """What proxy_factory needs of a next hop: Postfix's re-injection port."""

    def __init__(self, port):
        self.port = port


class Gateway:
    """The ports and peers of one setup."""

    def __init__(self, front, reinject, proxy_port, sink, proxy, postfix):
        self.front, self.reinject, self.proxy_port = front, reinject, proxy_port
        self.sink, self.proxy, self.postfix = sink, proxy, postfix


@pytest.fixture
def after_queue(sink_factory, proxy_factory, postfix_factory):
    """after_queue(infected="quarantine", bounce_size_limit="1", scan=None,
    main=None) -> Gateway; scan: more [scan] keys for portcullisd, main:
    more main.cf parameters."""

    def make(infected="quarantine", bounce_size_limit="1", scan=None, main=None):
        sink = sink_factory(caps=FINAL_CAPS, name="final")
        front, reinject, proxy_port = free_ports(3)
        d = proxy_factory(sink=NextHop(reinject),
                          smtp={"listen": "127.0.0.1:%d" % proxy_port, "next_hop_tls": "none"},
                          inbound={"infected": infected}, outbound={"infected": infected},
                          scan=scan or {})
        pf = postfix_factory(sink.port,
                             main=dict(after_queue_main(proxy_port, bounce_size_limit),
                                       **(main or {})),
                             services=AFTER_QUEUE_MASTER.format(front=front, reinject=reinject),
                             start_ports=[front, reinject])
        return Gateway(front, reinject, proxy_port, sink, d, pf)

    return make


@pytest.fixture
def before_queue(sink_factory, proxy_factory, postfix_factory):
    """before_queue(infected="reject", proxy_options="", discard=RECIPE_DISCARD)."""

    def make(infected="reject", proxy_options="", discard=RECIPE_DISCARD):
        sink = sink_factory(caps=FINAL_CAPS, name="final")
        front, reinject, proxy_port = free_ports(3)
        d = proxy_factory(sink=NextHop(reinject),
                          smtp={"listen": "127.0.0.1:%d" % proxy_port, "next_hop_tls": "none"},
                          inbound={"infected": infected}, outbound={"infected": infected})
        options = "    -o smtpd_proxy_options=%s\n" % proxy_options if proxy_options else ""
        pf = postfix_factory(sink.port, main={},
                             services=BEFORE_QUEUE_MASTER.format(
                                 front=front, reinject=reinject, proxy=proxy_port,
                                 discard=discard, options=options),
                             start_ports=[front, reinject])
        return Gateway(front, reinject, proxy_port, sink, d, pf)

    return make


# ---------------------------------------------------------------- helpers

class Submission:
    def __init__(self):
        self.ehlo = b""
        self.local_port = None
        self.replies = []          # (verb, code, text)

    @property
    def code(self):
        return self.replies[-1][1]

    @property
    def text(self):
        return self.replies[-1][2]

    def queue_id(self):
        m = re.search(r"queued as (\w+)", self.text)
        assert m, "no queue id in %r" % (self.replies,)
        return m.group(1)


def submit(port, msg, mail_from=SENDER, rcpts=(RCPT,), dsn=False):
    """Sends msg with smtplib as a client named HELO; stops at the first
    refusal. With dsn, asks for DSN (RET, ENVID, NOTIFY, ORCPT) when, and
    only when, the server offers it, as a client must."""
    s = Submission()
    with smtplib.SMTP("127.0.0.1", port, local_hostname=HELO, timeout=60) as c:
        code, s.ehlo = c.ehlo()
        assert code == 250, s.ehlo
        s.local_port = c.sock.getsockname()[1]
        use_dsn = dsn and c.has_extn("dsn")
        code, text = c.mail(mail_from, ["RET=HDRS", "ENVID=pc-test"] if use_dsn else [])
        s.replies.append(("MAIL", code, text.decode()))
        if code != 250:
            return s
        for r in rcpts:
            code, text = c.rcpt(r, ["NOTIFY=FAILURE", "ORCPT=rfc822;" + r] if use_dsn else [])
            s.replies.append(("RCPT", code, text.decode()))
            if code not in (250, 251):
                return s
        try:
            code, text = c.data(msg)
        except smtplib.SMTPDataError as e:
            code, text = e.smtp_code, e.smtp_error
        s.replies.append(("DATA", code, text.decode()))
    return s


def proxy_client_ports(d):
    """Ports of the clients portcullisd accepted, from its connect lines."""
    return [int(p) for p in re.findall(r"connect client=\[?127\.0\.0\.1\]?:(\d+)", d.log())]


def poll(pred, timeout, step=0.1):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


def assert_no_virus_anywhere(gw, sender_may_get=0):
    """Nothing at the sink and nothing left in Postfix's queue carries the
    EICAR file; the sender got at most sender_may_get messages."""
    for m in gw.sink.all_messages:
        assert not carries_eicar(m.data), \
            "message from <%s> to %s carries the virus" % (m.mail_from, m.rcpts)
    for q in gw.postfix.queue():
        assert not carries_eicar(gw.postfix.queue_contents(q["queue_id"])), \
            "queued message %s carries the virus" % q["queue_id"]
    to_sender = [m for m in gw.sink.all_messages if SENDER in m.rcpts]
    assert len(to_sender) <= sender_may_get, "%d messages to the sender" % len(to_sender)


def headers_in_order(data):
    """(name, value) of the top-level header lines, unfolded, in order."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    head = re.sub(r"\r\n[ \t]+", " ", head)
    return [tuple(l.split(": ", 1)) for l in head.split("\r\n") if ": " in l]


def reinjected_orig_client(pf):
    """Port of orig_client= on the re-injection smtpd's client= line (set
    from XFORWARD), or None."""
    m = re.search(r"postfix/reinject/smtpd\[\d+\]: \w+: client=\S+, "
                  r"orig_client=[^\s\[]+\[127\.0\.0\.1\]:(\d+)", pf.log())
    return int(m.group(1)) if m else None


# ---------------------------------------------------------------- after-queue

def test_after_queue_clean_delivered(after_queue):
    gw = after_queue()
    sent = clean_mail("after-queue clean")
    s = submit(gw.front, sent)
    assert s.code == 250, s.replies
    qid = s.queue_id()
    (m,) = gw.sink.wait_messages(1, timeout=30)
    assert m.mail_from == SENDER and m.rcpts == [RCPT]
    # Postfix's re-injection smtpd wrote the newest Received line, above
    # Portcullis's headers, above the first smtpd's line for our client.
    h = headers_in_order(m.data)
    names = [n for n, _ in h]
    assert names[:4] == ["Received", "X-Virus-Scanned", "X-Virus-Status", "Received"], names
    assert re.match(r"Portcullis \S+ on portcullis\.test$", h[1][1]), h[1]
    assert h[2][1] == "clean"
    assert h[3][1].startswith("from %s (localhost [127.0.0.1])" % HELO), h[3]
    assert m.data.endswith(sent.split(b"\r\n\r\n", 1)[1]), "the body changed on the way"
    # It went through the content filter and came back on the second smtpd.
    assert gw.postfix.wait_log(r"%s: to=<%s>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, .*"
                               r"status=sent \(250 2\.0\.0 Ok: queued as \w+\)" %
                               (qid, re.escape(RCPT), gw.proxy_port), 30)
    # Postfix's content filter client told Portcullis who the original
    # client was (XFORWARD), and Portcullis told the re-injection smtpd.
    assert reinjected_orig_client(gw.postfix) == s.local_port
    assert gw.postfix.wait_queue_empty(30), gw.postfix.queue()
    assert len(gw.sink.all_messages) == 1


def test_after_queue_infected_quarantined_no_bounce(after_queue):
    """The recipe: quarantine, so Postfix sees 250 and never bounces."""
    gw = after_queue(infected="quarantine")
    s = submit(gw.front, infected_mail("after-queue virus"))
    assert s.code == 250, s.replies      # Postfix queued it; the filter runs later
    qid = s.queue_id()
    assert gw.postfix.wait_log(r"%s: removed" % qid, 30), "Postfix did not finish " + qid
    log = gw.postfix.log()
    m = re.search(r"%s: to=<%s>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, .*status=sent "
                  r"\(250 2\.0\.0 message quarantined as ([0-9a-f]{16})\)" %
                  (qid, re.escape(RCPT), gw.proxy_port), log)
    assert m, "Postfix did not hand the message to Portcullis"
    pid = m.group(1)
    assert "%s: sender non-delivery notification" % qid not in log
    assert not re.search(r"status=(bounced|deferred)", log)
    # The recipient is told (through Postfix), without the virus.
    notice = poll(lambda: [x for x in gw.sink.all_messages if x.rcpts == [RCPT]], 30)
    assert notice, "no quarantine notice reached the recipient"
    text = notice[0].data.decode("utf-8", "replace")
    assert pid in text and re.search(EICAR_RE, text), text[:800]
    # The virus is in the quarantine, and nowhere else.
    assert carries_eicar(gw.proxy.quarantined_bytes(pid))
    assert gw.postfix.wait_queue_empty(30), gw.postfix.queue()
    assert_no_virus_anywhere(gw, sender_may_get=0)
    assert len(gw.sink.all_messages) == 1


@pytest.mark.parametrize("bounce_size_limit,bounce_has_virus", [
    ("1", False),      # the recipe: a bounce returns the headers only
    (None, True),      # control: Postfix's default (50000) quotes the whole message
], ids=["recipe-headers-only", "control-default"])
def test_after_queue_reject_bounce(after_queue, bounce_size_limit, bounce_has_virus):
    """infected = reject in an after-queue setup: Postfix turns the 550 into
    a bounce to the sender. With bounce_size_limit = 1 it carries no virus;
    with the default it does (which proves the check can fail)."""
    gw = after_queue(infected="reject", bounce_size_limit=bounce_size_limit)
    sent = infected_mail("after-queue reject")
    s = submit(gw.front, sent)
    assert s.code == 250, s.replies
    qid = s.queue_id()
    assert gw.postfix.wait_log(
        r"%s: to=<%s>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, .*dsn=5\.7\.1, status=bounced "
        r"\(host 127\.0\.0\.1\[127\.0\.0\.1\] said: 550 5\.7\.1 message rejected: virus found" %
        (qid, re.escape(RCPT), gw.proxy_port), 30)
    bounces = poll(lambda: [x for x in gw.sink.all_messages if x.rcpts == [SENDER]], 30)
    assert bounces, "no bounce reached the sender"
    (b,) = bounces
    assert b.mail_from == ""
    text = b.data.decode("utf-8", "replace")
    assert "550 5.7.1 message rejected: virus found" in re.sub(r"\s+", " ", text)
    assert "Subject: after-queue reject" in text       # the original's header is returned
    assert gw.postfix.wait_queue_empty(30), gw.postfix.queue()
    if bounce_has_virus:
        assert "Content-Type: message/rfc822" in text
        assert carries_eicar(b.data), "the default bounce should quote the attachment"
    else:
        assert "Content-Type: text/rfc822-headers" in text
        assert "Content-Type: message/rfc822" not in text
        assert_no_virus_anywhere(gw, sender_may_get=1)


@pytest.mark.parametrize("bounce_size_limit,bounce_has_virus", [
    ("1", False),
    (None, True),
], ids=["recipe-headers-only", "control-default"])
def test_after_queue_unscanned_expired_bounce(after_queue, bounce_size_limit, bounce_has_virus):
    """The other way to a bounce: Portcullis cannot scan a message (here a
    zip nested deeper than max_depth), answers 451 (limit = tempfail), and
    Postfix gives up when maximal_queue_lifetime runs out (0 here: after the
    first try). The bounce must not hand the unscanned attachment back."""
    z = zip_bytes([("eicar.com", EICAR)], compression=zipfile.ZIP_STORED)
    sent = multipart([part("text/plain; charset=us-ascii", b"An archive for you.\r\n"),
                      b64_part(z, "archive.zip", "application/zip")],
                     subject="after-queue unscanned", frm=SENDER, to=RCPT)
    gw = after_queue(infected="quarantine", bounce_size_limit=bounce_size_limit,
                     scan={"max_depth": "1"}, main={"maximal_queue_lifetime": "0"})
    s = submit(gw.front, sent)
    assert s.code == 250, s.replies
    qid = s.queue_id()
    assert gw.postfix.wait_log(
        r"%s: to=<%s>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:%d, .*status=deferred \(host "
        r"127\.0\.0\.1\[127\.0\.0\.1\] said: 451 4\.7\.0 message not scanned: limit max_depth" %
        (qid, re.escape(RCPT), gw.proxy_port), 30)
    assert gw.postfix.wait_log(r"%s: from=<%s>, status=expired, returned to sender" %
                               (qid, re.escape(SENDER)), 30)
    bounces = poll(lambda: [x for x in gw.sink.all_messages if x.rcpts == [SENDER]], 30)
    assert bounces, "no bounce reached the sender"
    (b,) = bounces
    text = b.data.decode("utf-8", "replace")
    assert "Subject: after-queue unscanned" in text
    assert gw.postfix.wait_queue_empty(30), gw.postfix.queue()
    assert carries_eicar(b.data) == bounce_has_virus
    if not bounce_has_virus:
        assert "Content-Type: text/rfc822-headers" in text
        assert_no_virus_anywhere(gw, sender_may_get=1)


# ---------------------------------------------------------------- before-queue

@pytest.mark.parametrize("proxy_options", ["", "speed_adjust"])
def test_before_queue_clean_delivered(before_queue, proxy_options):
    gw = before_queue(proxy_options=proxy_options)
    sent = clean_mail("before-queue clean")
    s = submit(gw.front, sent)
    # The client reads the re-injection smtpd's reply, passed on twice.
    assert s.code == 250 and re.match(r"2\.0\.0 Ok: queued as \w+$", s.text), s.replies
    (m,) = gw.sink.wait_messages(1, timeout=30)
    assert m.mail_from == SENDER and m.rcpts == [RCPT]
    h = headers_in_order(m.data)
    names = [n for n, _ in h]
    assert names[:4] == ["Received", "X-Virus-Scanned", "X-Virus-Status", "Received"], names
    assert h[2][1] == "clean"
    assert h[3][1].startswith("from %s (localhost [127.0.0.1])" % HELO), h[3]
    # Postfix told Portcullis the real client with XFORWARD, and Portcullis
    # passed it on: the re-injection smtpd logs our client, not Postfix.
    assert reinjected_orig_client(gw.postfix) == s.local_port
    assert reinjected_orig_client(gw.postfix) not in proxy_client_ports(gw.proxy)
    assert m.data.endswith(sent.split(b"\r\n\r\n", 1)[1]), "the body changed on the way"
    assert gw.postfix.wait_queue_empty(30), gw.postfix.queue()


def test_before_queue_infected_rejected_in_session(before_queue):
    """reject: the client gets the 550 at the end of DATA; Postfix never
    took the message, so it can never bounce it."""
    gw = before_queue(infected="reject")
    s = submit(gw.front, infected_mail("before-queue virus"))
    assert s.code == 550 and s.text.startswith("5.7.1 message rejected: virus found ("), \
        s.replies
    assert gw.postfix.wait_log(r"proxy-reject: END-OF-MESSAGE: 550 5\.7\.1 message rejected: "
                               r"virus found .*from=<%s> to=<%s>" %
                               (re.escape(SENDER), re.escape(RCPT)), 10)
    gw.proxy.wait_log(r"smtp\[\d+\]: message .*status=infected .*action=reject", 10)
    gw.proxy.wait_log(r"smtp\[\d+\]: disconnect", 10)
    time.sleep(1.0)    # anything Postfix would send would be queued by now
    assert gw.postfix.queue() == []
    log = gw.postfix.log()
    assert "sender non-delivery notification" not in log
    assert not re.search(r"postfix/cleanup\[\d+\]: \w+: message-id=", log), \
        "Postfix queued something"
    assert gw.sink.all_messages == []


@pytest.mark.parametrize("discard", [
    RECIPE_DISCARD,
    "",
], ids=["recipe-discard-dsn", "postfix-offers-dsn"])
def test_before_queue_dsn_client(before_queue, discard):
    gw = before_queue(discard=discard)
    s = submit(gw.front, clean_mail("before-queue dsn"), dsn=True)
    assert s.code == 250, s.replies
    (m,) = gw.sink.wait_messages(1, timeout=30)
    assert m.rcpts == [RCPT]


def test_before_queue_original_client_reaches_reinjection(before_queue):
    gw = before_queue()
    s = submit(gw.front, clean_mail("before-queue client identity"))
    assert s.code == 250, s.replies
    gw.sink.wait_messages(1, timeout=30)
    # What the re-injection smtpd logs (and hands to its milters and policy
    # services) as the client should be our client, not Postfix itself.
    assert reinjected_orig_client(gw.postfix) == s.local_port


def test_before_queue_bdat_client(before_queue):
    """A client that uses CHUNKING when Postfix offers it (Postfix 3.4+):
    Postfix must hand Portcullis plain DATA (Portcullis never offers BDAT)."""
    gw = before_queue()
    sent = clean_mail("before-queue bdat")
    with socket.create_connection(("127.0.0.1", gw.front), timeout=30) as c:
        f = c.makefile("rb")

        def reply():
            lines = []
            for _ in range(100):
                line = f.readline(4096).decode()
                assert line, "connection closed; so far %r" % lines
                lines.append(line.rstrip("\r\n"))
                if line[3:4] != "-":
                    return lines
            raise AssertionError("endless reply")

        assert reply()[0].startswith("220")
        c.sendall(b"EHLO %s\r\n" % HELO.encode())
        ehlo = reply()
        if "CHUNKING" not in [x[4:].upper() for x in ehlo]:
            pytest.fail("Postfix does not offer CHUNKING here: %r" % ehlo)
        c.sendall(b"MAIL FROM:<%s>\r\n" % SENDER.encode())
        assert reply()[0].startswith("250")
        c.sendall(b"RCPT TO:<%s>\r\n" % RCPT.encode())
        assert reply()[0].startswith("250")
        half = len(sent) // 2
        c.sendall(b"BDAT %d\r\n" % half + sent[:half])
        assert reply()[0].startswith("250")
        c.sendall(b"BDAT %d LAST\r\n" % (len(sent) - half) + sent[half:])
        last = reply()
        c.sendall(b"QUIT\r\n")
    assert last[0].startswith("250 2.0.0 Ok: queued as"), last
    (m,) = gw.sink.wait_messages(1, timeout=30)
    assert m.data.endswith(sent.split(b"\r\n\r\n", 1)[1])
    assert b"X-Virus-Status: clean" in m.data
