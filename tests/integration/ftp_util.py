"""Fixtures and helpers for the integration tests of the FTP proxy.

Owns: the FTP servers that play the upstream (FtpServer: pyftpdlib in a
subprocess, IPv4 or IPv6, with a command journal and an optional "drop the
transfer halfway" fault; Vsftpd: Debian's vsftpd with its own config,
anonymous with uploads), the portcullisd launcher with [ftp] sections
(FtpProxy, a Portcullisd), an ftplib client that can choose PASV, EPSV,
PORT or EPRT and returns every reply of a transfer without raising
(FtpClient, Xfer), a raw line client (RawFtp), the parser of the daemon's
`ftp[N]: transfer` log lines, port ranges for data_ports and passive ports,
and test payloads. A failing test gets the servers' journals and the
daemon's log attached (through smtp_util's report hook).

Test modules use it with
    pytest.register_assert_rewrite("smtp_util", "ftp_util")   # before the import
    from ftp_util import *                                    # fixtures and helpers
    pytest_plugins = ["smtp_util", "ftp_util"]

Binaries: $PORTCULLISD and $PORTCULLIS_CTL as for smtp_util; the servers run
under Debian's /usr/bin/python3 (pyftpdlib) and /usr/sbin/vsftpd.
"""

import ftplib
import json
import os
import random
import re
import select
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smtp_util import (EICAR, EICAR_RE, CLAM_RE, QID_RE, RE_KV, TESTFILES,  # noqa: E402
                       Portcullisd, _artifacts, _clip, attach, daemon_config, free_port,
                       wait_until)

__all__ = [
    # constants
    "EICAR", "EICAR_RE", "CLAM_RE", "QID_RE", "TESTFILES", "PYTHON", "VSFTPD", "USER", "PASSWD",
    "MODES", "MiB",
    # peers
    "FtpServer", "Vsftpd", "FtpProxy", "FtpClient", "RawFtp", "Xfer",
    # helpers
    "port_range", "payload", "free_port", "free_port6", "wait_until", "attach", "run_tool",
    "start_ftp_shared", "parse_transfers", "assert_multiline", "final_line",
    # fixtures
    "ftp_server_factory", "ftp_server", "ftp_proxy_factory", "vsftpd_server",
    "tls_pair", "vsftpd_tls_server",
]

PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
VSFTPD = "/usr/sbin/vsftpd"
USER, PASSWD = "alice", "secret"
MODES = ("pasv", "epsv", "port", "eprt")
MiB = 1 << 20

RE_XFER = re.compile(r"\bftp\[(\d+)\]: transfer (.*)$")


# ------------------------------------------------------------ ports, data

_ranges_given = []
_ranges_lock = threading.Lock()


def _port_free(port, hosts):
    for fam, host in hosts:
        s = socket.socket(fam)
        try:
            s.bind((host, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def port_range(n=40, v6=False):
    """(lo, hi): n consecutive ports, free a moment ago on 127.0.0.1 (and ::1),
    below the kernel's ephemeral range and apart from every range handed out
    earlier in this run."""
    hosts = [(socket.AF_INET, "127.0.0.1")] + ([(socket.AF_INET6, "::1")] if v6 else [])
    rnd = random.Random(os.getpid() ^ int(time.time() * 1000))
    with _ranges_lock:
        for _ in range(200):
            lo = rnd.randrange(12000, 32000 - n)
            hi = lo + n - 1
            if any(not (hi < a or lo > b) for a, b in _ranges_given):
                continue
            if all(_port_free(p, hosts) for p in range(lo, hi + 1)):
                _ranges_given.append((lo, hi))
                return lo, hi
    pytest.fail("no free range of %d ports found" % n)


def free_port6():
    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 0))
        return s.getsockname()[1]


def payload(n, seed=0):
    """n pseudo-random bytes, the same for the same seed."""
    return random.Random(seed).randbytes(n)


