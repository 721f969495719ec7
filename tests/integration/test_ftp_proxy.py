"""The FTP proxy relaying clean files: every client data mode (PASV, EPSV,
PORT, EPRT) against both upstream modes (passive, active), sizes 0, 1 and
1 MiB both ways, byte for byte; IPv6; APPE and STOU; REST; ABOR; listings
and the informational commands relayed; curl, lftp and vsftpd; 50
sessions at once; a large file; one daemon with SMTP and FTP listeners;
the [ftp] config itself (ready line, named sections, FTP only, -t).

Infected files and the actions: test_ftp_actions.py. Hostile clients and
failing servers: test_ftp_security.py.
"""

import re
import shutil
import subprocess
import threading
import time
import zlib

import pytest

pytest.register_assert_rewrite("smtp_util", "ftp_util")
from ftp_util import *  # noqa: E402,F401,F403
from smtp_util import Client, b64_part, check, log_of, multipart, part  # noqa: E402

pytest_plugins = ["smtp_util", "ftp_util"]

SIZES = [0, 1, MiB]
SIZE_IDS = ["0B", "1B", "1MiB"]
SERVER_226 = "226 Transfer complete."


def seed_of(name):
    return zlib.crc32(name.encode())


def data_cmd_ports(cmds):
    """The data ports named by PORT / EPRT lines."""
    out = []
    for c in cmds:
        verb, _, arg = c.partition(" ")
        verb = verb.upper()
        if verb == "PORT":
            n = [int(x) for x in arg.split(",")]
            out.append(n[4] * 256 + n[5])
        elif verb == "EPRT":
            out.append(int(arg.split(arg[0])[3]))
    return out


def in_range(port, rng):
    return rng[0] <= port <= rng[1]


@pytest.fixture(scope="module", params=["passive", "active"])
def relay(request, tmp_path_factory):
    """One daemon per upstream mode in front of one pyftpdlib server;
    memory_spool 64k so that 1 MiB goes through a spool file."""
    um = request.param
    d, srv = start_ftp_shared(request, tmp_path_factory, "relay-" + um, verbose=False,
                              ftp={"upstream_mode": um, "memory_spool": "64k",
                                   "direction": "inbound"})
    return um, d, srv


def _client(d, mode="pasv", **kw):
    return FtpClient(d.ftp_host, d.ftp_port, mode, **kw)


def _check_upstream_leg(um, d, srv, before, n):
    """The data commands the server got since index `before`: PASV/EPSV
    only in passive mode; PORT/EPRT only, to ports in data_ports, in
    active mode. At least n of them."""
    cmds = [c for c in srv.commands(("PASV", "EPSV", "PORT", "EPRT"))][before:]
    assert len(cmds) >= n, "server saw %d data commands, expected %d: %r" % (len(cmds), n, cmds)
    verbs = {c.split(" ", 1)[0].upper() for c in cmds}
    if um == "passive":
        assert verbs <= {"PASV", "EPSV"}, "upstream_mode=passive but the server got %r" % cmds
    else:
        assert verbs <= {"PORT", "EPRT"}, "upstream_mode=active but the server got %r" % cmds
        for p in data_cmd_ports(cmds):
            assert in_range(p, d.data_ports), "upstream data port %d outside data_ports %r" % (
                p, d.data_ports)


# ------------------------------------------------------------ clean relay

