"""What each infected action does: at the next hop (a recording sink), in
the quarantine (portcullis-ctl and index.sqlite), to the client (reply
codes of docs/smtp.md) and in the log line, for EICAR in base64,
quoted-printable, uuencode, nested message/rfc822 and zip, and for ClamAV's
test files (clam.zip attached, clam.mail and clam.exe.mbox.base64 sent as
they are). Then notices, and which direction's policy applies.

One daemon per action serves all samples (module scope); each test uses
its own envelope addresses, so tests do not see each other's mail.
"""

import re

import pytest

pytest.register_assert_rewrite("smtp_util")
from smtp_util import *  # noqa: E402,F401,F403

from samples_formats import tnef_bytes  # noqa: E402

pytest_plugins = ["smtp_util"]

ACTIONS = ["pass", "reject", "drop", "quarantine", "strip", "replace"]

TEXT = part("text/plain; charset=utf-8", "Hi,\r\nsee the attachments.\r\n.dot\r\n"
            "caf\u00e9\r\n".encode("utf-8"), "8bit")
CLEAN_BIN = b64_part(bytes((i * 7) % 256 for i in range(3000)), "clean.bin")
CLEAN_QP = part("text/plain; charset=iso-8859-1", b"R=E9sum=E9 =3D clean\r\n",
                "quoted-printable", "notes.txt")
B0 = "=_portcullis_test_b0"


def _nested():
    inner = multipart([part("text/plain", b"inner text\r\n"), b64_part(EICAR, "eicar.com")],
                      subject="inner", boundary="=_inner_b1")
    return rfc822_part(inner)


class Sample:
    def __init__(self, name, build, infected, names, boundary=B0):
        self.name = name
        self.build = build          # () -> message bytes
        self.infected = infected    # indexes of infected top-level parts
        self.names = names          # regex of the names list
        self.boundary = boundary    # None: not multipart


def _mp(parts):
    return lambda: multipart(parts(), subject="sample")


SAMPLES = [
    Sample("base64", _mp(lambda: [TEXT, b64_part(EICAR, "eicar.com"), CLEAN_BIN]), [1],
           names_rx(EICAR_RE)),
    Sample("quoted-printable", _mp(lambda: [TEXT, qp_part(EICAR, "eicar.txt"), CLEAN_QP]), [1],
           names_rx(EICAR_RE)),
    Sample("uuencode", _mp(lambda: [uu_text_part(b"text before the block", EICAR, "eicar.com",
                                                 b"text after the block"), CLEAN_BIN]), [0],
           names_rx(EICAR_RE)),
    Sample("rfc822", _mp(lambda: [TEXT, _nested(), CLEAN_BIN]), [1], names_rx(EICAR_RE)),
    Sample("zip", _mp(lambda: [TEXT, b64_part(zip_bytes([("readme.txt", b"hello\n"),
                                                         ("eicar.com", EICAR)]),
                                              "files.zip", "application/zip"), CLEAN_QP]),
           [1], names_rx(EICAR_RE)),
    # EICAR deflated in a zip in the TNEF: only a TNEF reader reaches it.
    Sample("winmail.dat", _mp(lambda: [TEXT, b64_part(tnef_bytes([("files.zip", zip_bytes(
        [("eicar.com", EICAR)]))]), "winmail.dat", "application/ms-tnef"), CLEAN_BIN]), [1],
        names_rx(EICAR_RE)),
    Sample("clam.zip", _mp(lambda: [TEXT, CLEAN_BIN,
                                    b64_part((TESTFILES / "clam.zip").read_bytes(), "clam.zip",
                                             "application/zip")]), [2], names_rx(CLAM_RE)),
    Sample("clam.mail", lambda: clamav_mail("clam.mail"), [1], names_rx(CLAM_RE),
           boundary="MP_/6OvrPH9HEPZRUCVu6uT=Fey"),
    Sample("clam.exe.mbox.base64", lambda: clamav_mail("clam.exe.mbox.base64"), [],
           names_rx(CLAM_RE), boundary=None),
]