def run_tool(cmd, timeout=60, **kw):
    """Runs a command-line client (curl, lftp) bounded in time."""
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as e:
        pytest.fail("%s did not finish within %ds: %r" % (cmd[0], timeout, e))


# --------------------------------------------------------- pyftpdlib server

_SERVER_SCRIPT = r'''
import json, logging, os, sys, time
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import ActiveDTP, DTPHandler, FTPHandler
from pyftpdlib.servers import FTPServer

cfg = json.loads(sys.argv[1])
logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                    format="%(asctime)s %(message)s")
journal = open(cfg["journal"], "a", buffering=1)
DROP = cfg.get("drop_after")
# a RETR of a file named slow* sends one chunk every SLOW seconds (the
# loop sleeps: fine for the one client of such a test)
SLOW = cfg.get("slow")


def note(text):
    journal.write(text + "\n")
    journal.flush()


def dropping(dc):
    f = dc.file_obj
    return (DROP is not None and f is not None and
            os.path.basename(getattr(f, "name", "")).startswith("drop"))


class DTP(DTPHandler):
    def send(self, data):
        f = self.file_obj
        if SLOW and f is not None and os.path.basename(getattr(f, "name", "")).startswith("slow"):
            time.sleep(SLOW)
        n = DTPHandler.send(self, data)
        if dropping(self) and self.tot_bytes_sent >= DROP:
            note("! server exits: %d bytes of %s sent" % (self.tot_bytes_sent,
                                                         self.file_obj.name))
            os._exit(3)
        return n

    def handle_read(self):
        DTPHandler.handle_read(self)
        if dropping(self) and self.tot_bytes_received >= DROP:
            note("! server exits: %d bytes of %s received" % (self.tot_bytes_received,
                                                             self.file_obj.name))
            os._exit(3)

    handle_read_event = handle_read


class ADTP(ActiveDTP):
    # pyftpdlib 1.5.7 keeps the connector of a PORT connection after
    # handing its socket to the DTP; when the session ends it closes the
    # connector again, unregistering that fd number from its ioloop. If a
    # new session was accepted on the same (reused) number meanwhile, that
    # session is never read again. Dropping the reference avoids it.
    def handle_connect(self):
        ActiveDTP.handle_connect(self)
        if getattr(self.cmd_channel, "_dtp_connector", None) is self:
            self.cmd_channel._dtp_connector = None


class Handler(FTPHandler):
    dtp_handler = DTP
    active_dtp = ADTP
    use_sendfile = False
    permit_foreign_addresses = False
    banner = "pyftpdlib test server ready."

    def on_connect(self):
        note("%s:%s connect" % (self.remote_ip, self.remote_port))

    def pre_process_command(self, line, cmd, arg):
        note("%s:%s %s" % (self.remote_ip, self.remote_port,
                           "PASS ******" if cmd == "PASS" else line))
        return FTPHandler.pre_process_command(self, line, cmd, arg)


auth = DummyAuthorizer()
auth.add_user(cfg["user"], cfg["passwd"], cfg["root"], perm="elradfmwMT")
Handler.authorizer = auth
if cfg.get("passive_ports"):
    lo, hi = cfg["passive_ports"]
    Handler.passive_ports = list(range(lo, hi + 1))
server = FTPServer((cfg["host"], cfg.get("port", 0)), Handler)
server.max_cons = 1024
server.max_cons_per_ip = 0
print("READY %d" % server.address[1], flush=True)
server.serve_forever(timeout=0.5)
'''