@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("mode", MODES)
def test_clean_roundtrip(request, relay, mode, size):
    """STOR and RETR through the proxy: byte-identical, the server's 226,
    one clean transfer log line each; both legs' data ports from
    data_ports."""
    um, d, srv = relay
    attach(request.node, d, srv)
    up_name = "up-%s-%s-%d.bin" % (um, mode, size)
    down_name = "down-%s-%s-%d.bin" % (um, mode, size)
    up, down = payload(size, seed_of(up_name)), payload(size, seed_of(down_name))
    srv.put(down_name, down)
    n0 = len(srv.commands(("PASV", "EPSV", "PORT", "EPRT")))
    mark = d.mark()
    c = _client(d, mode)
    try:
        x = c.stor(up_name, up)
        assert x.code == 226, x
        assert final_line(x.final) == SERVER_226, "the server's final reply: %s" % x
        if mode in ("pasv", "epsv"):
            assert in_range(c.last_pasv[1], d.data_ports), \
                "client-leg %s port %d outside data_ports %r" % (mode, c.last_pasv[1],
                                                                  d.data_ports)
        y = c.retr(down_name)
        assert y.code == 226 and not y.error, y
        assert final_line(y.final) == SERVER_226, y
        c.quit()
    finally:
        c.close_quietly()
    assert srv.get(up_name) == up, "uploaded file differs (%d bytes sent, %d stored)" % (
        len(up), len(srv.get(up_name)))
    assert y.data == down, "downloaded file differs (%d bytes, %d received)" % (
        len(down), len(y.data))
    d.transfer_log(mark, 1, cmd="STOR", file=re.escape(up_name), size=str(size),
                   status="clean", action="pass", names="-", direction="inbound")
    d.transfer_log(mark, 2, cmd="RETR", file=re.escape(down_name), size=str(size),
                   status="clean", action="pass", names="-", direction="inbound")
    _check_upstream_leg(um, d, srv, n0, 2)


@pytest.mark.parametrize("um", ["passive", "active"])
@pytest.mark.parametrize("mode", ["pasv", "port"], ids=["epsv6", "eprt6"])
def test_ipv6(ftp_server_factory, ftp_proxy_factory, um, mode):
    """Client, proxy and server on ::1: EPSV / EPRT on the client leg,
    the upstream leg in either mode."""
    srv = ftp_server_factory(host="::1")
    d = ftp_proxy_factory(server=srv, ftp={"upstream_mode": um})
    assert d.ftp_host == "::1"
    up, down = payload(300001, 1), payload(200003, 2)
    srv.put("v6-down.bin", down)
    c = FtpClient("::1", d.ftp_port, mode)
    try:
        x = c.stor("v6-up.bin", up)
        y = c.retr("v6-down.bin")
    finally:
        c.close_quietly()
    assert x.code == 226 and y.code == 226, (x, y)
    assert srv.get("v6-up.bin") == up and y.data == down
    cmds = srv.commands(("PASV", "EPSV", "PORT", "EPRT"))
    assert cmds, "no data command reached the server"
    if um == "passive":
        assert all(c.startswith("EPSV") for c in cmds), cmds
    else:
        assert all(c.startswith("EPRT |2|::1|") for c in cmds), cmds


def test_appe_and_stou(request, relay):
    """APPE appends what the client sent; STOU stores under a new name."""
    um, d, srv = relay
    attach(request.node, d, srv)
    a, b, u = payload(70000, 11), payload(90001, 12), payload(4321, 13)
    name = "appe-%s.bin" % um
    c = _client(d)
    try:
        x = c.stor(name, a)
        y = c.appe(name, b)
        before = set(p.name for p in srv.root.iterdir())
        z = c.stou(u)
    finally:
        c.close_quietly()
    assert x.code == 226 and y.code == 226, (x, y)
    assert srv.get(name) == a + b, "APPE: the server's file is not the two parts"
    assert z.code == 226, z
    new = [p for p in srv.root.iterdir() if p.name not in before]
    assert len(new) == 1 and new[0].read_bytes() == u, "STOU: new files %r" % new
    assert new[0].name in z.prelim + z.final, "the client learns the name STOU chose: %s" % z


