"""What each ftp_infected action (block, pass, quarantine, replace) does to
an infected download (RETR) and upload (STOR): what the receiver gets, the
reply (multi-line 550 naming the virus, or 226 naming it), the quarantine
(portcullis-ctl, the stored bytes) and the transfer log line; for EICAR as
.com, .txt and .gif, clam.exe and two archives. Then which direction's
policy applies, the causes (encrypted, limit, scanner_error) and type
gating.

One daemon per action serves all samples (module scope); each test uses
its own file names.
"""

import re
import subprocess
import time
from pathlib import Path

import pytest

pytest.register_assert_rewrite("smtp_util", "ftp_util")
from ftp_util import *  # noqa: E402,F401,F403
from smtp_util import names_rx, notices_to  # noqa: E402
from samples_build import GIF_1X1, clam_exe, zip_bytes  # noqa: E402

pytest_plugins = ["smtp_util", "ftp_util"]

ACTIONS = ["block", "pass", "quarantine", "replace"]
OTHER = {"block": "pass", "pass": "block", "quarantine": "block", "replace": "block"}


class Sample:
    def __init__(self, name, load, rx):
        self.name = name
        self.load = load    # () -> bytes
        self.rx = rx        # regex of one signature name


def _testfile(name):
    def load():
        p = TESTFILES / name
        if not p.is_file():
            pytest.skip("clamav-testfiles not installed (%s)" % p)
        return p.read_bytes()
    return load


SAMPLES = [
    Sample("eicar.com", lambda: EICAR, EICAR_RE),
    Sample("eicar.txt", lambda: EICAR, EICAR_RE),       # the name says text, the content not
    Sample("eicar.gif", lambda: EICAR, EICAR_RE),       # the name says image, the content not
    Sample("clam.exe", lambda: clam_exe(), CLAM_RE),
    Sample("clam.zip", _testfile("clam.zip"), CLAM_RE),
    Sample("clam.tar.gz", _testfile("clam.tar.gz"), CLAM_RE),
]


@pytest.fixture(scope="module", params=ACTIONS)
def action_env(request, tmp_path_factory):
    """A daemon with [ftp] direction = inbound, [inbound] ftp_infected =
    the action; [outbound] gets another action, so a wrong direction shows."""
    act = request.param
    d, srv = start_ftp_shared(request, tmp_path_factory, "ftpact-" + act, verbose=False,
                              ftp={"direction": "inbound"},
                              inbound={"ftp_infected": act},
                              outbound={"ftp_infected": OTHER[act]})
    return act, d, srv


def _qrow(d, qid):
    rows = [q for q in d.quarantine() if q.get("id") == qid]
    assert len(rows) == 1, "quarantine list has %d entries with id %s: %r" % (
        len(rows), qid, d.quarantine())
    return rows[0]


@pytest.mark.parametrize("way", ["download", "upload"])
@pytest.mark.parametrize("sample", SAMPLES, ids=[s.name for s in SAMPLES])
def test_infected_action(request, action_env, sample, way):
    act, d, srv = action_env
    attach(request.node, d, srv)
    data = sample.load()
    name = "%s-%s-%s" % (act, way, sample.name)
    mark = d.mark()
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv")
    try:
        if way == "download":
            srv.put(name, data)
            x = c.retr(name)
        else:
            x = c.stor(name, data)
        # the session goes on after any of the actions
        assert c.sendcmd("NOOP").startswith("200")
    finally:
        c.close_quietly()
    rec = d.transfer_log(mark, cmd="RETR" if way == "download" else "STOR",
                         file=re.escape(name), size=str(len(data)), direction="inbound",
                         status="infected", names=names_rx(sample.rx), action=act)
    assert rec.get("reply", "")[:3] == str(x.code), \
        "the log's reply is the one the client got: %s / %s" % (rec["line"], x)
    if way == "download":
        delivered = x.data
    else:
        delivered = srv.get(name) if srv.has(name) else None

    if act == "block":
        assert x.code == 550, x
        assert_multiline(x.final, 550)
        assert re.search(sample.rx, x.final), "the reply names the virus: %s" % x
        if way == "download":
            assert x.data == b"", "blocked download: the client got %d bytes" % len(x.data)
        else:
            assert delivered is None, "blocked upload: the server has the file (%d bytes)" % (
                len(delivered))
        assert "qid" not in rec
    elif act == "pass":
        assert x.code == 226, x
        assert re.search(sample.rx, x.final), "the reply still names the virus: %s" % x
        assert delivered == data, "pass: the file arrives unchanged"
    elif act == "quarantine":
        assert x.code == 550, x
        assert_multiline(x.final, 550)
        m = re.search(r"\b(%s)\b" % QID_RE, x.final)
        assert m, "the reply holds the quarantine ID: %s" % x
        qid = m.group(1)
        assert rec.get("qid") == qid, rec["line"]
        if way == "download":
            assert x.data == b""
        else:
            assert delivered is None, "quarantined upload reached the server"
        q = _qrow(d, qid)
        if "protocol" in q:
            assert q["protocol"] == "ftp", q
        assert q.get("status") == "infected" and q.get("action") == "quarantine", q
        assert d.quarantined_bytes(qid) == data, "the quarantine holds the file as it was"
    else:  # replace
        assert x.code == 226, x
        assert re.search(sample.rx, x.final), "the reply names the virus: %s" % x
        assert delivered is not None and delivered != data, "replace: the file itself went"
        assert re.search(sample.rx.encode(), delivered), \
            "the report put in place names the virus: %r" % delivered[:500]
        assert data not in delivered, "replace: the infected bytes are in what arrived"



