"""strip and replace with clamd as a backend (scan.backend = chain and
clamd), through portcullisd against a real clamd on loopback.

clamd reports a hit on the whole message it was sent; the gateway then
sends each part to clamd on its own to find the part that carries it
(scanner_locate_fd), so strip and replace work as with the built-in
engine. The signatures here are clamd's alone (not in sigs/), so every hit
comes through clamd:
  * Clamd.Parts.Marker, in a base64 attachment (clamd decodes it);
  * Clamd.Whole.Marker, in a top-level header field: in the whole message
    and in no part, so it cannot be located and the message is quarantined.
A counting TCP proxy (clamd_util.ClamdCounter) sits between the gateway and
clamd: clean mail costs one INSTREAM, and a clamd that goes away after the
first one makes locating fail, which gets the scanner_error policy (451).
"""

import os
import re
import sys
from pathlib import Path

import pytest

pytest.register_assert_rewrite("smtp_util")
from smtp_util import *  # noqa: E402,F401,F403

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clamd_util import ClamdCounter, clamd_fixture, copy_sigs  # noqa: E402

pytest_plugins = ["smtp_util"]

SIGS = Path(__file__).resolve().parents[2] / "sigs"
PART_MARKER = b"PORTCULLIS-CLAMD-PARTS-TEST-MARKER-5d21e0"
WHOLE_MARKER = b"PORTCULLIS-CLAMD-WHOLE-MESSAGE-MARKER-93b7c1"
PART_RE = r"Clamd\.Parts\.Marker(?:\.UNOFFICIAL)?"
WHOLE_RE = r"Clamd\.Whole\.Marker(?:\.UNOFFICIAL)?"
B0 = "=_portcullis_test_b0"
BACKENDS = ["chain", "clamd"]

TEXT = part("text/plain; charset=us-ascii", b"Hi,\r\nsee the attachments.\r\n", "7bit")
CLEAN_BIN = b64_part(bytes((i * 7) % 256 for i in range(3000)), "clean.bin")
MARKED = b64_part(b"some bytes before\n" + PART_MARKER + b"\nand after\n" * 20, "marked.bin")


def _clamd_db(tmp_path_factory):
    # These tests prove the clamd path only if the built-in sigs lack both.
    for f in SIGS.iterdir():
        data = f.read_bytes().lower()
        for m in (PART_MARKER, WHOLE_MARKER):
            assert m.lower() not in data and m.hex().encode() not in data, f
    d = tmp_path_factory.mktemp("clamd-parts-db")
    copy_sigs(SIGS, d)
    (d / "clamd-parts.ndb").write_text(
        "Clamd.Parts.Marker:0:*:%s\nClamd.Whole.Marker:0:*:%s\n"
        % (PART_MARKER.hex(), WHOLE_MARKER.hex()))
    os.chmod(d, 0o755)
    return str(d)


clamd = clamd_fixture(_clamd_db, scope="module")


@pytest.fixture(scope="module", params=[(b, a) for b in BACKENDS for a in ("strip", "replace")],
                ids=lambda p: "%s-%s" % p)
def env(request, tmp_path_factory, clamd):
    backend, act = request.param
    counter = ClamdCounter(clamd.tcp_addr)
    request.addfinalizer(counter.close)
    d, s = start_shared(request, tmp_path_factory, "parts-%s-%s" % (backend, act),
                        inbound={"infected": act},
                        scan={"backend": backend, "clamd_socket": counter.addr})
    return backend, act, d, s, counter


def _send(d, frm, rcpt, msg):
    with Client(d.port) as c:
        c.banner()
        c.ehlo("parts.example")
        r = c.mail(frm, [rcpt], msg)
        c.quit()
    return r


def _addrs(env, tag):
    backend, act = env[0], env[1]
    return "s-%s-%s-%s@example.net" % (backend, act, tag), "r-%s-%s-%s@example.org" % (
        backend, act, tag)