@pytest.mark.parametrize("mode", ["pasv", "port"])
def test_rest_resume_download(request, relay, mode):
    um, d, srv = relay
    attach(request.node, d, srv)
    data = payload(MiB + 12345, 21)
    name = "rest-%s-%s.bin" % (um, mode)
    srv.put(name, data)
    c = _client(d, mode)
    try:
        for off in (0, 1, 123457, len(data) - 1, len(data)):
            x = c.retr(name, rest=off)
            assert x.code == 226, "REST %d: %s" % (off, x)
            assert x.data == data[off:], "REST %d: got %d bytes, expected %d" % (
                off, len(x.data), len(data) - off)
    finally:
        c.close_quietly()


def test_abor(request, relay):
    """ABOR with nothing running, and in the middle of a download: the
    replies end in 225/226 and the session stays usable."""
    um, d, srv = relay
    attach(request.node, d, srv)
    big = payload(8 * MiB, 31)
    small = payload(5000, 32)
    srv.put("abor-big.bin", big)
    srv.put("abor-small.bin", small)
    c = _client(d)
    try:
        r = c.raw("ABOR")
        assert r[:3] in ("225", "226"), "ABOR with no transfer: %r" % r
        conn, prelim = c._open("RETR abor-big.bin")
        assert conn and prelim.startswith("1"), prelim
        conn.settimeout(20)
        try:
            conn.recv(1000)
        except OSError:
            pass
        c.sock.sendall(b"\xff\xf4\xff\xf2ABOR\r\n")   # Telnet IP, Synch (DM), ABOR
        conn.close()
        codes = []
        for _ in range(4):
            rr = c.getmultiline()
            codes.append(rr[:3])
            if rr[:3] in ("225", "226"):
                break
        assert codes[-1] in ("225", "226"), "replies after ABOR: %r" % codes
        assert set(codes) <= {"426", "451", "225", "226"}, codes
        assert c.sendcmd("NOOP").startswith("200")
        x = c.retr("abor-small.bin")
        assert x.code == 226 and x.data == small, x
    finally:
        c.close_quietly()


def test_listings_relayed(request, relay):
    """LIST, NLST and MLSD come out as the server sent them (compared
    with a direct connection), in PASV and PORT mode, and are not scanned
    (the directory holds EICAR: its name in a listing is no virus)."""
    um, d, srv = relay
    attach(request.node, d, srv)
    ldir = "lst-%s" % um
    for i, n in enumerate(["a.txt", "b.bin", "c.com", "sub dir/x"]):
        srv.put("%s/%s" % (ldir, n), payload(100 + i, i))
    srv.put("%s/eicar.com" % ldir, EICAR)
    direct = FtpClient("127.0.0.1", srv.port, "pasv")
    mark = d.mark()
    try:
        for mode in ("pasv", "port"):
            c = _client(d, mode)
            try:
                for cmd in ("LIST", "NLST", "MLSD"):
                    want = direct.listing(cmd, ldir)
                    got = c.listing(cmd, ldir)
                    assert want.code == 226 and b"eicar.com" in want.data, want
                    assert got.code == 226, "%s via %s: %s" % (cmd, mode, got)
                    assert got.data == want.data, "%s via %s differs:\n%r\n%r" % (
                        cmd, mode, got.data, want.data)
            finally:
                c.close_quietly()
    finally:
        direct.close_quietly()
    assert not [t for t in d.transfers(mark) if t.get("status") == "infected"], \
        "a listing was scanned as a file"


def test_feat_size_mdtm_mlst(request, relay):
    um, d, srv = relay
    attach(request.node, d, srv)
    data = payload(4567, 41)
    srv.put("info-%s.bin" % um, data)
    direct = FtpClient("127.0.0.1", srv.port, "pasv")
    c = _client(d)
    try:
        feat = c.raw("FEAT")
        assert feat.startswith("211"), feat
        for f in ("SIZE", "MDTM", "MLST", "REST STREAM"):
            assert re.search(r"(?m)^\s*%s\b" % f, feat), "FEAT lacks %s:\n%s" % (f, feat)
        assert c.sendcmd("SIZE info-%s.bin" % um) == "213 4567"
        assert c.sendcmd("MDTM info-%s.bin" % um) == direct.sendcmd("MDTM info-%s.bin" % um)
        m = c.raw("MLST info-%s.bin" % um)
        assert m.startswith("250") and "size=4567;" in m.lower(), m
        assert c.raw("SIZE no-such-file")[:3] == "550"
        assert c.raw("REST 100").startswith("350")
        assert c.raw("REST 0").startswith("350")
    finally:
        c.close_quietly()
        direct.close_quietly()