@pytest.mark.parametrize("mode", ["port", "eprt", "epsv"])
def test_block_download_other_modes(ftp_server, ftp_proxy_factory, mode):
    d = ftp_proxy_factory(server=ftp_server, ftp={"direction": "inbound"},
                          inbound={"ftp_infected": "block"})
    ftp_server.put("modes-eicar.com", EICAR)
    c = FtpClient("127.0.0.1", d.ftp_port, mode)
    try:
        x = c.retr("modes-eicar.com")
        y = c.retr("modes-eicar.com")   # twice: the session survives a block
    finally:
        c.close_quietly()
    for r in (x, y):
        assert r.code == 550 and r.data == b"" and re.search(EICAR_RE, r.final), r


def test_default_action_is_block(ftp_server, ftp_proxy_factory):
    """No ftp_infected anywhere: infected files are blocked both ways."""
    d = ftp_proxy_factory(server=ftp_server)
    ftp_server.put("def-eicar.com", EICAR)
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv")
    try:
        x = c.retr("def-eicar.com")
        y = c.stor("def-up-eicar.com", EICAR)
    finally:
        c.close_quietly()
    assert x.code == 550 and x.data == b"", x
    assert y.code == 550 and not ftp_server.has("def-up-eicar.com"), y
    assert d.quarantine() == []


def test_quarantine_ctl_show(ftp_server, ftp_proxy_factory):
    """portcullis-ctl shows the FTP entry (user, file name when it knows them)."""
    d = ftp_proxy_factory(server=ftp_server, ftp={"direction": "inbound"},
                          inbound={"ftp_infected": "quarantine"})
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv")
    try:
        x = c.stor("ctl-eicar.com", EICAR)
    finally:
        c.close_quietly()
    qid = re.search(QID_RE, x.final).group(0)
    (q,) = d.quarantine()
    assert q["id"] == qid
    if "protocol" in q:
        assert q["protocol"] == "ftp"
    if "user" in q:
        assert q["user"] == USER, q
    if "file_name" in q:
        assert q["file_name"] == "ctl-eicar.com", q
    p = d.ctl("quarantine", "show", qid)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    assert re.search(EICAR_RE, p.stdout.decode(errors="replace"))


# ---------------------------------------------------------------- direction
#
# DIRECTION RULE UNDER TEST (adjust DIRECTION_CASES if the rule changes).
# A transfer's direction is where the file goes (policy_direction_dest in
# src/policy/policy.h): the server for an upload (STOR), the client for a
# download (RETR). A destination inside [policy] internal_networks is
# inbound, outside outbound. Here the client connects from 127.0.0.2 and
# the server listens on 127.0.0.1, so internal_networks can put either one
# inside. With the server inside (127.0.0.1/32): an upload comes into the
# network (inbound), a download leaves it (outbound); with the server
# outside: the reverse. [inbound] blocks, [outbound] passes, so the reply
# tells which section applied; the log line says it too.

DIRECTION_CASES = [
    # internal_networks, command, expected direction
    ("127.0.0.1/32", "STOR", "inbound"),
    ("127.0.0.1/32", "RETR", "outbound"),
    ("127.0.0.2/32", "STOR", "outbound"),
    ("127.0.0.2/32", "RETR", "inbound"),
]


@pytest.mark.parametrize("nets,cmd,direction", DIRECTION_CASES,
                         ids=["%s-%s" % (c[0].split("/")[0], c[1]) for c in DIRECTION_CASES])
