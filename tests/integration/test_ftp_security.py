"""The FTP proxy against hostile clients and failing servers: PORT/EPRT
bounce, a data connection from the wrong host, over-long lines, garbage and
smuggled commands, the client allow-list and session limits, the forward
proxy's allowed_upstreams, and servers that are down, silent, or vanish
mid-transfer. The daemon must answer as docs say and never crash (teardown
checks exit 0 and no sanitizer report).
"""

import ftplib
import re
import socket
import time
import zipfile

import pytest

pytest.register_assert_rewrite("smtp_util", "ftp_util")
from ftp_util import *  # noqa: E402,F401,F403
from smtp_util import closed_port  # noqa: E402
from samples_build import zip_bytes  # noqa: E402

pytest_plugins = ["smtp_util", "ftp_util"]


@pytest.fixture
def pair(ftp_server, ftp_proxy_factory):
    d = ftp_proxy_factory(server=ftp_server)
    return d, ftp_server


def _listener(host):
    s = socket.socket()
    s.bind((host, 0))
    s.listen(4)
    s.settimeout(0.5)
    return s


def _nothing_connected(s):
    try:
        c, _ = s.accept()
        c.close()
        return False
    except (socket.timeout, TimeoutError):
        return True


def _new_log(d, mark):
    return "\n".join(d.lines_after(mark))


# ------------------------------------------------------------------ bounce

@pytest.mark.parametrize("form", ["PORT", "EPRT"])
def test_bounce_refused(pair, form):
    """PORT/EPRT naming another host than the client's: 501/504, logged
    ("bounce"), never passed on; a PASV transfer still works after it."""
    d, srv = pair
    srv.put("after-bounce.bin", b"still works")
    victim = _listener("127.0.0.2")
    vport = victim.getsockname()[1]
    try:
        c = FtpClient("127.0.0.1", d.ftp_port, "pasv")
        try:
            mark = d.mark()
            if form == "PORT":
                line = "PORT 127,0,0,2,%d,%d" % (vport >> 8, vport & 255)
            else:
                line = "EPRT |1|127.0.0.2|%d|" % vport
            r = c.raw(line)
            assert r[:3] in ("501", "504"), "%s -> %r" % (line, r)
            d.wait_log(r"(?i)bounce", after=mark)
            x = c.retr("after-bounce.bin")   # a RETR right after: must not use the bounce
            assert x.code == 226 and x.data == b"still works", x
        finally:
            c.close_quietly()
        assert _nothing_connected(victim), "something connected to the bounce target"
    finally:
        victim.close()
    assert not [l for l in srv.commands() if "127,0,0,2" in l or "127.0.0.2" in l], \
        "the bounce address reached the server"


def test_port_to_other_port_same_host_allowed(pair):
    """PORT to the client's own address (any port) is an ordinary active transfer."""
    d, srv = pair
    srv.put("own.bin", b"own")
    c = FtpClient("127.0.0.1", d.ftp_port, "port")
    try:
        x = c.retr("own.bin")
    finally:
        c.close_quietly()
    assert x.code == 226 and x.data == b"own", x


# -------------------------------------------------------- foreign data peer

@pytest.mark.parametrize("mode", ["pasv", "epsv"])
def test_data_connection_from_other_host_refused(pair, mode):
    d, srv = pair
    data = payload(100000, 7)
    srv.put("peer.bin", data)
    c = FtpClient("127.0.0.1", d.ftp_port, mode)
    try:
        host, port = c.makepasv()
        mark = d.mark()
        thief = socket.socket()
        thief.bind(("127.0.0.2", 0))
        thief.settimeout(10)
        got, closed = b"", False
        try:
            thief.connect((host, port))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                b = thief.recv(65536)
                if not b:
                    closed = True
                    break
                got += b
        except (ConnectionResetError, ConnectionRefusedError, BrokenPipeError):
            closed = True
        except (socket.timeout, TimeoutError):
            pass
        finally:
            thief.close()
        assert closed and got == b"", "the thief's connection: closed=%s, %d bytes" % (
            closed, len(got))
        d.wait_log(r"refused data connection", after=mark)
        # the proper client connects now and transfers
        conn = socket.create_connection((host, port), timeout=20)
        try:
            c.putcmd("RETR peer.bin")
            prelim = c.getmultiline()
            assert prelim.startswith("1"), prelim
            buf = b""
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                b = conn.recv(65536)
                if not b:
                    break
                buf += b
        finally:
            conn.close()
        final = c.getmultiline()
        assert final.startswith("226") and buf == data, (final, len(buf))
    finally:
        c.close_quietly()


# ---------------------------------------------------------- line handling