def test_session_commands_relayed(request, relay):
    """Directory and file commands get the server's answers."""
    um, d, srv = relay
    attach(request.node, d, srv)
    dname = "dir-%s" % um
    srv.put("victim-%s.txt" % um, b"x")
    c = _client(d)
    try:
        assert c.sendcmd("PWD").startswith('257 "/"')
        assert c.sendcmd("MKD %s" % dname).startswith("257")
        assert c.sendcmd("CWD %s" % dname).startswith("250")
        assert c.sendcmd("PWD") == '257 "/%s" is the current directory.' % dname
        x = c.stor("inner.bin", b"inner")
        assert x.code == 226
        assert c.sendcmd("CDUP").startswith("250")
        assert c.sendcmd("RNFR victim-%s.txt" % um).startswith("350")
        assert c.sendcmd("RNTO renamed-%s.txt" % um).startswith("250")
        assert c.sendcmd("DELE renamed-%s.txt" % um).startswith("250")
        assert c.sendcmd("DELE %s/inner.bin" % dname).startswith("250")
        assert c.sendcmd("RMD %s" % dname).startswith("250")
        assert c.sendcmd("TYPE A").startswith("200")
        assert c.sendcmd("TYPE I").startswith("200")
        assert c.sendcmd("SYST").startswith("215")
        assert c.sendcmd("NOOP").startswith("200")
        assert c.raw("CWD no-such-dir")[:3] == "550"
        assert c.sendcmd("QUIT").startswith("221")
    finally:
        c.close_quietly()
    assert not srv.has("victim-%s.txt" % um) and not srv.has(dname)


# ------------------------------------------------------------------ tools

CURL = shutil.which("curl")
LFTP = shutil.which("lftp")


@pytest.mark.skipif(CURL is None, reason="curl not installed")
@pytest.mark.parametrize("variant", ["epsv", "pasv", "active"])
def test_curl(ftp_server, ftp_proxy_factory, tmp_path, variant):
    d = ftp_proxy_factory(server=ftp_server)
    extra = {"epsv": [], "pasv": ["--disable-epsv"], "active": ["--ftp-port", "-"]}[variant]
    base = "ftp://%s:%s@127.0.0.1:%d/" % (USER, PASSWD, d.ftp_port)
    up, down = payload(MiB + 3, 51), payload(777777, 52)
    (tmp_path / "up.bin").write_bytes(up)
    ftp_server.put("curl-down.bin", down)
    ftp_server.put("curl-eicar.com", EICAR)
    cmd = [CURL, "-sS", "--max-time", "30"] + extra
    p = run_tool(cmd + ["-T", str(tmp_path / "up.bin"), base + "curl-up.bin"])
    assert p.returncode == 0, p.stderr.decode()
    assert ftp_server.get("curl-up.bin") == up
    p = run_tool(cmd + ["-o", str(tmp_path / "down.bin"), base + "curl-down.bin"])
    assert p.returncode == 0, p.stderr.decode()
    assert (tmp_path / "down.bin").read_bytes() == down
    out = tmp_path / "eicar.out"
    p = run_tool(cmd + ["-o", str(out), base + "curl-eicar.com"])
    assert p.returncode != 0, "curl got EICAR through the proxy"
    assert not out.exists() or EICAR not in out.read_bytes()