def test_direction_auto(ftp_server, ftp_proxy_factory, nets, cmd, direction):
    d = ftp_proxy_factory(server=ftp_server, ftp={"direction": "auto"},
                          policy={"internal_networks": nets},
                          inbound={"ftp_infected": "block"}, outbound={"ftp_infected": "pass"})
    name = "dir-%s-%s.com" % (nets.split("/")[0], cmd)
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv", source="127.0.0.2")
    try:
        if cmd == "RETR":
            ftp_server.put(name, EICAR)
            x = c.retr(name)
        else:
            x = c.stor(name, EICAR)
    finally:
        c.close_quietly()
    d.transfer_log(cmd=cmd, direction=direction, status="infected",
                   action="block" if direction == "inbound" else "pass")
    assert x.code == (550 if direction == "inbound" else 226), x


@pytest.mark.parametrize("ldir", ["inbound", "outbound"])
def test_direction_listener_key(ftp_server, ftp_proxy_factory, ldir):
    """[ftp] direction fixes the section whatever internal_networks say."""
    d = ftp_proxy_factory(server=ftp_server, ftp={"direction": ldir},
                          inbound={"ftp_infected": "block"}, outbound={"ftp_infected": "pass"})
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv")
    try:
        x = c.stor("ldir.com", EICAR)
        ftp_server.put("ldir-down.com", EICAR)
        y = c.retr("ldir-down.com")
    finally:
        c.close_quietly()
    want = 550 if ldir == "inbound" else 226
    assert x.code == want and y.code == want, (x, y)
    d.transfer_log(n=1, direction=ldir)
    d.transfer_log(n=2, direction=ldir)


# ------------------------------------------------------------------- causes

def _encrypted_zip(tmp_path):
    if subprocess.run(["sh", "-c", "command -v zip"], stdout=subprocess.DEVNULL).returncode:
        pytest.skip("zip not installed")
    (tmp_path / "h.txt").write_bytes(b"hello, encrypted\n")
    subprocess.run(["zip", "-q", "-P", "pw", str(tmp_path / "enc.zip"), "h.txt"],
                   cwd=tmp_path, check=True, timeout=30)
    return (tmp_path / "enc.zip").read_bytes()


def _five_zip():
    return zip_bytes([("f%d.txt" % i, b"x" * 10) for i in range(5)])


def _dead_clamd(tmp_path):
    return {"backend": "clamd", "clamd_socket": str(tmp_path / "no-clamd.sock"),
            "clamd_connect_timeout": "1s", "clamd_timeout": "2s"}


@pytest.mark.parametrize("cause", ["encrypted", "limit", "scanner_error"])
@pytest.mark.parametrize("way", ["download", "upload"])
def test_cause_default_tempfail(ftp_server, ftp_proxy_factory, tmp_path, cause, way):
    """Not scanned whole: the default tempfail gives 451, nothing delivered."""
    scan = {}
    if cause == "encrypted":
        data = _encrypted_zip(tmp_path)
    elif cause == "limit":
        data, scan = _five_zip(), {"max_files": "2"}
    else:
        data, scan = payload(5000, 5), _dead_clamd(tmp_path)
    d = ftp_proxy_factory(server=ftp_server, ftp={"direction": "inbound"}, scan=scan)
    name = "cause-%s-%s.zip" % (cause, way)
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv")
    try:
        if way == "download":
            ftp_server.put(name, data)
            x = c.retr(name)
            assert x.data == b"", "%s: the unscanned file reached the client" % cause
        else:
            x = c.stor(name, data)
            assert not ftp_server.has(name), "%s: the unscanned file reached the server" % cause
    finally:
        c.close_quietly()
    assert x.code == 451, x
    d.transfer_log(action="tempfail")


@pytest.mark.parametrize("setting,code,delivered", [
    ("pass", 226, True), ("reject", 5, False)], ids=["pass", "reject"])
def test_cause_other_actions(ftp_server, ftp_proxy_factory, setting, code, delivered):
    """limit = pass delivers (the reply may say unscanned); reject gives a 5xx."""
    d = ftp_proxy_factory(server=ftp_server, ftp={"direction": "inbound"},
                          scan={"max_files": "2"}, inbound={"limit": setting})
    data = _five_zip()
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv")
    try:
        x = c.stor("cause-%s.zip" % setting, data)
    finally:
        c.close_quietly()
    if code == 5:
        assert x.code // 100 == 5, x
    else:
        assert x.code == code, x
    assert ftp_server.has("cause-%s.zip" % setting) == delivered
    if delivered:
        assert ftp_server.get("cause-%s.zip" % setting) == data


# ------------------------------------------------------------- type gating