@pytest.fixture(scope="module", params=ACTIONS)
def action_env(request, tmp_path_factory):
    if not (TESTFILES / "clam.zip").is_file():
        pytest.skip("clamav-testfiles not installed")
    act = request.param
    d, s = start_shared(request, tmp_path_factory, "act-" + act, verbose=False,
                        inbound={"infected": act})
    return act, d, s


def _send(d, frm, rcpt, msg):
    with Client(d.port) as c:
        c.banner()
        c.ehlo("sample.example")
        r = c.mail(frm, [rcpt], msg)
        c.quit()
    return r


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.name for s in SAMPLES])
def test_infected_action(request, action_env, sample, run_scan, tmp_path):
    act, d, sink = action_env
    attach(request.node, d, sink)
    msg = sample.build()
    tag = re.sub(r"\W", "-", sample.name)
    frm, rcpt = "s-%s-%s@example.net" % (act, tag), "r-%s-%s@example.org" % (act, tag)
    mark = d.mark()
    r = _send(d, frm, rcpt, msg)
    rec = log_of(d, after=mark, direction="inbound", status="infected", names=sample.names,
                 action=act, **{"from": "<%s>" % re.escape(frm)})
    assert rec["reply"] == r.first, "the log's reply is the one the client got"
    settle(d, sink, rec["sid"])
    mine = [m for m in sink.messages if m.rcpts == [rcpt]]
    notices = sink.notices(rcpt)
    qrows = [q for q in d.quarantine() if q["rcpts"] == [rcpt]]
    assert not sink.notices(frm), "no sender notice with notify_sender = no"

    if act == "pass":
        check(r, "^250 2\\.0\\.0 Ok: queued as SINK\\d+$")
        (m,) = mine
        assert_delivered_clean(m, msg, frm, [rcpt], status=r"infected \(%s\)" % sample.names)
        assert not qrows and not notices
    elif act == "reject":
        check(r, "^550 5\\.7\\.1 message rejected: virus found \\(%s\\)$" % sample.names)
        assert not mine and not qrows and not notices
        assert _after_rcpt(sink, rcpt) == "RSET", "the next hop's transaction is reset"
    elif act == "drop":
        check(r, "^250 2\\.0\\.0 message dropped: virus found \\(%s\\)$" % sample.names)
        assert not mine and not qrows
        assert _after_rcpt(sink, rcpt) == "RSET"
        (n,) = notices_to(sink, rcpt)
        assert re.search(sample.names.encode(), n.data) and b"dropped" in n.data
    elif act == "quarantine":
        m = re.fullmatch(r"250 2\.0\.0 message quarantined as (%s)" % QID_RE, r.first)
        assert m, r
        qid = m.group(1)
        assert rec.get("qid") == qid
        assert not mine
        assert _after_rcpt(sink, rcpt) == "RSET"
        (q,) = qrows
        assert q["id"] == qid and q["mail_from"] == frm and q["direction"] == "inbound"
        assert q["action"] == "quarantine" and q["status"] == "infected"
        assert re.fullmatch(sample.names, q["virus_names"]), q
        assert q["helo"] == "sample.example" and q["size"] == len(msg)
        assert d.quarantined_bytes(qid) == msg, "the quarantine holds the message as received"
        (n,) = notices_to(sink, rcpt)
        assert qid.encode() in n.data and re.search(sample.names.encode(), n.data)
    else:  # strip, replace
        check(r, "^250 2\\.0\\.0 Ok: queued as SINK\\d+$")
        assert not qrows
        (m,) = mine
        trace, out = strip_trace(m.data)
        assert re.fullmatch(r"cleaned \(%s\)" % sample.names, trace.get("X-Virus-Status", "")), \
            trace
        _check_rewritten(act, sample, msg, out)
        f = tmp_path / "delivered.eml"
        f.write_bytes(m.data)
        res = run_scan(f)
        assert res.rc == 0 and not res.names(), "the delivered copy is clean:\n" + res.stdout
        notices_to(sink, rcpt)


def _after_rcpt(sink, rcpt):
    """The command the next hop got after RCPT TO:<rcpt>, on that connection."""
    cmds = [(c, l.rstrip(b"\r\n").decode()) for c, l in sink.commands]
    for k, (c, l) in enumerate(cmds):
        if l == "RCPT TO:<%s>" % rcpt:
            return next((l2 for c2, l2 in cmds[k + 1:] if c2 == c), None)
    raise AssertionError("the next hop never got RCPT TO:<%s>" % rcpt)