def test_long_line_default_limit(pair):
    d, srv = pair
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv")
    try:
        r = c.raw("NOOP " + "x" * 2000)
        assert r[:3] == "500", r
        assert c.sendcmd("NOOP").startswith("200")
        r = c.raw("SIZE " + "y" * 5000)
        assert r[:3] == "500", r
        assert c.stor("after-long.bin", b"ok").code == 226
    finally:
        c.close_quietly()
    assert srv.get("after-long.bin") == b"ok"
    assert not [l for l in srv.commands() if len(l) > 1024], "an over-long line reached the server"


def test_long_line_configured_limit(ftp_server, ftp_proxy_factory):
    d = ftp_proxy_factory(server=ftp_server, ftp={"max_line_length": 200})
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv")
    try:
        r = c.raw("SIZE " + "a" * 180)      # 185 bytes + CRLF: under the limit
        assert r[:3] == "550", "a line under max_line_length goes to the server: %r" % r
        r = c.raw("SIZE " + "b" * 300)
        assert r[:3] == "500", r
        assert c.sendcmd("NOOP").startswith("200")
    finally:
        c.close_quietly()


@pytest.mark.parametrize("raw", [
    b"\x00\x01\xff\xfe\r\n",
    b"\r\n",
    b"\n",
    b"   \r\n",
    b"\xc3\x28\xa0\xa1 binary\r\n",
    b"NO\x00OP\r\n",
    b"\x1b[2J\x07\r\n",
], ids=["binary", "empty-crlf", "empty-lf", "spaces", "bad-utf8", "nul-in-verb", "escape"])
def test_garbage_gets_500(pair, raw):
    d, srv = pair
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv")
    try:
        n0 = len(srv.commands())
        r = c.raw(raw)
        assert r[:3] == "500", "%r -> %r" % (raw, r)
        assert c.sendcmd("NOOP").startswith("200")
        assert c.stor("after-garbage.bin", b"ok").code == 226
    finally:
        c.close_quietly()
    new = [l for l in srv.commands()[n0:]
           if l.split(" ", 1)[0].upper() not in ("NOOP", "TYPE", "PASV", "EPSV", "STOR", "QUIT")]
    assert not new, "garbage reached the server: %r" % new
    assert d.alive()


def test_command_smuggling_refused(pair):
    """A CR inside a line must not make a second command at the server."""
    d, srv = pair
    srv.put("victim.txt", b"keep me")
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv")
    try:
        r = c.raw(b"NOOP\rDELE victim.txt\r\n")
        assert r[:3] == "500", r
        r = c.raw(b"SIZE x\x00DELE victim.txt\r\n")
        assert r[:3] == "500", r
        assert c.sendcmd("NOOP").startswith("200")
    finally:
        c.close_quietly()
    assert srv.has("victim.txt"), "a smuggled DELE reached the server"
    assert not [l for l in srv.commands() if "DELE" in l]


def test_pipelined_commands(pair):
    """Several commands in one write get their replies in order."""
    d, srv = pair
    srv.put("p.bin", b"12345")
    r = RawFtp(d.ftp_port)
    try:
        assert r.reply().startswith("220")
        r.send("USER %s\r\nPASS %s\r\nTYPE I\r\nSIZE p.bin\r\nNOOP\r\n" % (USER, PASSWD))
        codes = [r.reply()[:3] for _ in range(5)]
        assert codes == ["331", "230", "200", "213", "200"], codes
    finally:
        r.close()


# ----------------------------------------------------- clients and limits

def test_client_not_allowed(ftp_server, ftp_proxy_factory):
    d = ftp_proxy_factory(server=ftp_server, ftp={"clients": "10.0.0.0/8"})
    with RawFtp(d.ftp_port) as r:
        first = r.reply()
        assert first.startswith("421"), first
        assert r.at_eof(5), "the refused client's connection stays open"
    journal = ftp_server.journal.read_text() if ftp_server.journal.exists() else ""
    assert " connect" not in journal, "the server was contacted for a refused client"


def test_client_allowed_from_list(ftp_server, ftp_proxy_factory):
    d = ftp_proxy_factory(server=ftp_server, ftp={"clients": "127.0.0.2/32"})
    with RawFtp(d.ftp_port) as r:
        assert r.reply().startswith("421")
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv", source="127.0.0.2")
    try:
        assert c.stor("from-2.bin", b"two").code == 226
    finally:
        c.close_quietly()
    assert ftp_server.get("from-2.bin") == b"two"


def _can_login(d, source=None):
    """True if a session logs in; False if it gets 421 or is closed."""
    try:
        c = FtpClient("127.0.0.1", d.ftp_port, "pasv", source=source, timeout=5)
    except ftplib.error_temp as e:
        assert str(e).startswith("421"), e
        return False
    except (EOFError, ConnectionResetError):
        return False
    c.close_quietly()
    return True