class FtpServer:
    """
    pyftpdlib 1.5.7 as a subprocess on host:port (port picked by the
    kernel): user alice/secret with every permission on root/, anonymous
    off, permit_foreign_addresses off, passive ports from passive_ports
    (lo, hi) or a fresh range. Every command it receives goes to a journal
    (commands()). drop_after=N: a RETR or STOR of a file whose name starts
    with "drop" kills the server once N bytes moved (the server vanishes
    mid-transfer, control and data connections alike). slow=S: a RETR of
    a file whose name starts with "slow" sends a chunk every S seconds.
    """

    def __init__(self, tmp, host="127.0.0.1", passive_ports=None, drop_after=None,
                 name="pyftpd", start=True, slow=None):
        self.tmp = Path(tmp)
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.host = host
        self.root = self.tmp / "root"
        self.root.mkdir(exist_ok=True)
        self.journal = self.tmp / "journal.txt"
        self.errlog = self.tmp / "server.log"
        self.passive_ports = passive_ports or port_range(60, v6=(":" in host))
        self.drop_after = drop_after
        self.slow = slow
        self.port = None
        self.proc = None
        if start:
            self.start()

    def start(self, timeout=20.0):
        cfg = {"host": self.host, "root": str(self.root), "journal": str(self.journal),
               "user": USER, "passwd": PASSWD, "passive_ports": list(self.passive_ports),
               "drop_after": self.drop_after, "slow": self.slow}
        with open(self.errlog, "ab") as err:
            self.proc = subprocess.Popen([PYTHON, "-c", _SERVER_SCRIPT, json.dumps(cfg)],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=err)
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline and not line.endswith(b"\n"):
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                c = os.read(self.proc.stdout.fileno(), 100)
                if not c:
                    break
                line += c
        m = re.match(rb"READY (\d+)", line)
        if not m:
            self.stop()
            pytest.fail("pyftpdlib server did not start: %r\n%s" % (line, self.server_log()))
        self.port = int(m.group(1))
        return self

    @property
    def addr(self):
        """HOST:PORT for an [ftp] upstream key ([::1]:PORT for IPv6)."""
        return ("[%s]:%d" if ":" in self.host else "%s:%d") % (self.host, self.port)

    def path(self, name):
        return self.root / name

    def put(self, name, data):
        p = self.root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        return p

    def get(self, name):
        return (self.root / name).read_bytes()

    def has(self, name):
        return (self.root / name).exists()

    def commands(self, verbs=None):
        """The command lines received so far (without the peer prefix)."""
        if not self.journal.exists():
            return []
        out = []
        for l in self.journal.read_text(errors="replace").splitlines():
            parts = l.split(" ", 1)
            if len(parts) != 2 or l.startswith("!"):
                continue
            cmd = parts[1]
            if verbs is None or cmd.split(" ", 1)[0].upper() in verbs:
                out.append(cmd)
        return out

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def server_log(self):
        return self.errlog.read_text(errors="replace") if self.errlog.exists() else ""

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc.stdout.close()

    def describe(self):
        j = self.journal.read_text(errors="replace") if self.journal.exists() else ""
        return ("pyftpdlib %s on %s rc=%s passive_ports=%s drop_after=%s\n--- journal ---\n%s"
                "\n--- server log ---\n%s" % (self.name, self.addr, self.proc and self.proc.poll(),
                                              self.passive_ports, self.drop_after, _clip(j, 8000),
                                              _clip(self.server_log(), 8000)))


# ------------------------------------------------------------------ vsftpd