def test_part_located(request, env, run_scan, tmp_path):
    """A hit only clamd finds, in an attachment: that part is stripped or
    replaced, the others are delivered byte for byte."""
    backend, act, d, sink, counter = env
    attach(request.node, d, sink)
    frm, rcpt = _addrs(env, "located")
    msg = multipart([TEXT, MARKED, CLEAN_BIN], subject="located")
    mark = d.mark()
    counter.reset()
    r = _send(d, frm, rcpt, msg)
    rec = log_of(d, after=mark, status="infected", names=PART_RE, action=act)
    check(r, "^250 2\\.0\\.0 Ok: queued as SINK\\d+$")
    settle(d, sink, rec["sid"])
    (m,) = [m for m in sink.messages if m.rcpts == [rcpt]]
    assert not [q for q in d.quarantine() if q["rcpts"] == [rcpt]]
    trace, out = strip_trace(m.data)
    assert re.fullmatch(r"cleaned \(%s\)" % PART_RE, trace["X-Virus-Status"]), trace
    assert out.split(b"\r\n\r\n", 1)[0] == msg.split(b"\r\n\r\n", 1)[0], "header unchanged"
    ps, pg = split_parts(msg, B0), split_parts(out, B0)
    assert len(pg) == len(ps) == 3
    assert pg[0] == ps[0] and pg[2] == ps[2], "the clean parts are byte-identical"
    assert pg[1] != ps[1] and re.search(PART_RE.encode(), pg[1]), pg[1]
    if act == "replace":
        assert b"replaced by Portcullis" in pg[1], pg[1]
    assert b"marked.bin" not in pg[1] or b"base64" not in pg[1], "the attachment is gone"
    # one INSTREAM for the message, one per part located, one for the copy
    loc = d.wait_log(r"smtp\[%d\]: locate name=\S+ parts=(\d+) hits=(\d+)" % rec["sid"])
    assert int(loc.group(1)) >= 3 and int(loc.group(2)) == 1, loc.group(0)
    assert counter.count() == 2 + int(loc.group(1)), counter.commands
    f = tmp_path / "delivered.eml"
    f.write_bytes(m.data)
    assert run_scan(f).rc == 0


def test_eicar_names_differ(request, env):
    """EICAR in a zip: the built-in engine (chain) names it in the part,
    clamd on the whole message under its own name (.UNOFFICIAL here, an
    official name at a real site). Both are located; the part goes."""
    backend, act, d, sink, counter = env
    attach(request.node, d, sink)
    frm, rcpt = _addrs(env, "eicar")
    z = b64_part(zip_bytes([("readme.txt", b"hello\n"), ("eicar.com", EICAR)]), "files.zip",
                 "application/zip")
    msg = multipart([TEXT, CLEAN_BIN, z], subject="eicar")
    mark = d.mark()
    r = _send(d, frm, rcpt, msg)
    rec = log_of(d, after=mark, status="infected", action=act)
    check(r, "^250 2\\.0\\.0 Ok: queued as SINK\\d+$")
    assert "UNOFFICIAL" in rec["names"], rec["names"]
    settle(d, sink, rec["sid"])
    (m,) = [m for m in sink.messages if m.rcpts == [rcpt]]
    ps, pg = split_parts(msg, B0), split_parts(strip_trace(m.data)[1], B0)
    assert pg[:2] == ps[:2] and pg[2] != ps[2] and b"UEsDB" not in pg[2]


def test_whole_message_hit_quarantined(request, env):
    """A hit clamd finds in the whole message and in no part (here in a
    header field): quarantined, and the log says why."""
    backend, act, d, sink, counter = env
    attach(request.node, d, sink)
    frm, rcpt = _addrs(env, "whole")
    msg = multipart([TEXT, CLEAN_BIN], subject="whole",
                    extra=[b"X-Marker: " + WHOLE_MARKER])
    mark = d.mark()
    r = _send(d, frm, rcpt, msg)
    rec = log_of(d, after=mark, status="infected", names=WHOLE_RE, action="quarantine")
    m = re.fullmatch(r"250 2\.0\.0 message quarantined as (%s)" % QID_RE, r.first)
    assert m, r
    d.wait_log(r"smtp\[%d\]: rewrite: hit %s not located in any part: quarantining"
               % (rec["sid"], WHOLE_RE))
    (q,) = [q for q in d.quarantine() if q["rcpts"] == [rcpt]]
    assert q["id"] == m.group(1) and d.quarantined_bytes(q["id"]) == msg
    settle(d, sink, rec["sid"])
    assert not [x for x in sink.messages if x.rcpts == [rcpt]]