@pytest.mark.parametrize("key", ["max_sessions", "max_sessions_per_client"])
def test_session_limits(ftp_server, ftp_proxy_factory, key):
    """With the key at 2: a third session gets 421 and is closed (from
    another client too for max_sessions, not for max_sessions_per_client);
    once one ends, a new one logs in."""
    d = ftp_proxy_factory(server=ftp_server, ftp={key: 2})
    a = FtpClient("127.0.0.1", d.ftp_port, "pasv")
    b = FtpClient("127.0.0.1", d.ftp_port, "pasv")
    try:
        with RawFtp(d.ftp_port) as r:
            first = r.reply()
            assert first.startswith("421"), "third session with %s = 2: %r" % (key, first)
            assert r.at_eof(5)
        other = _can_login(d, "127.0.0.2")
        assert other == (key == "max_sessions_per_client"), \
            "a session from 127.0.0.2 with %s = 2 and two open: %s" % (key, other)
        a.quit()
        a.close_quietly()
        wait_until(lambda: _can_login(d), 10, 0.2, "a session to be free again")
    finally:
        a.close_quietly()
        b.close_quietly()


# ----------------------------------------------------------- forward proxy

def test_forward_proxy_allowed(ftp_server, ftp_proxy_factory):
    d = ftp_proxy_factory(upstream="", ftp={"allowed_upstreams": "127.0.0.0/8"})
    data = payload(200000, 17)
    ftp_server.put("fwd-down.bin", data)
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv",
                  user="%s@127.0.0.1:%d" % (USER, ftp_server.port))
    try:
        x = c.stor("fwd-up.bin", data)
        y = c.retr("fwd-down.bin")
        z = c.stor("fwd-eicar.com", EICAR)
    finally:
        c.close_quietly()
    assert x.code == 226 and ftp_server.get("fwd-up.bin") == data, x
    assert y.code == 226 and y.data == data, y
    assert z.code == 550 and not ftp_server.has("fwd-eicar.com"), z
    assert "USER %s" % USER in ftp_server.commands(("USER",)), \
        "the server gets the plain user name: %r" % ftp_server.commands(("USER",))


def _forward_login(d, user):
    """(replies) of USER and, if it was 331, PASS."""
    with RawFtp(d.ftp_port) as r:
        out = [r.reply()]
        if not out[0].startswith("220"):
            return out
        out.append(r.cmd("USER " + user))
        if out[-1].startswith("331"):
            out.append(r.cmd("PASS " + PASSWD))
        return out


@pytest.mark.parametrize("allowed", ["", "10.0.0.0/8 ftp.example.org"], ids=["empty", "others"])
def test_forward_proxy_refused(ftp_server, ftp_proxy_factory, allowed):
    d = ftp_proxy_factory(upstream="", ftp={"allowed_upstreams": allowed})
    mark = d.mark()
    replies = _forward_login(d, "%s@127.0.0.1:%d" % (USER, ftp_server.port))
    assert replies[-1][:3] in ("530", "421"), "forward login to a host not allowed: %r" % replies
    assert not any(r.startswith("230") for r in replies)
    log = _new_log(d, mark)
    assert re.search(r"(?i)(allowed_upstreams|not allowed|refus|denied)", log) and \
        "127.0.0.1" in log, "no log line about the refused upstream:\n" + log
    assert not ftp_server.journal.exists() or " connect" not in ftp_server.journal.read_text(), \
        "the server was contacted"


def test_forward_proxy_bad_target(ftp_proxy_factory):
    d = ftp_proxy_factory(upstream="", ftp={"allowed_upstreams": "127.0.0.0/8"})
    for user in ("alice", "alice@", "alice@127.0.0.1:0", "alice@127.0.0.1:99999",
                 "alice@[::1", "@127.0.0.1:21"):
        replies = _forward_login(d, user)
        assert replies[-1][:1] in ("4", "5") and not any(r.startswith("230") for r in replies), \
            "%s: %r" % (user, replies)
    assert d.alive()


# ------------------------------------------------------- failing upstreams

def _expect_421(d):
    """A 421 as the banner or as the answer to the login; then closed."""
    r = RawFtp(d.ftp_port, timeout=20)
    try:
        replies = [r.reply()]
        if replies[0].startswith("220"):
            replies.append(r.cmd("USER " + USER))
            if replies[-1].startswith("331"):
                replies.append(r.cmd("PASS " + PASSWD))
        assert replies[-1].startswith("421"), replies
        assert r.at_eof(5), "the connection stays open after 421"
    finally:
        r.close()
    return replies


def test_server_unreachable(ftp_proxy_factory):
    d = ftp_proxy_factory(upstream="127.0.0.1:%d" % closed_port())
    _expect_421(d)
    assert d.alive()