@pytest.mark.skipif(LFTP is None, reason="lftp not installed")
@pytest.mark.parametrize("passive", [True, False], ids=["passive", "active"])
def test_lftp(ftp_server, ftp_proxy_factory, tmp_path, passive):
    d = ftp_proxy_factory(server=ftp_server)
    up, down = payload(MiB - 7, 61), payload(123456, 62)
    (tmp_path / "up.bin").write_bytes(up)
    ftp_server.put("lftp-down.bin", down)
    script = ("set cmd:fail-exit yes; set net:max-retries 1; set net:timeout 15; "
              "set net:reconnect-interval-base 1; set ftp:ssl-allow no; "
              "set ftp:passive-mode %s; set xfer:clobber on; "
              "open -u %s,%s -p %d 127.0.0.1; put %s -o lftp-up.bin; "
              "get lftp-down.bin -o %s; bye" % (
                  "on" if passive else "off", USER, PASSWD, d.ftp_port,
                  tmp_path / "up.bin", tmp_path / "down.bin"))
    p = run_tool([LFTP, "-c", script], timeout=90, cwd=tmp_path)
    assert p.returncode == 0, (p.stdout + p.stderr).decode(errors="replace")
    assert ftp_server.get("lftp-up.bin") == up
    assert (tmp_path / "down.bin").read_bytes() == down
    verbs = {c.split(" ", 1)[0] for c in ftp_server.commands(("PASV", "EPSV", "PORT", "EPRT"))}
    assert verbs, "no data command reached the server"


@pytest.mark.parametrize("um", ["passive", "active"])
@pytest.mark.parametrize("mode", ["pasv", "port"])
def test_vsftpd_upstream(vsftpd_server, ftp_proxy_factory, um, mode):
    """vsftpd (anonymous, uploads in pub/) behind the proxy."""
    v = vsftpd_server
    d = ftp_proxy_factory(upstream=v.addr, ftp={"upstream_mode": um})
    up, down = payload(MiB + 5, 71), payload(65536, 72)
    v.put("vs-down.bin", down)
    c = FtpClient("127.0.0.1", d.ftp_port, mode, user=v.user, passwd=v.passwd)
    try:
        x = c.stor("pub/vs-up.bin", up)
        y = c.retr("pub/vs-down.bin")
        z = c.stor("pub/vs-eicar.com", EICAR)
        w = c.retr("pub/vs-up.bin")
    finally:
        c.close_quietly()
    assert x.code == 226, x
    assert v.get("vs-up.bin") == up
    assert y.code == 226 and y.data == down, y
    assert w.code == 226 and w.data == up, w
    assert z.code == 550 and re.search(EICAR_RE, z.final), z
    assert not v.has("vs-eicar.com"), "the infected upload reached vsftpd"


# ------------------------------------------------------------ concurrency

def test_50_sessions(ftp_server_factory, ftp_proxy_factory):
    """50 sessions at once, each uploading and downloading its own file
    (modes mixed); every file arrives whole, every transfer is logged
    once; all within 60 s."""
    n = 50
    srv = ftp_server_factory(passive_ports=port_range(150))
    lo, hi = port_range(300)
    d = ftp_proxy_factory(server=srv, verbose=False,
                          ftp={"max_sessions": 200, "max_sessions_per_client": 100,
                               "data_ports": "%d-%d" % (lo, hi)})
    ups = {i: payload(65536 + i * 97, 1000 + i) for i in range(n)}
    downs = {i: payload(40000 + i * 31, 2000 + i) for i in range(n)}
    for i in range(n):
        srv.put("cc-down-%02d.bin" % i, downs[i])
    results = {}
    lock = threading.Lock()
    start = threading.Barrier(n, timeout=30)

    def one(i):
        try:
            start.wait()
            c = FtpClient("127.0.0.1", d.ftp_port, MODES[i % 4], timeout=40)
            try:
                x = c.stor("cc-up-%02d.bin" % i, ups[i])
                y = c.retr("cc-down-%02d.bin" % i)
                c.quit()
            finally:
                c.close_quietly()
            res = (x.code, y.code, y.data == downs[i], str(x), str(y))
        except Exception as e:  # reported below, per session
            res = ("exception", repr(e))
        with lock:
            results[i] = res

    t0 = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.1, 60 - (time.monotonic() - t0)))
    elapsed = time.monotonic() - t0
    missing = [i for i in range(n) if i not in results]
    assert not missing, "sessions unfinished after %.0fs: %r" % (elapsed, missing)
    bad = {i: r for i, r in results.items() if r[:3] != (226, 226, True)}
    assert not bad, "%d sessions failed: %r" % (len(bad), dict(list(bad.items())[:5]))
    for i in range(n):
        assert srv.get("cc-up-%02d.bin" % i) == ups[i], "upload %d differs" % i
    logs = d.wait_transfers(2 * n, timeout=20)
    names = sorted((t["cmd"], t["file"]) for t in logs)
    want = sorted([("STOR", "cc-up-%02d.bin" % i) for i in range(n)] +
                  [("RETR", "cc-down-%02d.bin" % i) for i in range(n)])
    assert names == want, "transfer log lines do not match the transfers"
    assert d.alive()