def test_type_gating_by_content(ftp_server, ftp_proxy_factory):
    """skip_safe_types = yes: a real GIF named .gif passes; EICAR named .gif
    or .mp4 is still scanned and blocked (the content decides)."""
    d = ftp_proxy_factory(server=ftp_server, scan={"skip_safe_types": "yes"})
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv")
    try:
        a = c.stor("real.gif", GIF_1X1)
        b = c.stor("fake.gif", EICAR)
        e = c.stor("fake.mp4", EICAR)
        ftp_server.put("fake-down.gif", EICAR)
        f = c.retr("fake-down.gif")
    finally:
        c.close_quietly()
    assert a.code == 226 and ftp_server.get("real.gif") == GIF_1X1, a
    for r in (b, e, f):
        assert r.code == 550 and re.search(EICAR_RE, r.final), r
    assert not ftp_server.has("fake.gif") and not ftp_server.has("fake.mp4")
    assert f.data == b""


def test_eicar_in_zip_in_zip(ftp_server, ftp_proxy_factory):
    """Containers are unpacked for FTP files as for mail."""
    inner = zip_bytes([("readme.txt", b"hello\n"), ("eicar.com", EICAR)])
    outer = zip_bytes([("inner.zip", inner), ("notes.txt", b"notes\n")])
    d = ftp_proxy_factory(server=ftp_server)
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv")
    try:
        x = c.stor("nested.zip", outer)
    finally:
        c.close_quietly()
    assert x.code == 550 and re.search(EICAR_RE, x.final), x
    assert not ftp_server.has("nested.zip")


def test_clean_archive_passes(ftp_server, ftp_proxy_factory):
    data = zip_bytes([("a.txt", b"a" * 1000), ("b.bin", payload(20000, 9))])
    d = ftp_proxy_factory(server=ftp_server)
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv")
    try:
        x = c.stor("clean.zip", data)
    finally:
        c.close_quietly()
    assert x.code == 226 and ftp_server.get("clean.zip") == data, x
    d.transfer_log(status="clean", action="pass")



# ------------------------------------------------------------ admin notice

def test_admin_notice_via_smtp(sink, ftp_server, ftp_proxy_factory):
    """notify_admin: an infected FTP file (here quarantined) sends the admin
    the ftp-admin notice through notify_next_hop, naming the virus, the
    file, the user, the server and the quarantine ID; a clean file sends
    nothing."""
    d = ftp_proxy_factory(server=ftp_server, sink=sink,
                          ftp={"direction": "inbound",
                               "notify_next_hop": "smtp:127.0.0.1:%d" % sink.port},
                          inbound={"ftp_infected": "quarantine",
                                   "notify_admin": "av-admin@example.org"})
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv")
    try:
        assert c.stor("clean-first.bin", b"nothing to see").code == 226
        x = c.stor("notice-eicar.txt", EICAR)
    finally:
        c.close_quietly()
    assert x.code == 550, x
    qid = re.search(r"\b(%s)\b" % QID_RE, x.final).group(1)
    (n,) = notices_to(sink, "av-admin@example.org")
    assert n.mail_from == ""
    for want in (b"FTP", b"notice-eicar.txt", USER.encode(), qid.encode(), b"STOR",
                 ftp_server.addr.encode()):
        assert want in n.data, "%r not in the notice:\n%s" % (want, n.data.decode(errors="replace"))
    assert re.search(EICAR_RE.encode(), n.data)
    time.sleep(0.5)
    assert len(sink.notices()) == 1, "one notice, for the infected file only"


def test_admin_notice_maildir_fallback(ftp_server, ftp_proxy_factory):
    """Without notify_next_hop, the notice goes where the SMTP listener's
    mail goes (here its Maildir)."""
    d = ftp_proxy_factory(server=ftp_server, ftp={"direction": "inbound"},
                          inbound={"ftp_infected": "block",
                                   "notify_admin": "av-admin@example.org"})
    ftp_server.put("fallback.com", EICAR)
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv")
    try:
        x = c.retr("fallback.com")
    finally:
        c.close_quietly()
    assert x.code == 550 and x.data == b"", x
    nh = d.conf["smtp"]["next_hop"]
    assert nh.startswith("maildir:"), nh
    new = Path(nh[len("maildir:"):]) / "new"
    wait_until(lambda: len(list(new.iterdir())) == 1, 10, what="the notice in the Maildir")
    text = next(new.iterdir()).read_bytes()
    assert b"av-admin@example.org" in text and b"fallback.com" in text and b"RETR" in text
    assert re.search(EICAR_RE.encode(), text)