def test_server_silent(ftp_proxy_factory):
    """A server that accepts but never sends its banner: 421 after upstream_timeout."""
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(8)
    try:
        d = ftp_proxy_factory(upstream="127.0.0.1:%d" % mute.getsockname()[1],
                              ftp={"upstream_timeout": "2s"})
        t0 = time.monotonic()
        _expect_421(d)
        assert time.monotonic() - t0 < 12
    finally:
        mute.close()


@pytest.mark.parametrize("way", ["download", "upload"])
def test_server_dies_mid_transfer(ftp_server_factory, ftp_proxy_factory, way):
    """The server vanishes after 256 KiB of a 1 MiB file: the client gets
    426 or 451 and nothing of the file."""
    srv = ftp_server_factory(drop_after=256 * 1024)
    d = ftp_proxy_factory(server=srv)
    data = payload(MiB, 99)
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv")
    try:
        if way == "download":
            srv.put("drop-down.bin", data)
            x = c.retr("drop-down.bin")
            assert x.data == b"", "the client got %d bytes of a half-sent file" % len(x.data)
        else:
            x = c.stor("drop-up.bin", data)
    finally:
        c.close_quietly()
    wait_until(lambda: not srv.alive(), 10, what="the server to have died")
    assert x.code in (426, 451), x
    assert d.alive()


def test_command_timeout(ftp_server, ftp_proxy_factory):
    d = ftp_proxy_factory(server=ftp_server, ftp={"command_timeout": "1s"})
    with RawFtp(d.ftp_port) as r:
        assert r.reply().startswith("220")
        t0 = time.monotonic()
        assert r.at_eof(10), "idle session not closed within 10s (command_timeout 1s)"
        assert time.monotonic() - t0 < 10
    assert d.alive()


def test_client_vanishes_mid_upload(pair):
    """The client closes control and data halfway through an upload: the
    daemon goes on serving. (Whether the part that arrived is stored is
    not tested: in stream mode the end of the data connection is the end
    of the file, for a server without a proxy too.)"""
    d, srv = pair
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv")
    conn, prelim = c._open("STOR half.bin")
    assert conn and prelim.startswith("1"), prelim
    conn.sendall(payload(300000, 3))
    c.sock.close()
    conn.close()
    time.sleep(1)
    assert d.alive()
    c2 = FtpClient("127.0.0.1", d.ftp_port, "pasv")
    try:
        assert c2.stor("after-vanish.bin", b"x").code == 226
    finally:
        c2.close_quietly()
    assert srv.get("after-vanish.bin") == b"x"


# ---------------------------------------------------------------- disk full

def test_spool_disk_full(ftp_server, ftp_proxy_factory, small_tmpfs, tmp_path):
    """daemon.spool_dir on a 256k tmpfs, memory_spool 0: a 400k upload or
    download gets 452, nothing reaches the other side, the spool is empty
    again and the session goes on."""
    spool = small_tmpfs(tmp_path / "spool")
    d = ftp_proxy_factory(server=ftp_server, daemon={"spool_dir": spool},
                          ftp={"memory_spool": "0"})
    big = payload(400 * 1024, 77)
    ftp_server.put("full-down.bin", big)
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv")
    try:
        x = c.stor("full-up.bin", big)
        y = c.retr("full-down.bin")
        z = c.stor("after-full.bin", b"small")
    finally:
        c.close_quietly()
    assert x.code == 452, x
    assert not ftp_server.has("full-up.bin"), "a spool failure reached the server"
    assert y.code == 452 and y.data == b"", y
    assert z.code == 226 and ftp_server.get("after-full.bin") == b"small", z
    d.transfer_log(n=1, cmd="STOR", action="tempfail", reply="452 .*")
    assert [p for p in spool.rglob("*") if p.is_file()] == []


def test_quarantine_disk_full(ftp_server, ftp_proxy_factory, small_tmpfs, tmp_path):
    """The quarantine on a 256k tmpfs: an infected 400k upload that cannot
    be stored gets 452 and is not handed on; a small one is quarantined."""
    q = small_tmpfs(tmp_path / "q")
    d = ftp_proxy_factory(server=ftp_server, quarantine={"dir": q},
                          ftp={"direction": "inbound"}, inbound={"ftp_infected": "quarantine"})
    big = zip_bytes([("filler.bin", payload(400 * 1024, 78)), ("eicar.com", EICAR)],
                    compression=zipfile.ZIP_STORED)
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv")
    try:
        x = c.stor("qfull.zip", big)
        y = c.stor("qsmall.com", EICAR)
    finally:
        c.close_quietly()
    assert x.code == 452, x
    assert y.code == 550 and re.search(QID_RE, y.final), y
    assert not ftp_server.has("qfull.zip") and not ftp_server.has("qsmall.com")
    assert len(d.quarantine()) == 1