def test_large_file(ftp_server, ftp_proxy_factory, tmp_path):
    """32 MiB up and down (200 MiB is the benchmark's: bench/ftp/run)."""
    d = ftp_proxy_factory(server=ftp_server, verbose=False)
    data = payload(32 * MiB, 81)
    ftp_server.put("large-down.bin", data)
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv", timeout=60)
    t0 = time.monotonic()
    try:
        x = c.stor("large-up.bin", data)
        y = c.retr("large-down.bin")
    finally:
        c.close_quietly()
    elapsed = time.monotonic() - t0
    assert x.code == 226 and y.code == 226, (x, y)
    assert ftp_server.get("large-up.bin") == data
    assert y.data == data
    assert elapsed < 60, "64 MiB through the proxy took %.1fs" % elapsed
    d.transfer_log(cmd="STOR", size=str(32 * MiB), status="clean")


def test_max_file_size(ftp_server, ftp_proxy_factory):
    """A file beyond [ftp] max_file_size is not relayed unscanned, either way."""
    d = ftp_proxy_factory(server=ftp_server, ftp={"max_file_size": "1M"})
    data = payload(2 * MiB, 91)
    ftp_server.put("mfs-down.bin", data)
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv")
    try:
        x = c.stor("mfs-up.bin", data)
        y = c.retr("mfs-down.bin")
        z = c.stor("mfs-small.bin", data[:1000])
    finally:
        c.close_quietly()
    assert x.code // 100 in (4, 5), x
    assert not ftp_server.has("mfs-up.bin") or ftp_server.get("mfs-up.bin") == b"", \
        "an oversized upload reached the server"
    assert y.code // 100 in (4, 5) and y.data == b"", y
    assert z.code == 226 and ftp_server.get("mfs-small.bin") == data[:1000], z


# ---------------------------------------------------------- SMTP and FTP

def test_smtp_and_ftp_in_one_daemon(sink, ftp_server, ftp_proxy_factory):
    d = ftp_proxy_factory(server=ftp_server, sink=sink, inbound={"infected": "reject"},
                          ftp={"direction": "inbound"})
    ready = d.ready_line()
    assert "smtp@127.0.0.1:%d" % d.port in ready, ready
    assert "ftp@127.0.0.1:%d" % d.ftp_port in ready, ready
    text = part("text/plain", b"hello\r\n")
    clean = multipart([text], subject="clean")
    infected = multipart([text, b64_part(EICAR, "eicar.com")], subject="infected")
    with Client(d.port) as s:
        s.banner()
        s.ehlo()
        check(s.mail("a@example.net", ["b@example.org"], clean), 250)
        check(s.mail("a@example.net", ["c@example.org"], infected), "550 5.7.1")
        s.quit()
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv")
    try:
        x = c.stor("both-clean.bin", payload(10000, 3))
        y = c.stor("both-eicar.com", EICAR)
    finally:
        c.close_quietly()
    assert x.code == 226 and y.code == 550 and re.search(EICAR_RE, y.final), (x, y)
    assert not ftp_server.has("both-eicar.com")
    (m,) = sink.wait_messages(1)
    assert m.rcpts == ["b@example.org"]
    log_of(d, n=1, status="clean")
    log_of(d, n=2, status="infected", action="reject")
    d.transfer_log(n=1, cmd="STOR", status="clean")
    d.transfer_log(n=2, cmd="STOR", status="infected", action="block")