def test_clean_one_instream(request, env):
    """Clean mail costs exactly one clamd call, whatever the action."""
    backend, act, d, sink, counter = env
    attach(request.node, d, sink)
    frm, rcpt = _addrs(env, "clean")
    msg = multipart([TEXT, CLEAN_BIN, b64_part(b"nothing here\n" * 50, "notes.txt")],
                    subject="clean")
    mark = d.mark()
    counter.reset()
    r = _send(d, frm, rcpt, msg)
    rec = log_of(d, after=mark, status="clean", action="pass")
    check(r, "^250 2\\.0\\.0 Ok: queued as SINK\\d+$")
    settle(d, sink, rec["sid"])
    assert counter.count() == 1 and len(counter.commands) == 1, counter.commands
    assert not [l for l in d.lines[mark:] if "locate name=" in l], "nothing to locate"


@pytest.mark.parametrize("backend", BACKENDS)
def test_clamd_dies_mid_locate(request, clamd, sink, proxy_factory, backend):
    """clamd answers for the whole message, then is gone: the message gets
    the scanner_error policy (451 by default), never a silent pass."""
    counter = ClamdCounter(clamd.tcp_addr, fail_after=1)
    request.addfinalizer(counter.close)
    d = proxy_factory(sink=sink, inbound={"infected": "strip"},
                      scan={"backend": backend, "clamd_socket": counter.addr})
    msg = multipart([TEXT, MARKED, CLEAN_BIN], subject="dies")
    r = _send(d, "s-dies@example.net", "r-dies@example.org", msg)
    check(r, "^451 4\\.7\\.0 message not scanned: scanner unavailable$")
    rec = log_of(d, status="infected", names=PART_RE, action="tempfail")
    d.wait_log(r"smtp\[%d\]: locate name=\S+ parts=\d+ status=error" % rec["sid"])
    d.wait_log(r"smtp\[%d\]: rewrite: locating \S+ failed: temporary failure" % rec["sid"])
    assert counter.count() == 1 and counter.refused >= 1
    settle(d, sink, rec["sid"])
    assert not sink.messages and not d.quarantine()


@pytest.mark.parametrize("policy", ["quarantine", "pass"])
def test_clamd_dies_mid_locate_quarantine(request, clamd, sink, proxy_factory, policy):
    """scanner_error = quarantine stores it; pass would let an infected
    message through, so it is quarantined too."""
    counter = ClamdCounter(clamd.tcp_addr, fail_after=1)
    request.addfinalizer(counter.close)
    d = proxy_factory(sink=sink, inbound={"infected": "replace", "scanner_error": policy},
                      scan={"backend": "chain", "clamd_socket": counter.addr})
    msg = multipart([TEXT, MARKED], subject="dies-q")
    r = _send(d, "s-dies-q@example.net", "r-dies-q@example.org", msg)
    m = re.fullmatch(r"250 2\.0\.0 message quarantined as (%s)" % QID_RE, r.first)
    assert m, r
    rec = log_of(d, status="infected", names=PART_RE, action="quarantine")
    d.wait_log(r"smtp\[%d\]: locate name=\S+ parts=\d+ status=error" % rec["sid"])
    d.wait_log(r"smtp\[%d\]: rewrite: locating \S+ failed(: quarantining|, and an infected "
               r"message never passes: quarantining)$" % rec["sid"])
    (q,) = d.quarantine()
    assert q["id"] == m.group(1)
    settle(d, sink)
    assert not sink.messages


def test_clamd_dies_mid_locate_reject(request, clamd, sink, proxy_factory):
    """scanner_error = reject: a permanent refusal, as for any scanner error."""
    counter = ClamdCounter(clamd.tcp_addr, fail_after=1)
    request.addfinalizer(counter.close)
    d = proxy_factory(sink=sink, inbound={"infected": "strip", "scanner_error": "reject"},
                      scan={"backend": "clamd", "clamd_socket": counter.addr})
    msg = multipart([TEXT, MARKED], subject="dies-r")
    r = _send(d, "s-dies-r@example.net", "r-dies-r@example.org", msg)
    check(r, "^554 5\\.7\\.0 message not scanned: scanner unavailable$")
    rec = log_of(d, status="infected", names=PART_RE, action="reject")
    d.wait_log(r"smtp\[%d\]: rewrite: locating \S+ failed: rejected" % rec["sid"])
    settle(d, sink)
    assert not sink.messages and not d.quarantine()