def _check_rewritten(act, sample, sent, got):
    vname = re.compile(sample.names.encode())
    hdr_sent, hdr_got = sent.split(b"\r\n\r\n", 1)[0], got.split(b"\r\n\r\n", 1)[0]
    if sample.boundary is None:
        assert vname.search(got), "the text put in place names the virus"
        assert b"TVpQAAIAAAAEAA8A" not in got, "the infected body is gone"
        return
    assert hdr_got == hdr_sent, "top-level header block unchanged"
    ps, pg = split_parts(sent, sample.boundary), split_parts(got, sample.boundary)
    assert len(pg) == len(ps), "same number of top-level parts (%d, %d)" % (len(ps), len(pg))
    for i, (a, b) in enumerate(zip(ps, pg)):
        if i not in sample.infected:
            assert b == a, "clean part %d must be byte-identical" % i
            continue
        assert b != a, "infected part %d must be changed" % i
        assert vname.search(b), "part %d: the text put in place names the virus:\n%r" % (i, b)
        if act == "replace" and sample.name != "uuencode":
            assert b"replaced by Portcullis" in b, "the report template: %r" % b
    if sample.name == "uuencode":
        (i,) = sample.infected
        assert b"text before the block" in pg[i] and b"text after the block" in pg[i]
        assert b"begin 644" not in pg[i]


# ------------------------------------------------------------------ notices

@pytest.mark.parametrize("act", ["quarantine", "drop"])
def test_notify_sender_yes(sink, proxy_factory, act):
    d = proxy_factory(sink=sink, inbound={"infected": act, "notify_sender": "yes"})
    msg = multipart([TEXT, b64_part(EICAR, "eicar.com")])
    r = _send(d, "sender@example.net", "rcpt@example.org", msg)
    check(r, "250 2.0.0")
    (ns,) = notices_to(sink, "sender@example.net")
    (nr,) = notices_to(sink, "rcpt@example.org")
    assert ns.mail_from == "" and nr.mail_from == ""
    assert re.search(EICAR_RE.encode(), ns.data) and b"Your message" in ns.data
    assert not sink.messages


def test_notify_recipient_no_and_admin(sink, proxy_factory):
    d = proxy_factory(sink=sink, inbound={"infected": "quarantine", "notify_recipient": "no",
                                          "notify_admin": "av-admin@example.org"})
    msg = multipart([TEXT, b64_part(EICAR, "eicar.com")])
    r = _send(d, "sender@example.net", "rcpt@example.org", msg)
    qid = re.fullmatch(r"250 2\.0\.0 message quarantined as (%s)" % QID_RE, r.first).group(1)
    (na,) = notices_to(sink, "av-admin@example.org")
    assert qid.encode() in na.data
    settle(d, sink, 1)
    assert not sink.notices("rcpt@example.org") and not sink.notices("sender@example.net")


def test_clean_mail_no_notice_no_quarantine(sink, proxy_factory):
    d = proxy_factory(sink=sink, inbound={"notify_sender": "yes",
                                          "notify_admin": "av-admin@example.org"})
    msg = multipart([TEXT, CLEAN_BIN])
    check(_send(d, "sender@example.net", "rcpt@example.org", msg), 250)
    settle(d, sink, 1)
    assert len(sink.messages) == 1 and not sink.notices()
    assert d.quarantine() == []


def test_add_headers_no(sink, proxy_factory):
    d = proxy_factory(sink=sink, inbound={"add_headers": "no"})
    msg = multipart([TEXT, CLEAN_BIN])
    check(_send(d, "sender@example.net", "rcpt@example.org", msg), 250)
    (m,) = sink.wait_messages(1)
    assert m.data == msg


# ---------------------------------------------------------------- direction

# [inbound] and [outbound] get different actions; the reply tells which applied.
DIR_SECTIONS = {"inbound": {"infected": "reject"}, "outbound": {"infected": "drop"}}
INBOUND_REPLY = "550 5.7.1"
OUTBOUND_REPLY = "250 2.0.0 message dropped"