# ----------------------------------------------------------------- config

def test_ready_line_named_sections(ftp_server_factory, ftp_proxy_factory):
    """[ftp.a] and [ftp.b], each to its own server, listed by name."""
    s1, s2 = ftp_server_factory(), ftp_server_factory()
    d = ftp_proxy_factory(server=s1, section="ftp.a", start=False)
    lo, hi = port_range(20)
    d.conf["ftp.b"] = {"listen": "127.0.0.1:%d" % free_port(), "upstream": s2.addr,
                       "data_ports": "%d-%d" % (lo, hi)}
    d.start()
    ready = d.ready_line()
    assert "a@127.0.0.1:%d" % d.ftp_port_of("ftp.a") in ready, ready
    assert "b@127.0.0.1:%d" % d.ftp_port_of("ftp.b") in ready, ready
    assert "smtp@127.0.0.1:%d" % d.port in ready, ready
    for sec, srv in (("ftp.a", s1), ("ftp.b", s2)):
        c = FtpClient("127.0.0.1", d.ftp_port_of(sec), "pasv")
        try:
            x = c.stor("named.bin", sec.encode())
        finally:
            c.close_quietly()
        assert x.code == 226 and srv.get("named.bin") == sec.encode(), x


def test_ftp_only_config(ftp_server, ftp_proxy_factory):
    d = ftp_proxy_factory(server=ftp_server, smtp=False)
    ready = d.ready_line()
    assert "ftp@127.0.0.1:%d" % d.ftp_port in ready and "smtp@" not in ready, ready
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv")
    try:
        assert c.stor("only.bin", b"only").code == 226
    finally:
        c.close_quietly()
    assert ftp_server.get("only.bin") == b"only"