class Vsftpd:
    """
    Debian's vsftpd on 127.0.0.1:port, its own config: anonymous login
    (user "anonymous", any password) into root/, uploads and downloads in
    root/pub/ (owned by the system user ftp; vsftpd refuses a writable
    anonymous root), no seccomp sandbox or namespaces (containers), passive
    ports from a fresh range, the protocol logged to vsftpd.log.
    """

    user = "anonymous"
    passwd = "test@example.org"

    def __init__(self, tmp, name="vsftpd", tls=None):
        """tls=(cert, key): AUTH TLS on, and required for logins and data."""
        import pwd
        self.tmp = Path(tmp)
        self.name = name
        self.root = self.tmp / "root"
        self.pub = self.root / "pub"
        self.empty = self.tmp / "empty"
        for d in (self.root, self.pub, self.empty):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        os.chmod(self.empty, 0o755)
        ftp = pwd.getpwnam("ftp")
        os.chown(self.pub, ftp.pw_uid, ftp.pw_gid)
        os.chmod(self.pub, 0o755)
        self.port = free_port()
        self.passive_ports = port_range(40)
        self.log_path = self.tmp / "vsftpd.log"
        self.conf_path = self.tmp / "vsftpd.conf"
        self.conf_path.write_text("\n".join([
            "listen=YES", "listen_ipv6=NO", "listen_address=127.0.0.1",
            "listen_port=%d" % self.port, "background=NO",
            "anonymous_enable=YES", "local_enable=NO", "write_enable=YES",
            "anon_upload_enable=YES", "anon_mkdir_write_enable=YES",
            "anon_other_write_enable=YES", "anon_umask=022", "no_anon_password=YES",
            "anon_root=%s" % self.root, "ftp_username=ftp",
            "secure_chroot_dir=%s" % self.empty,
            "pasv_enable=YES", "pasv_min_port=%d" % self.passive_ports[0],
            "pasv_max_port=%d" % self.passive_ports[1], "pasv_address=127.0.0.1",
            "port_enable=YES", "connect_from_port_20=NO",
            "seccomp_sandbox=NO", "isolate=NO", "isolate_network=NO",
            "max_clients=0", "max_per_ip=0",
            "xferlog_enable=YES", "vsftpd_log_file=%s" % self.log_path, "dual_log_enable=YES",
            "log_ftp_protocol=YES", "syslog_enable=NO",
        ] + ([
            "ssl_enable=YES", "rsa_cert_file=%s" % tls[0], "rsa_private_key_file=%s" % tls[1],
            "allow_anon_ssl=YES", "force_anon_logins_ssl=YES", "force_anon_data_ssl=YES",
            "require_ssl_reuse=NO", "ssl_request_cert=NO",
        ] if tls else [])) + "\n")
        os.chmod(self.conf_path, 0o600)
        self.out_path = self.tmp / "vsftpd.out"
        with open(self.out_path, "wb") as out:
            self.proc = subprocess.Popen([VSFTPD, str(self.conf_path)], stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    s.settimeout(2)
                    if s.recv(100).startswith(b"220"):
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("vsftpd did not start (rc=%s): %s" % (
                    self.proc.returncode, self.out_path.read_text(errors="replace")))
            time.sleep(0.1)

    @property
    def addr(self):
        return "127.0.0.1:%d" % self.port

    def put(self, name, data):
        p = self.pub / name
        p.write_bytes(data)
        os.chmod(p, 0o644)
        return p

    def get(self, name):
        return (self.pub / name).read_bytes()

    def has(self, name):
        return (self.pub / name).exists()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def describe(self):
        log = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        out = self.out_path.read_text(errors="replace") if self.out_path.exists() else ""
        return "vsftpd on %s rc=%s\n--- log ---\n%s\n--- output ---\n%s" % (
            self.addr, self.proc.poll(), _clip(log, 8000), _clip(out, 2000))


# ------------------------------------------------------------------ proxy

def parse_transfers(lines):
    """Parsed `ftp[N]: transfer ...` lines: dicts with sid, line and the keys."""
    out = []
    for l in lines:
        m = RE_XFER.search(l)
        if not m:
            continue
        d = {"sid": int(m.group(1)), "line": l}
        for k, v in RE_KV.findall(m.group(2)):
            if v.startswith('"'):
                v = v[1:-1]
            d[k] = v
        out.append(d)
    return out


class FtpProxy(Portcullisd):
    """A Portcullisd with [ftp] / [ftp.NAME] sections."""

    def ftp_sections(self):
        return [s for s in self.conf if s == "ftp" or s.startswith("ftp.")]

    def ftp_port_of(self, section="ftp"):
        return int(self.conf[section]["listen"].rsplit(":", 1)[1])

    @property
    def ftp_port(self):
        return self.ftp_port_of(self.ftp_sections()[0])

    @property
    def ftp_host(self):
        h = self.conf[self.ftp_sections()[0]]["listen"].rsplit(":", 1)[0]
        return h.strip("[]")

    @property
    def data_ports(self):
        lo, hi = self.conf[self.ftp_sections()[0]]["data_ports"].split("-")
        return int(lo), int(hi)

    def start(self, timeout=20.0, expect_ready=True):
        """As Portcullisd.start; when an FTP listen port was taken meanwhile,
        picks new ones (twice at most)."""
        for attempt in range(3):
            try:
                return Portcullisd.start(self, timeout, expect_ready)
            except pytest.fail.Exception:
                if attempt == 2 or "Address already in use" not in self.log():
                    raise
                for s in self.ftp_sections():
                    host = self.conf[s]["listen"].rsplit(":", 1)[0]
                    self.conf[s]["listen"] = "%s:%d" % (
                        host, free_port6() if ":" in host else free_port())
        return self

    def ready_line(self):
        for l in self.log().splitlines():
            if "ready listeners=" in l:
                return l
        return ""

    def transfers(self, after=0):
        with self._lock:
            lines = self.lines[after:]
        return parse_transfers(lines)

    def wait_transfers(self, n=1, after=0, timeout=15.0):
        wait_until(lambda: len(self.transfers(after)) >= n, timeout,
                   what="%d ftp transfer log lines" % n)
        return self.transfers(after)

    def transfer_log(self, after=0, n=1, timeout=15.0, **expect):
        """The n-th transfer line after mark `after`; each expect key=regex
        must fullmatch its value."""
        rec = self.wait_transfers(n, after, timeout)[n - 1]
        for k, rx in expect.items():
            assert k in rec, "transfer log line lacks %s=: %s" % (k, rec["line"])
            assert re.fullmatch(rx, rec[k]), "log %s=%r does not match /%s/: %s" % (
                k, rec[k], rx, rec["line"])
        return rec

    def lines_after(self, mark):
        with self._lock:
            return list(self.lines[mark:])

    def vm_hwm_kib(self):
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for l in f:
                    if l.startswith("VmHWM:"):
                        return int(l.split()[1])
        except OSError:
            return None
        return None


def _proxy_config(base, server=None, upstream=None, ftp=None, section="ftp", sink=None,
                  smtp=True, **sections):
    maildir = None
    if sink is None:
        maildir = base / "Maildir"
        for d in ("cur", "new", "tmp"):
            (maildir / d).mkdir(parents=True, exist_ok=True)
    conf = daemon_config(base, sink_port=sink.port if sink else None, maildir=maildir,
                         **sections)
    if not smtp:
        del conf["smtp"]
    if upstream is None:
        upstream = server.addr if server is not None else ""
    v6 = server is not None and ":" in server.host
    lo, hi = port_range(40, v6=v6)
    f = {"listen": "[::1]:%d" % free_port6() if v6 else "127.0.0.1:%d" % free_port(),
         "upstream": upstream, "data_ports": "%d-%d" % (lo, hi),
         "command_timeout": "30s", "data_timeout": "30s", "upstream_timeout": "10s"}
    for k, v in (ftp or {}).items():
        if v is None:
            f.pop(k, None)
        else:
            f[k] = str(v)
    # the ftp section right after smtp, as a person would write it
    out = {}
    for k, v in conf.items():
        out[k] = v
        if k in ("smtp", "scan") and section not in out:
            out[section] = f
    out.setdefault(section, f)
    return out


def _check_stopped(d, problems):
    if d.proc is None:
        return
    died = d.proc.poll()
    if died is not None and not d.stopped_by_test:
        problems.append("%s exited on its own with rc=%s" % (d.name, died))
    rc = d.stop()
    if not d.stopped_by_test and rc != 0:
        problems.append("%s: exit code %s after SIGTERM" % (d.name, rc))
    if d.sanitizer_report():
        problems.append("%s: sanitizer report in the log" % d.name)


@pytest.fixture
def ftp_server_factory(request, tmp_path):
    """ftp_server_factory(host="127.0.0.1", drop_after=None, ...) -> a started
    FtpServer, stopped at teardown and shown in a failing test's report."""
    made = []

    def make(**kw):
        s = FtpServer(tmp_path / ("srv%d" % (len(made) + 1)),
                      name=kw.pop("name", "pyftpd%d" % (len(made) + 1)), **kw)
        made.append(s)
        _artifacts(request.node).append(s)
        return s

    yield make
    for s in made:
        s.stop()


@pytest.fixture
def ftp_server(ftp_server_factory):
    return ftp_server_factory()


@pytest.fixture
def ftp_proxy_factory(request, tmp_path):
    """
    ftp_proxy_factory(server=None, upstream=None, ftp={...}, section="ftp",
    sink=None, smtp=True, start=True, verbose=True, **sections) -> a started
    FtpProxy. The [ftp] section (or [ftp.NAME] with section=) listens on a
    free loopback port (IPv6 if the server is), points upstream at the
    server (upstream= overrides; "" = forward proxy), has a fresh
    data_ports range and 30 s timeouts; ftp= updates it (None removes a
    key). Other sections as for smtp_util's daemon_config; without a sink
    the [smtp] next hop is a Maildir, smtp=False leaves [smtp] out. At
    teardown: SIGTERM; the test fails if the daemon died, did not exit 0
    or printed a sanitizer report.
    """
    made = []

    def make(server=None, upstream=None, ftp=None, section="ftp", sink=None, smtp=True,
             start=True, verbose=True, name=None, **sections):
        base = tmp_path / ("fd%d" % (len(made) + 1))
        base.mkdir(parents=True, exist_ok=True)
        conf = _proxy_config(base, server, upstream, ftp, section, sink, smtp, **sections)
        d = FtpProxy(base, conf, verbose=verbose, name=name or "portcullisd%d" % (len(made) + 1))
        d.sink = sink
        made.append(d)
        _artifacts(request.node).append(d)
        if start:
            d.start()
        return d

    yield make
    problems = []
    for d in made:
        _check_stopped(d, problems)
    if problems:
        pytest.fail("; ".join(problems))


def start_ftp_shared(request, tmp_path_factory, name, server_kw=None, verbose=True, **kw):
    """A pyftpdlib server and a daemon in front of it for a module- or
    class-scoped fixture: started now, stopped (and checked) when request's
    scope ends. kw as for ftp_proxy_factory. Tests show them in their
    failure report with attach()."""
    base = tmp_path_factory.mktemp(name)
    srv = FtpServer(base / "srv", name="pyftpd-" + name, **(server_kw or {}))
    conf = _proxy_config(base / "d", srv, **kw)
    (base / "d").mkdir(exist_ok=True)
    d = FtpProxy(base / "d", conf, verbose=verbose, name="portcullisd-" + name)

    def fin():
        problems = []
        _check_stopped(d, problems)
        srv.stop()
        assert not problems, "; ".join(problems) + "\n" + d.describe()

    request.addfinalizer(fin)
    try:
        d.start()
    except BaseException:
        srv.stop()
        raise
    return d, srv


@pytest.fixture
def vsftpd_server(tmp_path, request):
    yield from _vsftpd(tmp_path, request, None)


def _vsftpd(tmp_path, request, tls):
    if not os.access(VSFTPD, os.X_OK):
        pytest.skip("vsftpd not installed (apt-get install vsftpd)")
    if os.geteuid() != 0:
        pytest.skip("vsftpd needs root here (chroot into its anonymous root)")
    try:
        import pwd
        pwd.getpwnam("ftp")
    except KeyError:
        pytest.skip("no system user ftp (the vsftpd package creates it)")
    try:
        v = Vsftpd(tmp_path / "vsftpd", tls=tls)
    except RuntimeError as e:
        pytest.skip("vsftpd cannot run here: %s" % e)
    _artifacts(request.node).append(v)
    yield v
    v.stop()


@pytest.fixture
def tls_pair(tmp_path):
    """A self-signed certificate and its key (openssl req), as paths."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    assert p.returncode == 0, p.stdout.decode(errors="replace")
    return cert, key


@pytest.fixture
def vsftpd_tls_server(tmp_path, request, tls_pair):
    """vsftpd that requires TLS for the login and for data (PROT P)."""
    yield from _vsftpd(tmp_path, request, tls_pair)


# ----------------------------------------------------------------- clients

@dataclass
class Xfer:
    """One transfer as the client saw it."""
    cmd: str
    data: bytes         # bytes received on the data connection (download); b"" if none
    prelim: str         # the 1xx reply ("" if the command was refused at once)
    final: str          # the final reply, lines joined with "\n" (RFC 959 multi-line kept)
    error: str = ""     # an error on the data connection (reset, broken pipe, timeout)
    connected: bool = False   # a data connection was made

    @property
    def code(self):
        return int(self.final[:3]) if self.final[:3].isdigit() else 0

    @property
    def lines(self):
        return self.final.split("\n")

    def __str__(self):
        return "%s -> prelim=%r final=%r data=%d bytes%s" % (
            self.cmd, self.prelim, self.final, len(self.data),
            (" error=" + self.error) if self.error else "")


def final_line(text):
    return text.split("\n")[-1]


def assert_multiline(text, code):
    """text is a multi-line reply: NNN-... first, NNN ... last."""
    lines = text.split("\n")
    assert len(lines) >= 2, "expected a multi-line %d reply, got %r" % (code, text)
    assert lines[0].startswith("%d-" % code), "first line %r is not %d-" % (lines[0], code)
    assert lines[-1].startswith("%d " % code), "last line %r is not '%d '" % (lines[-1], code)


class FtpClient(ftplib.FTP):
    """
    ftplib with the data-connection command chosen by mode: "pasv" (PASV;
    EPSV over IPv6), "epsv" (EPSV), "port" (PORT; EPRT over IPv6), "eprt"
    (EPRT). retr()/stor()/appe()/listing() return an Xfer and never raise on
    a 4xx/5xx reply. source: the local address to bind (control and data).
    """

    def __init__(self, host, port, mode="pasv", source=None, timeout=20.0, user=USER,
                 passwd=PASSWD, login=True):
        super().__init__(timeout=timeout,
                         source_address=(source, 0) if source else None)
        self.mode = mode
        self.last_pasv = None
        self.connect(host, port, timeout=timeout)
        # replies are read with errors replaced: a proxy may echo raw bytes
        self.file = self.sock.makefile("r", encoding="utf-8", errors="replace")
        if login:
            self.login(user, passwd)
            self.voidcmd("TYPE I")
        self.set_pasv(mode in ("pasv", "epsv"))

    def makepasv(self):
        if self.mode == "epsv" or self.af == socket.AF_INET6:
            host, port = ftplib.parse229(self.sendcmd("EPSV"), self.sock.getpeername())
        else:
            _, port = ftplib.parse227(self.sendcmd("PASV"))
            host = self.sock.getpeername()[0]
        self.last_pasv = (host, port)
        return host, port

    def makeport(self):
        host = self.sock.getsockname()[0]
        sock = socket.create_server((host, 0), family=self.af, backlog=4)
        port = sock.getsockname()[1]
        if self.mode == "eprt" or self.af == socket.AF_INET6:
            self.sendeprt(host, port)
        else:
            self.sendport(host, port)
        sock.settimeout(self.timeout)
        return sock

    def raw(self, line):
        """Sends line (bytes sent as they are, str gets CRLF); the whole reply."""
        if isinstance(line, str):
            line = line.encode("utf-8") + b"\r\n"
        self.sock.sendall(line)
        return self.getmultiline()

    def reply(self):
        return self.getmultiline()

    def _final(self):
        """The final reply of a transfer; "" if the control connection closed."""
        try:
            return self.getmultiline()
        except (EOFError, OSError):
            return ""

    def _open(self, cmd, rest=None):
        """(data socket or None, the reply to cmd)."""
        if self.passiveserver:
            host, port = self.makepasv()
            conn = socket.create_connection((host, port), self.timeout,
                                            source_address=self.source_address)
            try:
                if rest is not None:
                    self.sendcmd("REST %s" % rest)
                self.putcmd(cmd)
                resp = self.getmultiline()
            except BaseException:
                conn.close()
                raise
            if resp[:1] != "1":
                conn.close()
                return None, resp
        else:
            with self.makeport() as sock:
                if rest is not None:
                    self.sendcmd("REST %s" % rest)
                self.putcmd(cmd)
                resp = self.getmultiline()
                if resp[:1] != "1":
                    return None, resp
                sock.settimeout(min(self.timeout, 15))
                try:
                    conn, _ = sock.accept()
                except (socket.timeout, TimeoutError):
                    return False, resp
        conn.settimeout(self.timeout)
        return conn, resp

    def retr(self, name, rest=None, cmd="RETR"):
        full = "%s %s" % (cmd, name) if name is not None else cmd
        conn, resp = self._open(full, rest)
        if not conn:
            if conn is None:
                return Xfer(full, b"", "", resp)
            return Xfer(full, b"", resp, self._final(), error="no data connection")
        buf, err = [], ""
        deadline = time.monotonic() + max(self.timeout, 60)
        try:
            while time.monotonic() < deadline:
                c = conn.recv(1 << 16)
                if not c:
                    break
                buf.append(c)
            else:
                err = "data connection still open after %.0fs" % max(self.timeout, 60)
        except OSError as e:
            err = repr(e)
        finally:
            conn.close()
        return Xfer(full, b"".join(buf), resp, self._final(), err, True)

    def listing(self, cmd="LIST", path=None):
        return self.retr(path, cmd=cmd) if path else self.retr(None, cmd=cmd)

    def stor(self, name, data, cmd="STOR", rest=None):
        full = "%s %s" % (cmd, name) if name is not None else cmd
        conn, resp = self._open(full, rest)
        if not conn:
            if conn is None:
                return Xfer(full, b"", "", resp)
            return Xfer(full, b"", resp, self._final(), error="no data connection")
        err = ""
        try:
            view = memoryview(data)
            for i in range(0, len(data), 1 << 18):
                conn.sendall(view[i:i + (1 << 18)])
            conn.shutdown(socket.SHUT_WR)
            # wait for the peer to close its side, bounded
            conn.settimeout(self.timeout)
            try:
                conn.recv(1)
            except OSError:
                pass
        except OSError as e:
            err = repr(e)
        finally:
            conn.close()
        return Xfer(full, b"", resp, self._final(), err, True)

    def appe(self, name, data):
        return self.stor(name, data, cmd="APPE")

    def stou(self, data):
        return self.stor(None, data, cmd="STOU")

    def close_quietly(self):
        try:
            self.close()
        except OSError:
            pass


class RawFtp:
    """A raw control connection: exact bytes out, RFC 959 replies in."""

    def __init__(self, port, host="127.0.0.1", timeout=15.0, source=None):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.timeout = timeout
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _line(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply line within %.1fs (have %r)" % (
                    timeout or self.timeout, self.buf[:200]))
            self.sock.settimeout(left)
            c = self.sock.recv(65536)
            if not c:
                raise EOFError("connection closed (have %r)" % self.buf[:200])
            self.buf += c
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def reply(self, timeout=None):
        """One reply, lines joined with "\\n"."""
        first = self._line(timeout)
        lines = [first]
        if re.match(r"^\d{3}-", first):
            code = first[:3]
            for _ in range(10000):
                l = self._line(timeout)
                lines.append(l)
                if l.startswith(code + " "):
                    break
        return "\n".join(lines)

    def cmd(self, line):
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send(line + b"\r\n")
        return self.reply()

    def at_eof(self, timeout=5.0):
        self.sock.settimeout(timeout)
        try:
            for _ in range(1000):
                c = self.sock.recv(65536)
                if not c:
                    return True
                self.buf += c
        except (socket.timeout, TimeoutError):
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