@pytest.mark.parametrize("policy,smtp,rcpts,direction", [
    ({"direction_by": "nexthop"}, {}, ["r@example.org"], "inbound"),
    ({"direction_by": "nexthop", "internal_networks": "10.0.0.0/8 192.168.0.0/16"}, {},
     ["r@example.org"], "outbound"),
    ({"direction_by": "client"}, {}, ["r@example.org"], "outbound"),
    ({"direction_by": "client", "internal_networks": "10.0.0.0/8"}, {}, ["r@example.org"],
     "inbound"),
    ({"direction_by": "recipient", "internal_domains": "example.org"}, {},
     ["r@example.org", "x@sub.example.org"], "inbound"),
    ({"direction_by": "recipient", "internal_domains": "example.org"}, {},
     ["r@example.com"], "outbound"),
    ({"direction_by": "recipient", "internal_domains": "example.org"}, {},
     ["r@example.org", "r@notexample.org"], "outbound"),
    ({"direction_by": "nexthop"}, {"direction": "outbound"}, ["r@example.org"], "outbound"),
    ({"direction_by": "client"}, {"direction": "inbound"}, ["r@example.org"], "inbound"),
], ids=["nexthop-internal", "nexthop-external", "client-internal", "client-external",
        "recipient-internal", "recipient-external", "recipient-mixed", "listener-outbound",
        "listener-inbound"])
def test_direction(sink, proxy_factory, policy, smtp, rcpts, direction):
    d = proxy_factory(sink=sink, policy=policy, smtp=smtp, **DIR_SECTIONS)
    msg = multipart([TEXT, b64_part(EICAR, "eicar.com")])
    with Client(d.port) as c:
        c.banner()
        c.ehlo()
        r = c.mail("sender@example.net", rcpts, msg)
    check(r, INBOUND_REPLY if direction == "inbound" else OUTBOUND_REPLY)
    log_of(d, direction=direction, action="reject" if direction == "inbound" else "drop")
    assert not sink.messages


def test_direction_defaults(sink, proxy_factory):
    """Built-in defaults: inbound quarantines, outbound rejects."""
    msg = multipart([TEXT, b64_part(EICAR, "eicar.com")])
    d_in = proxy_factory(sink=sink)
    d_out = proxy_factory(sink=sink, policy={"internal_networks": "10.0.0.0/8"})
    check(_send(d_in, "a@example.net", "b@example.org", msg),
          "^250 2\\.0\\.0 message quarantined as %s$" % QID_RE)
    check(_send(d_out, "a@example.net", "b@example.org", msg), "550 5.7.1")
    log_of(d_out, direction="outbound", action="reject")


def test_replace_report_has_date(sink, proxy_factory):
    """report.txt says `Scanned: %DATE% on %HOSTNAME%`: both filled in."""
    d = proxy_factory(sink=sink, inbound={"infected": "replace"})
    msg = multipart([TEXT, b64_part(EICAR, "eicar.com")])
    check(_send(d, "sender@example.net", "rcpt@example.org", msg), 250)
    (m,) = sink.wait_messages(1)
    report = split_parts(strip_trace(m.data)[1])[1]
    assert re.search(rb"Scanned:\s+\S.*\d{4}.* on portcullis\.test", report), report


@pytest.mark.parametrize("act", ["drop", "strip"])
def test_notice_without_quarantine_names_no_id(sink, proxy_factory, act):
    """Nothing was quarantined, so the recipient is not told to ask for the
    release of a message ID (recipient.txt's %RELEASE_HINT% with no ID)."""
    d = proxy_factory(sink=sink, inbound={"infected": act})
    msg = multipart([TEXT, b64_part(EICAR, "eicar.com")])
    check(_send(d, "sender@example.net", "rcpt@example.org", msg), 250)
    (n,) = notices_to(sink, "rcpt@example.org")
    assert b"release message ." not in n.data, n.data.decode(errors="replace")
    assert not re.search(rb"Message ID:[ \t]*\r\n", n.data), n.data.decode(errors="replace")