@pytest.mark.parametrize("key,value,ok", [
    ("data_ports", "40000-40100", True),
    ("upstream_mode", "active", True),
    ("upstream", "", True),
    ("data_ports", "5000-4000", False),
    ("data_ports", "0-10", False),
    ("upstream_mode", "sideways", False),
    ("listen", "nowhere", False),
    ("max_line_length", "10", False),
    ("clients", "300.0.0.0/8", False),
    ("bogus_key", "1", False),
])
def test_config_check(tmp_path, ftp_proxy_factory, key, value, ok):
    """portcullisd -t accepts [ftp] and refuses bad values, naming the line."""
    d = ftp_proxy_factory(upstream="127.0.0.1:21", ftp={key: value}, start=False)
    d.write_config()
    p = subprocess.run([str(d.bin), "-t", "-c", str(d.conf_path)], stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    out = p.stdout.decode(errors="replace")
    if ok:
        assert p.returncode == 0, out
    else:
        assert p.returncode != 0, "accepted %s = %s" % (key, value)
        text = d.conf_path.read_text().splitlines()
        sec = text.index("[ftp]")
        line = sec + 1 + next(i for i, l in enumerate(text[sec:]) if l.startswith(key + " ="))
        assert "%s:%d: " % (d.conf_path, line) in out, \
            "the error names the file and line %d: %s" % (line, out)


# ------------------------------------------------------------- keep-alive

def test_download_mark_held_and_keepalive(ftp_server_factory, ftp_proxy_factory):
    """A download's 1xx is held until the file is judged; while a slow
    server sends, the client gets "1xx-" keep-alive lines every
    keepalive_interval, closed by "1xx Sending the scanned file." before
    the data. A quick download gets the server's 1xx as it was; a slow
    blocked one gets its mark closed, then 550 and no data."""
    srv = ftp_server_factory(slow=0.1)
    d = ftp_proxy_factory(server=srv, ftp={"keepalive_interval": "300ms"})
    data = payload(20 * 65536, 41)                 # 20 chunks: about 2 s
    srv.put("slow-clean.bin", data)
    srv.put("quick.bin", b"quick")
    srv.put("slow-eicar.com", EICAR + b"\n" + payload(15 * 65536, 42))
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv", timeout=30)
    try:
        x = c.retr("slow-clean.bin")
        y = c.retr("quick.bin")
        z = c.retr("slow-eicar.com")
    finally:
        c.close_quietly()
    assert x.code == 226 and x.data == data, x
    lines = x.prelim.split("\n")
    code = lines[0][:3]
    assert code[0] == "1" and lines[0][3] == "-", x.prelim
    assert lines[-1] == code + " Sending the scanned file.", x.prelim
    alive = [l for l in lines if re.match(r"%s-Portcullis: \d+ bytes received" % code, l)]
    assert len(alive) >= 3, "keep-alive lines: %r" % lines
    assert y.code == 226 and y.data == b"quick" and "\n" not in y.prelim, y
    assert z.code == 550 and z.data == b"" and re.search(EICAR_RE, z.final), z
    assert z.prelim.split("\n")[-1].endswith("The transfer ends: see the next reply."), z


# ---------------------------------------------------------------- trickle

def _timed_retr(c, name):
    """(1xx reply, seconds from the 1xx to the first data byte, data, error, final)."""
    conn, resp = c._open("RETR " + name)
    assert conn, resp
    t0 = time.monotonic()
    first, buf, err = None, [], ""
    try:
        while True:
            b = conn.recv(1 << 16)
            if not b:
                break
            if first is None:
                first = time.monotonic() - t0
            buf.append(b)
    except OSError as e:
        err = repr(e)
    finally:
        conn.close()
    return resp, first, b"".join(buf), err, c._final()


def test_trickle(ftp_server_factory, ftp_proxy_factory):
    """trickle = yes: a slow download reaches the client while the server
    is still sending (all but trickle_hold), the tail after the scan; an
    infected one is cut with a reset before its tail, and gets 550."""
    srv = ftp_server_factory(slow=0.1)
    d = ftp_proxy_factory(server=srv, ftp={"trickle": "yes", "trickle_hold": "128k",
                                           "direction": "inbound"},
                          inbound={"ftp_infected": "block"})
    data = payload(20 * 65536, 43)                 # 20 chunks, 0.1 s apart
    bad = EICAR + b"\n" + payload(20 * 65536, 44)
    srv.put("slow-trickle.bin", data)
    srv.put("slow-trickle.com", bad)
    c = FtpClient("127.0.0.1", d.ftp_port, "pasv", timeout=30)
    try:
        mark, first, got, err, final = _timed_retr(c, "slow-trickle.bin")
        assert mark.startswith("1") and "\n" not in mark, mark
        assert final.startswith("226") and got == data and not err, (final, len(got), err)
        assert first is not None and first < 1.0, \
            "first byte %.2fs after the 1xx: not trickled (the server takes 2 s)" % first
        mark, first, got, err, final = _timed_retr(c, "slow-trickle.com")
        assert final.startswith("550") and re.search(EICAR_RE, final), final
        assert 0 < len(got) <= len(bad) - 128 * 1024, \
            "the client got %d of %d bytes: the tail must be held" % (len(got), len(bad))
        assert "Reset" in err or "reset" in err, "no reset on the data connection: %r" % err
        assert c.sendcmd("NOOP").startswith("200")
    finally:
        c.close_quietly()
    d.transfer_log(n=2, status="infected", action="block")
